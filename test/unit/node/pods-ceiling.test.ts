// The pods' real ceiling and who holds the tasks (issue 12):
// - when the kubelet reserves PIDs for the system, the top kubepods cgroup's
//   pids.max bounds all pods before pid_max does: the verdict, the metrics and
//   the agent must judge against the lower of the two and say which it is;
// - a bomb of one-thread processes in one pod weighs as much as one process
//   with as many threads: holders are ranked by the tasks of all their processes.
// Fixture trees for cgroup v1 and v2 with both drivers, and this machine's
// real cgroup v1 pids hierarchy.

import { jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeAgent, type AgentScanResult } from '../../../src/node/agent.js';
import { CgroupSandbox } from '../../../lab/cgroup-sandbox.js';
import type { NodePod } from '../../../src/node/pods.js';
import { readKubepods, scanNode } from '../../../src/node/scan.js';
import { judgeNode } from '../../../src/node/verdict.js';
import type { SyntheticProcess } from '../../fixtures/node/synthetic-node.d.mts';
import { writeSyntheticNode } from '../../fixtures/node/synthetic-node.mjs';
import { runCli } from '../cli/run-cli.js';

jest.setTimeout(60_000);

const ORDERS = '0a1b2c3d-4444-4555-b666-777788889999';
const REPORT = '1b2c3d4e-5555-4666-8777-888899990000';
const pods: NodePod[] = [
  { uid: ORDERS, namespace: 'shop', name: 'orders', annotations: {} },
  { uid: REPORT, namespace: 'analytics', name: 'report-svc', annotations: {} },
];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pidguard-pods-ceiling-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

type Layout = { name: string; version: 'v1' | 'v2'; kubepods: string; pod: (uid: string) => string; container: (pod: string, id: string) => string };
const cgroupfs = (prefix: string) => (uid: string) => `${prefix}/burstable/pod${uid}`;
const systemd = (prefix: string, qosPrefix: string) => (uid: string) => `${prefix}/${qosPrefix}-burstable.slice/${qosPrefix}-burstable-pod${uid.replace(/-/g, '_')}.slice`;
const LAYOUTS: Layout[] = [
  { name: 'v1 cgroupfs', version: 'v1', kubepods: '/kubepods', pod: cgroupfs('/kubepods'), container: (pod, id) => `${pod}/${id}` },
  { name: 'v1 systemd', version: 'v1', kubepods: '/kubepods.slice', pod: systemd('/kubepods.slice', 'kubepods'), container: (pod, id) => `${pod}/cri-containerd-${id}.scope` },
  { name: 'v2 systemd', version: 'v2', kubepods: '/kubepods.slice', pod: systemd('/kubepods.slice', 'kubepods'), container: (pod, id) => `${pod}/cri-containerd-${id}.scope` },
  { name: 'v2 cgroupfs', version: 'v2', kubepods: '/kubepods', pod: cgroupfs('/kubepods'), container: (pod, id) => `${pod}/${id}` },
  {
    name: 'v2 systemd under kind\'s prefix',
    version: 'v2',
    kubepods: '/kubelet.slice/kubelet-kubepods.slice',
    pod: systemd('/kubelet.slice/kubelet-kubepods.slice', 'kubelet-kubepods'),
    container: (pod, id) => `${pod}/cri-containerd-${id}.scope`,
  },
];

/**
 * A node with plenty of PIDs (2,950 of 32,768) whose kubelet keeps all but
 * 3,000 for the system: the pods hold 2,209 of their 3,000. In pod shop/orders,
 * 2,000 one-thread processes (`bombProcesses`); in analytics/report-svc one JVM
 * with 150 threads; outside pods, containerd and a service of 3 processes.
 */
function bombNode(layout: Layout, options: { bombProcesses?: number; kubepodsMax?: number | 'max'; withPods?: boolean } = {}) {
  const bomb = options.bombProcesses ?? 2000;
  const ordersPod = layout.pod(ORDERS);
  const reportPod = layout.pod(REPORT);
  const processes: SyntheticProcess[] = [
    { pid: 1, name: 'systemd', threads: 1, argv: ['/sbin/init'], cgroup: '/init.scope' },
    { pid: 2, name: 'kthreadd', threads: 1, argv: [], ppid: 0 },
    { pid: 300, name: 'containerd', threads: 50, argv: ['/usr/bin/containerd'], cgroup: '/system.slice/containerd.service' },
    ...[401, 402, 403].map((pid) => ({ pid, name: 'worker', threads: 2, argv: ['/usr/lib/foo/worker'], cgroup: '/system.slice/foo.service' })),
  ];
  if (options.withPods !== false) {
    processes.push({ pid: 900, name: 'java', threads: 150, argv: ['java', '-Xmx1g', '-jar', 'report.jar'], cgroup: layout.container(reportPod, 'b'.repeat(64)) });
    for (let index = 0; index < bomb; index += 1) {
      processes.push({ pid: 10_000 + index, name: 'sh', threads: 1, argv: ['sh', '-c', 'while :; do sh -c "sleep 1000" & done'], cgroup: layout.container(ordersPod, 'a'.repeat(64)) });
    }
  }
  return writeSyntheticNode(dir, {
    pidMax: 32768,
    threadsMax: 255596,
    tasks: 2950,
    cgroupVersion: layout.version,
    processes,
    cgroups: [
      { path: layout.kubepods, current: 2209, max: options.kubepodsMax ?? 3000 },
      ...(options.withPods !== false ? [{ path: ordersPod, current: bomb, max: 'max' as const }, { path: reportPod, current: 151, max: 'max' as const }] : []),
    ],
  });
}

describe('the pods\' ceiling: the top kubepods cgroup\'s pids.max', () => {
  test.each(LAYOUTS)('$name: kubepods at 2,209 of 3,000 is a warning although the node has 29,818 PIDs free', (layout) => {
    const { proc, cgroupRoot } = bombNode(layout, { bombProcesses: 20 });
    const scan = scanNode({ procRoot: proc, cgroupRoot, pods, top: 10 });
    const kubepodsDir = layout.version === 'v1' ? join(cgroupRoot, 'pids', layout.kubepods) : join(cgroupRoot, layout.kubepods);
    expect(scan.kubepods).toEqual({ dir: kubepodsDir, current: 2209, max: 3000 });
    expect(scan.podsBudget).toEqual({ scope: 'pods', used: 2209, ceiling: 3000, ceilingSource: 'kubepods pids.max', usageRatio: 2209 / 3000, headroom: 791 });
    expect(scan.binding).toBe(scan.podsBudget);
    const verdict = judgeNode(scan);
    expect(verdict.level).toBe('warning');
    expect(verdict.summary).toBe('pods: 2,209 of 3,000 PIDs in use (73.6%, 791 free; kubepods pids.max); node: 2,950 of 32,768 PIDs in use (9.0%, 29,818 free; kernel.pid_max)');
    expect(verdict.nextSteps.join('\n')).toContain('The pods\' ceiling is the kubepods cgroup\'s pids.max (3,000), not the node\'s (32,768)');
  });

  test.each(LAYOUTS.filter((layout) => !layout.kubepods.startsWith('/kubelet.slice')))('$name: found at the kubelet\'s standard place when no pod process is seen', (layout) => {
    const { proc, cgroupRoot } = bombNode(layout, { withPods: false });
    const scan = scanNode({ procRoot: proc, cgroupRoot, pods: [], top: 10 });
    expect(scan.kubepods).toMatchObject({ current: 2209, max: 3000 });
    expect(judgeNode(scan).level).toBe('warning');
  });

  test('a kubepods pids.max of "max" or at the node\'s ceiling leaves the node\'s ceiling in charge', () => {
    const { proc, cgroupRoot } = bombNode(LAYOUTS[0] as Layout, { bombProcesses: 20, kubepodsMax: 'max' });
    const scan = scanNode({ procRoot: proc, cgroupRoot, pods, top: 10 });
    expect(scan.podsBudget).toMatchObject({ used: 2209, ceiling: 32768, ceilingSource: 'kernel.pid_max' });
    expect(scan.binding).toBe(scan.nodeBudget);
    expect(judgeNode(scan)).toMatchObject({ level: 'ok', summary: 'node: 2,950 of 32,768 PIDs in use (9.0%, 29,818 free; kernel.pid_max); pods: 2,209 of 32,768 PIDs in use (6.7%, 30,559 free; kernel.pid_max)' });
  });

  test('without a kubepods cgroup the report says so and judges against the node\'s ceiling', async () => {
    const { proc, cgroupRoot } = bombNode(LAYOUTS[0] as Layout, { withPods: false });
    rmSync(join(cgroupRoot, 'pids/kubepods'), { recursive: true });
    const scan = scanNode({ procRoot: proc, cgroupRoot, pods: [], top: 10 });
    expect(scan.kubepods).toEqual({ problem: expect.stringContaining('no kubepods cgroup with pids files (looked at') });
    expect(scan.podsBudget).toBeUndefined();
    expect(judgeNode(scan).level).toBe('ok');
    const run = await runCli(['node', '--proc', proc, '--cgroup-root', cgroupRoot]);
    expect(run.stdout).toContain('pods ceiling: kubepods cgroup not read (no kubepods cgroup with pids files');
  });
});

describe('a bomb of one-thread processes shows as prominently as one of threads', () => {
  const layout = LAYOUTS[0] as Layout;

  test('the scan ranks holders by the tasks of all their processes', () => {
    const { proc, cgroupRoot } = bombNode(layout);
    const scan = scanNode({ procRoot: proc, cgroupRoot, pods, top: 5 });
    // By its own thread count the JVM ranks first and no bomb process is even in the top 5...
    expect(scan.top.map((process) => process.pid)).toEqual([900, 300, 401, 402, 403]);
    // ...by tasks held, the bomb's pod leads.
    expect(scan.holders.map(({ pod, cgroup, tasks, processes }) => ({ who: pod?.name ?? cgroup, tasks, processes }))).toEqual([
      { who: 'orders', tasks: 2000, processes: 2000 },
      { who: 'report-svc', tasks: 150, processes: 1 },
      { who: '/system.slice/containerd.service', tasks: 50, processes: 1 },
      { who: '/system.slice/foo.service', tasks: 6, processes: 3 },
      { who: '/init.scope', tasks: 1, processes: 1 },
    ]);
    expect(scan.holders[0]?.biggest).toMatchObject({ pid: 10_000, name: 'sh', threads: 1, pod: { uid: ORDERS, namespace: 'shop', name: 'orders' } });
    const verdict = judgeNode(scan);
    expect(verdict.headline).toMatch(/^pod shop\/orders holds 2,000 tasks in 2,000 processes \(66\.7% of the pods' ceiling 3,000; biggest: PID 10000 sh, 1 thread\)$/);
    expect(verdict.offenders.map((holder) => holder.pod?.name)).toEqual(['orders', 'report-svc']);
    expect(verdict.nextSteps[0]).toContain('Evict or delete shop/orders, which holds 2,000 tasks in 2,000 processes');
    expect(verdict.nextSteps[0]).toContain('`kubectl -n shop delete pod orders`');
  });

  test('pidguard node: headline, holders table and JSON', async () => {
    const { proc, cgroupRoot } = bombNode(layout);
    const podsFile = join(dir, 'pods.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(podsFile, JSON.stringify(pods.map((pod) => ({ kind: 'Pod', metadata: { uid: pod.uid, namespace: pod.namespace, name: pod.name } }))));
    const args = ['node', '--proc', proc, '--cgroup-root', cgroupRoot, '--pods-file', podsFile];
    const table = await runCli(args);
    expect(table.code).toBe(1);
    const lines = table.stdout.split('\n');
    expect(lines[0]).toBe('WARNING: pods: 2,209 of 3,000 PIDs in use (73.6%, 791 free; kubepods pids.max); node: 2,950 of 32,768 PIDs in use (9.0%, 29,818 free; kernel.pid_max)');
    expect(lines[1]).toMatch(/^biggest holder: pod shop\/orders holds 2,000 tasks in 2,000 processes/);
    expect(table.stdout).toMatch(/^pods ceiling: kubepods pids\.max 3,000, pids\.current 2,209 \(.*\/pids\/kubepods\)$/m);
    expect(table.stdout).toMatch(/^shop\/orders\s+2,000\s+2,000\s+66\.7%\s+unknown\s+10000\s+1\s+sh -c/m);

    const json = JSON.parse((await runCli([...args, '--json'])).stdout);
    expect(json.budgets).toMatchObject({ binding: 'pods', pods: { used: 2209, ceiling: 3000, ceilingSource: 'kubepods pids.max' }, node: { used: 2950, ceiling: 32768 } });
    expect(json.holders[0]).toMatchObject({ pod: { namespace: 'shop', name: 'orders' }, tasks: 2000, processes: 2000 });
    expect(json.verdict.headline).toMatch(/^pod shop\/orders holds 2,000 tasks/);
    expect(json.verdict.offenders[0]).toMatchObject({ tasks: 2000 });
  });

  test('the agent: metrics carry the pods\' ceiling and the top holders; the bomb\'s pod gets its ThreadHog Event', async () => {
    const { proc, cgroupRoot } = bombNode(layout);
    const reports: AgentScanResult[] = [];
    const agent = new NodeAgent({
      procRoot: proc,
      cgroupRoot,
      nodeName: 'worker-1',
      thresholds: { warningRatio: 0.7, criticalRatio: 0.9 },
      top: 3,
      enforce: false,
      pods: () => pods,
      log: () => undefined,
      reporter: { report: async (result) => void reports.push(result) },
    });
    await agent.scanOnce();
    const text = await agent.metrics.registry.metrics();
    expect(text).toContain('pidguard_pods_tasks 2209');
    expect(text).toContain('pidguard_pods_pid_ceiling 3000');
    expect(text).toMatch(/^pidguard_node_pid_usage_ratio 0\.7363/m);
    expect(text).toContain('pidguard_pid_ceiling_binding{budget="pods",ceiling="kubepods pids.max"} 1');
    expect(text).toContain('pidguard_top_holder_tasks{namespace="shop",pod="orders",cgroup=""} 2000');
    expect(text).toContain('pidguard_top_holder_processes{namespace="shop",pod="orders",cgroup=""} 2000');
    expect(text).toContain('pidguard_top_holder_tasks{namespace="",pod="",cgroup="/system.slice/containerd.service"} 50');
    expect(text.match(/^pidguard_top_holder_tasks\{/gm)).toHaveLength(3);
    expect(text).toContain(`pidguard_pod_processes{namespace="shop",pod="orders",uid="${ORDERS}"} 2000`);
    expect(reports[0]?.verdict.level).toBe('warning');
    expect(reports[0]?.findings.newOffenders.map((holder) => holder.pod?.name)).toEqual(['orders', 'report-svc']);
  });
});

describe('on this machine\'s real cgroup v1 pids hierarchy', () => {
  test('a pod of 40 one-thread processes under a kubepods cgroup with pids.max 200', async () => {
    const sandbox = CgroupSandbox.create('pidguard-kubepods');
    const uid = '2c3d4e5f-6666-4777-8888-999900001111';
    const container = `kubepods/besteffort/pod${uid}/${'c'.repeat(64)}`;
    sandbox.mkdir(container);
    sandbox.setMax('kubepods', 200);
    // The shell waits for a line on stdin, so it forks its 40 sleeps only once it is in the container's cgroup.
    const shell = spawn('sh', ['-c', 'read go; for i in $(seq 40); do sleep 600 & done; echo started; wait'], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      sandbox.attach(container, shell.pid as number);
      shell.stdin.write('go\n');
      await new Promise<void>((resolve, reject) => {
        shell.once('exit', (code) => reject(new Error(`shell exited with ${code}`)));
        shell.stdout.once('data', () => resolve());
      });
      const kubepodsDir = sandbox.dir('kubepods');
      expect(readKubepods('/sys/fs/cgroup', [sandbox.dir(`kubepods/besteffort/pod${uid}`)])).toEqual({ dir: kubepodsDir, current: 41, max: 200 });
      expect(readFileSync(join(kubepodsDir, 'pids.current'), 'utf8').trim()).toBe('41');
      const scan = scanNode({ procRoot: '/proc', cgroupRoot: '/sys/fs/cgroup', pods: [], top: 100_000 });
      expect(scan.holders.find((holder) => holder.pod?.uid === uid)).toMatchObject({ tasks: 41, processes: 41 });
    } finally {
      // The shell and the sleeps it started: exactly the processes in the container's cgroup.
      for (const pid of readFileSync(join(sandbox.dir(container), 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
      shell.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const problems = await sandbox.remove();
      expect(problems).toEqual([]);
    }
  });
});
