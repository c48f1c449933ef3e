// Which kind of leak, on fixture trees with task/<tid>/comm files: a .NET pool
// starvation and a .NET LongRunning leak (the incident's pods, smaller), JVM
// and Go processes; the scan's sampling, `pidguard node`'s table and JSON, the
// verdict's next step, the agent's bounded metrics; and hostile trees (task/ a
// FIFO or a file, comm files that are FIFOs, huge or full of escapes) that
// must neither hang nor crash the scan.

import { jest } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeAgent } from '../../../src/node/agent.js';
import { readPodsFile } from '../../../src/node/pods.js';
import { scanNode, type TopProcess } from '../../../src/node/scan.js';
import { judgeNode } from '../../../src/node/verdict.js';
import { writeSyntheticNode, type SyntheticProcess } from '../../fixtures/node/synthetic-node.mjs';
import { runCli } from '../cli/run-cli.js';

jest.setTimeout(60_000);

const podsFile = fileURLToPath(new URL('../../fixtures/node/incident/pods.yaml', import.meta.url));
const pods = readPodsFile(podsFile);
const ORDERS_UID = '3f1c9a52-8d4e-4b1a-9c67-0e2d5f8a1b01';
const BILLING_UID = '7b2e4d11-5a3c-4f8e-b1d2-6c9e0a7f3d22';
const inPod = (uid: string, container: string) =>
  `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-${container.repeat(64)}.scope`;
// What a .NET 8 process starts besides its workers (dotnet/runtime's names, cut to 15 bytes by the kernel).
const DOTNET_RUNTIME: Array<[string, number]> = [
  ['dotnet', 1], ['.NET SynchManag', 1], ['.NET EventPipe', 1], ['.NET SigHandler', 1], ['.NET Server GC', 4], ['.NET BGC', 4],
  ['.NET Finalizer', 1], ['.NET Tiered Com', 1], ['.NET Timer', 1], ['.NET TP Gate', 1], ['.NET Sockets', 1],
];
const runtimeThreads = DOTNET_RUNTIME.reduce((sum, [, count]) => sum + count, 0);

/** The incident's two .NET pods, smaller: orders starves its pool, billing leaks LongRunning tasks. */
const ORDERS: SyntheticProcess = {
  pid: 30855, name: 'dotnet', threads: 1000, argv: ['dotnet', 'Orders.Api.dll'], cgroup: inPod(ORDERS_UID, '1'),
  threadNames: [...DOTNET_RUNTIME, ['.NET TP Worker', 1000 - runtimeThreads - 20], ['orders-poller-1', 10], ['orders-poller-2', 10]],
};
const BILLING: SyntheticProcess = {
  pid: 15466, name: 'dotnet', threads: 500, argv: ['dotnet', 'Billing.Worker.dll'], cgroup: inPod(BILLING_UID, '2'),
  threadNames: [...DOTNET_RUNTIME, ['.NET TP Worker', 60], ['.NET Long Runni', 500 - runtimeThreads - 60]],
};
const JAVA: SyntheticProcess = {
  pid: 9021, name: 'java', threads: 300, argv: ['java', '-jar', '/app/report-svc.jar'], cgroup: '/system.slice/report.service',
  threadNames: [['java', 1], ['C2 CompilerThre', 2], ['GC Thread#0', 1], ['GC Thread#1', 1], ['VM Thread', 1],
    ...Array.from({ length: 294 }, (_, index): [string, number] => [`pool-${index + 1}-thread-1`, 1])],
};

// A tree of thousands of small files: in memory (tmpfs) where the machine has one, as its disk is slow to fill.
const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
let dir: string;
let incident: { proc: string; cgroupRoot: string };
let shared: string;
beforeAll(() => {
  shared = mkdtempSync(join(base, 'pidguard-thread-names-'));
  incident = tree([ORDERS, BILLING, JAVA], shared);
});
afterAll(() => rmSync(shared, { recursive: true, force: true }));
beforeEach(() => {
  dir = mkdtempSync(join(base, 'pidguard-thread-names-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function tree(processes: SyntheticProcess[], root = dir) {
  return writeSyntheticNode(root, {
    pidMax: 32768, threadsMax: 255596, tasks: processes.reduce((sum, process) => sum + process.threads, 0) + 100, cgroupVersion: 'v2', processes,
  });
}

/** The shared tree: ORDERS (pool starvation), BILLING (LongRunning), JAVA (an executor per task). */
function scan(threadNames = { processes: 3 }) {
  return scanNode({ procRoot: incident.proc, cgroupRoot: incident.cgroupRoot, pods, top: 10, threadNames });
}

const byPid = (top: TopProcess[], pid: number) => top.find((process) => process.pid === pid) as TopProcess;

describe('the scan groups the top processes\' threads by name', () => {
  test('pool starvation: an even sample of 256 of 1,000 threads, shares and estimates close to the truth', () => {
    const { top } = scan();
    const names = byPid(top, 30855).threadNames;
    expect(names).toMatchObject({ read: 256, sampled: true, vanished: 0, unreadable: 0 });
    const workers = names?.groups[0];
    expect(workers).toMatchObject({ name: '.NET TP Worker', kind: 'pool', label: '.NET thread-pool workers' });
    // The truth is 963 of 1,000; an even sample over every thread stays close, wherever the workers sit in task/.
    expect(workers?.share).toBeGreaterThan(0.9);
    expect(Math.abs((workers?.estimate ?? 0) - 963)).toBeLessThan(40);
    expect(names?.groups.find((group) => group.name === 'orders-poller-*')).toMatchObject({ kind: 'app' });
    expect(names?.diagnosis.kind).toBe('pool');
    expect(names?.diagnosis.summary).toMatch(/^pool starvation: \d+% of the threads read are \.NET thread-pool workers \(\.NET TP Worker\); the thread-pool cap bounds it$/);
  });

  test('dedicated threads: LongRunning tasks dominate', () => {
    const { top } = scan();
    const names = byPid(top, 15466).threadNames;
    expect(names?.groups[0]).toMatchObject({ name: '.NET Long Runni', kind: 'dedicated' });
    expect(names?.diagnosis).toMatchObject({ kind: 'dedicated' });
    expect(names?.diagnosis.summary).toContain('only pids.max');
  });

  test('a JVM with an executor per task: 300 threads sampled to 256, pool-*-thread-* with examples of many pools', () => {
    const { top } = scan();
    const names = byPid(top, 9021).threadNames;
    expect(names?.read).toBe(256);
    expect(names?.groups[0]).toMatchObject({ name: 'pool-*-thread-*', kind: 'pool' });
    expect(names?.groups[0]?.examples).toHaveLength(3);
    expect(names?.diagnosis.kind).toBe('pool');
  });

  test('only the first N top processes are read; 0 reads none', () => {
    const two = scan({ processes: 2 });
    expect(two.top.map((process) => process.threadNames !== undefined)).toEqual([true, true, false]);
    const none = scan({ processes: 0 });
    expect(none.top.every((process) => process.threadNames === undefined)).toBe(true);
  });

  test('a smaller process is read whole, and a per-process cap is honoured', () => {
    const go: SyntheticProcess = { pid: 3377, name: 'coredns', threads: 40, argv: ['/coredns'], cgroup: '/system.slice/dns.service', threadNames: [['coredns', 40]] };
    const { proc, cgroupRoot } = tree([go]);
    const whole = scanNode({ procRoot: proc, cgroupRoot, pods: [], top: 10, threadNames: { processes: 1 } }).top[0]?.threadNames;
    expect(whole).toMatchObject({ read: 40, sampled: false, groups: [{ name: 'coredns', kind: 'unnamed', count: 40, estimate: 40 }], diagnosis: { kind: 'dedicated' } });
    const capped = scanNode({ procRoot: proc, cgroupRoot, pods: [], top: 10, threadNames: { processes: 1, threadsPerProcess: 7 } }).top[0]?.threadNames;
    expect(capped).toMatchObject({ read: 7, sampled: true });
  });

  test('the verdict\'s next step for an offender says which kind of leak, instead of the generic .NET advice', () => {
    const result = scan();
    const steps = judgeNode(result, { warningRatio: 0.01, criticalRatio: 0.02 }).nextSteps.join('\n');
    expect(steps).toContain('shop/orders-api-7f9c6d5b8-2xkqp, PID 30855: pool starvation:');
    expect(steps).toContain('shop/billing-worker-5c7d8f9b6-kq7zt, PID 15466: dedicated threads:');
    expect(steps).not.toContain('look for blocking calls that starve the pool');
  });
});

describe('pidguard node prints the histogram and the diagnosis', () => {
  const args = () => ['node', '--proc', incident.proc, '--cgroup-root', incident.cgroupRoot, '--pods-file', podsFile];

  test('table: one section per process, groups with kind, share and estimate, the diagnosis and its steps', async () => {
    const run = await runCli(args());
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain('THREAD NAMES (threads grouped by /proc/<pid>/task/<tid>/comm, digits as *; top 3 processes)');
    expect(run.stdout).toMatch(/^PID 30855 dotnet \(shop\/orders-api-7f9c6d5b8-2xkqp\): 1,000 threads, 256 names read \(an even sample\)$/m);
    expect(run.stdout).toMatch(/^ {2}GROUP +KIND +READ +SHARE +THREADS +WHAT$/m);
    expect(run.stdout).toMatch(/^ {2}\.NET TP Worker +pool +2\d\d +9\d\.\d% +~9\d\d +\.NET thread-pool workers$/m);
    expect(run.stdout).toMatch(/^ {2}diagnosis: pool starvation: /m);
    expect(run.stdout).toMatch(/^ {2}diagnosis: dedicated threads: /m);
    expect(run.stdout).toContain('  - Cap the pool: DOTNET_ThreadPool_ForceMaxWorkerThreads');
  });

  test('--json: threadNames on the top entries; --thread-names 0 leaves them out', async () => {
    const report = JSON.parse((await runCli([...args(), '--json'])).stdout);
    expect(report.top[0].threadNames).toMatchObject({ read: 256, sampled: true, diagnosis: { kind: 'pool' } });
    expect(report.top[0].threadNames.groups[0]).toMatchObject({ name: '.NET TP Worker', kind: 'pool' });
    const off = await runCli([...args(), '--json', '--thread-names', '0']);
    expect(JSON.parse(off.stdout).top.some((process: { threadNames?: unknown }) => process.threadNames !== undefined)).toBe(false);
    expect((await runCli([...args(), '--thread-names', '0'])).stdout).not.toContain('THREAD NAMES');
    expect((await runCli([...args(), '--thread-names', '21'])).code).toBe(2);
  });
});

test('the agent exports at most 5 groups per process plus "other", and the diagnosis', async () => {
  const chatty: SyntheticProcess = {
    pid: 7000, name: 'app', threads: 250, argv: ['/app'], cgroup: inPod(ORDERS_UID, '3'),
    threadNames: Array.from({ length: 25 }, (_, index): [string, number] => [`${String.fromCharCode(97 + index)}-worker`, 10]),
  };
  const { proc, cgroupRoot } = tree([ORDERS, chatty]);
  const agent = new NodeAgent({ procRoot: proc, cgroupRoot, nodeName: 'worker-7', thresholds: { warningRatio: 0.7, criticalRatio: 0.9 }, top: 10, enforce: false, pods: () => pods, log: () => undefined });
  await agent.scanOnce();
  const text = await agent.metrics.registry.metrics();
  const series = text.split('\n').filter((line) => line.startsWith('pidguard_thread_groups{'));
  const ofChatty = series.filter((line) => line.includes('command="app"'));
  expect(ofChatty).toHaveLength(6);
  // All 250 read (no sample): 25 groups of 10, 5 exported, 20 x 10 summed.
  expect(ofChatty.filter((line) => line.includes('group="other"'))).toEqual([expect.stringMatching(/ 200$/)]);
  expect(series).toContainEqual(expect.stringMatching(/^pidguard_thread_groups\{namespace="shop",pod="orders-api-7f9c6d5b8-2xkqp",command="dotnet",group="\.NET TP Worker",kind="pool"\} 9\d\d$/));
  expect(text).toContain('pidguard_thread_leak_diagnosis{namespace="shop",pod="orders-api-7f9c6d5b8-2xkqp",command="dotnet",diagnosis="pool"} 1');
  expect(series.length).toBeLessThanOrEqual(3 * 6);
  // Names are read at most once a minute; the scans between keep the last histogram.
  const next = await agent.scanOnce();
  expect(next.scan.top.some((process) => process.threadNames)).toBe(false);
  expect((await agent.metrics.registry.metrics()).split('\n').filter((line) => line.startsWith('pidguard_thread_groups{'))).toEqual(series);
});

describe('hostile thread trees', () => {
  function mkfifo(path: string): void {
    const made = spawnSync('mkfifo', [path]);
    if (made.status !== 0) throw new Error(`mkfifo ${path} failed: ${made.stderr}`);
  }
  const victim = (threadNames: Array<[string, number]>): SyntheticProcess => ({ pid: 500, name: 'victim', threads: threadNames.reduce((sum, [, count]) => sum + count, 0), argv: ['/victim'], cgroup: '/x.service', threadNames });

  test('comm files that are FIFOs, a huge comm and escape sequences: counted, cut, escaped; the scan neither hangs nor crashes', async () => {
    const { proc, cgroupRoot } = tree([victim([['victim', 1], ['\u001b[2J\u001b[Hevil-1', 5], ['x'.repeat(1 << 20), 1], ['fifo', 3]])]);
    const taskDir = join(proc, '500/task');
    for (const tid of readdirSync(taskDir)) {
      const comm = join(taskDir, tid, 'comm');
      if (spawnSync('cat', [comm]).stdout.toString() === 'fifo\n') {
        rmSync(comm);
        mkfifo(comm);
      }
    }
    const names = scanNode({ procRoot: proc, cgroupRoot, pods: [], top: 1, threadNames: { processes: 1 } }).top[0]?.threadNames;
    expect(names).toMatchObject({ read: 7, unreadable: 3 });
    expect(names?.groups.map((group) => group.name)).toEqual(['\u001b[*J\u001b[Hevil-*', 'victim', 'x'.repeat(64)]);
    const run = await runCli(['node', '--proc', proc, '--cgroup-root', cgroupRoot]);
    expect(run.stdout).toContain('\\x1b[*J\\x1b[Hevil-*');
    expect(run.stdout).not.toContain('\u001b');
    expect(run.stdout).toContain('7 names read, 0 vanished, 3 unreadable');
  });

  test('task/ a FIFO or a regular file: the problem is named, the diagnosis is unknown', () => {
    const { proc, cgroupRoot } = tree([{ pid: 501, name: 'a', threads: 10, argv: ['/a'] }, { pid: 502, name: 'b', threads: 9, argv: ['/b'] }]);
    mkfifo(join(proc, '501/task'));
    writeFileSync(join(proc, '502/task'), 'not a directory');
    const { top } = scanNode({ procRoot: proc, cgroupRoot, pods: [], top: 2, threadNames: { processes: 2 } });
    for (const process of top) {
      expect(process.threadNames).toMatchObject({ read: 0, problem: expect.stringContaining('ENOTDIR'), diagnosis: { kind: 'unknown' } });
      expect(process.threadNames?.diagnosis.summary).toMatch(/^unknown: thread names not read \(.*task: ENOTDIR\)$/);
    }
  });

  test('a process whose task/ is gone (it exited mid-scan) is reported, not fatal', () => {
    const { proc, cgroupRoot } = tree([{ pid: 503, name: 'gone', threads: 5, argv: ['/gone'] }]);
    const names = scanNode({ procRoot: proc, cgroupRoot, pods: [], top: 1, threadNames: { processes: 1 } }).top[0]?.threadNames;
    expect(names).toMatchObject({ read: 0, problem: expect.stringContaining('vanished'), diagnosis: { kind: 'unknown' } });
  });
});
