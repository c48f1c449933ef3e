// The one real node of the e2e cluster (kubelet + containerd + runc, started by
// cluster/node-up.sh), seen from a test. All traffic stays on 127.0.0.1: a
// container is reached through containerd's socket (`ctr tasks exec`), never
// through `kubectl exec/logs` (those go to the kubelet at the node's
// non-loopback InternalIP); logs are read from the kubelet's pod log files.
//
//   runningPod(ns, name)        waits until the pod's containers run; the Pod
//   containerId(pod, name)      containerd's id of a running container
//   execIn(containerId, argv)   a command inside the container ({code, stdout, stderr})
//   hostPid(containerId)        the container's init process as the host sees it
//   podCgroup(pod, controller)  /sys/fs/cgroup/<controller>/kubepods/<qos>/pod<uid>
//   cgroupValue(dir, file)      one cgroup file, trimmed
//   startAgent(options)         `pidguard agent` as a host process watching this node
//   pidguardNode()              `pidguard node --json` of this node

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { apis, cluster, kubeconfigPath, runCommand, sumSamples, waitFor, type KubectlResult } from './harness.js';

export const KUBEPODS_PIDS = '/sys/fs/cgroup/pids/kubepods';

export function node(): ReturnType<typeof cluster>['node'] {
  return cluster().node;
}

/** `ctr -n k8s.io` against the node's containerd. */
export function ctr(args: string[], timeoutMs = 30_000): Promise<KubectlResult> {
  return runCommand('ctr', ['--address', node().containerdSocket, '-n', 'k8s.io', ...args], undefined, timeoutMs);
}

/** Waits until every container of the pod runs (phase Running, all containerStatuses running). */
export async function runningPod(namespace: string, name: string, timeoutMs = 90_000): Promise<V1Pod> {
  return waitFor(`pod ${namespace}/${name} to run on ${node().name}`, async () => {
    const pod = await apis().core.readNamespacedPod({ namespace, name });
    const statuses = pod.status?.containerStatuses ?? [];
    const running = pod.status?.phase === 'Running' && statuses.length > 0 && statuses.every((status) => status.state?.running);
    return running ? pod : undefined;
  }, timeoutMs);
}

/** containerd's id of the named container of a pod read from the API (status.containerStatuses). */
export function containerId(pod: V1Pod, container: string): string {
  const status = pod.status?.containerStatuses?.find((candidate) => candidate.name === container);
  const id = status?.containerID?.replace(/^containerd:\/\//, '');
  if (!id) throw new Error(`pod ${pod.metadata?.name} has no containerID for ${container} yet`);
  return id;
}

let execSequence = 0;

/** Runs argv inside a running container through containerd (no API server, no kubelet streaming). */
export function execIn(id: string, argv: string[], timeoutMs = 30_000): Promise<KubectlResult> {
  execSequence += 1;
  return ctr(['tasks', 'exec', '--exec-id', `e2e-${process.pid}-${execSequence}`, id, ...argv], timeoutMs);
}

/** The host PID of the container's init process (`ctr tasks ls`). */
export async function hostPid(id: string): Promise<number> {
  const { stdout } = await ctr(['tasks', 'ls']);
  const line = stdout.split('\n').find((candidate) => candidate.startsWith(`${id} `));
  const pid = Number(line?.trim().split(/\s+/)[1]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no running task ${id} in containerd:\n${stdout}`);
  return pid;
}

/** The pod-level cgroup directory of `controller` (cgroupfs driver, cgroup v1). */
export function podCgroup(pod: V1Pod, controller = 'pids'): string {
  const uid = pod.metadata?.uid;
  const qos = pod.status?.qosClass;
  if (!uid || !qos) throw new Error(`pod ${pod.metadata?.name} has no uid or qosClass yet`);
  const parent = qos === 'Guaranteed' ? 'kubepods' : `kubepods/${qos.toLowerCase()}`;
  return `/sys/fs/cgroup/${controller}/${parent}/pod${uid}`;
}

export function cgroupValue(dir: string, file: string): string {
  return readFileSync(join(dir, file), 'utf8').trim();
}

/** The `max` line of a pids.events file: forks and clones the pids controller refused. */
export function refusedForks(dir: string): number {
  const match = /^max (\d+)$/m.exec(cgroupValue(dir, 'pids.events'));
  return match ? Number(match[1]) : 0;
}

/** The kubelet's pod log file of a container (restart `restart`). */
export function podLog(pod: V1Pod, container: string, restart = 0): string {
  const { namespace, name, uid } = pod.metadata ?? {};
  const file = join(node().podLogsDir, `${namespace}_${name}_${uid}`, container, `${restart}.log`);
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** The node's pods' PID use: the top kubepods cgroup's pids.current and pids.max. */
export function kubepods(): { current: number; max: number } {
  const max = cgroupValue(KUBEPODS_PIDS, 'pids.max');
  return { current: Number(cgroupValue(KUBEPODS_PIDS, 'pids.current')), max: max === 'max' ? Infinity : Number(max) };
}

/**
 * Fails unless the kubelet's cap on the node's pods is in place: every bomb a test
 * starts runs under it, so a bomb can never take more than this of the machine's pid_max.
 */
export function assertPodsCapped(): void {
  const { max } = kubepods();
  if (max !== node().podsPidCeiling) {
    throw new Error(`${KUBEPODS_PIDS}/pids.max is ${max}, not the ${node().podsPidCeiling} node-up.sh set up: refusing to start a bomb`);
  }
}

/** Deletes pods at once and waits until the kubelet has stopped their containers. */
export async function deletePods(namespace: string, names: string[]): Promise<void> {
  const { core } = apis();
  for (const name of names) {
    await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }).catch(() => undefined);
  }
  await waitFor(`pods ${names.join(', ')} to be gone`, async () => {
    const left = await core.listNamespacedPod({ namespace });
    return !left.items.some((pod) => names.includes(pod.metadata?.name ?? ''));
  }, 90_000);
}

export interface AgentProcess {
  pid: number;
  /** stderr so far (JSON log lines). */
  log(): string;
  /** pidguard_scans_total from the agent's /metrics. */
  scans(): Promise<number>;
  metrics(): Promise<string>;
  /** SIGTERM; resolves the exit code. */
  stop(): Promise<number | null>;
}

export interface AgentOptions {
  intervalMs?: number;
  /**
   * Start the agent in a private cgroup namespace (`unshare -C`), rooted at a
   * child cgroup of the test's own in every hierarchy, as a container on
   * cgroup v2 would be: other processes' /proc/<pid>/cgroup then read /../<path>.
   */
  privateCgroupNamespace?: boolean;
}

/** `pidguard agent` as a host process (real /proc and /sys/fs/cgroup) watching this node's pods. */
export async function startAgent(options: AgentOptions = {}): Promise<AgentProcess> {
  const c = cluster();
  const agentArgs = [join(c.repoDir, 'bin/pidguard.js'), 'agent', '--kubeconfig', kubeconfigPath('admin'), '--node-name', c.node.name,
    '--interval', `${options.intervalMs ?? 1000}ms`, '--metrics-port', '0', '--metrics-host', '127.0.0.1'];
  const cgroups = options.privateCgroupNamespace ? ownChildCgroups(`pidguard-e2e-agent-${process.pid}`) : [];
  const [command, args] = options.privateCgroupNamespace
    // The shell moves itself into the child cgroups, then becomes unshare, which becomes node.
    ? ['sh', ['-c', 'for dir in "$@"; do [ "$dir" = -- ] && break; echo $$ > "$dir/cgroup.procs" || exit 97; shift; done; shift; exec unshare -C "$@"',
      'agent', ...cgroups, '--', process.execPath, ...agentArgs]]
    : [process.execPath, agentArgs];
  const child = spawn(command, args as string[], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const log = () => Buffer.concat(stderr).toString();
  let port: number;
  try {
    port = await waitFor('the agent to start', async () => {
      if (child.exitCode !== null) throw new Error(`the agent exited ${child.exitCode}: ${log()}`);
      const started = log().split('\n').find((line) => line.includes('"agent started"'));
      return started ? (JSON.parse(started) as { metricsPort: number }).metricsPort : undefined;
    });
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    removeCgroups(cgroups);
    throw error;
  }
  const metrics = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return {
    pid: child.pid as number,
    log,
    metrics,
    scans: async () => sumSamples(await metrics(), 'pidguard_scans_total'),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      removeCgroups(cgroups);
      return code;
    },
  };
}

/** Waits until the agent has completed `count` more scans than now. */
export async function agentScans(agent: AgentProcess, count: number): Promise<void> {
  const target = (await agent.scans()) + count;
  await waitFor(`${count} more agent scans`, async () => (await agent.scans()) >= target, 60_000);
}

/** Creates `name` under this process's cgroup in every v1 hierarchy and the v2 one; returns the directories. */
function ownChildCgroups(name: string): string[] {
  const dirs: string[] = [];
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers, path] = line.split(':') as [string, string, string];
    const mount = controllers === '' ? 'unified' : controllers.replace(/^name=/, '').split(',')[0];
    // A new cpuset cgroup has no CPUs to run on until configured: leave cpuset alone.
    if (mount === 'cpuset') continue;
    const dir = join('/sys/fs/cgroup', mount as string, path, name);
    if (!existsSync(join('/sys/fs/cgroup', mount as string))) continue;
    mkdirSync(dir, { recursive: true });
    dirs.push(dir);
  }
  if (!dirs.some((dir) => dir.startsWith('/sys/fs/cgroup/pids/'))) throw new Error('no pids cgroup hierarchy to put the agent in');
  return dirs;
}

function removeCgroups(dirs: string[]): void {
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) rmdirSync(join(dir, entry.name));
    rmdirSync(dir);
  }
}

/** `pidguard node --json` of this node, naming pods through the API server. */
export async function pidguardNode(): Promise<{ code: number; report: NodeReport; stderr: string }> {
  const c = cluster();
  // Thread names for all 20 shown: other work on the machine may hold more threads than the test's pods.
  const result = await runCommand(process.execPath, [join(c.repoDir, 'bin/pidguard.js'), 'node', '--json', '--kubeconfig', kubeconfigPath('admin'), '--node-name', c.node.name, '--top', '20', '--thread-names', '20'], undefined, 60_000);
  if (!result.stdout.trim().startsWith('{')) throw new Error(`pidguard node printed no report (exit ${result.code}): ${result.stderr}`);
  return { code: result.code, report: JSON.parse(result.stdout) as NodeReport, stderr: result.stderr };
}

export interface NodeReport {
  verdict: { level: string; summary: string; nextSteps: string[] };
  node: { ceiling: number; ceilingSource: string; tasks: number; headroom: number };
  top: Array<{
    pid: number; name: string; threads: number; pod?: { uid: string; namespace?: string; name?: string };
    threadNames?: { read: number; sampled: boolean; groups: Array<{ name: string; kind: string; count: number }>; diagnosis: { kind: string; summary: string } };
  }>;
  pods: Array<{ uid: string; namespace?: string; name?: string; processes: number; threads: number; pids: { current?: number; max?: number | 'max'; refusedForks?: number } }>;
}

export interface NodePodOptions {
  image?: string;
  command: string[];
  annotations?: Record<string, string>;
  /** Container resources; none = what the webhook makes of it (BestEffort unless it injects). */
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  restartPolicy?: 'Always' | 'Never';
}

/** A one-container pod for the real node: tolerates its taint, a local image (imagePullPolicy Never), quick to stop. */
export function nodePod(name: string, namespace: string, options: NodePodOptions) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, ...(options.annotations ? { annotations: options.annotations } : {}) },
    spec: {
      restartPolicy: options.restartPolicy ?? 'Always',
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      tolerations: [{ key: node().taint, operator: 'Equal', value: 'true', effect: 'NoSchedule' }],
      containers: [{
        name: 'app',
        image: options.image ?? node().images.tools,
        imagePullPolicy: 'Never',
        command: options.command,
        ...(options.resources ? { resources: options.resources } : {}),
      }],
    },
  };
}

/** Small Burstable resources for pods that only need to run. */
export const SMALL = { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } };

/** The node's Ready condition status ('True' while the kubelet reports in). */
export async function nodeReady(): Promise<string | undefined> {
  const read = await apis().core.readNode({ name: node().name });
  return read.status?.conditions?.find((condition) => condition.type === 'Ready')?.status;
}

function controllerManager(args: string[]): Promise<void> {
  const c = cluster();
  return runCommand('bash', [join(c.repoDir, 'test/e2e/cluster/controller-manager.sh'), args[0] as string, c.workDir, ...args.slice(1)], undefined, 90_000)
    .then((result) => {
      if (result.code !== 0) throw new Error(`controller-manager.sh ${args.join(' ')} failed: ${result.stderr}`);
    });
}

/**
 * Starts the Deployment, ReplicaSet and DaemonSet controllers (a second
 * kube-controller-manager). They reconcile every workload in the cluster, also
 * those other tests create by hand with pods of their own: stop them in afterAll.
 */
export function startWorkloadControllers(): Promise<void> {
  return controllerManager(['start', 'workloads', 'deployment,replicaset,daemonset']);
}

export function stopWorkloadControllers(): Promise<void> {
  return controllerManager(['stop', 'workloads']);
}
