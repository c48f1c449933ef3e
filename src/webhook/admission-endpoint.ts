// The HTTP edge of /mutate and /validate, and nothing more: method, content-type
// and encoding checks, a body read bounded per request and by the replica's
// body budget, one JSON.parse with its shape bounded (json-shape.ts), decode,
// delegate to the handler, encode. It runs on plain node:http request/response
// objects rather than through express: express's per-request work costs more
// than the policy itself (see docs/WEBHOOK.md, "Performance").

import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { AdmissionRequest } from './admission-review.js';
import { decodeAdmissionReview } from './admission-review.js';
import type { AdmissionHandler, AdmissionOutcome, WebhookName } from './admission-handler.js';
import type { LookupWait } from './namespace-mode.js';
import type { BodyBudget, BodyCharge } from './body-budget.js';
import type { Decision, DecisionLog } from './decision-log.js';
import { WebhookError } from './errors.js';
import { parseJsonBody } from './json-shape.js';
import type { Logger } from '../log.js';
import type { WebhookMetrics } from './metrics.js';
import { errored, reviewJson, type ReviewResponse } from './response.js';

/** An object and an oldObject of up to 3 MiB each (the API server's own object limit) plus the envelope. */
export const DEFAULT_BODY_LIMIT_BYTES = 7 * 1024 * 1024;

/**
 * Heap a parsed body takes, per byte of the body, at worst: 200,000 empty objects (600 KB of `{},`)
 * take 12.3 MB of V8 heap, 20.5x (measured); a pod review ~1.5x. A review that waits for its
 * namespace's labels holds this much of the body budget, so hostile bodies cannot pile up there.
 */
export const PARSED_BYTES_PER_BODY_BYTE = 20;

export interface AdmissionEndpointOptions {
  handle: AdmissionHandler;
  logger: Logger;
  /** Which decisions get a line, and at which level (createDecisionLog). */
  decisionLog: DecisionLog;
  metrics: WebhookMetrics;
  bodyLimitBytes: number;
  /** Shared by every request of the replica; at least bodyLimitBytes. */
  bodyBudget: BodyBudget;
  /** True once shutdown began: answers then carry `Connection: close` so clients reconnect elsewhere. */
  draining: () => boolean;
  /** Counts reviews in progress, so shutdown can wait for them. */
  inFlight: { add(): void; done(): void };
}

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export function admissionEndpoint(webhook: WebhookName, options: AdmissionEndpointOptions): RequestListener {
  // Callbacks, not async/await: when the labels are at hand (cache, file) a review
  // runs from the last body chunk to the answer in one synchronous step.
  return (req, res) => {
    options.inFlight.add();
    // The body's bytes stay charged until the review is answered: a review waiting for a namespace lookup holds its parsed body.
    let reader: BodyReader | undefined;
    const done = () => {
      if (reader) options.bodyBudget.release(reader);
      options.inFlight.done();
    };
    const fail = (error: unknown, uid?: string) => {
      refuse(webhook, req, res, options, error, uid);
      done();
    };
    try {
      checkHeaders(req, options.bodyLimitBytes);
    } catch (error) {
      fail(error);
      return;
    }
    reader = new BodyReader(req, options.bodyLimitBytes, options.bodyBudget, (readError, body) => {
      if (readError) return fail(readError);
      let request: AdmissionRequest | undefined;
      try {
        request = decodeAdmissionReview(parseJsonBody(body!));
        const started = process.hrtime.bigint();
        const outcome = options.handle(webhook, request, reader);
        if (outcome instanceof Promise) {
          const pending = request;
          outcome.then((result) => answer(webhook, pending, result, started, res, options)).then(done, (error) => fail(error, pending.uid));
          return;
        }
        answer(webhook, request, outcome, started, res, options);
        done();
      } catch (error) {
        fail(error, request?.uid);
      }
    });
  };
}

function answer(webhook: WebhookName, request: AdmissionRequest, outcome: AdmissionOutcome, started: bigint, res: ServerResponse, options: AdmissionEndpointOptions): void {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  send(res, 200, reviewJson(request.uid, outcome.response), options.draining());
  record(webhook, request, outcome, seconds, options);
}

/** Answers a request that could not be reviewed (or logs a failure after the answer went out). */
function refuse(webhook: WebhookName, req: IncomingMessage, res: ServerResponse, options: AdmissionEndpointOptions, error: unknown, requestUid: string | undefined): void {
  const failure = error instanceof WebhookError ? error : undefined;
  const status = failure?.status ?? 500;
  const code = failure?.code ?? 'INTERNAL';
  const message = failure?.message ?? `internal error while reviewing the request: ${(error as Error)?.message ?? String(error)}`;
  const uid = requestUid ?? failure?.uid;
  options.metrics.invalidRequests.inc({ webhook, code });
  if (code === 'OVERLOADED') options.metrics.rejected.inc({ reason: 'body-budget' });
  const log = failure ? options.logger.warn : options.logger.error;
  log(failure ? 'admission request refused' : 'admission review failed', {
    webhook, code, status, error: message, uid, remote: req.socket.remoteAddress,
    ...(failure ? {} : { stack: (error as Error)?.stack }),
  });
  if (res.headersSent) return; // the review was answered; only recording it failed
  // After a refused body the rest of it is not read: close the connection instead of draining it.
  const closeConnection = options.draining() || !req.complete;
  send(res, status, reviewJson(uid, errored(status, message)), closeConnection);
}

function checkHeaders(req: IncomingMessage, limit: number): void {
  if (req.method !== 'POST') throw new WebhookError('METHOD_NOT_ALLOWED', `got ${req.method}`);
  const contentType = req.headers['content-type'];
  if (contentType !== 'application/json') checkContentType(contentType);
  const encoding = req.headers['content-encoding'];
  // Node hands over compressed bytes as they are; refusing here keeps binary out of the JSON error message.
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') throw new WebhookError('UNSUPPORTED_CONTENT_ENCODING', `got ${JSON.stringify(encoding.slice(0, 40))}`);
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw new WebhookError('BODY_TOO_LARGE', `${declared} bytes declared, limit ${limit}`);
}

/** application/json with no charset or charset utf-8 (RFC 8259: JSON exchanged between systems is UTF-8). */
function checkContentType(contentType: string | undefined): void {
  const [mediaType, ...parameters] = (contentType ?? '').split(';');
  if (mediaType!.trim().toLowerCase() !== 'application/json') throw new WebhookError('UNSUPPORTED_MEDIA_TYPE', `got ${contentType === undefined ? 'none' : JSON.stringify(contentType.slice(0, 100))}`);
  for (const parameter of parameters) {
    const [name, value = ''] = parameter.split('=', 2);
    if (name!.trim().toLowerCase() !== 'charset') continue;
    const charset = unquote(value.trim()).toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') throw new WebhookError('UNSUPPORTED_MEDIA_TYPE', `charset ${JSON.stringify(charset.slice(0, 40))} is not utf-8`);
  }
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/**
 * Reads one request's whole body, at most `limit` bytes and within the budget; calls back exactly
 * once. A class, with eviction a method: the budget holds each body being received, and holding a
 * per-request eviction closure instead raised the benchmark's peak RSS from ~80 to ~108 MiB (measured).
 */
class BodyReader implements BodyCharge, LookupWait {
  bytes = 0;
  private chunks: Buffer[] = [];
  private settled = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly limit: number,
    private readonly budget: BodyBudget,
    private readonly callback: (error: Error | undefined, body?: Buffer) => void,
  ) {
    req.on('data', this.onData);
    req.once('end', () => {
      if (this.bytes === 0) this.settle(new WebhookError('EMPTY_BODY'));
      else this.settle(undefined, this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bytes));
    });
    // The client closed the connection, or the server's request timeout did (that one is counted where it fires).
    req.once('error', (error: NodeJS.ErrnoException) => this.settle(new WebhookError('INCOMPLETE_BODY', error.code ?? error.message)));
  }

  /** Waiting for a namespace lookup keeps the parsed body: the review may wait only if that fits the budget (asked once, after the body is read). */
  mayWait(): boolean {
    return this.budget.hold(this, PARSED_BYTES_PER_BODY_BYTE * this.bytes);
  }

  evict(): void {
    this.stop(new WebhookError('OVERLOADED', `${this.budget.limitBytes} bytes of bodies in flight; this request held ${this.bytes}, the most`));
  }

  private readonly onData = (chunk: Buffer) => {
    if (this.bytes + chunk.length > this.limit) return this.stop(new WebhookError('BODY_TOO_LARGE', `more than ${this.limit} bytes`));
    if (!this.budget.add(this, chunk.length)) return this.stop(new WebhookError('OVERLOADED', `${this.budget.limitBytes} bytes of bodies in flight`));
    this.chunks.push(chunk);
  };

  private stop(error: WebhookError): void {
    this.req.off('data', this.onData);
    this.req.pause();
    this.settle(error);
  }

  private settle(error: Error | undefined, body?: Buffer): void {
    if (this.settled) return;
    this.settled = true;
    this.chunks = [];
    this.budget.received(this);
    this.callback(error, body);
  }
}

function send(res: ServerResponse, status: number, body: string, closeConnection: boolean): void {
  const headers: OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
  if (status === 405) headers.allow = 'POST';
  if (closeConnection) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

function record(webhook: WebhookName, request: AdmissionRequest, outcome: AdmissionOutcome, seconds: number, options: AdmissionEndpointOptions): void {
  const { evaluation, mode, response } = outcome;
  const decision = decisionOf(response, evaluation.evaluated);
  const { metrics } = options;
  metrics.requests.inc({ webhook, decision, mode });
  metrics.decisionSeconds.observe({ webhook }, seconds);
  if (outcome.namespaceLookup) metrics.namespaceLookups.inc({ result: outcome.namespaceLookup });
  // Both webhooks evaluate the same pod: count violations at /validate and applied changes at /mutate, once each.
  if (webhook === 'validate') for (const violation of evaluation.violations) metrics.violations.inc({ rule: violation.ruleId, mode });
  if (webhook === 'mutate' && response.patch) for (const mutation of evaluation.mutations) metrics.mutations.inc({ rule: mutation.ruleId });
  options.decisionLog(webhook, request, outcome, decision, seconds);
}

function decisionOf(response: ReviewResponse, evaluated: boolean): Decision {
  if (!response.allowed) return 'denied';
  if (response.patch) return 'patched';
  return evaluated ? 'allowed' : 'skipped';
}
