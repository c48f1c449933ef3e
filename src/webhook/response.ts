// Building admission responses, after controller-runtime's response helpers.
// Responses are built without a uid; reviewOf() is the one place that sets it.

import type { PatchOperation } from '../policy/types.js';
import { ADMISSION_API_VERSION, ADMISSION_REVIEW_KIND, type AdmissionResponse, type AdmissionReview } from './admission-review.js';

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

/** Wraps a response into the review sent back; `uid` echoes the request's (absent only when it was unreadable). */
export function reviewOf(uid: string | undefined, response: ReviewResponse): AdmissionReview {
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_REVIEW_KIND, response: { uid: uid ?? '', ...response } };
}
