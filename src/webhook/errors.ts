// Every way the webhook refuses a request, in one table: the code that appears
// in logs and metrics, the HTTP status, and the message. docs/WEBHOOK.md lists
// the same rows, and a test keeps the two in step.

export const WEBHOOK_ERRORS = {
  NOT_FOUND: { status: 404, message: 'no such endpoint; the webhook serves POST /mutate and POST /validate' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'admission reviews must be sent with POST' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Content-Type must be application/json, in UTF-8' },
  UNSUPPORTED_CONTENT_ENCODING: { status: 415, message: 'Content-Encoding must be identity: compressed bodies are not read' },
  BODY_TOO_LARGE: { status: 413, message: 'request body is larger than the limit' },
  OVERLOADED: { status: 503, message: 'the webhook is receiving more request bodies than its memory budget allows; retry' },
  INCOMPLETE_BODY: { status: 400, message: 'the connection ended before the request body was complete' },
  REQUEST_TIMEOUT: { status: 408, message: 'request headers or body not received in time' },
  BAD_HTTP: { status: 400, message: 'malformed HTTP request' },
  EMPTY_BODY: { status: 400, message: 'request body is empty' },
  JSON_TOO_COMPLEX: { status: 400, message: 'request body JSON is nested too deeply or has too many objects and arrays' },
  MALFORMED_JSON: { status: 400, message: 'request body is not valid JSON' },
  NOT_ADMISSION_REVIEW: { status: 400, message: 'body is not an admission.k8s.io/v1 AdmissionReview' },
  MISSING_REQUEST: { status: 400, message: 'AdmissionReview has no request' },
  MISSING_UID: { status: 400, message: 'AdmissionReview request has no uid' },
  INVALID_REQUEST: { status: 400, message: 'AdmissionReview request has an invalid field' },
  INTERNAL: { status: 500, message: 'internal error while reviewing the request' },
} as const satisfies Record<string, { status: number; message: string }>;

export type WebhookErrorCode = keyof typeof WEBHOOK_ERRORS;

export class WebhookError extends Error {
  readonly status: number;

  /** `detail` adds specifics to the table's message; `uid` is the request's, when it was readable. */
  constructor(readonly code: WebhookErrorCode, detail?: string, readonly uid?: string) {
    const entry = WEBHOOK_ERRORS[code];
    super(detail ? `${entry.message}: ${detail}` : entry.message);
    this.name = 'WebhookError';
    this.status = entry.status;
  }
}
