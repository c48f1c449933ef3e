// A small Kubernetes API client for the node agent and `pidguard node`: the
// five calls they make (list and watch the node's pods, read the Node, patch
// its status, create Events) over node:https with keep-alive.
//
// Why not @kubernetes/client-node, which the rest of pidguard uses: importing
// it costs ~75 MiB of resident memory (measured: a bare node process goes from
// 40 to 115 MiB; the agent from 72 to 140 MiB peak), which alone breaks the
// agent's 80 MiB budget, and its exec/auth-provider plugins start processes,
// which the agent must never do on a node out of PIDs. The agent only needs
// what a DaemonSet has: the in-cluster service-account token (re-read on every
// request, so rotation works) or a kubeconfig with client certificates or a
// token.

import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { dirname, isAbsolute, join } from 'node:path';
import { forEachYamlDocument, InputBudget, InputError, readInputTextSync } from '../input/yaml-input.js';
import { isRecord } from '../policy/json-value.js';
import { apiStatusMessage, networkErrorMessage } from './api-errors.js';

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ApiEndpoint {
  server: URL;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Bearer token, read when a request is made (service-account tokens rotate). */
  token?: () => string;
  insecureSkipTlsVerify: boolean;
  /** Where the settings came from, for messages. */
  source: string;
}

export class ApiConfigError extends Error {}

export interface EndpointSource {
  kubeconfig?: string;
  /** KUBERNETES_SERVICE_HOST/PORT when running in a pod. */
  inCluster?: { host: string; port: string };
  homeKubeconfig?: string;
}

/** The API server to use, or undefined when there is none (offline use). */
export function loadApiEndpoint(source: EndpointSource): ApiEndpoint | undefined {
  if (source.kubeconfig) return fromKubeconfig(source.kubeconfig);
  if (source.inCluster) {
    const host = source.inCluster.host.includes(':') ? `[${source.inCluster.host}]` : source.inCluster.host;
    return {
      server: new URL(`https://${host}:${source.inCluster.port}`),
      ca: readFileSync(join(SERVICE_ACCOUNT_DIR, 'ca.crt')),
      token: () => readFileSync(join(SERVICE_ACCOUNT_DIR, 'token'), 'utf8').trim(),
      insecureSkipTlsVerify: false,
      source: 'in-cluster service account',
    };
  }
  if (source.homeKubeconfig) {
    try {
      return fromKubeconfig(source.homeKubeconfig);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }
  return undefined;
}

/** The fields read, as found: each checked before use (a kubeconfig is hand-edited). */
interface KubeconfigFile {
  'current-context'?: unknown;
  clusters?: unknown;
  users?: unknown;
  contexts?: unknown;
}

/** A kubeconfig with certificates embedded for dozens of clusters fits many times over. */
export const MAX_KUBECONFIG_BYTES = 4 * 1024 * 1024;

function fromKubeconfig(path: string): ApiEndpoint {
  const label = `kubeconfig ${path}`;
  let config: unknown = null;
  try {
    const budget = new InputBudget(MAX_KUBECONFIG_BYTES, 1, 'a kubeconfig is one small YAML document');
    forEachYamlDocument(readInputTextSync(path, budget, label), label, budget, (value) => {
      config = value;
    });
  } catch (error) {
    if (error instanceof InputError && error.code === 'ENOENT') throw Object.assign(new ApiConfigError(`kubeconfig ${path} does not exist`), { code: 'ENOENT' });
    throw new ApiConfigError((error as Error).message);
  }
  const kubeconfig: KubeconfigFile = isRecord(config) ? config : {};
  const named = <T>(list: unknown, name: unknown, field: string): T | undefined => {
    if (!Array.isArray(list)) return undefined;
    const entry: unknown = list.find((candidate: unknown) => isRecord(candidate) && candidate.name === name);
    return isRecord(entry) && isRecord(entry[field]) ? (entry[field] as T) : undefined;
  };
  const contextName = kubeconfig['current-context'];
  const context = named<{ cluster: unknown; user: unknown }>(kubeconfig.contexts, contextName, 'context');
  if (!context) throw new ApiConfigError(`kubeconfig ${path}: current-context "${String(contextName ?? '')}" is not among its contexts`);
  const cluster = named<Record<string, unknown>>(kubeconfig.clusters, context.cluster, 'cluster');
  const user = named<Record<string, unknown>>(kubeconfig.users, context.user, 'user') ?? {};
  if (!cluster || typeof cluster.server !== 'string') throw new ApiConfigError(`kubeconfig ${path}: cluster "${String(context.cluster)}" has no server`);
  if (user.exec || user['auth-provider']) {
    throw new ApiConfigError(`kubeconfig ${path}: user "${String(context.user)}" authenticates through an exec or auth-provider plugin; pidguard's node tools never start processes: use a token or client certificates`);
  }
  const base = dirname(path);
  const file = (value: unknown) => {
    const named = isAbsolute(String(value)) ? String(value) : join(base, String(value));
    try {
      return Buffer.from(readInputTextSync(named, new InputBudget(MAX_KUBECONFIG_BYTES, 1, 'a PEM file is a few KiB'), `${label}: ${named}`));
    } catch (error) {
      throw new ApiConfigError((error as Error).message);
    }
  };
  const data = (value: unknown) => Buffer.from(String(value), 'base64');
  if (!URL.canParse(cluster.server)) throw new ApiConfigError(`kubeconfig ${path}: cluster "${String(context.cluster)}" server "${cluster.server}" is not a URL`);
  const endpoint: ApiEndpoint = { server: new URL(cluster.server), insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true, source: `kubeconfig ${path}` };
  if (cluster['certificate-authority-data']) endpoint.ca = data(cluster['certificate-authority-data']);
  else if (cluster['certificate-authority']) endpoint.ca = file(cluster['certificate-authority']);
  if (user['client-certificate-data']) endpoint.cert = data(user['client-certificate-data']);
  else if (user['client-certificate']) endpoint.cert = file(user['client-certificate']);
  if (user['client-key-data']) endpoint.key = data(user['client-key-data']);
  else if (user['client-key']) endpoint.key = file(user['client-key']);
  if (typeof user.token === 'string') {
    const token = user.token;
    endpoint.token = () => token;
  } else if (typeof user.tokenFile === 'string') {
    const tokenFile = isAbsolute(user.tokenFile) ? user.tokenFile : join(base, user.tokenFile);
    endpoint.token = () => readFileSync(tokenFile, 'utf8').trim();
  }
  return endpoint;
}

/** An answer other than 2xx, with the Status message the API server sent. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export class KubeApi {
  private readonly agent: Agent;

  constructor(
    private readonly endpoint: ApiEndpoint,
    private readonly timeoutMs = 10_000,
  ) {
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 4,
      ...(endpoint.ca ? { ca: endpoint.ca } : {}),
      ...(endpoint.cert ? { cert: endpoint.cert } : {}),
      ...(endpoint.key ? { key: endpoint.key } : {}),
      rejectUnauthorized: !endpoint.insecureSkipTlsVerify,
    });
  }

  /** One request; resolves with the decoded JSON body, rejects with ApiError or a network error. */
  call<T>(method: string, path: string, attempted: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request(
        new URL(path, this.endpoint.server),
        { method, agent: this.agent, headers: this.headers(payload, contentType), timeout: this.timeoutMs },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = response.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              try {
                resolve(JSON.parse(text) as T);
              } catch {
                reject(new Error(`API server answered ${status} with a body that is not JSON while trying to ${attempted}`));
              }
            } else {
              reject(apiError(status, text, attempted));
            }
          });
          response.on('error', (error) => reject(describeNetworkError(error, attempted)));
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', (error) => reject(describeNetworkError(error, attempted)));
      req.end(payload);
    });
  }

  /**
   * A watch: calls onEvent per event until the server ends the stream (resolves)
   * or it fails (rejects). abort() ends it early.
   */
  watch<T>(path: string, attempted: string, onEvent: (event: WatchEvent<T>) => void): { done: Promise<void>; abort: () => void } {
    let abort: () => void = () => undefined;
    const done = new Promise<void>((resolve, reject) => {
      const req = request(new URL(path, this.endpoint.server), { method: 'GET', agent: this.agent, headers: this.headers(undefined, 'application/json') }, (response) => {
        const status = response.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => reject(apiError(status, Buffer.concat(chunks).toString('utf8'), attempted)));
          return;
        }
        let pending = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          pending += chunk;
          let newline = pending.indexOf('\n');
          while (newline >= 0) {
            const line = pending.slice(0, newline).trim();
            pending = pending.slice(newline + 1);
            if (line) {
              try {
                onEvent(JSON.parse(line) as WatchEvent<T>);
              } catch (error) {
                // A bad line or an ERROR event ends this watch; the caller decides what next.
                reject(error);
                req.destroy();
                return;
              }
            }
            newline = pending.indexOf('\n');
          }
        });
        response.on('end', () => resolve());
        response.on('error', (error) => reject(describeNetworkError(error, attempted)));
      });
      req.on('error', (error) => reject(describeNetworkError(error, attempted)));
      req.end();
      abort = () => {
        req.destroy();
        resolve();
      };
    });
    return { done, abort: () => abort() };
  }

  close(): void {
    this.agent.destroy();
  }

  private headers(payload: Buffer | undefined, contentType: string): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'pidguard-agent' };
    const token = this.endpoint.token?.();
    if (token) headers.authorization = `Bearer ${token}`;
    if (payload) {
      headers['content-type'] = contentType;
      headers['content-length'] = String(payload.length);
    }
    return headers;
  }
}

function apiError(status: number, text: string, attempted: string): ApiError {
  let reason = '';
  try {
    reason = (JSON.parse(text) as { reason?: string }).reason ?? '';
  } catch {
    // Not a Status object.
  }
  return new ApiError(status, reason, apiStatusMessage(status, text, attempted));
}

function describeNetworkError(error: NodeJS.ErrnoException, attempted: string): Error {
  return new Error(networkErrorMessage(error, attempted));
}
