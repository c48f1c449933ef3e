// Namespace labels from the API server: a list+watch cache of every
// namespace's labels, with a direct read for a namespace the cache does not
// hold yet (created a moment ago, or the cache has not synced). Lookups never
// wait for the cache; a failed direct read is reported as such, so the caller
// fails closed.

import { ListWatch } from './list-watch.js';
import { copyLabels, type NamespaceLabelLookup, type NamespaceLabelSource, type NamespaceSourceState } from './namespace-labels.js';
import { KubeApiError, type KubeTransport } from './transport.js';

export interface NamespaceCacheOptions {
  /** Gives up a direct namespace read after this long (the API server's webhook timeout is 10 s by default). */
  directReadTimeoutMs?: number;
  /** Delay before re-listing after the n-th consecutive failure (1-based). */
  retryDelayMs?: (failures: number) => number;
  /** Told about list/watch failures and recoveries. */
  onEvent?: (event: { kind: 'failure'; message: string; retryInMs: number } | { kind: 'synced'; namespaces: number }) => void;
}

interface NamespaceObject {
  metadata?: { name?: string; resourceVersion?: string; labels?: Record<string, unknown> };
}

const DEFAULT_DIRECT_READ_TIMEOUT_MS = 2000;
/** A list page that hangs (a black-holed API server) must fail and be retried rather than block syncing forever. */
const LIST_TIMEOUT_MS = 60_000;

/** 0.5 s, 1 s, 2 s ... capped at 30 s. */
export function backoffDelayMs(failures: number): number {
  return Math.min(30_000, 500 * 2 ** Math.max(0, failures - 1));
}

/** Starts listing and watching namespaces at once; lookups work (by direct read) while it syncs. */
export function startNamespaceCache(transport: KubeTransport, options: NamespaceCacheOptions = {}): NamespaceLabelSource {
  const timeoutMs = options.directReadTimeoutMs ?? DEFAULT_DIRECT_READ_TIMEOUT_MS;
  let listed = false;
  let state: NamespaceSourceState = 'syncing';
  const directReads = new Map<string, Promise<NamespaceLabelLookup>>();

  const cache = new ListWatch<NamespaceObject, Readonly<Record<string, string>>>(transport, {
    path: '/api/v1/namespaces',
    attempted: 'list and watch namespaces',
    keyOf: (namespace) => namespace.metadata?.name,
    // Only the labels are kept: the webhook needs nothing else of a namespace.
    valueOf: (namespace) => copyLabels(namespace.metadata?.labels ?? {}, `namespace ${namespace.metadata?.name ?? ''}`),
    retryDelayMs: options.retryDelayMs ?? backoffDelayMs,
    listTimeoutMs: LIST_TIMEOUT_MS,
    onListed(size) {
      if (listed) return;
      listed = true;
      options.onEvent?.({ kind: 'synced', namespaces: size });
    },
    onWatching() {
      state = 'synced';
    },
    onError(error, retryInMs) {
      state = 'failing';
      options.onEvent?.({ kind: 'failure', message: error.message, retryInMs });
    },
  });
  // A failed first list is reported through onError and retried by the cache itself.
  cache.start().catch(() => undefined);

  async function readDirectly(name: string): Promise<NamespaceLabelLookup> {
    try {
      const namespace = await transport.call<NamespaceObject>('GET', `/api/v1/namespaces/${encodeURIComponent(name)}`, `read namespace "${name}"`, { timeoutMs });
      return { found: true, labels: copyLabels(namespace.metadata?.labels ?? {}, `namespace ${name}`), from: 'api' };
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return { found: false, reason: `namespace "${name}" not found` };
      return { found: false, reason: (error as Error).message };
    }
  }

  return {
    kind: 'informer',
    labelsOf(name) {
      const labels = cache.get(name);
      if (labels) return { found: true, labels, from: 'cache' };
      // Concurrent reviews for the same uncached namespace share one read.
      let pending = directReads.get(name);
      if (!pending) {
        pending = readDirectly(name).finally(() => directReads.delete(name));
        directReads.set(name, pending);
      }
      return pending;
    },
    isReady: () => listed,
    state: () => state,
    size: () => cache.size(),
    async stop() {
      state = 'stopped';
      cache.stop();
      await Promise.allSettled(directReads.values());
    },
  };
}
