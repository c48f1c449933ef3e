// ok / warning / critical for a scan, and what the on-call engineer should do
// next, naming the pods (pods are what Kubernetes can evict and recreate; a
// kill -9 of a PID only restarts the container in the same pod and cgroup).

import { DOTNET_FORCE_MAX_WORKER_THREADS, PIDS_LIMIT_ANNOTATION } from '../policy/keys.js';
import { MAX_PIDS_LIMIT } from '../policy/policy-options.js';
import { formatCount, formatPercent } from '../format.js';
import type { NodeScan, PidBudget, PodUsage, TaskHolder } from './scan.js';

export type VerdictLevel = 'ok' | 'warning' | 'critical';

export interface Thresholds {
  /** tasks / ceiling at or above which the node is at risk. */
  warningRatio: number;
  criticalRatio: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { warningRatio: 0.7, criticalRatio: 0.9 };

export interface Verdict {
  level: VerdictLevel;
  /** Usage against the binding ceiling first, then the other one. */
  summary: string;
  /** Who holds the most tasks ("pod shop/orders holds 2,000 tasks in 2,000 processes"); absent on an empty node. */
  headline?: string;
  /** Pods (and cgroups outside pods) holding a large share of the tasks in use, biggest first. */
  offenders: TaskHolder[];
  /** Pods whose pids limit refused forks: the limit is biting (by design or too low). */
  podsAtLimit: PodUsage[];
  nextSteps: string[];
}

/** A holder counts as an offender when it holds at least this share of the tasks in use (of the binding budget). */
const OFFENDER_SHARE = 0.05;
const OFFENDER_MIN_TASKS = 100;

export function thresholdsError(thresholds: Thresholds): string | undefined {
  const { warningRatio, criticalRatio } = thresholds;
  if (!(warningRatio > 0 && warningRatio <= 1) || !(criticalRatio > 0 && criticalRatio <= 1)) return 'ratios must be above 0 and at most 1';
  if (warningRatio > criticalRatio) return `the warning ratio (${warningRatio}) must not exceed the critical ratio (${criticalRatio})`;
  return undefined;
}

export function judgeNode(scan: NodeScan, thresholds: Thresholds = DEFAULT_THRESHOLDS): Verdict {
  const { binding } = scan;
  const level: VerdictLevel =
    binding.usageRatio >= thresholds.criticalRatio ? 'critical' : binding.usageRatio >= thresholds.warningRatio ? 'warning' : 'ok';
  const other = binding === scan.nodeBudget ? scan.podsBudget : scan.nodeBudget;
  const summary = [binding, ...(other ? [other] : [])].map(budgetText).join('; ');
  const offenders = scan.holders.filter((holder) => holder.tasks >= Math.max(OFFENDER_MIN_TASKS, binding.used * OFFENDER_SHARE));
  const podsAtLimit = scan.pods.filter((pod) => (pod.pids.refusedForks ?? 0) > 0);
  const nextSteps = level === 'ok' ? podLimitNotes(podsAtLimit) : [...offenderSteps(scan, offenders), ...podLimitNotes(podsAtLimit), ...nodeSteps(scan)];
  const verdict: Verdict = { level, summary, offenders, podsAtLimit, nextSteps };
  const biggest = scan.holders[0];
  if (biggest) verdict.headline = holderText(scan, biggest);
  return verdict;
}

/** "pods: 2,209 of 3,000 PIDs in use (73.6%, 791 free; kubepods pids.max)" */
export function budgetText(budget: PidBudget): string {
  return `${budget.scope}: ${formatCount(budget.used)} of ${formatCount(budget.ceiling)} PIDs in use (${formatPercent(budget.usageRatio)}, ${formatCount(budget.headroom)} free; ${budget.ceilingSource})`;
}

/** The budget a holder draws on: the pods' for a pod (when kubepods was read), else the node's. */
export function budgetOf(scan: NodeScan, holder: { pod?: unknown }): PidBudget {
  return holder.pod !== undefined && scan.podsBudget ? scan.podsBudget : scan.nodeBudget;
}

export function podLabel(pod: { uid: string; namespace?: string; name?: string }): string {
  return pod.name !== undefined ? `${pod.namespace}/${pod.name}` : `pod with UID ${pod.uid}`;
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${formatCount(count)} ${count === 1 ? one : many}`;
}

/** "pod shop/orders holds 2,000 tasks in 2,000 processes (66.7% of the pods' ceiling 3,000; biggest: PID 4242 sh, 1 thread)" */
export function holderText(scan: NodeScan, holder: TaskHolder): string {
  return `${holder.pod ? `pod ${podLabel(holder.pod)}` : `cgroup ${holder.cgroup} (not a pod)`} ${holdings(scan, holder)}`;
}

/** "holds 2,000 tasks in 2,000 processes (...)" */
function holdings(scan: NodeScan, holder: TaskHolder): string {
  const budget = budgetOf(scan, holder);
  const { biggest } = holder;
  const runtime = biggest.runtime !== 'unknown' ? `, ${biggest.runtime}` : '';
  return `holds ${plural(holder.tasks, 'task')} in ${plural(holder.processes, 'process', 'processes')}` +
    ` (${formatPercent(holder.tasks / budget.ceiling)} of the ${budget.scope === 'pods' ? "pods'" : "node's"} ceiling ${formatCount(budget.ceiling)}; ` +
    `biggest: PID ${biggest.pid} ${biggest.name}${runtime}, ${plural(biggest.threads, 'thread')})`;
}

function offenderSteps(scan: NodeScan, offenders: readonly TaskHolder[]): string[] {
  const steps: string[] = [];
  for (const holder of offenders) {
    const { pod, biggest } = holder;
    if (!pod) {
      steps.push(`${holderText(scan, holder)}: restart the service that runs it on the host; find it with \`systemctl status ${biggest.pid}\`.`);
      continue;
    }
    const deletion = pod.name !== undefined
      ? `kubectl -n ${pod.namespace} delete pod ${pod.name}`
      : `kubectl get pods -A -o custom-columns=NS:.metadata.namespace,NAME:.metadata.name,UID:.metadata.uid | grep ${pod.uid}, then delete it`;
    steps.push(
      `Evict or delete ${podLabel(pod)}, which ${holdings(scan, holder)}: \`${deletion}\`. Its controller starts a fresh pod; ` +
        'do not kill -9 its processes (the container restarts in the same pod and cgroup and climbs again).',
    );
    const usage = scan.pods.find((candidate) => candidate.uid === pod.uid);
    if (usage && usage.pidsLimit === undefined) {
      steps.push(`Cap ${podLabel(pod)}'s workload: set the pod annotation ${PIDS_LIMIT_ANNOTATION} (e.g. "2048") so the pidguard agent writes it into the pod cgroup's pids.max.`);
    }
    const diagnosis = biggest.threadNames?.diagnosis;
    if (diagnosis && diagnosis.kind !== 'unknown') {
      steps.push(`${podLabel(pod)}, PID ${biggest.pid}: ${diagnosis.summary}. ${diagnosis.nextSteps.join(' ')}`);
    } else if (biggest.runtime === '.NET') {
      steps.push(`${podLabel(pod)} runs .NET: bound its thread pool with ${DOTNET_FORCE_MAX_WORKER_THREADS} (hexadecimal, e.g. 0x100 = 256) and look for blocking calls that starve the pool.`);
    }
  }
  return steps;
}

function podLimitNotes(pods: readonly PodUsage[]): string[] {
  return pods.map(
    (pod) => `${podLabel(pod)} reached its pids limit (${pod.pids.max}): ${formatCount(pod.pids.refusedForks ?? 0)} forks/threads refused. Its other threads keep running; check its logs for "resource temporarily unavailable" or OutOfMemoryException.`,
  );
}

function nodeSteps(scan: NodeScan): string[] {
  const steps: string[] = [];
  const finding = scan.podPidsLimit;
  if (finding.state === 'unlimited') {
    steps.push('Set the kubelet\'s podPidsLimit (KubeletConfiguration podPidsLimit or --pod-max-pids; now unlimited) so one pod cannot take the node\'s PIDs, e.g. 4096.');
  } else if (finding.state === 'set' && finding.value !== undefined && finding.value * 2 > scan.tasks.ceiling) {
    steps.push(`The kubelet's podPidsLimit (${finding.value}) is more than half the node's ceiling (${scan.tasks.ceiling}): lower it so one pod cannot take the node.`);
  } else if (finding.state !== 'set') {
    steps.push(`Check the kubelet's podPidsLimit (${finding.detail}).`);
  }
  const { tasks } = scan;
  if (scan.binding.ceilingSource === 'kubepods pids.max') {
    const reserved = tasks.ceiling - scan.binding.ceiling;
    steps.push(
      `The pods' ceiling is the kubepods cgroup's pids.max (${formatCount(scan.binding.ceiling)}), not the node's (${formatCount(tasks.ceiling)}): ` +
        `the kubelet keeps ${formatCount(reserved)} PIDs for the system (systemReserved/kubeReserved pid). Free PIDs inside pods; raising pid_max does not help until the kubelet restarts.`,
    );
  } else if (tasks.ceilingSource === 'kernel.pid_max' && tasks.pidMax < MAX_PIDS_LIMIT) {
    steps.push(`Raise kernel.pid_max (now ${tasks.pidMax}): \`sysctl -w kernel.pid_max=${MAX_PIDS_LIMIT}\` and persist it in /etc/sysctl.d. It buys headroom; it does not stop the leak.`);
  } else if (tasks.ceilingSource === 'kernel.threads-max') {
    steps.push(`The ceiling is kernel.threads-max (${tasks.threadsMax}), below pid_max: raise it with sysctl if memory allows.`);
  }
  return steps;
}
