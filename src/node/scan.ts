// One scan of a node: the kernel's task budget, the processes holding the most
// threads with their pods, and every pod's pids cgroup. Pure reading; the
// verdict (verdict.ts) and enforcement (enforce.ts) work from its result.

import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CgroupNamespace } from './cgroup-namespace.js';
import {
  parseProcessCgroups,
  podCgroupOfProcess,
  pidsDirFor,
  standardPodCgroupPaths,
  type ContainerRuntime,
  type PidsCgroupDir,
} from './cgroup-path.js';
import { parseCount, parsePidsMax, readPidsUsage, type PidsUsage } from './pids-cgroup.js';
import { defaultConfig } from '../policy/config.js';
import { PIDS_LIMIT_ANNOTATION } from '../policy/keys.js';
import { resolvePidsLimit, type ResolvedPidsLimit } from '../policy/pids-budget.js';
import type { QosClass } from '../policy/types.js';
import type { NodePod } from './pods.js';
import { listProcessIds, readCmdline, readNodeTasks, readProcessCgroup, readProcessStatus, readSmallFileOrWhy, readThreadNames, type NodeTasks } from './procfs.js';
import { diagnoseThreads, foldGroups, groupThreadNames, GROUPS_PER_PROCESS, type ThreadGroup, type ThreadLeakDiagnosis } from './thread-names.js';
import { detectRuntime, type Runtime } from './runtime.js';

export interface ScanOptions {
  procRoot: string;
  cgroupRoot: string;
  /** Pods known to run on this node (API server or --pods-file); [] when unknown. */
  pods: readonly NodePod[];
  /** How many processes to rank. */
  top: number;
  /** Places /proc/<pid>/cgroup paths in the mount (the agent keeps one across scans); default: a fresh one. */
  cgroupNamespace?: CgroupNamespace;
  /**
   * The limit a known pod's pidguard.io/pids-limit stands for (pids-budget.ts
   * under the policy config and its namespace's ceiling label); default: the
   * built-in config, no namespace labels.
   */
  pidsBudgetOf?: (pod: NodePod) => ResolvedPidsLimit | undefined;
  /** Group the threads of the first `processes` top processes by name (one comm file per thread, at most `threadsPerProcess` each); default: none. */
  threadNames?: ThreadNamesOptions;
}

export interface ThreadNamesOptions {
  processes: number;
  /** Default DEFAULT_THREADS_PER_PROCESS. */
  threadsPerProcess?: number;
}

/** comm files read per process at most (~10-40 µs each on procfs): an even sample of 256 tells a 50% share within a few points. */
export const DEFAULT_THREADS_PER_PROCESS = 256;

/** A process's threads grouped by name, and what kind of leak that shows. */
export interface ProcessThreadNames {
  /** Names read: all threads, or an even sample of `threadsPerProcess` of them. */
  read: number;
  sampled: boolean;
  vanished: number;
  unreadable: number;
  problem?: string;
  groups: ThreadGroup[];
  diagnosis: ThreadLeakDiagnosis;
}

const builtInConfig = defaultConfig();
const builtInBudget = (pod: NodePod) => resolvePidsLimit(pod.annotations[PIDS_LIMIT_ANNOTATION], builtInConfig);

export interface PodRef {
  uid: string;
  namespace?: string;
  name?: string;
}

export interface TopProcess {
  pid: number;
  /** Kernel comm (status Name). */
  name: string;
  /** argv joined with spaces, shortened; the Name in brackets for kernel threads. */
  command: string;
  threads: number;
  runtime: Runtime;
  containerId?: string;
  containerRuntime?: ContainerRuntime;
  pod?: PodRef;
  /** Its threads by name (only the first ScanOptions.threadNames.processes of the top list). */
  threadNames?: ProcessThreadNames;
}

/** Who set a pod cgroup's pids.max, as far as the node can tell. */
export type LimitSetBy = 'pidguard' | 'kubelet' | 'none' | 'unknown';

export interface PodUsage extends PodRef {
  qos?: QosClass;
  cgroup?: PidsCgroupDir;
  /** Processes and threads seen in the pod's containers in this scan. */
  processes: number;
  threads: number;
  pids: PidsUsage;
  /** The limit the agent enforces for the pod's pidguard.io/pids-limit: at most the ceiling, an invalid value replaced. */
  pidsLimit?: number;
  /** The annotation as written. */
  pidsLimitAnnotation?: string;
  /** Why pidsLimit is not the annotation as written (pids-budget.ts's message)... */
  pidsLimitProblem?: string;
  /** ...and in one word. */
  pidsLimitReason?: 'above-ceiling' | 'invalid';
  limitSetBy: LimitSetBy;
}

/** What the node says about the kubelet's podPidsLimit (--pod-max-pids). */
export interface PodPidsLimitFinding {
  state: 'unlimited' | 'set' | 'mixed' | 'unknown';
  value?: number;
  detail: string;
}

/**
 * A process, or the processes of a pod or of a cgroup outside pods, ranked by
 * the tasks they hold together: a bomb of 2,000 one-thread processes weighs
 * as much as one process with 2,000 threads.
 */
export interface TaskHolder {
  /** The pod, for processes in a pod's cgroup. */
  pod?: PodRef;
  /** The pids cgroup path, for processes outside pods (a systemd service, a session). */
  cgroup?: string;
  /** Threads of all its processes, as seen in this scan. */
  tasks: number;
  processes: number;
  /** Its process with the most threads. */
  biggest: TopProcess;
}

export type CeilingSource = 'kernel.pid_max' | 'kernel.threads-max' | 'kubepods pids.max';

/** Tasks in use against a ceiling: the node's (all tasks) or the pods' (the top kubepods cgroup). */
export interface PidBudget {
  scope: 'node' | 'pods';
  used: number;
  ceiling: number;
  ceilingSource: CeilingSource;
  /** used / ceiling. */
  usageRatio: number;
  /** ceiling - used: PIDs still free. */
  headroom: number;
}

/** The kubelet's top pods cgroup, whose pids.max bounds all pods together when it reserves PIDs for the system. */
export type KubepodsCgroup = { dir: string; current: number; max: number | 'max' } | { problem: string };

export interface NodeScan {
  tasks: NodeTasks;
  /** All tasks against min(pid_max, threads-max). */
  nodeBudget: PidBudget;
  /** The pods' tasks (kubepods pids.current) against min(kubepods pids.max, the node's ceiling); absent when kubepods was not found. */
  podsBudget?: PidBudget;
  kubepods: KubepodsCgroup;
  /** The budget closer to its ceiling: what the verdict judges. */
  binding: PidBudget;
  processCount: number;
  /** Processes that exited mid-scan (normal on a busy node). */
  vanishedProcesses: number;
  /** Processes skipped because their status could not be read or made no sense (reported, never normal). */
  unreadableProcesses: number;
  /** The first few of those, with what was wrong. */
  unreadableExamples: UnreadableProcess[];
  top: TopProcess[];
  /** Pods, and cgroups outside pods, holding the most tasks (top N). */
  holders: TaskHolder[];
  pods: PodUsage[];
  podPidsLimit: PodPidsLimitFinding;
  durationMs: number;
}

export interface UnreadableProcess {
  pid: number;
  problem: string;
}

/** How many unreadable processes a scan names (the count is always complete). */
const UNREADABLE_EXAMPLES = 5;

interface SeenProcess {
  pid: number;
  name: string;
  threads: number;
  podUid?: string;
  containerId?: string;
  containerRuntime?: ContainerRuntime;
}

interface PodAccumulator {
  uid: string;
  qos?: QosClass;
  cgroup?: PidsCgroupDir;
  processes: number;
  threads: number;
  biggest?: SeenProcess;
}

/** The processes outside pods that share one pids cgroup. */
interface CgroupAccumulator {
  path: string;
  processes: number;
  threads: number;
  biggest: SeenProcess;
}

const COMMAND_LIMIT = 200;

export function scanNode(options: ScanOptions): NodeScan {
  const started = performance.now();
  const tasks = readNodeTasks(options.procRoot);
  const seen: SeenProcess[] = [];
  const podsByUid = new Map<string, PodAccumulator>();
  const outsidePods = new Map<string, CgroupAccumulator>();
  let vanished = 0;
  let unreadable = 0;
  const unreadableExamples: UnreadableProcess[] = [];
  const namespace = options.cgroupNamespace ?? new CgroupNamespace(options.procRoot, options.cgroupRoot);

  for (const pid of listProcessIds(options.procRoot)) {
    const status = readProcessStatus(options.procRoot, pid);
    if ('problem' in status) {
      if (status.vanished) vanished += 1;
      else if (++unreadable <= UNREADABLE_EXAMPLES) unreadableExamples.push({ pid, problem: status.problem });
      continue;
    }
    const process: SeenProcess = { pid, name: status.name, threads: status.threads };
    const cgroupText = status.kernel ? undefined : readProcessCgroup(options.procRoot, pid);
    const cgroups = cgroupText === undefined ? undefined : parseProcessCgroups(cgroupText);
    const located = cgroups === undefined ? undefined : podCgroupOfProcess(options.cgroupRoot, cgroups, namespace.resolve);
    if (cgroups && !located) {
      const shown = cgroups.v1Pids ?? cgroups.unified;
      // Named as the host sees it, also from a private cgroup namespace.
      const path = shown === undefined ? '(none)' : (namespace.resolve(cgroups.v1Pids !== undefined ? 'v1' : 'v2', shown) ?? shown);
      const group = outsidePods.get(path);
      if (!group) outsidePods.set(path, { path, processes: 1, threads: status.threads, biggest: process });
      else {
        group.processes += 1;
        group.threads += status.threads;
        if (bigger(process, group.biggest)) group.biggest = process;
      }
    }
    if (located) {
      process.podUid = located.pod.podUid;
      if (located.pod.containerId) process.containerId = located.pod.containerId;
      if (located.pod.containerRuntime) process.containerRuntime = located.pod.containerRuntime;
      let pod = podsByUid.get(located.pod.podUid);
      if (!pod) {
        const cgroup = located.pids ? { cgroup: located.pids } : locateIdlePod(options.cgroupRoot, located.pod.podUid);
        pod = { uid: located.pod.podUid, qos: located.pod.qos, ...cgroup, processes: 0, threads: 0 };
        podsByUid.set(pod.uid, pod);
      }
      pod.processes += 1;
      pod.threads += status.threads;
      if (!pod.biggest || bigger(process, pod.biggest)) pod.biggest = process;
    }
    seen.push(process);
  }

  const known = new Map(options.pods.map((pod) => [pod.uid, pod]));
  for (const pod of options.pods) {
    if (!podsByUid.has(pod.uid)) podsByUid.set(pod.uid, { uid: pod.uid, processes: 0, threads: 0, ...locateIdlePod(options.cgroupRoot, pod.uid) });
  }

  seen.sort((a, b) => b.threads - a.threads || a.pid - b.pid);
  const top = seen.slice(0, Math.max(0, options.top)).map((process) => describeProcess(options.procRoot, process, known));
  for (const process of top.slice(0, options.threadNames?.processes ?? 0)) {
    process.threadNames = describeThreadNames(options.procRoot, process, options.threadNames?.threadsPerProcess ?? DEFAULT_THREADS_PER_PROCESS);
  }
  const holders = rankHolders(options, podsByUid, outsidePods, top, known);
  const pods = [...podsByUid.values()].map((pod) => describePod(pod, known.get(pod.uid), options.pidsBudgetOf ?? builtInBudget));
  pods.sort((a, b) => (b.pids.current ?? b.threads) - (a.pids.current ?? a.threads) || a.uid.localeCompare(b.uid));

  const kubepods = readKubepods(options.cgroupRoot, [...podsByUid.values()].flatMap((pod) => (pod.cgroup ? [pod.cgroup.dir] : [])));
  const nodeBudget = budget('node', tasks.tasks, tasks.ceiling, tasks.ceilingSource);
  let podsBudget: PidBudget | undefined;
  if (!('problem' in kubepods)) {
    const kubepodsBinds = typeof kubepods.max === 'number' && kubepods.max < tasks.ceiling;
    podsBudget = budget('pods', kubepods.current, kubepodsBinds ? (kubepods.max as number) : tasks.ceiling, kubepodsBinds ? 'kubepods pids.max' : tasks.ceilingSource);
  }

  return {
    tasks,
    nodeBudget,
    ...(podsBudget ? { podsBudget } : {}),
    kubepods,
    binding: podsBudget && podsBudget.usageRatio > nodeBudget.usageRatio ? podsBudget : nodeBudget,
    processCount: seen.length,
    vanishedProcesses: vanished,
    unreadableProcesses: unreadable,
    unreadableExamples,
    top,
    holders,
    pods,
    podPidsLimit: judgePodPidsLimit(pods),
    durationMs: performance.now() - started,
  };
}

/** More threads, or as many and a lower PID: the same order as the top list, whatever order /proc lists them in. */
function bigger(process: SeenProcess, than: SeenProcess): boolean {
  return process.threads > than.threads || (process.threads === than.threads && process.pid < than.pid);
}

function budget(scope: PidBudget['scope'], used: number, ceiling: number, ceilingSource: CeilingSource): PidBudget {
  return { scope, used, ceiling, ceilingSource, usageRatio: ceiling > 0 ? used / ceiling : 1, headroom: ceiling - used };
}

/** The top N holders by tasks: pods, and cgroups outside pods; kernel threads are in neither. */
function rankHolders(
  options: ScanOptions,
  pods: ReadonlyMap<string, PodAccumulator>,
  outsidePods: ReadonlyMap<string, CgroupAccumulator>,
  top: readonly TopProcess[],
  known: ReadonlyMap<string, NodePod>,
): TaskHolder[] {
  const candidates: Array<PodAccumulator | CgroupAccumulator> = [];
  for (const pod of pods.values()) if (pod.biggest) candidates.push(pod);
  for (const group of outsidePods.values()) candidates.push(group);
  candidates.sort((a, b) => b.threads - a.threads || (a.biggest as SeenProcess).pid - (b.biggest as SeenProcess).pid);
  return candidates.slice(0, Math.max(0, options.top)).map((candidate) => {
    const seen = candidate.biggest as SeenProcess;
    const biggest = top.find((process) => process.pid === seen.pid) ?? describeProcess(options.procRoot, seen, known);
    const holder: TaskHolder = { tasks: candidate.threads, processes: candidate.processes, biggest };
    if ('uid' in candidate) holder.pod = podRef(candidate.uid, known.get(candidate.uid));
    else holder.cgroup = candidate.path;
    return holder;
  });
}

// cgroupfs "kubepods", systemd "kubepods.slice", under a prefix "kubelet-kubepods.slice" (kind);
// not the QoS level below it ("kubepods-burstable.slice").
const KUBEPODS_SEGMENT = /^(?:kubepods|(?:[\w-]+-)?kubepods\.slice)$/;

/**
 * The top kubepods cgroup: the one above the pods found in this scan (so a
 * kubelet --cgroup-root or kind's prefix works), else the kubelet's standard
 * places on cgroup v1 and v2, both drivers.
 */
export function readKubepods(cgroupRoot: string, podDirs: readonly string[]): KubepodsCgroup {
  let candidates: string[] | undefined;
  for (const podDir of podDirs) {
    for (let dir = podDir; dir.length > cgroupRoot.length; dir = dirname(dir)) {
      if (KUBEPODS_SEGMENT.test(basename(dir))) {
        candidates = [dir];
        break;
      }
    }
    if (candidates) break;
  }
  candidates ??= ['pids/kubepods', 'pids/kubepods.slice', 'kubepods.slice', 'kubepods'].map((path) => join(cgroupRoot, path));
  const problems: string[] = [];
  for (const dir of candidates) {
    const maxText = readSmallFileOrWhy(`${dir}/pids.max`);
    if (typeof maxText !== 'string') {
      if (!maxText.vanished) problems.push(maxText.problem);
      continue;
    }
    const currentText = readSmallFileOrWhy(`${dir}/pids.current`);
    const max = parsePidsMax(maxText);
    const current = typeof currentText === 'string' ? parseCount(currentText) : undefined;
    if (max !== undefined && current !== undefined) return { dir, current, max };
    problems.push(typeof currentText !== 'string' ? currentText.problem : `${dir}: pids.max or pids.current is not a number`);
  }
  return { problem: problems.length > 0 ? problems.join('; ') : `no kubepods cgroup with pids files (looked at ${candidates.join(', ')})` };
}

/** A known pod with no process seen (or none placed): look where the kubelet would have put its cgroup. */
function locateIdlePod(cgroupRoot: string, uid: string): { cgroup?: PidsCgroupDir } {
  for (const version of ['v1', 'v2'] as const) {
    for (const path of standardPodCgroupPaths(uid)) {
      const dir = pidsDirFor(cgroupRoot, version, path);
      if (readPidsUsage(dir.dir).max !== undefined) return { cgroup: dir };
    }
  }
  return {};
}

function describeProcess(procRoot: string, process: SeenProcess, known: ReadonlyMap<string, NodePod>): TopProcess {
  const argv = readCmdline(procRoot, process.pid) ?? [];
  const joined = argv.join(' ');
  const command = argv.length === 0 ? `[${process.name}]` : joined.length > COMMAND_LIMIT ? `${joined.slice(0, COMMAND_LIMIT - 1)}…` : joined;
  const entry: TopProcess = { pid: process.pid, name: process.name, command, threads: process.threads, runtime: detectRuntime(process.name, argv) };
  if (process.containerId) entry.containerId = process.containerId;
  if (process.containerRuntime) entry.containerRuntime = process.containerRuntime;
  if (process.podUid) entry.pod = podRef(process.podUid, known.get(process.podUid));
  return entry;
}

function describeThreadNames(procRoot: string, process: TopProcess, limit: number): ProcessThreadNames {
  const read = readThreadNames(procRoot, process.pid, process.threads, limit);
  // Judged on every group; shown folded (a process names its threads as it likes).
  const groups = groupThreadNames(read.names, process.name, process.threads);
  return {
    read: read.read,
    sampled: read.read + read.vanished + read.unreadable < process.threads,
    vanished: read.vanished,
    unreadable: read.unreadable,
    ...(read.problem !== undefined ? { problem: read.problem } : {}),
    groups: foldGroups(groups, GROUPS_PER_PROCESS, process.threads),
    diagnosis: read.problem !== undefined && read.read === 0
      ? { kind: 'unknown', summary: `unknown: thread names not read (${read.problem})`, nextSteps: [] }
      : diagnoseThreads(groups, process.runtime, process.pid),
  };
}

function podRef(uid: string, pod: NodePod | undefined): PodRef {
  return pod ? { uid, namespace: pod.namespace, name: pod.name } : { uid };
}

function describePod(pod: PodAccumulator, known: NodePod | undefined, pidsBudgetOf: (pod: NodePod) => ResolvedPidsLimit | undefined): PodUsage {
  const pids = pod.cgroup ? readPidsUsage(pod.cgroup.dir) : {};
  const usage: PodUsage = { ...podRef(pod.uid, known), processes: pod.processes, threads: pod.threads, pids, limitSetBy: 'unknown' };
  if (pod.qos) usage.qos = pod.qos;
  if (pod.cgroup) usage.cgroup = pod.cgroup;
  const budget = known ? pidsBudgetOf(known) : undefined;
  if (known && budget) {
    usage.pidsLimit = budget.limit;
    usage.pidsLimitAnnotation = known.annotations[PIDS_LIMIT_ANNOTATION] as string;
    if (budget.problem !== undefined) usage.pidsLimitProblem = budget.problem;
    if (budget.reason !== undefined) usage.pidsLimitReason = budget.reason;
  }
  if (pids.max === 'max') usage.limitSetBy = 'none';
  else if (typeof pids.max === 'number') usage.limitSetBy = pids.max === usage.pidsLimit ? 'pidguard' : 'kubelet';
  return usage;
}

/**
 * The kubelet writes podPidsLimit into every pod cgroup it creates, so the
 * pod cgroups pidguard did not lower show it: all 'max' = unlimited (-1).
 */
function judgePodPidsLimit(pods: readonly PodUsage[]): PodPidsLimitFinding {
  const values = pods.filter((pod) => pod.limitSetBy === 'none' || pod.limitSetBy === 'kubelet').map((pod) => pod.pids.max);
  if (values.length === 0) return { state: 'unknown', detail: 'no pod cgroup readable (or all were set by pidguard)' };
  const distinct = [...new Set(values)];
  if (distinct.length === 1 && distinct[0] === 'max') {
    return { state: 'unlimited', detail: `pids.max is "max" in all ${values.length} pod cgroups: kubelet podPidsLimit is unset (-1)` };
  }
  if (distinct.length === 1 && typeof distinct[0] === 'number') {
    return { state: 'set', value: distinct[0], detail: `pids.max is ${distinct[0]} in all ${values.length} pod cgroups: kubelet podPidsLimit = ${distinct[0]}` };
  }
  return { state: 'mixed', detail: `pod cgroups differ (${distinct.join(', ')}): podPidsLimit changed since some pods started, or another tool sets pids.max` };
}
