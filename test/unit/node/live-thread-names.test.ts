// On this machine's real kernel: two processes whose threads name themselves
// with prctl(PR_SET_NAME) (the call .NET's and the JVM's thread naming ends in
// on Linux), each in a pod-shaped cgroup under a pids cap in the real pids
// hierarchy. One starves a ".NET TP Worker" pool, one starts ".NET Long Runni"
// threads until the kernel refuses them at the pod's pids.max. The scan reads
// their real /proc/<pid>/task/<tid>/comm files and must group and judge them;
// `pidguard node` and the agent show the same. A procfs view holding only
// these two processes (symlinks into /proc) keeps whatever else runs on the
// machine out of the top list. A few hundred tasks in all; everything is
// killed and the cgroups removed.

import { jest } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { NodeAgent } from '../../../src/node/agent.js';
import { CgroupSandbox } from '../../../lab/cgroup-sandbox.js';
import type { NodePod } from '../../../src/node/pods.js';
import { scanNode, type TopProcess } from '../../../src/node/scan.js';
import { normalizeThreadName } from '../../../src/node/thread-names.js';
import { runCli } from '../cli/run-cli.js';

jest.setTimeout(120_000);

// Starts threads named as asked (each names itself: PR_SET_NAME names the calling thread),
// stops at the first one the kernel refuses, prints how many run, then holds them until stdin closes.
const NAMED_THREADS = String.raw`
import ctypes, json, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
threading.stack_size(65536)
hold = threading.Event()
named = threading.Semaphore(0)
def run(name):
    libc.prctl(15, ctypes.c_char_p(name.encode('latin-1')), 0, 0, 0)  # PR_SET_NAME
    named.release()
    hold.wait()
sys.stdin.readline()  # placed in its cgroup
started = refused = 0
for name, count in json.loads(sys.argv[1]):
    for _ in range(count):
        try:
            threading.Thread(target=run, args=(name,), daemon=True).start()
            started += 1
        except RuntimeError:
            refused += 1
for _ in range(started):
    named.acquire()
sys.stdout.write('named %d refused %d\n' % (started, refused)); sys.stdout.flush()
sys.stdin.read()
`;

interface Named {
  child: ChildProcess;
  started: number;
  refused: number;
}

async function startNamed(spec: Array<[string, number]>, place: (pid: number) => void): Promise<Named> {
  const child = spawn('python3', ['-c', NAMED_THREADS, JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  place(child.pid as number);
  child.stdin?.write('placed\n');
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the named-threads process did not report within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`the named-threads process exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (text) => {
      clearTimeout(timer);
      resolve(text);
    });
  });
  const match = /^named (\d+) refused (\d+)$/.exec(line);
  if (!match) throw new Error(`unexpected report: ${line}`);
  return { child, started: Number(match[1]), refused: Number(match[2]) };
}

const children: ChildProcess[] = [];
let sandbox: CgroupSandbox | undefined;
let view: string;
const poolPod: NodePod = { uid: randomUUID(), namespace: 'shop', name: 'orders-api-0', annotations: {} };
const dedicatedPod: NodePod = { uid: randomUUID(), namespace: 'shop', name: 'billing-worker-0', annotations: {} };
const container = () => randomUUID().replace(/-/g, '').repeat(2);
const DEDICATED_CAP = 150;
let pool: Named;
let dedicated: Named;

beforeAll(async () => {
  try {
    sandbox = CgroupSandbox.create('pidguard-test');
  } catch (error) {
    throw new Error(`the live thread-names test needs a writable pids cgroup hierarchy (FACTS.md: /sys/fs/cgroup/pids as root): ${(error as Error).message}`);
  }
  const box = sandbox;
  // The whole test under one cap, each pod under its own.
  box.setMax('', 400);
  const poolContainer = `kubepods/burstable/pod${poolPod.uid}/${container()}`;
  const dedicatedContainer = `kubepods/burstable/pod${dedicatedPod.uid}/${container()}`;
  box.mkdir(poolContainer);
  box.mkdir(dedicatedContainer);
  box.setMax(`kubepods/burstable/pod${poolPod.uid}`, 250);
  box.setMax(`kubepods/burstable/pod${dedicatedPod.uid}`, DEDICATED_CAP);
  pool = await startNamed(
    [['.NET TP Worker', 120], ...Array.from({ length: 30 }, (_, index): [string, number] => [`worker-${index + 1}`, 1]), ['.NET BGC', 8], ['\u001b[31mred', 2]],
    (pid) => box.attach(poolContainer, pid),
  );
  // More than the pod may hold: the kernel refuses the rest, as it would a leaking service's.
  dedicated = await startNamed([['.NET Long Runni', DEDICATED_CAP + 50]], (pid) => box.attach(dedicatedContainer, pid));

  view = mkdtempSync(join(tmpdir(), 'pidguard-proc-view-'));
  for (const entry of ['loadavg', 'sys', 'self']) symlinkSync(`/proc/${entry}`, join(view, entry));
  for (const named of [pool, dedicated]) symlinkSync(`/proc/${named.child.pid}`, join(view, String(named.child.pid)));
});

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }
  if (view) rmSync(view, { recursive: true, force: true });
  const problems = (await sandbox?.remove()) ?? [];
  expect(problems).toEqual([]);
});

const scan = () => scanNode({ procRoot: view, cgroupRoot: (sandbox as CgroupSandbox).cgroupRoot, pods: [poolPod, dedicatedPod], top: 10, threadNames: { processes: 2 } });
const processOf = (top: TopProcess[], named: Named) => top.find((process) => process.pid === named.child.pid) as TopProcess;

test('the kernel held the dedicated threads at the pod\'s pids.max', () => {
  expect(pool).toMatchObject({ started: 160, refused: 0 });
  expect(dedicated.started).toBe(DEDICATED_CAP - 1);
  expect(dedicated.refused).toBe(51);
});

test('the pool process: every real comm read and grouped (digits folded), pool starvation', () => {
  const process = processOf(scan().top, pool);
  expect(process).toMatchObject({ threads: 161, pod: { uid: poolPod.uid, name: 'orders-api-0' } });
  const names = process.threadNames;
  expect(names).toMatchObject({ read: 161, sampled: false, vanished: 0, unreadable: 0 });
  expect(names?.groups.map((group) => [group.name, group.kind, group.count])).toEqual([
    ['.NET TP Worker', 'pool', 120],
    ['worker-*', 'app', 30],
    ['.NET BGC', 'runtime', 8],
    ['\u001b[*mred', 'app', 2],
    // The main thread keeps the process's name (python3, or python3.11 behind a version manager's shim).
    [normalizeThreadName(process.name), 'unnamed', 1],
  ]);
  expect(names?.diagnosis.kind).toBe('pool');
  expect(names?.diagnosis.summary).toBe('pool starvation: 75% of the threads read are .NET thread-pool workers (.NET TP Worker); the thread-pool cap bounds it');
});

test('the dedicated process: its threads up to the cap, dedicated threads, only pids.max bounds them', () => {
  const process = processOf(scan().top, dedicated);
  expect(process.threads).toBe(DEDICATED_CAP);
  expect(process.threadNames?.groups.map((group) => [group.name, group.kind, group.count])).toEqual([['.NET Long Runni', 'dedicated', DEDICATED_CAP - 1], [normalizeThreadName(process.name), 'unnamed', 1]]);
  expect(process.threadNames?.diagnosis).toMatchObject({ kind: 'dedicated' });
});

test('pidguard node prints both histograms, the escape sequence escaped', async () => {
  const podsFile = join(view, '..', `${view.split('/').pop()}-pods.json`);
  writeFileSync(podsFile, JSON.stringify({ apiVersion: 'v1', kind: 'PodList', items: [poolPod, dedicatedPod].map((pod) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { uid: pod.uid, namespace: pod.namespace, name: pod.name } })) }));
  try {
    const run = await runCli(['node', '--proc', view, '--cgroup-root', (sandbox as CgroupSandbox).cgroupRoot, '--pods-file', podsFile, '--thread-names', '2']);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(new RegExp(`^PID ${pool.child.pid} python[\\d.]* \\(shop/orders-api-0\\): 161 threads, 161 names read$`, 'm'));
    expect(run.stdout).toMatch(/^ {2}\\x1b\[\*mred +app +2 +1\.2% +2$/m);
    expect(run.stdout).not.toContain('\u001b');
    expect(run.stdout).toMatch(/^ {2}diagnosis: dedicated threads: 99% of the threads read are \.NET LongRunning tasks/m);
  } finally {
    rmSync(podsFile, { force: true });
  }
});

test('the agent exports both processes\' groups and diagnoses', async () => {
  const agent = new NodeAgent({
    procRoot: view, cgroupRoot: (sandbox as CgroupSandbox).cgroupRoot, nodeName: 'test-node', thresholds: { warningRatio: 0.7, criticalRatio: 0.9 },
    top: 10, enforce: false, pods: () => [poolPod, dedicatedPod], log: () => undefined,
  });
  await agent.scanOnce();
  const text = await agent.metrics.registry.metrics();
  const command = processOf(scan().top, pool).name;
  expect(text).toContain(`pidguard_thread_groups{namespace="shop",pod="orders-api-0",command="${command}",group=".NET TP Worker",kind="pool"} 120`);
  expect(text).toContain(`pidguard_thread_groups{namespace="shop",pod="billing-worker-0",command="${command}",group=".NET Long Runni",kind="dedicated"} ${DEDICATED_CAP - 1}`);
  expect(text).toContain(`pidguard_thread_leak_diagnosis{namespace="shop",pod="billing-worker-0",command="${command}",diagnosis="dedicated"} 1`);
});
