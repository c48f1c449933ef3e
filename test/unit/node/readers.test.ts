// The small parsers and readers under the scan: procfs files, pids files,
// pods files, runtime detection, and a scan of a tree whose processes vanish.

import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePidsMax, parseRefusedForks, readPidsUsage, lowers } from '../../../src/node/pids-cgroup.js';
import { InputBudget, InputError, parseDocuments } from '../../../src/input/yaml-input.js';
import { podsOf } from '../../../src/node/pods.js';
import { parseLoadavgTasks, parseStatus, ProcUnreadableError, readSmallFile } from '../../../src/node/procfs.js';
import { detectRuntime } from '../../../src/node/runtime.js';
import { scanNode } from '../../../src/node/scan.js';
import { writeSyntheticNode } from '../../fixtures/node/synthetic-node.mjs';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pidguard-readers-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('procfs', () => {
  test('loadavg: the total after the slash in field 4', () => {
    expect(parseLoadavgTasks('0.00 0.01 0.05 2/31635 30855\n')).toBe(31635);
    expect(() => parseLoadavgTasks('0.00 0.01 0.05\n')).toThrow(ProcUnreadableError);
  });

  test('status: Name (unescaped) and Threads', () => {
    expect(parseStatus(7, 'Name:\tdotnet\nUmask:\t0022\nPPid:\t1\nThreads:\t21317\n')).toEqual({ pid: 7, name: 'dotnet', threads: 21317, kernel: false });
    expect(parseStatus(9, 'Name:\tkworker/0:1\nPPid:\t2\nThreads:\t1\n')).toMatchObject({ kernel: true });
    expect(parseStatus(7, 'Name:\ta\\nb\nThreads:\t1\n')).toMatchObject({ name: 'a\nb' });
    expect(parseStatus(7, 'Name:\tzombie\n')).toEqual({ problem: 'status has no Threads line' });
  });

  test('a vanished file is undefined, not an error', () => {
    expect(readSmallFile(join(dir, 'gone'))).toBeUndefined();
  });

  test('the real /proc/self/status has our own Threads line', () => {
    const status = parseStatus(process.pid, readSmallFile('/proc/self/status') ?? '');
    expect(status).toMatchObject({ threads: expect.any(Number) });
  });
});

describe('pids cgroup files', () => {
  test('pids.max and pids.events', () => {
    expect(parsePidsMax('max\n')).toBe('max');
    expect(parsePidsMax('300\n')).toBe(300);
    expect(parsePidsMax('garbage')).toBeUndefined();
    expect(parseRefusedForks('max 17\n')).toBe(17);
    expect(parseRefusedForks('')).toBeUndefined();
  });

  test('refused forks counted in a container (leaf) cgroup count for the pod (cgroup v1 semantics)', () => {
    const pod = join(dir, 'pod');
    mkdirSync(join(pod, 'c1'), { recursive: true });
    mkdirSync(join(pod, 'c2'));
    writeFileSync(join(pod, 'pids.current'), '300\n');
    writeFileSync(join(pod, 'pids.max'), '300\n');
    writeFileSync(join(pod, 'pids.events'), 'max 0\n');
    writeFileSync(join(pod, 'c1/pids.events'), 'max 40\n');
    writeFileSync(join(pod, 'c2/pids.events'), 'max 2\n');
    expect(readPidsUsage(pod)).toEqual({ current: 300, max: 300, refusedForks: 42 });
  });

  test('only lowering counts as lowering', () => {
    expect(lowers(300, 'max')).toBe(true);
    expect(lowers(300, 400)).toBe(true);
    expect(lowers(300, 300)).toBe(false);
    expect(lowers(500, 300)).toBe(false);
  });
});

describe('pods files and the pids-limit annotation', () => {
  const parsePodsDocument = (text: string, source: string) => podsOf(parseDocuments(text, source, source, new InputBudget(1 << 20, 100, 'test')));

  test('a PodList in YAML, a JSON array and a List all parse', () => {
    const pod = (name: string, uid: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'ns', uid } });
    expect(parsePodsDocument('kind: PodList\nitems:\n- kind: Pod\n  metadata: {name: a, namespace: ns, uid: U-1}\n', 'f')).toEqual([
      { uid: 'u-1', namespace: 'ns', name: 'a', annotations: {} },
    ]);
    expect(parsePodsDocument(JSON.stringify([pod('a', '1'), pod('b', '2')]), 'f').map((p) => p.name)).toEqual(['a', 'b']);
    expect(parsePodsDocument(JSON.stringify({ kind: 'List', items: [pod('c', '3')] }), 'f')[0]?.name).toBe('c');
  });

  test('errors name the file and the problem', () => {
    expect(() => parsePodsDocument('kind: Deployment\n', 'pods.yaml')).toThrow(new InputError('pods.yaml: item 0 is not a Pod (kind: Deployment)'));
    expect(() => parsePodsDocument('kind: Pod\nmetadata: {name: x}\n', 'pods.yaml')).toThrow(/has no metadata.uid/);
    expect(() => parsePodsDocument('{ "kind": ', 'pods.yaml')).toThrow(/pods.yaml: document 0: .* at line 1/);
  });
});

test.each([
  ['dotnet', ['dotnet', 'Orders.Api.dll'], '.NET'],
  ['Orders.Api', ['/app/Orders.Api', 'x.dll'], '.NET'],
  ['java', ['/usr/bin/java', '-Xmx2g', '-jar', 'a.jar'], 'JVM'],
  ['node', ['node', 'server.js'], 'Node.js'],
  ['python3.11', ['/usr/bin/python3.11', '-m', 'app'], 'Python'],
  ['kubelet', ['/usr/bin/kubelet'], 'Go'],
  ['beam.smp', ['/usr/lib/erlang/erts/bin/beam.smp'], 'Erlang/BEAM'],
  ['kworker/0:1', [], 'unknown'],
])('runtime of %s %j is %s', (name, argv, runtime) => {
  expect(detectRuntime(name, argv)).toBe(runtime);
});

test('a process that vanished mid-scan (no status, or status without Threads) is counted, not fatal', () => {
  const { proc, cgroupRoot } = writeSyntheticNode(dir, {
    pidMax: 32768,
    threadsMax: 100000,
    tasks: 12,
    cgroupVersion: 'v2',
    processes: [
      { pid: 1, name: 'init', threads: 1, argv: ['/sbin/init'] },
      { pid: 50, name: 'app', threads: 10, argv: ['/app'] },
      { pid: 60, name: 'gone', threads: 1, argv: ['/gone'] },
    ],
  });
  rmSync(join(proc, '60/status'));
  mkdirSync(join(proc, '70'));
  writeFileSync(join(proc, '70/status'), 'Name:\thalf-written\n');
  const scan = scanNode({ procRoot: proc, cgroupRoot, pods: [], top: 5 });
  expect(scan.processCount).toBe(2);
  expect(scan.vanishedProcesses).toBe(1);
  expect(scan.unreadableProcesses).toBe(1);
  expect(scan.unreadableExamples).toEqual([{ pid: 70, problem: 'status has no Threads line' }]);
  expect(scan.top.map((process) => process.pid)).toEqual([50, 1]);
});
