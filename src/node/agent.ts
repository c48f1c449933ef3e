// The node agent's loop: scan, judge, enforce pids-limit annotations, export
// metrics, tell the cluster. Built to keep working on a node that is out of
// PIDs: it never forks or execs, creates no thread after start-up (the scan
// reads synchronously; the libuv pool is created up front by warmThreadPool),
// and keeps only the current scan plus per-pod bookkeeping pruned every scan.

import { promises as fs } from 'node:fs';
import { enforcePidsLimits, type EnforcementAction } from './enforce.js';
import { AgentMetrics } from './agent-metrics.js';
import type { LogLevel } from '../log.js';
import type { NodePod } from './pods.js';
import { ownTaskUsage, ProcUnreadableError } from './procfs.js';
import { scanNode, type NodeScan, type PodUsage, type TaskHolder } from './scan.js';
import { judgeNode, type Thresholds, type Verdict, type VerdictLevel } from './verdict.js';

export type AgentLog = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** What changed since the previous scan: what is worth an Event. */
export interface AgentFindings {
  previousLevel: VerdictLevel | undefined;
  levelChanged: boolean;
  /** Offending pods not yet reported during this at-risk episode. */
  newOffenders: TaskHolder[];
  /** Pods whose refused-fork count grew since the previous scan, at most once per pod per refusalReportEveryMs. */
  newlyRefusing: PodUsage[];
  /** Enforcement writes (lowered or failed); 'unchanged' and 'skipped' repeat every scan and are not news. */
  enforcementChanges: EnforcementAction[];
}

export interface AgentScanResult {
  scan: NodeScan;
  verdict: Verdict;
  enforcement: EnforcementAction[];
  findings: AgentFindings;
}

/** Sends what the agent found to the cluster (Events, node condition); src/kube implements it. */
export interface ClusterReporter {
  report(result: AgentScanResult): Promise<void>;
}

export interface AgentOptions {
  procRoot: string;
  cgroupRoot: string;
  nodeName: string;
  thresholds: Thresholds;
  top: number;
  enforce: boolean;
  /** The pods on this node right now (watch cache or pods file). */
  pods: () => readonly NodePod[];
  reporter?: ClusterReporter;
  log: AgentLog;
  metrics?: AgentMetrics;
  /** A pod that keeps hitting its limit is reported again only after this long (default 10 min). */
  refusalReportEveryMs?: number;
}

export class NodeAgent {
  readonly metrics: AgentMetrics;
  private lastLevel: VerdictLevel | undefined;
  private reportedOffenders = new Set<string>();
  private refusedSeen = new Map<string, number>();
  private refusalReported = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private lastSuccess = 0;
  private stopped = false;

  constructor(private readonly options: AgentOptions) {
    this.metrics = options.metrics ?? new AgentMetrics();
  }

  /** One scan; throws ProcUnreadableError when the node's files cannot be read. */
  async scanOnce(): Promise<AgentScanResult> {
    const { options } = this;
    let scan: NodeScan;
    try {
      scan = scanNode({ procRoot: options.procRoot, cgroupRoot: options.cgroupRoot, pods: options.pods(), top: options.top });
    } catch (error) {
      this.metrics.recordScanError();
      throw error;
    }
    const verdict = judgeNode(scan, options.thresholds);
    const enforcement = options.enforce ? enforcePidsLimits(scan) : [];
    const findings = this.compare(scan, verdict, enforcement);
    this.metrics.recordScan(scan, verdict.level);
    this.metrics.recordEnforcement(enforcement);
    this.metrics.recordSelf(ownTaskUsage());
    this.lastSuccess = Date.now();
    this.logFindings(scan, verdict, findings);
    const result = { scan, verdict, enforcement, findings };
    if (options.reporter) {
      try {
        await options.reporter.report(result);
      } catch (error) {
        options.log('warn', 'could not report to the API server', { error: (error as Error).message });
      }
    }
    return result;
  }

  /** Scans now and then every intervalMs; a scan never overlaps the previous one. */
  start(intervalMs: number): void {
    const tick = async () => {
      this.running = this.scanOnce().catch((error: unknown) => {
        const unreadable = error instanceof ProcUnreadableError;
        this.options.log('error', unreadable ? 'cannot read the node\'s files' : 'scan failed', { error: (error as Error).message });
      });
      await this.running;
      if (!this.stopped) this.timer = setTimeout(() => void tick(), intervalMs);
    };
    void tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Healthy while the last successful scan is younger than `maxAgeMs`. */
  healthy(maxAgeMs: number): boolean {
    return this.lastSuccess > 0 && Date.now() - this.lastSuccess <= maxAgeMs;
  }

  private compare(scan: NodeScan, verdict: Verdict, enforcement: EnforcementAction[]): AgentFindings {
    const previousLevel = this.lastLevel;
    this.lastLevel = verdict.level;
    if (verdict.level === 'ok') this.reportedOffenders.clear();
    const newOffenders = verdict.offenders.filter((process) => process.pod && !this.reportedOffenders.has(process.pod.uid));
    for (const process of newOffenders) this.reportedOffenders.add((process.pod as { uid: string }).uid);

    const refused = new Map<string, number>();
    const reported = new Map<string, number>();
    const newlyRefusing: PodUsage[] = [];
    const now = Date.now();
    const every = this.options.refusalReportEveryMs ?? 600_000;
    for (const pod of scan.pods) {
      const count = pod.pids.refusedForks ?? 0;
      refused.set(pod.uid, count);
      const last = this.refusalReported.get(pod.uid);
      if (last !== undefined) reported.set(pod.uid, last);
      if (count > (this.refusedSeen.get(pod.uid) ?? 0) && (last === undefined || now - last >= every)) {
        newlyRefusing.push(pod);
        reported.set(pod.uid, now);
      }
    }
    // Replaced, not merged: pods that left the node are forgotten.
    this.refusedSeen = refused;
    this.refusalReported = reported;
    return {
      previousLevel,
      levelChanged: previousLevel !== verdict.level,
      newOffenders,
      newlyRefusing,
      enforcementChanges: enforcement.filter((action) => action.outcome === 'lowered' || action.outcome === 'failed'),
    };
  }

  private logFindings(scan: NodeScan, verdict: Verdict, findings: AgentFindings): void {
    const { log } = this.options;
    if (findings.levelChanged) {
      log(verdict.level === 'ok' ? 'info' : 'warn', `node PID usage is ${verdict.level}`, {
        node: this.options.nodeName,
        budget: scan.binding,
        offenders: verdict.offenders.map(({ pod, cgroup, tasks, processes }) => ({ pod, cgroup, tasks, processes })),
      });
    }
    for (const action of findings.enforcementChanges) {
      log(action.outcome === 'lowered' ? 'info' : 'error', `pids-limit ${action.outcome}`, { ...action });
    }
    for (const pod of findings.newlyRefusing) {
      log('warn', 'pod reached its pids limit', { pod: { uid: pod.uid, namespace: pod.namespace, name: pod.name }, pidsMax: pod.pids.max, refusedForks: pod.pids.refusedForks });
    }
  }
}

/**
 * Creates every libuv pool thread now, while the node still has PIDs: libuv
 * starts its pool on the first queued request, so later fs or DNS work never
 * needs a new thread. Issues more concurrent requests than threads so all of
 * them are busy at once.
 */
export async function warmThreadPool(poolSize: number): Promise<void> {
  await Promise.all(Array.from({ length: poolSize * 2 }, () => fs.stat('/')));
}
