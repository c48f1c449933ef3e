// One scan of a node: the kernel's task budget, the processes holding the most
// threads with their pods, and every pod's pids cgroup. Pure reading; the
// verdict (verdict.ts) and enforcement (enforce.ts) work from its result.

import { performance } from 'node:perf_hooks';
import { CgroupNamespace } from './cgroup-namespace.js';
import {
  parseProcessCgroups,
  podCgroupOfProcess,
  pidsDirFor,
  standardPodCgroupPaths,
  type ContainerRuntime,
  type PidsCgroupDir,
  type QosClass,
} from './cgroup-path.js';
import { readPidsUsage, type PidsUsage } from './pids-cgroup.js';
import { pidsLimitOf, type NodePod } from './pods.js';
import { listProcessIds, readCmdline, readNodeTasks, readProcessCgroup, readProcessStatus, type NodeTasks } from './procfs.js';
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
}

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
  /** The pod's pidguard.io/pids-limit, when valid. */
  pidsLimit?: number;
  pidsLimitError?: string;
  limitSetBy: LimitSetBy;
}

/** What the node says about the kubelet's podPidsLimit (--pod-max-pids). */
export interface PodPidsLimitFinding {
  state: 'unlimited' | 'set' | 'mixed' | 'unknown';
  value?: number;
  detail: string;
}

export interface NodeScan {
  tasks: NodeTasks;
  /** tasks / ceiling. */
  usageRatio: number;
  /** ceiling - tasks: PIDs still free. */
  headroom: number;
  processCount: number;
  /** Processes that vanished or could not be read mid-scan (normal on a busy node). */
  unreadableProcesses: number;
  top: TopProcess[];
  pods: PodUsage[];
  podPidsLimit: PodPidsLimitFinding;
  durationMs: number;
}

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
}

const COMMAND_LIMIT = 200;

export function scanNode(options: ScanOptions): NodeScan {
  const started = performance.now();
  const tasks = readNodeTasks(options.procRoot);
  const seen: SeenProcess[] = [];
  const podsByUid = new Map<string, PodAccumulator>();
  let unreadable = 0;
  const namespace = options.cgroupNamespace ?? new CgroupNamespace(options.procRoot, options.cgroupRoot);

  for (const pid of listProcessIds(options.procRoot)) {
    const status = readProcessStatus(options.procRoot, pid);
    if (!status) {
      unreadable += 1;
      continue;
    }
    const process: SeenProcess = { pid, name: status.name, threads: status.threads };
    const cgroupText = status.kernel ? undefined : readProcessCgroup(options.procRoot, pid);
    const located = cgroupText === undefined ? undefined : podCgroupOfProcess(options.cgroupRoot, parseProcessCgroups(cgroupText), namespace.resolve);
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
    }
    seen.push(process);
  }

  const known = new Map(options.pods.map((pod) => [pod.uid, pod]));
  for (const pod of options.pods) {
    if (!podsByUid.has(pod.uid)) podsByUid.set(pod.uid, { uid: pod.uid, processes: 0, threads: 0, ...locateIdlePod(options.cgroupRoot, pod.uid) });
  }

  seen.sort((a, b) => b.threads - a.threads || a.pid - b.pid);
  const top = seen.slice(0, Math.max(0, options.top)).map((process) => describeProcess(options.procRoot, process, known));
  const pods = [...podsByUid.values()].map((pod) => describePod(pod, known.get(pod.uid)));
  pods.sort((a, b) => (b.pids.current ?? b.threads) - (a.pids.current ?? a.threads) || a.uid.localeCompare(b.uid));

  return {
    tasks,
    usageRatio: tasks.ceiling > 0 ? tasks.tasks / tasks.ceiling : 1,
    headroom: tasks.ceiling - tasks.tasks,
    processCount: seen.length,
    unreadableProcesses: unreadable,
    top,
    pods,
    podPidsLimit: judgePodPidsLimit(pods),
    durationMs: performance.now() - started,
  };
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

function podRef(uid: string, pod: NodePod | undefined): PodRef {
  return pod ? { uid, namespace: pod.namespace, name: pod.name } : { uid };
}

function describePod(pod: PodAccumulator, known: NodePod | undefined): PodUsage {
  const pids = pod.cgroup ? readPidsUsage(pod.cgroup.dir) : {};
  const usage: PodUsage = { ...podRef(pod.uid, known), processes: pod.processes, threads: pod.threads, pids, limitSetBy: 'unknown' };
  if (pod.qos) usage.qos = pod.qos;
  if (pod.cgroup) usage.cgroup = pod.cgroup;
  const limit = known ? pidsLimitOf(known) : undefined;
  if (limit && 'limit' in limit) usage.pidsLimit = limit.limit;
  if (limit && 'error' in limit) usage.pidsLimitError = limit.error;
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
