// Paginated LIST calls (limit/continue) returning the API server's own JSON,
// one page at a time, so a caller holds at most one page of objects. Plain JSON
// rather than client-node's typed models: the policy engine judges exactly
// what the webhook is sent, and no deserialisation is paid per object.

import { request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../policy/types.js';
import { apiStatusMessage, networkErrorMessage } from './api-errors.js';

export interface ListTarget {
  /** e.g. `pods`, for messages and RBAC hints. */
  resource: string;
  /** e.g. `/api/v1` or `/apis/apps/v1`. */
  groupVersionPath: string;
  /** Kind of the items (list items carry no kind of their own). */
  kind: string;
  apiVersion: string;
}

export class KubeRequestError extends Error {
  constructor(message: string, readonly status: number | undefined) {
    super(message);
    this.name = 'KubeRequestError';
  }
}

export interface ListOptions {
  namespace?: string;
  pageSize: number;
  timeoutMs: number;
}

/** Yields the items of `target`, page by page. Throws KubeRequestError with a message naming the verb and resource. */
export async function* listPages(config: KubeConfig, target: ListTarget, options: ListOptions): AsyncGenerator<KubeObject[]> {
  const scope = options.namespace ? `in namespace ${options.namespace}` : 'at the cluster scope';
  const base = options.namespace
    ? `${target.groupVersionPath}/namespaces/${encodeURIComponent(options.namespace)}/${target.resource}`
    : `${target.groupVersionPath}/${target.resource}`;
  let continueToken: string | undefined;
  do {
    const query = new URLSearchParams({ limit: String(options.pageSize) });
    if (continueToken) query.set('continue', continueToken);
    const page = (await getJson(config, `${base}?${query}`, options.timeoutMs, `list ${target.resource} ${scope}`)) as {
      items?: KubeObject[];
      metadata?: { continue?: string };
    };
    const items = page.items ?? [];
    for (const item of items) {
      item.kind = target.kind;
      item.apiVersion = target.apiVersion;
    }
    yield items;
    continueToken = page.metadata?.continue || undefined;
  } while (continueToken);
}

/** GET a path from the API server and parse the JSON answer. */
export async function getJson(config: KubeConfig, path: string, timeoutMs: number, attempted: string): Promise<unknown> {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new KubeRequestError('the kubeconfig has no current cluster', undefined);
  const url = new URL(path, cluster.server);
  const options: import('node:https').RequestOptions = {
    method: 'GET',
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port,
    path: `${url.pathname}${url.search}`,
    headers: { accept: 'application/json' },
  };
  await config.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status === 200) {
          try {
            resolve(JSON.parse(body));
          } catch {
            reject(new KubeRequestError(`the API server sent invalid JSON to ${attempted}`, status));
          }
          return;
        }
        reject(new KubeRequestError(apiStatusMessage(status, body, attempted), status));
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new KubeRequestError(`the API server did not answer within ${timeoutMs / 1000}s to ${attempted}`, undefined)));
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error instanceof KubeRequestError) reject(error);
      else reject(new KubeRequestError(networkErrorMessage(error, attempted, url.host), undefined));
    });
    req.end();
  });
}
