// The one way pidguard talks to the API server: JSON calls, paged lists
// (limit/continue) and watches over node:https with keep-alive, every answer
// bounded in time and size, every failure a KubeApiError whose message names
// what was attempted (wording in api-errors.ts).
//
// Why not @kubernetes/client-node: importing it costs ~75 MiB of resident memory
// (a bare node process goes from 40 to 115 MiB), which breaks the agent's and the
// webhook's memory budgets, and its exec/auth-provider plugins start processes,
// which the webhook and the agent must never do. Only `audit` loads it, to
// authenticate people's kubeconfigs through such plugins (kube/client.ts).

import { Agent, request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { apiStatusMessage, networkErrorMessage } from './api-errors.js';

export interface ApiEndpoint {
  server: URL;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  tlsServerName?: string;
  /** Authentication headers (Authorization, Impersonate-User), got per request: service-account tokens rotate, plugins refresh theirs. */
  authHeaders?: () => Record<string, string> | Promise<Record<string, string>>;
  insecureSkipTlsVerify: boolean;
  /** Where the settings came from, for messages. */
  source: string;
}

/** Every failed call: an HTTP status with the Status reason the API server sent, or no status when it gave no answer (network, timeout, size). */
export class KubeApiError extends Error {
  constructor(
    readonly status: number | undefined,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export interface TransportLimits {
  /** A call's whole answer (headers and body) must arrive within this (default 10 s). */
  timeoutMs: number;
  /** Largest body read from one answer (default 64 MiB: a 500-object list page of big pods fits many times over). */
  maxBodyBytes: number;
  /** Largest single watch event (default 16 MiB; etcd keeps objects under 1.5 MiB). */
  maxEventBytes: number;
  /** A watch the server stays silent on for this long is ended (default 330 s; watches ask the server to end them after 300 s). */
  watchIdleMs: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  timeoutMs: 10_000,
  maxBodyBytes: 64 * 1024 * 1024,
  maxEventBytes: 16 * 1024 * 1024,
  watchIdleMs: 330_000,
};

/** The server ends a watch after this long; the client then watches again from where it was. */
export const WATCH_TIMEOUT_SECONDS = 300;

/** Error bodies are read this far (a Status object is small). */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface CallOptions {
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

export interface RunningWatch {
  /** Resolves when the server ends the stream (or abort() is called); rejects with a KubeApiError. */
  done: Promise<void>;
  abort: () => void;
}

interface ListObject<T> {
  items?: T[];
  metadata?: { continue?: string; resourceVersion?: string };
}

export interface ListPage<T> {
  items: T[];
  /** The list's resourceVersion: a watch started from it misses nothing. */
  resourceVersion: string;
}

export class KubeTransport {
  private readonly agent: Agent;
  readonly limits: TransportLimits;

  constructor(
    readonly endpoint: ApiEndpoint,
    limits: Partial<TransportLimits> = {},
    private readonly userAgent = 'pidguard',
  ) {
    this.limits = { ...DEFAULT_TRANSPORT_LIMITS, ...limits };
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 4,
      ...(endpoint.ca ? { ca: endpoint.ca } : {}),
      ...(endpoint.cert ? { cert: endpoint.cert } : {}),
      ...(endpoint.key ? { key: endpoint.key } : {}),
      ...(endpoint.tlsServerName ? { servername: endpoint.tlsServerName } : {}),
      rejectUnauthorized: !endpoint.insecureSkipTlsVerify,
    });
  }

  /** One request; resolves with the decoded JSON body of a 2xx answer. */
  async call<T>(method: string, path: string, attempted: string, options: CallOptions = {}): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.limits.timeoutMs;
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const { response, finish } = await this.open(method, path, attempted, timeoutMs, payload, options.contentType);
    try {
      const text = await readBody(response, this.limits.maxBodyBytes, attempted);
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new KubeApiError(response.statusCode, '', `the API server sent invalid JSON to ${attempted}`);
      }
    } finally {
      finish();
    }
  }

  /** A LIST, page by page (limit/continue), so a caller holds at most one page. */
  async *listPages<T>(path: string, attempted: string, pageSize: number, timeoutMs?: number): AsyncGenerator<ListPage<T>> {
    let continueToken: string | undefined;
    const separator = path.includes('?') ? '&' : '?';
    do {
      const query = new URLSearchParams({ limit: String(pageSize) });
      if (continueToken) query.set('continue', continueToken);
      const page = await this.call<ListObject<T>>('GET', `${path}${separator}${query}`, attempted, timeoutMs === undefined ? {} : { timeoutMs });
      yield { items: Array.isArray(page.items) ? page.items : [], resourceVersion: page.metadata?.resourceVersion ?? '' };
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
  }

  /**
   * A watch of `path` (a collection path, with or without a query) from
   * `resourceVersion`, with bookmarks; the server ends it after
   * WATCH_TIMEOUT_SECONDS. onEvent is called per event; an ERROR event ends the
   * watch with a KubeApiError carrying its Status code (410: relist). onOpen is
   * called once the server accepted the watch.
   */
  watch<T>(path: string, resourceVersion: string, attempted: string, onEvent: (event: WatchEvent<T>) => void, onOpen?: () => void): RunningWatch {
    const query = new URLSearchParams({ watch: '1', allowWatchBookmarks: 'true', resourceVersion, timeoutSeconds: String(WATCH_TIMEOUT_SECONDS) });
    const url = `${path}${path.includes('?') ? '&' : '?'}${query}`;
    let aborted = false;
    let sent: ReturnType<typeof request> | undefined;
    const done = (async () => {
      const { response, finish, request: req } = await this.open('GET', url, attempted, this.limits.timeoutMs, undefined, undefined, (started) => {
        sent = started;
        if (aborted) started.destroy();
      });
      // The call's deadline covers the answer's headers; from here on the idle limit guards the stream.
      finish();
      if (aborted) {
        req.destroy();
        return;
      }
      onOpen?.();
      await readEvents(response, req, this.limits, attempted, onEvent);
    })();
    return {
      done: done.catch((error: unknown) => {
        if (!aborted) throw error;
      }),
      abort: () => {
        aborted = true;
        sent?.destroy();
      },
    };
  }

  close(): void {
    this.agent.destroy();
  }

  /** Sends a request and resolves with a 2xx response whose body is still to be read; the deadline covers reading it too until finish(). */
  private async open(method: string, path: string, attempted: string, timeoutMs: number, payload: Buffer | undefined, contentType: string | undefined, onRequest?: (req: ReturnType<typeof request>) => void) {
    const url = new URL(path, this.endpoint.server);
    let headers: Record<string, string>;
    try {
      headers = { ...(await this.endpoint.authHeaders?.()), accept: 'application/json', 'user-agent': this.userAgent };
    } catch (error) {
      throw new KubeApiError(undefined, '', `cannot authenticate to ${attempted}: ${(error as Error).message}`);
    }
    if (payload) {
      headers['content-type'] = contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const options: RequestOptions = { method, agent: this.agent, headers };
    return new Promise<{ response: IncomingMessage; finish: () => void; request: ReturnType<typeof request> }>((resolve, reject) => {
      const req = request(url, options);
      onRequest?.(req);
      let answer: IncomingMessage | undefined;
      const timer = setTimeout(() => {
        const error = new KubeApiError(undefined, 'Timeout', `the API server did not answer within ${timeoutMs / 1000}s to ${attempted}`);
        // Once the headers are in, the body being read is what must fail with it.
        answer?.destroy(error);
        req.destroy(error);
      }, timeoutMs);
      const finish = () => clearTimeout(timer);
      req.on('error', (error: NodeJS.ErrnoException) => {
        finish();
        reject(error instanceof KubeApiError ? error : new KubeApiError(undefined, '', networkErrorMessage(error, attempted, url.host)));
      });
      req.on('response', (response) => {
        answer = response;
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          resolve({ response, finish, request: req });
          return;
        }
        readBody(response, MAX_ERROR_BODY_BYTES, attempted, true).then(
          (text) => {
            finish();
            reject(statusError(status, text, attempted));
          },
          (error: unknown) => {
            finish();
            reject(error);
          },
        );
      });
      req.end(payload);
    });
  }
}

/** The kind and apiVersion a list's items lack, and where to list them. */
export interface ListTarget {
  /** e.g. `pods`, for the path and messages. */
  resource: string;
  /** e.g. `/api/v1` or `/apis/apps/v1`. */
  groupVersionPath: string;
  kind: string;
  apiVersion: string;
}

/** Yields the objects of `target` (cluster-wide or in one namespace), page by page, with their kind set. */
export async function* listObjects<T extends { kind?: string; apiVersion?: string }>(
  transport: KubeTransport,
  target: ListTarget,
  options: { namespace?: string | undefined; pageSize: number; timeoutMs?: number },
): AsyncGenerator<T[]> {
  const scope = options.namespace ? `in namespace ${options.namespace}` : 'at the cluster scope';
  const path = options.namespace
    ? `${target.groupVersionPath}/namespaces/${encodeURIComponent(options.namespace)}/${target.resource}`
    : `${target.groupVersionPath}/${target.resource}`;
  for await (const page of transport.listPages<T>(path, `list ${target.resource} ${scope}`, options.pageSize, options.timeoutMs)) {
    for (const item of page.items) {
      item.kind = target.kind;
      item.apiVersion = target.apiVersion;
    }
    yield page.items;
  }
}

function statusError(status: number, text: string, attempted: string): KubeApiError {
  let reason = '';
  try {
    const parsed = JSON.parse(text) as { reason?: unknown };
    if (typeof parsed.reason === 'string') reason = parsed.reason;
  } catch {
    // Not a Status object: the message quotes the start of the text.
  }
  return new KubeApiError(status, reason, apiStatusMessage(status, text, attempted));
}

/** The body as text, at most `limit` bytes; beyond it the answer is dropped (or, for an error body, cut). */
function readBody(response: IncomingMessage, limit: number, attempted: string, cut = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    response.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= limit) chunks.push(chunk);
      else if (cut) response.destroy();
      else response.destroy(new KubeApiError(response.statusCode, '', `the API server's answer to ${attempted} is larger than ${mib(limit)}; nothing of it was used`));
    });
    response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.on('close', () => {
      if (cut) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    response.on('error', (error) => reject(error instanceof KubeApiError ? error : new KubeApiError(undefined, '', networkErrorMessage(error, attempted))));
  });
}

/** Newline-delimited watch events until the stream ends; each line bounded, silence bounded. */
function readEvents<T>(response: IncomingMessage, req: ReturnType<typeof request>, limits: TransportLimits, attempted: string, onEvent: (event: WatchEvent<T>) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending = '';
    let settled = false;
    const fail = (error: KubeApiError) => {
      if (settled) return;
      settled = true;
      reject(error);
      req.destroy();
    };
    req.setTimeout(limits.watchIdleMs, () => fail(new KubeApiError(undefined, 'Timeout', `the API server sent nothing for ${limits.watchIdleMs / 1000}s on the watch to ${attempted}`)));
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      pending += chunk;
      let newline = pending.indexOf('\n');
      while (newline >= 0 && !settled) {
        const line = pending.slice(0, newline).trim();
        pending = pending.slice(newline + 1);
        if (line) {
          let event: WatchEvent<T>;
          try {
            event = JSON.parse(line) as WatchEvent<T>;
          } catch {
            return fail(new KubeApiError(undefined, '', `the API server sent a watch event that is not JSON to ${attempted}`));
          }
          if (event.type === 'ERROR') {
            const status = event.object as { code?: unknown; reason?: unknown; message?: unknown };
            const code = typeof status?.code === 'number' ? status.code : 500;
            return fail(new KubeApiError(code, typeof status?.reason === 'string' ? status.reason : '', apiStatusMessage(code, status, attempted)));
          }
          try {
            onEvent(event);
          } catch (error) {
            return fail(error instanceof KubeApiError ? error : new KubeApiError(undefined, '', `${attempted}: ${(error as Error).message}`));
          }
        }
        newline = pending.indexOf('\n');
      }
      if (pending.length > limits.maxEventBytes) fail(new KubeApiError(undefined, '', `a watch event larger than ${mib(limits.maxEventBytes)} on the watch to ${attempted}`));
    });
    response.on('end', () => {
      if (settled) return;
      settled = true;
      resolve();
    });
    response.on('error', (error) => fail(error instanceof KubeApiError ? error : new KubeApiError(undefined, '', networkErrorMessage(error, attempted))));
    req.on('error', (error) => fail(error instanceof KubeApiError ? error : new KubeApiError(undefined, '', networkErrorMessage(error, attempted))));
  });
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 2)} MiB`;
}
