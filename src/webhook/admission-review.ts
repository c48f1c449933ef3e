// The AdmissionReview protocol (admission.k8s.io/v1): the shapes pidguard reads
// and writes, and the one function that turns a parsed body into a request it
// can trust the types of. Anything else in the body is ignored.

import type { KubeObject, Operation, UserInfo } from '../policy/types.js';
import { isRecord } from '../policy/json-value.js';
import { WebhookError } from './errors.js';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
export const ADMISSION_REVIEW_KIND = 'AdmissionReview';
const OPERATIONS: readonly Operation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];
const OPTIONAL_STRING_FIELDS = ['namespace', 'name', 'subResource'] as const;
const OBJECT_FIELDS = ['object', 'oldObject'] as const;

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  operation: Operation;
  namespace?: string;
  name?: string;
  subResource?: string;
  userInfo?: UserInfo;
  /** null on DELETE. */
  object: KubeObject | null;
  /** Set on UPDATE and DELETE. */
  oldObject: KubeObject | null;
  dryRun: boolean;
}

export interface AdmissionStatus {
  code: number;
  reason?: string;
  message: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  patchType?: 'JSONPatch';
  /** base64 of the JSON patch. */
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReview {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: typeof ADMISSION_REVIEW_KIND;
  response: AdmissionResponse;
}

/** Checks a parsed body and returns its request; throws WebhookError naming what is wrong. */
export function decodeAdmissionReview(body: unknown): AdmissionRequest {
  if (!isRecord(body) || body.apiVersion !== ADMISSION_API_VERSION || body.kind !== ADMISSION_REVIEW_KIND) {
    const found = isRecord(body) ? `apiVersion ${JSON.stringify(body.apiVersion)}, kind ${JSON.stringify(body.kind)}` : 'not an object';
    throw new WebhookError('NOT_ADMISSION_REVIEW', `got ${found}`);
  }
  const request = body.request;
  if (!isRecord(request)) throw new WebhookError('MISSING_REQUEST');
  if (typeof request.uid !== 'string' || request.uid === '') throw new WebhookError('MISSING_UID');
  const uid = request.uid;
  const invalid = (field: string, expected: string) => new WebhookError('INVALID_REQUEST', `request.${field} must be ${expected}`, uid);

  if (typeof request.operation !== 'string' || !(OPERATIONS as readonly string[]).includes(request.operation)) {
    throw invalid('operation', `one of ${OPERATIONS.join(', ')}`);
  }
  const kind = request.kind;
  if (!isRecord(kind) || typeof kind.kind !== 'string' || !optionalString(kind.group) || !optionalString(kind.version)) {
    throw invalid('kind', 'an object with string group, version and kind');
  }
  for (const field of OPTIONAL_STRING_FIELDS) {
    if (!optionalString(request[field])) throw invalid(field, 'a string');
  }
  for (const field of OBJECT_FIELDS) {
    const value = request[field];
    if (value !== undefined && value !== null && !isRecord(value)) throw invalid(field, 'an object or null');
  }
  if (request.dryRun !== undefined && typeof request.dryRun !== 'boolean') throw invalid('dryRun', 'true or false');

  return {
    uid,
    kind: { group: (kind.group as string | undefined) ?? '', version: (kind.version as string | undefined) ?? '', kind: kind.kind },
    operation: request.operation as Operation,
    namespace: nonEmpty(request.namespace as string | undefined),
    name: nonEmpty(request.name as string | undefined),
    subResource: nonEmpty(request.subResource as string | undefined),
    userInfo: decodeUserInfo(request.userInfo, invalid),
    object: (request.object as KubeObject | undefined) ?? null,
    oldObject: (request.oldObject as KubeObject | undefined) ?? null,
    dryRun: request.dryRun === true,
  };
}

function decodeUserInfo(value: unknown, invalid: (field: string, expected: string) => WebhookError): UserInfo | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw invalid('userInfo', 'an object');
  if (!optionalString(value.username)) throw invalid('userInfo.username', 'a string');
  const groups = value.groups;
  if (groups !== undefined && groups !== null && !(Array.isArray(groups) && groups.every((g) => typeof g === 'string'))) {
    throw invalid('userInfo.groups', 'a list of strings');
  }
  // A fresh object with only these two fields: nothing else the sender put in userInfo reaches the policy.
  return { username: value.username as string | undefined, groups: (groups as string[] | null | undefined) ?? undefined };
}

function optionalString(value: unknown): boolean {
  return value === undefined || value === null || typeof value === 'string';
}

/** The API server sends "" for absent optional strings in some versions; treat both the same. */
function nonEmpty(value: string | null | undefined): string | undefined {
  return value ? value : undefined;
}
