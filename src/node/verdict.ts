// ok / warning / critical for a scan, and what the on-call engineer should do
// next, naming the pods (pods are what Kubernetes can evict and recreate; a
// kill -9 of a PID only restarts the container in the same pod and cgroup).

import { DOTNET_FORCE_MAX_WORKER_THREADS, PIDS_LIMIT_ANNOTATION } from '../policy/keys.js';
import { MAX_PIDS_LIMIT } from './pods.js';
import type { NodeScan, PodUsage, TopProcess } from './scan.js';

export type VerdictLevel = 'ok' | 'warning' | 'critical';

export interface Thresholds {
  /** tasks / ceiling at or above which the node is at risk. */
  warningRatio: number;
  criticalRatio: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { warningRatio: 0.7, criticalRatio: 0.9 };

export const EXIT_CODES = { ok: 0, warning: 1, critical: 2, unreadable: 3 } as const;

export interface Verdict {
  level: VerdictLevel;
  summary: string;
  /** Processes holding a large share of the node's tasks, biggest first. */
  offenders: TopProcess[];
  /** Pods whose pids limit refused forks: the limit is biting (by design or too low). */
  podsAtLimit: PodUsage[];
  nextSteps: string[];
}

/** A process counts as an offender when it holds at least this share of the tasks in use. */
const OFFENDER_SHARE = 0.05;
const OFFENDER_MIN_THREADS = 100;

export function thresholdsError(thresholds: Thresholds): string | undefined {
  const { warningRatio, criticalRatio } = thresholds;
  if (!(warningRatio > 0 && warningRatio <= 1) || !(criticalRatio > 0 && criticalRatio <= 1)) return 'ratios must be above 0 and at most 1';
  if (warningRatio > criticalRatio) return `the warning ratio (${warningRatio}) must not exceed the critical ratio (${criticalRatio})`;
  return undefined;
}

export function judgeNode(scan: NodeScan, thresholds: Thresholds = DEFAULT_THRESHOLDS): Verdict {
  const level: VerdictLevel =
    scan.usageRatio >= thresholds.criticalRatio ? 'critical' : scan.usageRatio >= thresholds.warningRatio ? 'warning' : 'ok';
  const { tasks } = scan;
  const percent = formatPercent(scan.usageRatio);
  const summary = `${formatCount(tasks.tasks)} of ${formatCount(tasks.ceiling)} PIDs in use (${percent}, ${formatCount(scan.headroom)} free)`;
  const offenders = scan.top.filter((process) => process.threads >= Math.max(OFFENDER_MIN_THREADS, tasks.tasks * OFFENDER_SHARE));
  const podsAtLimit = scan.pods.filter((pod) => (pod.pids.refusedForks ?? 0) > 0);
  const nextSteps = level === 'ok' ? podLimitNotes(podsAtLimit) : [...offenderSteps(scan, offenders), ...podLimitNotes(podsAtLimit), ...nodeSteps(scan)];
  return { level, summary, offenders, podsAtLimit, nextSteps };
}

export function podLabel(pod: { uid: string; namespace?: string; name?: string }): string {
  return pod.name !== undefined ? `${pod.namespace}/${pod.name}` : `pod with UID ${pod.uid}`;
}

function offenderSteps(scan: NodeScan, offenders: readonly TopProcess[]): string[] {
  const steps: string[] = [];
  for (const process of offenders) {
    const share = `${formatCount(process.threads)} threads, ${formatPercent(process.threads / scan.tasks.ceiling)} of the ceiling`;
    const who = `PID ${process.pid} (${process.name}${process.runtime !== 'unknown' ? `, ${process.runtime}` : ''}; ${share})`;
    if (!process.pod) {
      steps.push(`${who} is not in a pod: restart the service that runs it on the host; find it with \`systemctl status ${process.pid}\`.`);
      continue;
    }
    const deletion = process.pod.name !== undefined
      ? `kubectl -n ${process.pod.namespace} delete pod ${process.pod.name}`
      : `kubectl get pods -A -o custom-columns=NS:.metadata.namespace,NAME:.metadata.name,UID:.metadata.uid | grep ${process.pod.uid}, then delete it`;
    steps.push(
      `Evict or delete ${podLabel(process.pod)}, which holds ${who}: \`${deletion}\`. Its controller starts a fresh pod; ` +
        'do not kill -9 the PID (the container restarts in the same pod and cgroup and climbs again).',
    );
    const pod = scan.pods.find((candidate) => candidate.uid === process.pod?.uid);
    if (pod && pod.pidsLimit === undefined) {
      steps.push(`Cap ${podLabel(process.pod)}'s workload: set the pod annotation ${PIDS_LIMIT_ANNOTATION} (e.g. "2048") so the pidguard agent writes it into the pod cgroup's pids.max.`);
    }
    if (process.runtime === '.NET') {
      steps.push(`${podLabel(process.pod)} runs .NET: bound its thread pool with ${DOTNET_FORCE_MAX_WORKER_THREADS} (hexadecimal, e.g. 0x100 = 256) and look for blocking calls that starve the pool.`);
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
  if (tasks.ceilingSource === 'kernel.pid_max' && tasks.pidMax < MAX_PIDS_LIMIT) {
    steps.push(`Raise kernel.pid_max (now ${tasks.pidMax}): \`sysctl -w kernel.pid_max=${MAX_PIDS_LIMIT}\` and persist it in /etc/sysctl.d. It buys headroom; it does not stop the leak.`);
  } else if (tasks.ceilingSource === 'kernel.threads-max') {
    steps.push(`The ceiling is kernel.threads-max (${tasks.threadsMax}), below pid_max: raise it with sysctl if memory allows.`);
  }
  return steps;
}

export function formatCount(value: number): string {
  return value.toLocaleString('en-US');
}

export function formatPercent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}
