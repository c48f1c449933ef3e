// The node agent's loop: scan, judge, enforce pids-limit annotations, export
// metrics, tell the cluster. Built to keep working on a node that is out of
// PIDs: it never forks or execs, creates no thread after start-up (the scan
// reads synchronously; the libuv pool is created up front by warmThreadPool),
// and keeps only the current scan plus per-pod bookkeeping pruned every scan.

import { promises as fs } from 'node:fs';
import { defaultConfig, type PolicyConfig } from '../policy/config.js';
import { PIDS_LIMIT_ANNOTATION } from '../policy/keys.js';
import { pidsCeilingFor, resolvePidsLimit, type ResolvedPidsLimit } from '../policy/pids-budget.js';
import { CgroupNamespace } from './cgroup-namespace.js';
import { enforcePidsLimits, type EnforcementAction, type EnforcementFailure } from './enforce.js';
import { AgentMetrics } from './agent-metrics.js';
import type { LogLevel } from '../log.js';
import type { NodePod } from './pods.js';
import { ownTaskUsage, ProcUnreadableError } from './procfs.js';
import { scanNode, type NodeScan, type PodUsage, type TaskHolder, type ThreadNamesOptions } from './scan.js';
import { judgeNode, type Thresholds, type Verdict, type VerdictLevel } from './verdict.js';

export type AgentLog = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** What changed since the previous scan: what is worth an Event. */
export interface ScanNews {
  previousLevel: VerdictLevel | undefined;
  levelChanged: boolean;
  /** Offending pods not yet reported during this at-risk episode. */
  newOffenders: TaskHolder[];
  /** Pods whose refused-fork count grew since the previous scan, at most once per pod per refusalReportEveryMs. */
  newlyRefusing: PodUsage[];
  /** Limits written (lowered) and pods newly failing (newFailures): the enforcement news worth an Event. */
  enforcementChanges: EnforcementAction[];
  /** Pods whose limit cannot be applied, reported once per episode (a failure of another kind is a new one). */
  newFailures: EnforcementAction[];
  /** Pods whose annotation is not applied as written (above the ceiling, invalid), once per pod and value. */
  newAdjustments: EnforcementAction[];
  /** Every pod whose limit is not in place now (a missing cgroup only after unenforcedGraceMs). */
  unenforced: EnforcementAction[];
}

export interface AgentScanResult {
  scan: NodeScan;
  verdict: Verdict;
  enforcement: EnforcementAction[];
  findings: ScanNews;
}

/** A namespace's labels as last read, or why they are unknown. */
export type NamespaceLabelsAnswer = { labels: Readonly<Record<string, string>> } | { problem: string };

/** Namespace labels for the pids-limit ceiling (src/kube implements it over the API server). */
export interface AgentNamespaceLabels {
  /** Re-reads these namespaces where their labels are older than the cache's TTL; never rejects. */
  refresh(namespaces: readonly string[]): Promise<void>;
  labelsOf(namespace: string): NamespaceLabelsAnswer;
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
  /**
   * The policy config: the pids-limit ceiling and the replacement for an invalid annotation (default: built-in);
   * or where to get the one in use (a reloaded file), read once per scan.
   */
  config?: PolicyConfig | (() => PolicyConfig);
  /** Namespace labels (the ceiling label); without them the config ceiling applies to every pod. */
  namespaceLabels?: AgentNamespaceLabels;
  /** A pod whose cgroup is not found is reported only after this long: a starting pod has none yet (default 30 s). */
  unenforcedGraceMs?: number;
  reporter?: ClusterReporter;
  log: AgentLog;
  metrics?: AgentMetrics;
  /** Threads of the top processes grouped by name, exported as pidguard_thread_groups (default: the top 3)... */
  threadNames?: ThreadNamesOptions;
  /** ...read at most this often (default 60 s): one file per thread sampled costs more than the rest of a scan. */
  threadNamesEveryMs?: number;
  /** A pod that keeps hitting its limit is reported again only after this long (default 10 min); unreadable processes too. */
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
  private config: PolicyConfig;
  private readonly configInUse: () => PolicyConfig;
  private readonly cgroupNamespace: CgroupNamespace;
  private failing = new Map<string, { failure: EnforcementFailure; since: number; reported: boolean }>();
  private adjusted = new Map<string, string>();
  private namespaceWarnings = new Map<string, string>();
  private cgroupProblems = '';
  private threadNamesReadAt = -Infinity;
  /** When unreadable processes were last logged; reset when a scan reads them all. */
  private unreadableLoggedAt = -Infinity;

  constructor(private readonly options: AgentOptions) {
    this.metrics = options.metrics ?? new AgentMetrics();
    const config = options.config ?? defaultConfig();
    this.configInUse = typeof config === 'function' ? config : () => config;
    this.config = this.configInUse();
    this.cgroupNamespace = new CgroupNamespace(options.procRoot, options.cgroupRoot);
  }

  /** One scan; throws ProcUnreadableError when the node's files cannot be read. */
  async scanOnce(): Promise<AgentScanResult> {
    const { options } = this;
    this.config = this.configInUse();
    const pods = options.pods();
    const annotated = pods.filter((pod) => pod.annotations[PIDS_LIMIT_ANNOTATION] !== undefined);
    if (annotated.length > 0) await options.namespaceLabels?.refresh([...new Set(annotated.map((pod) => pod.namespace))]);
    const namespaceWarnings = new Map<string, string>();
    let scan: NodeScan;
    const readThreadNames = Date.now() - this.threadNamesReadAt >= (options.threadNamesEveryMs ?? 60_000);
    try {
      this.cgroupNamespace.refresh();
      scan = scanNode({
        procRoot: options.procRoot,
        cgroupRoot: options.cgroupRoot,
        pods,
        top: options.top,
        cgroupNamespace: this.cgroupNamespace,
        ...(readThreadNames ? { threadNames: options.threadNames ?? { processes: 3 } } : {}),
        pidsBudgetOf: (pod) => this.budgetOf(pod, namespaceWarnings),
      });
    } catch (error) {
      this.metrics.recordScanError();
      throw error;
    }
    if (readThreadNames) this.threadNamesReadAt = Date.now();
    const verdict = judgeNode(scan, options.thresholds);
    const enforcement = options.enforce ? enforcePidsLimits(scan, { cgroupProblems: this.cgroupNamespace.problems() }) : [];
    const findings = this.compare(scan, verdict, enforcement);
    this.logScanWarnings(namespaceWarnings);
    this.metrics.recordScan(scan, verdict.level);
    this.metrics.recordEnforcement(enforcement, findings);
    this.metrics.recordSelf(ownTaskUsage());
    this.lastSuccess = Date.now();
    this.logFindings(scan, verdict, findings);
    const result = { scan, verdict, enforcement, findings };
    if (options.reporter) {
      try {
        await options.reporter.report(result);
      } catch (error) {
        this.metrics.recordReportFailure();
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

  /** resolvePidsLimit under the pod's namespace ceiling; notes why a namespace's labels could not be used. */
  private budgetOf(pod: NodePod, namespaceWarnings: Map<string, string>): ResolvedPidsLimit | undefined {
    if (pod.annotations[PIDS_LIMIT_ANNOTATION] === undefined) return undefined;
    const answer = this.options.namespaceLabels?.labelsOf(pod.namespace);
    let labels: Readonly<Record<string, string>> | undefined;
    if (answer && 'problem' in answer) {
      namespaceWarnings.set(pod.namespace, `${answer.problem}; the config ceiling ${this.config.pids.ceiling} applies to its pods`);
    } else if (answer) {
      labels = answer.labels;
      const { warning } = pidsCeilingFor(this.config, labels);
      if (warning !== undefined) namespaceWarnings.set(pod.namespace, warning);
    }
    return resolvePidsLimit(pod.annotations[PIDS_LIMIT_ANNOTATION], this.config, labels);
  }

  private logScanWarnings(warnings: Map<string, string>): void {
    for (const [namespace, warning] of warnings) {
      if (this.namespaceWarnings.get(namespace) !== warning) this.options.log('warn', 'namespace pids-limit ceiling unknown or invalid', { namespace, warning });
    }
    this.namespaceWarnings = warnings;
    const cgroupProblems = this.cgroupNamespace.problems().join('; ');
    if (cgroupProblems !== this.cgroupProblems && cgroupProblems !== '') this.options.log('warn', 'cannot place pod cgroups', { problem: cgroupProblems });
    this.cgroupProblems = cgroupProblems;
  }

  /** Failures and adjustments worth reporting: each pod once per episode, a missing cgroup only after the grace period. */
  private enforcementNews(enforcement: EnforcementAction[], now: number): Pick<ScanNews, 'newFailures' | 'newAdjustments' | 'unenforced'> {
    const grace = this.options.unenforcedGraceMs ?? 30_000;
    const failing = new Map<string, { failure: EnforcementFailure; since: number; reported: boolean }>();
    const adjusted = new Map<string, string>();
    const news: Pick<ScanNews, 'newFailures' | 'newAdjustments' | 'unenforced'> = { newFailures: [], newAdjustments: [], unenforced: [] };
    for (const action of enforcement) {
      const { uid } = action.pod;
      if (action.adjustment !== undefined) {
        if (this.adjusted.get(uid) !== action.adjustment) news.newAdjustments.push(action);
        adjusted.set(uid, action.adjustment);
      }
      if (action.failure === undefined) continue;
      const previous = this.failing.get(uid);
      const state = previous?.failure === action.failure ? previous : { failure: action.failure, since: now, reported: false };
      failing.set(uid, state);
      if (action.failure === 'cgroup-not-found' && now - state.since < grace) continue;
      news.unenforced.push(action);
      if (!state.reported) news.newFailures.push(action);
      state.reported = true;
    }
    // Replaced, not merged: pods that left the node, or recovered, are forgotten.
    this.failing = failing;
    this.adjusted = adjusted;
    return news;
  }

  private compare(scan: NodeScan, verdict: Verdict, enforcement: EnforcementAction[]): ScanNews {
    const previousLevel = this.lastLevel;
    this.lastLevel = verdict.level;
    // Offenders are news only while the node is at risk; at ok they would be "new" again every scan.
    if (verdict.level === 'ok') this.reportedOffenders.clear();
    const newOffenders = verdict.level === 'ok' ? [] : verdict.offenders.filter((process) => process.pod && !this.reportedOffenders.has(process.pod.uid));
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
    const news = this.enforcementNews(enforcement, now);
    return {
      previousLevel,
      levelChanged: previousLevel !== verdict.level,
      newOffenders,
      newlyRefusing,
      enforcementChanges: [...enforcement.filter((action) => action.outcome === 'lowered'), ...news.newFailures],
      ...news,
    };
  }

  private logFindings(scan: NodeScan, verdict: Verdict, findings: ScanNews): void {
    const { log } = this.options;
    if (findings.levelChanged) {
      log(verdict.level === 'ok' ? 'info' : 'warn', `node PID usage is ${verdict.level}`, {
        node: this.options.nodeName,
        budget: scan.binding,
        offenders: verdict.offenders.map(({ pod, cgroup, tasks, processes }) => ({ pod, cgroup, tasks, processes })),
      });
    }
    for (const action of findings.enforcementChanges) {
      if (action.outcome === 'lowered') log('info', 'pids-limit lowered', { ...action });
    }
    for (const action of findings.newFailures) log('warn', 'pids-limit not enforced', { ...action });
    for (const action of findings.newAdjustments) log('warn', 'pids-limit adjusted', { pod: action.pod, limit: action.limit, adjustment: action.adjustment });
    // Their threads count in the node's total but not for any pod: offenders may go unnamed.
    if (scan.unreadableProcesses === 0) this.unreadableLoggedAt = -Infinity;
    else if (Date.now() - this.unreadableLoggedAt >= (this.options.refusalReportEveryMs ?? 600_000)) {
      this.unreadableLoggedAt = Date.now();
      log('warn', 'processes unreadable: their threads are not attributed to pods', { unreadable: scan.unreadableProcesses, examples: scan.unreadableExamples });
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
