// Namespace labels from the API server: a list+watch cache (informer), with a
// direct read for a namespace the cache does not hold yet (created a moment
// ago, or the cache has not synced). Lookups never wait for the cache; a failed
// direct read is reported as such, so the caller fails closed.

import { ApiException, CoreV1Api, makeInformer, Observable, type KubeConfig, type RequestContext, type ResponseContext, type V1Namespace } from '@kubernetes/client-node';
import { describeApiError } from './client.js';
import { copyLabels, type NamespaceLabelLookup, type NamespaceLabelSource, type NamespaceSourceState } from './namespace-labels.js';

export interface NamespaceCacheOptions {
  /** Gives up a direct namespace read after this long (the API server's webhook timeout is 10 s by default). */
  directReadTimeoutMs?: number;
  /** Delay before re-listing after the n-th consecutive failure (1-based). */
  retryDelayMs?: (failures: number) => number;
  /** Told about list/watch failures and recoveries. */
  onEvent?: (event: { kind: 'failure'; message: string; retryInMs: number } | { kind: 'synced'; namespaces: number }) => void;
}

const DEFAULT_DIRECT_READ_TIMEOUT_MS = 2000;
/** A list that hangs (a black-holed API server) must fail and be retried rather than block syncing forever. */
const LIST_TIMEOUT_MS = 60_000;

/** Per-call options that abort the request after `ms`. */
function timeoutAfter(ms: number) {
  return {
    middleware: [{
      pre: (context: RequestContext) => {
        context.setSignal(AbortSignal.timeout(ms));
        return new Observable(Promise.resolve(context));
      },
      post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
    }],
    middlewareMergeStrategy: 'append' as const,
  };
}

/** 0.5 s, 1 s, 2 s ... capped at 30 s. */
export function backoffDelayMs(failures: number): number {
  return Math.min(30_000, 500 * 2 ** Math.max(0, failures - 1));
}

/** Starts listing and watching namespaces at once; lookups work (by direct read) while it syncs. */
export function startNamespaceCache(kubeConfig: KubeConfig, options: NamespaceCacheOptions = {}): NamespaceLabelSource {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const timeoutMs = options.directReadTimeoutMs ?? DEFAULT_DIRECT_READ_TIMEOUT_MS;
  const retryDelay = options.retryDelayMs ?? backoffDelayMs;
  let listed = false;
  let failedThisAttempt = false;
  let failures = 0;
  let state: NamespaceSourceState = 'syncing';
  let stopped = false;
  let retryTimer: NodeJS.Timeout | undefined;
  const directReads = new Map<string, Promise<NamespaceLabelLookup>>();

  const informer = makeInformer<V1Namespace>(kubeConfig, '/api/v1/namespaces', async () => {
    const list = await api.listNamespace({}, timeoutAfter(LIST_TIMEOUT_MS));
    // The informer puts the items into its cache as soon as this returns, before any timer
    // fires; readiness must not also wait for the watch to open.
    setImmediate(() => {
      if (stopped || listed) return;
      listed = true;
      options.onEvent?.({ kind: 'synced', namespaces: informer.list().length });
    });
    return list;
  });

  informer.on('error', (error: unknown) => {
    if (stopped) return;
    failedThisAttempt = true;
    failures += 1;
    state = 'failing';
    const retryInMs = retryDelay(failures);
    options.onEvent?.({ kind: 'failure', message: describeApiError(error, 'list and watch namespaces'), retryInMs });
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => void connect(), retryInMs);
    retryTimer.unref();
  });

  async function connect(): Promise<void> {
    if (stopped) return;
    failedThisAttempt = false;
    // start() resolves once the list is in the cache and the watch is open, or after reporting an error.
    await informer.start();
    if (!failedThisAttempt && !stopped) {
      failures = 0;
      state = 'synced';
    }
  }

  async function readDirectly(name: string): Promise<NamespaceLabelLookup> {
    try {
      const namespace = await api.readNamespace({ name }, timeoutAfter(timeoutMs));
      return { found: true, labels: copyLabels(namespace.metadata?.labels ?? {}, `namespace ${name}`), from: 'api' };
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return { found: false, reason: `namespace "${name}" not found` };
      return { found: false, reason: describeApiError(error, `read namespace "${name}"`) };
    }
  }

  void connect();

  return {
    kind: 'informer',
    labelsOf(name) {
      const cached = informer.get(name);
      if (cached) return { found: true, labels: cached.metadata?.labels ?? {}, from: 'cache' };
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
    size: () => informer.list().length,
    async stop() {
      stopped = true;
      state = 'stopped';
      clearTimeout(retryTimer);
      await informer.stop();
      await Promise.allSettled(directReads.values());
    },
  };
}
