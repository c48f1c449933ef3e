// The pods scheduled to one node, from the API server: a one-shot list for
// `pidguard node`, and a list+watch for the agent (relisting on 410 Gone). The
// cache survives API outages: the agent keeps the pods it last saw and keeps
// enforcing for them.

import type { ListWatch } from '../kube/list-watch.js';
import type { AgentApiClient, PodObject } from './agent-api.js';
import { toNodePod, type NodePod } from './pods.js';

/**
 * A pod whose containers have all ended for good has no cgroup left to limit:
 * the agent's cache drops it, so a finished Job's pod is not reported as
 * "cgroup not found" for as long as it is kept.
 */
function finished(object: PodObject): boolean {
  return object.status?.phase === 'Succeeded' || object.status?.phase === 'Failed';
}

function podOf(object: PodObject): NodePod | undefined {
  return toNodePod({ kind: 'Pod', ...object });
}

/** Lists the node's pods once. */
export async function listNodePods(api: AgentApiClient, nodeName: string): Promise<NodePod[]> {
  return (await api.listNodePods(nodeName)).flatMap((item) => podOf(item) ?? []);
}

export interface NodePodWatchEvents {
  /** The list or watch failed; the watch restarts by itself after retryMs. */
  onError(message: string): void;
}

export class NodePodWatch {
  private readonly watch: ListWatch<PodObject, NodePod>;

  constructor(
    api: AgentApiClient,
    readonly nodeName: string,
    events: NodePodWatchEvents,
    retryMs = 5000,
  ) {
    this.watch = api.watchNodePods(nodeName, {
      keyOf: (object) => podOf(object)?.uid,
      valueOf: (object) => (finished(object) ? undefined : podOf(object)),
      retryDelayMs: () => retryMs,
      onError: (error) => events.onError(error.message),
    });
  }

  /** Lists the pods (rejects if that fails; the watch then retries in the background) and starts watching. */
  start(): Promise<void> {
    return this.watch.start();
  }

  pods(): NodePod[] {
    return this.watch.values();
  }

  async stop(): Promise<void> {
    this.watch.stop();
  }
}
