// Node data written by an attacker: process names and argv with terminal
// control sequences, a comm that fakes status lines, Threads values beyond
// 2^53, and status / pids.max files that are FIFOs or directories. The scan
// must neither hang nor crash nor be fooled, and the table must not let a
// process rewrite the on-call engineer's screen.

import { jest } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseStatus, readProcessStatus } from '../../../src/node/procfs.js';
import { scanNode } from '../../../src/node/scan.js';
import { writeSyntheticNode } from '../../fixtures/node/synthetic-node.mjs';
import { runCli } from '../cli/run-cli.js';

jest.setTimeout(60_000);

const bin = fileURLToPath(new URL('../../../bin/pidguard.js', import.meta.url));
const POD_UID = '0b5e7a10-1c2d-4e3f-8a9b-0c1d2e3f4a5b';
const POD_PATH = `/kubepods/burstable/pod${POD_UID}`;
const CONTAINER = `${POD_PATH}/${'a'.repeat(64)}`;
// Raw control characters a terminal acts on: C0 (except the line feed that ends lines), DEL, C1, bidi overrides.
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pidguard-hostile-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function node(processes: Parameters<typeof writeSyntheticNode>[1]['processes']) {
  return writeSyntheticNode(dir, {
    pidMax: 32768,
    threadsMax: 100000,
    tasks: 30000,
    cgroupVersion: 'v2',
    processes,
    cgroups: [{ path: POD_PATH, current: 25001, max: 'max' }],
  });
}

function podsFile(name: string, namespace = 'shop'): string {
  const path = join(dir, 'pods.json');
  writeFileSync(path, JSON.stringify([{ kind: 'Pod', metadata: { uid: POD_UID, name, namespace } }]));
  return path;
}

/** `pidguard node` in a child process: a scan that hangs is killed, not waited for forever. */
function runNodeChild(args: string[]) {
  const run = spawnSync(process.execPath, [bin, 'node', ...args], { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH } });
  return { code: run.status, signal: run.signal, stdout: run.stdout, stderr: run.stderr };
}

describe('terminal injection through node data', () => {
  // What an attacker's process can set: comm (15 bytes, via prctl or /proc/self/comm) and argv.
  const evilName = '\u001b]0;pwn\u0007\u009b2J';
  const evilArgv = ['/app/x', '\u001b[2J\u001b[H1. all good, nothing to do\r', 'a\u202eb'];

  test('the table shows control characters visibly; JSON keeps the exact values', async () => {
    const { proc, cgroupRoot } = node([
      { pid: 1, name: 'init', threads: 1, argv: ['/sbin/init'] },
      { pid: 4242, name: evilName, threads: 25000, argv: evilArgv, cgroup: CONTAINER },
    ]);
    const pods = podsFile('orders\u001b[31m', 'shop\r');
    const table = await runCli(['node', '--proc', proc, '--cgroup-root', cgroupRoot, '--pods-file', pods]);
    expect(table.code).toBe(2);
    expect(table.stdout).not.toMatch(RAW_CONTROL);
    expect(table.stdout).toContain('\\x1b[2J\\x1b[H1. all good, nothing to do\\x0d');
    expect(table.stdout).toContain('\\x1b]0;pwn\\x07\\x9b2J');
    expect(table.stdout).toContain('a\\u202eb');
    expect(table.stdout).toContain('shop\\x0d/orders\\x1b[31m');

    const json = await runCli(['node', '--proc', proc, '--cgroup-root', cgroupRoot, '--pods-file', pods, '--json']);
    expect(json.stdout).not.toMatch(RAW_CONTROL);
    const report = JSON.parse(json.stdout);
    expect(report.top[0]).toMatchObject({ pid: 4242, name: evilName, command: evilArgv.join(' '), pod: { name: 'orders\u001b[31m', namespace: 'shop\r' } });
  });

  test('a pods file\'s content quoted in an error is escaped too', async () => {
    const { proc, cgroupRoot } = node([{ pid: 1, name: 'init', threads: 1, argv: ['/sbin/init'] }]);
    const pods = join(dir, 'pods.json');
    writeFileSync(pods, JSON.stringify([{ kind: 'Pod\u001b[2J', metadata: { uid: POD_UID } }]));
    const run = await runCli(['node', '--proc', proc, '--cgroup-root', cgroupRoot, '--pods-file', pods]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('is not a Pod (kind: Pod\\x1b[2J)');
    expect(run.stderr).not.toMatch(RAW_CONTROL);
  });

  test('a comm that fakes a Threads or PPid line cannot hide its threads', () => {
    // A carriage return is a line end to a /m regex, not to the kernel (which escapes only \n and \\ in Name).
    const status = 'Name:\tx\rThreads:\t1\nUmask:\t0022\nPPid:\t1\nThreads:\t5000\n';
    expect(parseStatus(7, status)).toEqual({ pid: 7, name: 'x\rThreads:\t1', threads: 5000, kernel: false });
    expect(parseStatus(8, 'Name:\tx\rPPid:\t2\nPPid:\t1\nThreads:\t3\n')).toMatchObject({ kernel: false });
  });

  test('on the real /proc: a process that sets such a comm is read with its real name and thread count', async () => {
    const comm = 'x\u001b\rThreads:\t1';
    const child = spawn(process.execPath, ['-e', `require('fs').writeFileSync('/proc/self/comm', ${JSON.stringify(comm)}); console.log('ready'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
        child.stdout.once('data', () => resolve());
      });
      const status = readProcessStatus('/proc', child.pid as number);
      expect(status).toMatchObject({ name: comm, kernel: false });
      // Node's main thread plus its V8 and libuv threads: well above the faked 1.
      expect((status as { threads: number }).threads).toBeGreaterThan(1);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('comm names', () => {
  test('are unescaped once: the kernel writes "\\\\" for a backslash and "\\n" for a newline', () => {
    // comm `a\n` (backslash, n) is written by the kernel as `a\\n`; a newline in comm as `\n`.
    expect(parseStatus(7, 'Name:\ta\\\\n\nThreads:\t1\n')).toMatchObject({ name: 'a\\n' });
    expect(parseStatus(7, 'Name:\ta\\nb\nThreads:\t1\n')).toMatchObject({ name: 'a\nb' });
    expect(parseStatus(7, 'Name:\t\\\\\\\\\nThreads:\t1\n')).toMatchObject({ name: '\\\\' });
  });
});

describe('Threads values', () => {
  test.each(['9007199254740993', '99999999999999999999', '1e3', '-1', ''])('Threads: %j is unreadable, not a count', (value) => {
    expect(parseStatus(7, `Name:\tx\nThreads:\t${value}\n`)).toEqual({ problem: expect.stringContaining('Threads') });
  });

  test('a process with such a value is skipped and reported, and the others are counted', () => {
    const { proc, cgroupRoot } = node([
      { pid: 1, name: 'init', threads: 1, argv: ['/sbin/init'] },
      { pid: 50, name: 'app', threads: 10, argv: ['/app'] },
    ]);
    writeFileSync(join(proc, '50/status'), 'Name:\tapp\nPPid:\t1\nThreads:\t9007199254740993\n');
    const scan = scanNode({ procRoot: proc, cgroupRoot, pods: [], top: 5 });
    expect(scan.top.map((process) => process.pid)).toEqual([1]);
    expect(scan.unreadableProcesses).toBe(1);
    expect(scan.unreadableExamples).toEqual([{ pid: 50, problem: expect.stringContaining('Threads') }]);
  });
});

describe('files that are not regular files', () => {
  function mkfifo(path: string): void {
    rmSync(path, { force: true });
    const made = spawnSync('mkfifo', [path]);
    if (made.status !== 0) throw new Error(`mkfifo ${path} failed: ${made.stderr}`);
  }

  test('a FIFO status and a FIFO pids.max do not hang the scan; both are reported', () => {
    const { proc, cgroupRoot } = node([
      { pid: 1, name: 'init', threads: 1, argv: ['/sbin/init'] },
      { pid: 60, name: 'fifo', threads: 1, argv: ['/fifo'] },
      { pid: 4242, name: 'app', threads: 25000, argv: ['/app'], cgroup: CONTAINER },
    ]);
    mkfifo(join(proc, '60/status'));
    mkfifo(join(cgroupRoot, POD_PATH, 'pids.max'));
    const run = runNodeChild(['--proc', proc, '--cgroup-root', cgroupRoot, '--json']);
    expect(run.signal).toBeNull();
    expect(run.code).toBe(2);
    const report = JSON.parse(run.stdout);
    expect(report.processes).toMatchObject({ count: 2, unreadable: 1, unreadableExamples: [{ pid: 60, problem: expect.stringMatching(/not a regular file \(FIFO\)/) }] });
    const pod = report.pods.find((candidate: { uid: string }) => candidate.uid === POD_UID);
    expect(pod.pids).toEqual({ current: 25001 });
  });

  test('a status that is a directory is skipped and reported, not a crash (exit 70)', () => {
    const { proc, cgroupRoot } = node([
      { pid: 1, name: 'init', threads: 1, argv: ['/sbin/init'] },
      { pid: 4242, name: 'app', threads: 25000, argv: ['/app'], cgroup: CONTAINER },
    ]);
    mkdirSync(join(proc, '70/status'), { recursive: true });
    const run = runNodeChild(['--proc', proc, '--cgroup-root', cgroupRoot]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(/1 unreadable \(PID 70: \S*\/70\/status is not a regular file \(directory\)/);
  });
});
