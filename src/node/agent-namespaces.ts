// Namespace labels for the node agent: the pidguard.io/pids-limit-ceiling label
// of the namespaces its pods live in. GET per namespace (only the namespaces of
// this node's annotated pods, never a cluster-wide list or watch), cached with
// a TTL. A failed read keeps the labels last read; a namespace never read
// answers with the reason, and the agent then applies the config ceiling.

import { copyLabels } from '../kube/namespace-labels.js';
import { KubeApiError } from '../kube/transport.js';
import type { AgentNamespaceLabels, NamespaceLabelsAnswer } from './agent.js';
import type { AgentApiClient } from './agent-api.js';

interface Entry {
  labels?: Readonly<Record<string, string>>;
  problem?: string;
  readAt: number;
  pending?: Promise<void>;
}

export interface NamespaceLabelsCacheOptions {
  /** Labels are read again after this long (default 60 s). */
  ttlMs?: number;
  /** refresh() waits at most this long; reads still running finish in the background (default 3 s). */
  waitMs?: number;
  now?: () => number;
}

export class NamespaceLabelsCache implements AgentNamespaceLabels {
  private entries = new Map<string, Entry>();

  constructor(
    private readonly api: AgentApiClient,
    private readonly options: NamespaceLabelsCacheOptions = {},
  ) {}

  async refresh(namespaces: readonly string[]): Promise<void> {
    const now = (this.options.now ?? Date.now)();
    const ttl = this.options.ttlMs ?? 60_000;
    const entries = new Map<string, Entry>();
    const reads: Promise<void>[] = [];
    for (const name of namespaces) {
      const entry = this.entries.get(name) ?? { readAt: -Infinity };
      entries.set(name, entry);
      if (entry.pending) reads.push(entry.pending);
      else if (now - entry.readAt >= ttl) {
        entry.pending = this.read(name, entry, now).finally(() => delete entry.pending);
        reads.push(entry.pending);
      }
    }
    // Only the namespaces of the node's current pods are kept.
    this.entries = entries;
    if (reads.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(reads), new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.waitMs ?? 3000)))]);
    clearTimeout(timer);
  }

  labelsOf(namespace: string): NamespaceLabelsAnswer {
    const entry = this.entries.get(namespace);
    if (entry?.labels) return { labels: entry.labels };
    return { problem: entry?.problem ?? `the labels of namespace ${namespace} have not been read yet` };
  }

  private async read(name: string, entry: Entry, now: number): Promise<void> {
    try {
      const namespace = await this.api.readNamespace(name);
      entry.labels = copyLabels(namespace.metadata?.labels ?? {}, `namespace ${name}`);
      delete entry.problem;
    } catch (error) {
      // A deleted namespace has no ceiling label: its pods are on their way out.
      if (error instanceof KubeApiError && error.status === 404) entry.labels = {};
      else entry.problem = `cannot read the labels of namespace ${name}: ${(error as Error).message}`;
    }
    entry.readAt = now;
  }
}
