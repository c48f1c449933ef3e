// The pods scheduled to one node, from the API server: a one-shot list for
// `pidguard node`, and a list+watch (an informer) for the agent. Both use the
// field selector spec.nodeName=<node>, so a node's agent never lists the cluster.

import { toNodePod, type NodePod } from '../node/pods.js';
import { ApiError, type KubeApi, type WatchEvent } from './node-agent-api.js';

interface PodObject {
  metadata?: { uid?: string; name?: string; namespace?: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec?: { nodeName?: string };
  status?: { phase?: string };
}

/**
 * A pod whose containers have all ended for good has no cgroup left to limit:
 * the agent's cache drops it, so a finished Job's pod is not reported as
 * "cgroup not found" for as long as it is kept.
 */
function finished(object: PodObject): boolean {
  return object.status?.phase === 'Succeeded' || object.status?.phase === 'Failed';
}

interface PodListObject {
  metadata?: { resourceVersion?: string };
  items: PodObject[];
}

export function nodePodsPath(nodeName: string, extra = ''): string {
  return `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${nodeName}`)}${extra}`;
}

function podOf(object: PodObject): NodePod | undefined {
  return toNodePod({ kind: 'Pod', ...object });
}

/** Lists the node's pods once. */
export async function listNodePods(api: KubeApi, nodeName: string): Promise<NodePod[]> {
  const list = await api.call<PodListObject>('GET', validatedPodsPath(nodeName), `list pods on node ${nodeName}`);
  return list.items.flatMap((item) => podOf(item) ?? []);
}

function validatedPodsPath(nodeName: string): string {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(nodeName)) throw new Error(`"${nodeName}" is not a valid node name (--node-name / NODE_NAME)`);
  return nodePodsPath(nodeName);
}

export interface NodePodWatchEvents {
  /** The list or watch failed; the watch restarts by itself after retryMs. */
  onError(message: string): void;
}

/**
 * Keeps the node's pods current: list, then watch from the list's
 * resourceVersion; relist when the server says the version is gone (410).
 * The cache survives API outages: the agent keeps the pods it last saw and
 * keeps enforcing for them.
 */
export class NodePodWatch {
  private readonly cache = new Map<string, NodePod>();
  private resourceVersion = '';
  private stopped = false;
  private current: { abort: () => void } | undefined;
  private retry: NodeJS.Timeout | undefined;
  private listed = false;

  constructor(
    private readonly api: KubeApi,
    readonly nodeName: string,
    private readonly events: NodePodWatchEvents,
    private readonly retryMs = 5000,
  ) {}

  /** Lists the pods (rejects if that fails; the watch then retries in the background) and starts watching. */
  async start(): Promise<void> {
    validatedPodsPath(this.nodeName);
    try {
      await this.list();
    } finally {
      this.loop();
    }
  }

  private async list(): Promise<void> {
    const list = await this.api.call<PodListObject>('GET', nodePodsPath(this.nodeName), `list pods on node ${this.nodeName}`);
    this.cache.clear();
    for (const item of list.items) {
      const pod = finished(item) ? undefined : podOf(item);
      if (pod) this.cache.set(pod.uid, pod);
    }
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    this.listed = true;
  }

  pods(): NodePod[] {
    return [...this.cache.values()];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    this.current?.abort();
  }

  private loop(): void {
    if (this.stopped) return;
    const run = async () => {
      if (!this.listed || this.resourceVersion === '') await this.list();
      const watch = this.api.watch<PodObject>(
        nodePodsPath(this.nodeName, `&watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(this.resourceVersion)}`),
        `watch pods on node ${this.nodeName}`,
        (event) => this.apply(event),
      );
      this.current = watch;
      await watch.done;
    };
    run().then(
      () => this.loop(),
      (error: Error) => {
        if (error instanceof ApiError && error.status === 410) this.resourceVersion = '';
        this.events.onError(error.message);
        if (!this.stopped) this.retry = setTimeout(() => this.loop(), this.retryMs);
      },
    );
  }

  private apply(event: WatchEvent<PodObject>): void {
    const version = event.object?.metadata?.resourceVersion;
    if (event.type === 'ERROR') {
      // A Status object: 410 Gone means our resourceVersion is too old; relist.
      const status = event.object as { code?: number; message?: string };
      if (status.code === 410) this.resourceVersion = '';
      throw new ApiError(status.code ?? 500, '', `watch pods on node ${this.nodeName}: ${status.message ?? 'error event'}`);
    }
    if (version) this.resourceVersion = version;
    if (event.type === 'BOOKMARK') return;
    const pod = podOf(event.object);
    if (!pod) return;
    if (event.type === 'DELETED' || finished(event.object)) this.cache.delete(pod.uid);
    else this.cache.set(pod.uid, pod);
  }
}
