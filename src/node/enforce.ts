// Making `pidguard.io/pids-limit` real: no container runtime honours a pids
// annotation (FACTS.md), so the agent writes it into the pod-level cgroup's
// pids.max, where the kernel refuses forks and clones past it. It only ever
// lowers: a higher annotation never loosens a limit the kubelet or an admin set.

import { lowers, readPidsUsage, writePidsMax } from './pids-cgroup.js';
import type { NodeScan, PodRef } from './scan.js';

export type EnforcementOutcome = 'lowered' | 'unchanged' | 'skipped' | 'failed';

export interface EnforcementAction {
  pod: PodRef;
  outcome: EnforcementOutcome;
  /** The annotation's value, when valid. */
  limit?: number;
  /** The pod cgroup directory written (or that would have been). */
  cgroupDir?: string;
  before?: number | 'max';
  after?: number | 'max';
  reason: string;
}

/** Writes each annotated pod's limit where it lowers pids.max; reports every annotated pod. */
export function enforcePidsLimits(scan: NodeScan, write: (dir: string, limit: number) => void = writePidsMax): EnforcementAction[] {
  const actions: EnforcementAction[] = [];
  for (const pod of scan.pods) {
    const ref: PodRef = { uid: pod.uid, ...(pod.name !== undefined ? { namespace: pod.namespace, name: pod.name } : {}) };
    if (pod.pidsLimitError !== undefined) {
      actions.push({ pod: ref, outcome: 'skipped', reason: pod.pidsLimitError });
      continue;
    }
    const limit = pod.pidsLimit;
    if (limit === undefined) continue;
    if (!pod.cgroup) {
      actions.push({ pod: ref, outcome: 'skipped', limit, reason: 'pod cgroup not found on this node (pod not started yet, or the cgroup root is not mounted)' });
      continue;
    }
    const dir = pod.cgroup.dir;
    const before = pod.pids.max;
    if (before === undefined) {
      actions.push({ pod: ref, outcome: 'skipped', limit, cgroupDir: dir, reason: `no readable pids.max in ${dir} (pids controller not enabled for this cgroup?)` });
      continue;
    }
    if (!lowers(limit, before)) {
      actions.push({ pod: ref, outcome: 'unchanged', limit, cgroupDir: dir, before, after: before, reason: `pids.max is already ${before}, at or below ${limit}` });
      continue;
    }
    try {
      write(dir, limit);
    } catch (error) {
      actions.push({ pod: ref, outcome: 'failed', limit, cgroupDir: dir, before, reason: `cannot write ${dir}/pids.max: ${(error as Error).message}` });
      continue;
    }
    const after = readPidsUsage(dir).max;
    if (after === limit) {
      actions.push({ pod: ref, outcome: 'lowered', limit, cgroupDir: dir, before, after, reason: `pids.max lowered from ${before} to ${limit}` });
    } else {
      actions.push({ pod: ref, outcome: 'failed', limit, cgroupDir: dir, before, ...(after !== undefined ? { after } : {}), reason: `wrote ${limit} to ${dir}/pids.max but it reads back ${after ?? 'nothing'}` });
    }
  }
  return actions;
}
