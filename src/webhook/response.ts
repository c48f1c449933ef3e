// Building admission responses, after controller-runtime's response helpers.
// Responses are built without a uid; reviewJson() is the one place that sets it.

import type { PatchOperation } from '../policy/types.js';
import { ADMISSION_API_VERSION, ADMISSION_REVIEW_KIND, type AdmissionResponse } from './admission-review.js';

export type ReviewResponse = Omit<AdmissionResponse, 'uid'>;

export function allowed(): ReviewResponse {
  return { allowed: true };
}

/** A policy denial: 403 Forbidden with the engine's message, as kubectl prints it. */
export function denied(message: string): ReviewResponse {
  return { allowed: false, status: { code: 403, reason: 'Forbidden', message } };
}

/** A request pidguard could not review (answered with the same HTTP status). */
export function errored(code: number, message: string): ReviewResponse {
  return { allowed: false, status: { code, message } };
}

/** Allowed, with a JSON patch when there is something to change (no patchType otherwise). */
export function patched(patch: readonly PatchOperation[]): ReviewResponse {
  if (patch.length === 0) return allowed();
  return { allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') };
}

export function withWarnings(response: ReviewResponse, warnings: readonly string[]): ReviewResponse {
  // Object.assign, not `{ ...response, warnings }`: V8 builds a spread followed by more properties ~10x slower.
  return warnings.length === 0 ? response : Object.assign({}, response, { warnings: [...(response.warnings ?? []), ...warnings] });
}

export function withAuditAnnotations(response: ReviewResponse, annotations: Readonly<Record<string, string>>): ReviewResponse {
  if (Object.keys(annotations).length === 0) return response;
  return Object.assign({}, response, { auditAnnotations: Object.assign({}, response.auditAnnotations, annotations) });
}

const REVIEW_JSON_PREFIX = `{"apiVersion":${JSON.stringify(ADMISSION_API_VERSION)},"kind":${JSON.stringify(ADMISSION_REVIEW_KIND)},"response":{"uid":`;

/**
 * The AdmissionReview sent back, as JSON: the response with `uid` first, echoing the request's (absent only
 * when it was unreadable). Spliced as text: building `{ uid, ...response }` and its envelope to stringify them
 * cost ~2 us more per review (V8 copies a spread slowly), and the bytes are the same.
 */
export function reviewJson(uid: string | undefined, response: ReviewResponse): string {
  const fields = JSON.stringify(response); // `{"allowed":...}`: every response has `allowed`, so never `{}`
  return `${REVIEW_JSON_PREFIX}${JSON.stringify(uid ?? '')},${fields.slice(1)}}`;
}
