// The agent's Prometheus metrics, on a Registry of its own. Per-process and
// per-pod series are rebuilt every scan (top N processes, the node's pods), so
// their number stays bounded however many processes come and go.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ScanNews } from './agent.js';
import { ENFORCEMENT_FAILURES, type EnforcementAction } from './enforce.js';
import type { NodeScan } from './scan.js';
import { foldGroups } from './thread-names.js';
import type { VerdictLevel } from './verdict.js';

const LEVELS: readonly VerdictLevel[] = ['ok', 'warning', 'critical'];
/** Thread-name groups exported per process; the rest are summed as group="other". */
export const THREAD_GROUPS_EXPORTED = 5;

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly tasks = this.gauge('pidguard_node_tasks', 'Tasks (processes and threads) on the node, from /proc/loadavg');
  private readonly ceiling = this.gauge('pidguard_node_pid_ceiling', 'Tasks the node can hold: min(kernel.pid_max, kernel.threads-max)');
  private readonly podsTasks = this.gauge('pidguard_pods_tasks', 'Tasks in all pods: the top kubepods cgroup\'s pids.current (absent when it was not found)');
  private readonly podsCeiling = this.gauge('pidguard_pods_pid_ceiling', 'Tasks all pods together can hold: min(kubepods pids.max, pidguard_node_pid_ceiling) (absent when kubepods was not found)');
  private readonly ratio = this.gauge('pidguard_node_pid_usage_ratio', 'Usage against the binding ceiling, which the verdict judges: the higher of pidguard_node_tasks / pidguard_node_pid_ceiling and pidguard_pods_tasks / pidguard_pods_pid_ceiling');
  private readonly binding = this.gauge('pidguard_pid_ceiling_binding', '1 for the budget the verdict judges (node or pods) and where its ceiling comes from', ['budget', 'ceiling']);
  private readonly holderTasks = this.gauge('pidguard_top_holder_tasks', 'Tasks (threads of all processes) of the pods and cgroups outside pods holding the most (top N)', ['namespace', 'pod', 'cgroup']);
  private readonly holderProcesses = this.gauge('pidguard_top_holder_processes', 'Processes of the same top N holders', ['namespace', 'pod', 'cgroup']);
  private readonly podProcesses = this.gauge('pidguard_pod_processes', 'Processes seen in the pod\'s containers', ['namespace', 'pod', 'uid']);
  private readonly skipped = this.gauge('pidguard_scan_skipped_processes', 'Processes the last scan skipped: vanished (exited mid-scan) or unreadable (status not a regular file, not readable, or nonsense)', ['reason']);
  private readonly verdict = this.gauge('pidguard_node_verdict', '1 for the verdict of the last scan', ['level']);
  private readonly processThreads = this.gauge('pidguard_process_threads', 'Threads of the processes holding the most threads (top N)', ['pid', 'command', 'runtime', 'namespace', 'pod', 'container']);
  private readonly threadGroups = this.gauge('pidguard_thread_groups', `Threads of the top processes by name group (digits as *), estimated from the names read; at most ${THREAD_GROUPS_EXPORTED} groups per process, the rest as group="other"`, ['namespace', 'pod', 'command', 'group', 'kind']);
  private readonly threadDiagnosis = this.gauge('pidguard_thread_leak_diagnosis', '1 for what the thread names of a top process show: pool, dedicated, runtime or unknown', ['namespace', 'pod', 'command', 'diagnosis']);
  private readonly podCurrent = this.gauge('pidguard_pod_pids_current', 'Tasks in the pod-level cgroup (pids.current)', ['namespace', 'pod', 'uid']);
  private readonly podMax = this.gauge('pidguard_pod_pids_max', 'The pod-level cgroup\'s pids.max; 0 = unlimited (as cAdvisor\'s container_threads_max)', ['namespace', 'pod', 'uid']);
  private readonly podThreads = this.gauge('pidguard_pod_threads', 'Threads of all processes seen in the pod\'s containers in the last scan', ['namespace', 'pod', 'uid']);
  private readonly podPeak = this.gauge('pidguard_pod_pids_peak', 'The most tasks the pod-level cgroup held since the agent saw the pod: the highest pids.current of its scans, or the kernel\'s pids.peak (cgroup v2) when higher', ['namespace', 'pod', 'uid']);
  private readonly podBudget = this.gauge('pidguard_pod_pids_budget', 'The PID budget the pod is judged against: the limit the agent enforces for its pidguard.io/pids-limit (at most the ceiling); absent without one', ['namespace', 'pod', 'uid']);
  /** Peak tasks by pod UID; replaced every scan, so a pod that left the node is forgotten. */
  private peaks = new Map<string, number>();
  private readonly podRefused = this.gauge('pidguard_pod_pids_refused_forks', 'Forks and thread creations the pod\'s pids limit refused (pids.events max; cumulative, kernel-kept)', ['namespace', 'pod', 'uid']);
  private readonly scanDuration = new Histogram({
    name: 'pidguard_scan_duration_seconds',
    help: 'Time one scan of /proc and the pod cgroups took',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  private readonly scans = new Counter({ name: 'pidguard_scans_total', help: 'Scans completed', registers: [this.registry] });
  private readonly scanErrors = new Counter({ name: 'pidguard_scan_errors_total', help: 'Scans that could not read the node\'s files', registers: [this.registry] });
  private readonly enforcements = new Counter({ name: 'pidguard_enforcements_total', help: 'pids.max writes by outcome (lowered, failed)', labelNames: ['outcome'], registers: [this.registry] });
  private readonly enforcementFailures = new Counter({
    name: 'pidguard_agent_enforcement_failures_total',
    help: 'Pods whose pids-limit could not be applied, counted once per episode, by reason (cgroup-not-found, no-pids-max, write-refused, not-applied)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly unenforced = this.gauge('pidguard_agent_pods_unenforced', 'Pods whose pids-limit is not in place now, by reason', ['reason']);
  private readonly adjustments = new Counter({
    name: 'pidguard_agent_pids_limit_adjustments_total',
    help: 'Pods whose pids-limit annotation was applied lowered to the ceiling or replaced (invalid), once per pod and value',
    registers: [this.registry],
  });
  private readonly reportFailures = new Counter({
    name: 'pidguard_agent_report_failures_total',
    help: 'Scans whose report to the API server (node condition, Events, PolicyReports) failed in whole or in part',
    registers: [this.registry],
  });
  private readonly ownThreads = this.gauge('pidguard_agent_threads', 'Threads of the agent process itself (fixed after start-up)');
  private readonly ownResident = this.gauge('pidguard_agent_resident_memory_bytes', 'Resident memory of the agent process');

  constructor() {
    // Every reason present from the start, so rate() and absent-series alerts work before the first failure.
    this.reportFailures.inc(0);
    for (const reason of ENFORCEMENT_FAILURES) {
      this.enforcementFailures.inc({ reason }, 0);
      this.unenforced.set({ reason }, 0);
    }
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  recordScan(scan: NodeScan, level: VerdictLevel): void {
    this.scans.inc();
    this.scanDuration.observe(scan.durationMs / 1000);
    this.tasks.set(scan.tasks.tasks);
    this.ceiling.set(scan.tasks.ceiling);
    this.podsTasks.reset();
    this.podsCeiling.reset();
    if (scan.podsBudget) {
      this.podsTasks.set(scan.podsBudget.used);
      this.podsCeiling.set(scan.podsBudget.ceiling);
    }
    this.ratio.set(scan.binding.usageRatio);
    this.binding.reset();
    this.binding.set({ budget: scan.binding.scope, ceiling: scan.binding.ceilingSource }, 1);
    this.skipped.set({ reason: 'vanished' }, scan.vanishedProcesses);
    this.skipped.set({ reason: 'unreadable' }, scan.unreadableProcesses);
    this.holderTasks.reset();
    this.holderProcesses.reset();
    for (const holder of scan.holders) {
      const labels = { namespace: holder.pod?.namespace ?? '', pod: holder.pod ? holder.pod.name ?? holder.pod.uid : '', cgroup: holder.cgroup ?? '' };
      this.holderTasks.set(labels, holder.tasks);
      this.holderProcesses.set(labels, holder.processes);
    }
    for (const candidate of LEVELS) this.verdict.set({ level: candidate }, candidate === level ? 1 : 0);
    this.processThreads.reset();
    for (const process of scan.top) {
      this.processThreads.set(
        {
          pid: String(process.pid),
          command: process.name,
          runtime: process.runtime,
          namespace: process.pod?.namespace ?? '',
          pod: process.pod?.name ?? process.pod?.uid ?? '',
          container: process.containerId?.slice(0, 13) ?? '',
        },
        process.threads,
      );
    }
    this.recordThreadNames(scan);
    this.podCurrent.reset();
    this.podMax.reset();
    this.podRefused.reset();
    this.podProcesses.reset();
    this.podThreads.reset();
    this.podPeak.reset();
    this.podBudget.reset();
    const peaks = new Map<string, number>();
    for (const pod of scan.pods) {
      const labels = { namespace: pod.namespace ?? '', pod: pod.name ?? '', uid: pod.uid };
      this.podProcesses.set(labels, pod.processes);
      this.podThreads.set(labels, pod.threads);
      const peak = Math.max(this.peaks.get(pod.uid) ?? 0, pod.pids.current ?? pod.threads, pod.pids.peak ?? 0);
      peaks.set(pod.uid, peak);
      this.podPeak.set(labels, peak);
      if (pod.pidsLimit !== undefined) this.podBudget.set(labels, pod.pidsLimit);
      if (pod.pids.current !== undefined) this.podCurrent.set(labels, pod.pids.current);
      if (pod.pids.max !== undefined) this.podMax.set(labels, pod.pids.max === 'max' ? 0 : pod.pids.max);
      if (pod.pids.refusedForks !== undefined) this.podRefused.set(labels, pod.pids.refusedForks);
    }
    this.peaks = peaks;
  }

  /** Bounded: the few processes whose names were read, THREAD_GROUPS_EXPORTED groups each plus "other"; kept between the scans that read no names. */
  private recordThreadNames(scan: NodeScan): void {
    if (!scan.top.some((process) => process.threadNames)) return;
    this.threadGroups.reset();
    this.threadDiagnosis.reset();
    for (const process of scan.top) {
      if (!process.threadNames) continue;
      const owner = { namespace: process.pod?.namespace ?? '', pod: process.pod ? process.pod.name ?? process.pod.uid : '', command: process.name };
      for (const group of foldGroups(process.threadNames.groups, THREAD_GROUPS_EXPORTED, process.threads)) {
        this.threadGroups.inc({ ...owner, group: group.name, kind: group.kind }, group.estimate);
      }
      this.threadDiagnosis.set({ ...owner, diagnosis: process.threadNames.diagnosis.kind }, 1);
    }
  }

  recordReportFailure(): void {
    this.reportFailures.inc();
  }

  recordScanError(): void {
    this.scanErrors.inc();
  }

  recordEnforcement(actions: readonly EnforcementAction[], findings: Pick<ScanNews, 'newFailures' | 'newAdjustments' | 'unenforced'>): void {
    for (const action of actions) {
      if (action.outcome === 'lowered') this.enforcements.inc({ outcome: 'lowered' });
      // Only attempted writes: a pod without a cgroup is no write.
      else if (action.failure === 'write-refused' || action.failure === 'not-applied') this.enforcements.inc({ outcome: 'failed' });
    }
    for (const action of findings.newFailures) this.enforcementFailures.inc({ reason: action.failure ?? 'not-applied' });
    this.adjustments.inc(findings.newAdjustments.length);
    for (const reason of ENFORCEMENT_FAILURES) this.unenforced.set({ reason }, findings.unenforced.filter((action) => action.failure === reason).length);
  }

  recordSelf(usage: { threads: number; residentBytes: number } | undefined): void {
    if (!usage) return;
    this.ownThreads.set(usage.threads);
    this.ownResident.set(usage.residentBytes);
  }
}
