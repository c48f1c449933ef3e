// Is a pod's pidguard.io/pids-limit enforced on its node? Answered from node
// reports (`pidguard node --json`, which the agent's host runs the same scan
// for): the pod cgroup's pids.max must be at most the limit the agent writes
// for the annotation (pids-budget.ts: at most the ceiling, an invalid value replaced);
// one below it is a finding of its own (the pod gets less than its budget).

import type { PolicyConfig } from '../policy/config.js';
import { PIDS_LIMIT_ANNOTATION } from '../policy/keys.js';
import { resolvePidsLimit, type ResolvedPidsLimit } from '../policy/pids-budget.js';
import type { KubeObject } from '../policy/types.js';

/** What one node report says about one pod's pids cgroup. */
export interface ObservedPodPids {
  /** The pod cgroup's pids.max: a number, 'max' (unlimited), or undefined when unreadable. */
  pidsMax?: number | 'max';
  /** The report it came from, for the finding's detail. */
  source: string;
}

export const PIDS_ENFORCEMENT_RULE = 'pids-limit-enforcement';
export const PIDS_ENFORCEMENT_REASON = `${PIDS_LIMIT_ANNOTATION} not enforced in the pod's cgroup`;

/** The finding's detail when the annotation is not enforced; undefined when it is, or when nothing is known. */
export function unenforcedPidsLimit(
  pod: KubeObject,
  observed: ObservedPodPids | undefined,
  config: PolicyConfig,
  namespaceLabels?: Readonly<Record<string, string>>,
): string | undefined {
  const annotation = pod.metadata?.annotations?.[PIDS_LIMIT_ANNOTATION];
  const wanted = budgetOf(pod, config, namespaceLabels);
  if (!observed || wanted === undefined) return undefined;
  const { pidsMax } = observed;
  if (typeof pidsMax === 'number' && pidsMax <= wanted.limit) return undefined;
  const asked = wanted.problem === undefined ? `the annotation asks for ${wanted.limit}` : `the agent writes ${wanted.limit} for the annotation ${JSON.stringify(annotation)}`;
  return `pids.max is ${describePidsMax(pidsMax)}, ${asked} (${observed.source}); is the pidguard agent running on that node with enforcement on?`;
}

export const STRICTER_PIDS_MAX_RULE = 'pids-limit-enforcement/stricter';
export const STRICTER_PIDS_MAX_REASON = `pod cgroup's pids.max below the pod's ${PIDS_LIMIT_ANNOTATION}: the pod gets less than its budget`;

/**
 * The finding's detail when the pod cgroup holds the pod to less than its
 * annotation: the kubelet's podPidsLimit, or a limit the agent wrote before the
 * annotation was raised (the agent only ever lowers). Not a hole in the node's
 * protection, but the budget a team sized is not the one that holds.
 */
export function stricterPidsMax(
  pod: KubeObject,
  observed: ObservedPodPids | undefined,
  config: PolicyConfig,
  namespaceLabels?: Readonly<Record<string, string>>,
): string | undefined {
  const wanted = budgetOf(pod, config, namespaceLabels);
  if (wanted === undefined || typeof observed?.pidsMax !== 'number' || observed.pidsMax >= wanted.limit) return undefined;
  return `pids.max is ${observed.pidsMax}, the budget is ${wanted.limit} (${observed.source}): the kubelet's podPidsLimit, or a lower limit written before the annotation was raised (the agent never raises one; recreate the pod)`;
}

/** The limit the agent writes for the pod's annotation; undefined without one. */
function budgetOf(pod: KubeObject, config: PolicyConfig, namespaceLabels: Readonly<Record<string, string>> | undefined): ResolvedPidsLimit | undefined {
  const annotation = pod.metadata?.annotations?.[PIDS_LIMIT_ANNOTATION];
  return typeof annotation === 'string' ? resolvePidsLimit(annotation, config, namespaceLabels) : undefined;
}

export const UNGUARDED_POD_REASON = `pod without ${PIDS_LIMIT_ANNOTATION} (admitted while pidguard was down or not installed?)`;

/**
 * For a pod the policy would have rejected or changed (so it got past the
 * webhook) and that carries no pids-limit: what its node report says its pod
 * cgroup's pids.max actually is. Undefined when it has a pids-limit
 * (unenforcedPidsLimit judges those) or nothing is known.
 */
export function unguardedPodPids(pod: KubeObject, observed: ObservedPodPids | undefined): string | undefined {
  if (!observed || pod.metadata?.annotations?.[PIDS_LIMIT_ANNOTATION] !== undefined) return undefined;
  return `no ${PIDS_LIMIT_ANNOTATION}; on its node pids.max is ${describePidsMax(observed.pidsMax)} (${observed.source})`;
}

function describePidsMax(pidsMax: ObservedPodPids['pidsMax']): string {
  return pidsMax === undefined ? 'unreadable' : pidsMax === 'max' ? 'max (unlimited)' : String(pidsMax);
}

/** Reads the pods of node reports (`pidguard node --json` output) into a map by pod UID; throws naming the bad report. */
export function observedPodsFromReports(reports: ReadonlyArray<{ source: string; document: unknown }>): Map<string, ObservedPodPids> {
  const observed = new Map<string, ObservedPodPids>();
  for (const { source, document } of reports) {
    const pods = (document as { pods?: unknown } | null)?.pods;
    if (!Array.isArray(pods)) throw new Error(`${source}: not a node report (no "pods" list; produce it with \`pidguard node --json\`)`);
    for (const pod of pods as Array<{ uid?: unknown; pids?: { max?: unknown } }>) {
      if (typeof pod?.uid !== 'string') continue;
      const max = pod.pids?.max;
      observed.set(pod.uid, { source, ...(typeof max === 'number' || max === 'max' ? { pidsMax: max } : {}) });
    }
  }
  return observed;
}
