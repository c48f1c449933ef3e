// The pods scheduled to one node, from the API server: a one-shot list for
// `pidguard node`, and a list+watch (informer) for the agent. Both use the
// field selector spec.nodeName=<node>, so a node's agent never lists the cluster.

import { CoreV1Api, ListWatch, Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { toNodePod, type NodePod } from '../node/pods.js';
import { describeApiError } from './client.js';

export function nodeFieldSelector(nodeName: string): string {
  return `spec.nodeName=${nodeName}`;
}

function toNodePods(items: readonly V1Pod[]): NodePod[] {
  const pods: NodePod[] = [];
  for (const item of items) {
    const pod = toNodePod(item as Parameters<typeof toNodePod>[0]);
    if (pod) pods.push(pod);
  }
  return pods;
}

/** Lists the node's pods once; rejects with a one-line description after `timeoutMs`. */
export async function listNodePods(config: KubeConfig, nodeName: string, timeoutMs: number): Promise<NodePod[]> {
  const api = config.makeApiClient(CoreV1Api);
  const attempted = `list pods on node ${nodeName}`;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`API server did not answer within ${timeoutMs} ms while trying to ${attempted}`)), timeoutMs);
  });
  try {
    const list = await Promise.race([api.listPodForAllNamespaces({ fieldSelector: nodeFieldSelector(nodeName) }), timeout]);
    return toNodePods(list.items);
  } catch (error) {
    throw new Error(error instanceof Error && error.message.startsWith('API server did not answer') ? error.message : describeApiError(error, attempted));
  } finally {
    clearTimeout(timer);
  }
}

export interface NodePodWatchEvents {
  /** The watch failed; it restarts by itself after `retryMs`. */
  onError(message: string): void;
}

/**
 * Keeps the node's pods current through a list+watch. The cache survives API
 * outages: the agent keeps the last pods it saw and keeps enforcing for them.
 */
export class NodePodWatch {
  private readonly informer: ListWatch<V1Pod>;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private synced = false;

  constructor(
    config: KubeConfig,
    readonly nodeName: string,
    private readonly events: NodePodWatchEvents,
    private readonly retryMs = 5000,
  ) {
    const api = config.makeApiClient(CoreV1Api);
    const fieldSelector = nodeFieldSelector(nodeName);
    this.informer = new ListWatch<V1Pod>(
      '/api/v1/pods',
      new Watch(config),
      async () => {
        const list = await api.listPodForAllNamespaces({ fieldSelector });
        this.synced = true;
        return list;
      },
      false,
      undefined,
      fieldSelector,
    );
    this.informer.on('error', (error: unknown) => {
      this.events.onError(describeApiError(error, `watch pods on node ${nodeName}`));
      if (!this.stopped) {
        clearTimeout(this.retry);
        this.retry = setTimeout(() => void this.informer.start().catch(() => undefined), this.retryMs);
      }
    });
  }

  /** Starts listing and watching; resolves once the first list arrived (or failed). */
  async start(): Promise<void> {
    await this.informer.start();
  }

  /** True once a list has been received. */
  get hasSynced(): boolean {
    return this.synced;
  }

  pods(): NodePod[] {
    return toNodePods(this.informer.list());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.informer.stop();
  }
}
