// Making `pidguard.io/pids-limit` real: no container runtime honours a pids
// annotation (FACTS.md), so the agent writes it into the pod-level cgroup's
// pids.max, where the kernel refuses forks and clones past it. The value is
// what src/policy/pids-budget.ts resolves the annotation to (never above the
// ceiling; an invalid one replaced), so the agent and the webhook agree. It
// only ever lowers: a higher value never loosens a limit the kubelet or an
// admin set. A pod whose limit cannot be applied gets a `failed` action that
// says why; the agent makes it loud (agent.ts).

import { lowers, readPidsUsage, writePidsMax } from './pids-cgroup.js';
import type { NodeScan, PodRef } from './scan.js';

export type EnforcementOutcome = 'lowered' | 'unchanged' | 'failed';

/** Why a limit is not in place, as the `reason` label of the failure metrics. */
export type EnforcementFailure = 'cgroup-not-found' | 'no-pids-max' | 'write-refused' | 'not-applied';
export const ENFORCEMENT_FAILURES: readonly EnforcementFailure[] = ['cgroup-not-found', 'no-pids-max', 'write-refused', 'not-applied'];

export interface EnforcementAction {
  pod: PodRef;
  outcome: EnforcementOutcome;
  /** Set when outcome is 'failed'. */
  failure?: EnforcementFailure;
  /** The limit the agent applies (the resolved annotation). */
  limit: number;
  /** Set when the annotation was not applied as written: above the ceiling, or invalid (pids-budget's message). */
  adjustment?: string;
  /** The pod cgroup directory written (or that would have been). */
  cgroupDir?: string;
  before?: number | 'max';
  after?: number | 'max';
  reason: string;
}

export interface EnforceOptions {
  write?: (dir: string, limit: number) => void;
  /** Why /proc/<pid>/cgroup paths could not be placed in the mount (cgroup-namespace.ts), for the not-found reason. */
  cgroupProblems?: readonly string[];
}

/** Writes each pod's resolved limit (the scan's pidsLimit) where it lowers pids.max; reports every pod that has one. */
export function enforcePidsLimits(scan: NodeScan, options: EnforceOptions = {}): EnforcementAction[] {
  const write = options.write ?? writePidsMax;
  const actions: EnforcementAction[] = [];
  for (const pod of scan.pods) {
    const limit = pod.pidsLimit;
    if (limit === undefined) continue;
    const base = {
      pod: { uid: pod.uid, ...(pod.name !== undefined ? { namespace: pod.namespace, name: pod.name } : {}) },
      limit,
      ...(pod.pidsLimitProblem !== undefined ? { adjustment: pod.pidsLimitProblem } : {}),
    };
    const failed = (failure: EnforcementFailure, reason: string, extra: Partial<EnforcementAction> = {}) => actions.push({ ...base, ...extra, outcome: 'failed', failure, reason });
    if (!pod.cgroup) {
      const problems = options.cgroupProblems?.length ? `: ${options.cgroupProblems.join('; ')}` : ' (pod not started yet, or the cgroup root is not mounted)';
      failed('cgroup-not-found', `pod cgroup not found on this node${problems}`);
      continue;
    }
    const dir = pod.cgroup.dir;
    const before = pod.pids.max;
    if (before === undefined) {
      failed('no-pids-max', `no readable pids.max in ${dir} (pids controller not enabled for this cgroup?)`, { cgroupDir: dir });
      continue;
    }
    if (!lowers(limit, before)) {
      actions.push({ ...base, outcome: 'unchanged', cgroupDir: dir, before, after: before, reason: `pids.max is already ${before}, at or below ${limit}` });
      continue;
    }
    try {
      write(dir, limit);
    } catch (error) {
      failed('write-refused', `cannot write ${dir}/pids.max: ${(error as Error).message}`, { cgroupDir: dir, before });
      continue;
    }
    const after = readPidsUsage(dir).max;
    if (after === limit) {
      actions.push({ ...base, outcome: 'lowered', cgroupDir: dir, before, after, reason: `pids.max lowered from ${before} to ${limit}` });
    } else {
      failed('not-applied', `wrote ${limit} to ${dir}/pids.max but it reads back ${after ?? 'nothing'}`, { cgroupDir: dir, before, ...(after !== undefined ? { after } : {}) });
    }
  }
  return actions;
}
