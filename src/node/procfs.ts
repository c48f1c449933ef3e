// Reading /proc the way a starving node allows: a handful of small files per
// process (status, cmdline, cgroup), never one per thread, synchronously into
// one reused buffer so a scan of hundreds of processes allocates almost
// nothing and needs no libuv pool thread.

import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';

/** Node-wide files could not be read: the report would be meaningless (exit 3). */
export class ProcUnreadableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProcUnreadableError';
  }
}

/** The node's task budget, computed like the kubelet (pkg/kubelet/stats/pidlimit). */
export interface NodeTasks {
  pidMax: number;
  threadsMax: number;
  /** min(pid_max, threads-max): the number of tasks the node can hold. */
  ceiling: number;
  ceilingSource: 'kernel.pid_max' | 'kernel.threads-max';
  /** All tasks (threads included): the denominator of field 4 of /proc/loadavg. */
  tasks: number;
}

/** One process as read from /proc/<pid>/status (+ cgroup). */
export interface ProcessStatus {
  pid: number;
  name: string;
  threads: number;
  /** A kernel thread (kthreadd or its children): in no cgroup worth reading. */
  kernel: boolean;
}

// /proc files of interest are small (status ~1.5 KiB, cgroup < 1 KiB with v1's
// dozen lines); cmdline can be long, and only its start is shown.
const READ_LIMIT = 16 * 1024;
const buffer = Buffer.allocUnsafe(READ_LIMIT);

// Errors that mean "this process is gone or not ours to read": normal during a scan.
const VANISHED = new Set(['ENOENT', 'ESRCH', 'EACCES', 'EPERM', 'EINVAL', 'ENOTDIR']);

/**
 * The start of a small file (up to 16 KiB), or undefined when the file vanished
 * or may not be read. Other errors (EMFILE, EIO) are thrown: they are not normal.
 */
export function readSmallFile(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if (VANISHED.has((error as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw error;
  }
  try {
    let length = 0;
    // procfs answers in page-sized chunks; read until EOF or the buffer is full.
    for (;;) {
      const read = readSync(fd, buffer, length, READ_LIMIT - length, null);
      if (read === 0) break;
      length += read;
      if (length === READ_LIMIT) break;
    }
    return buffer.toString('utf8', 0, length);
  } catch (error) {
    if (VANISHED.has((error as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw error;
  } finally {
    closeSync(fd);
  }
}

function readRequired(path: string, what: string): string {
  let text: string | undefined;
  try {
    text = readSmallFile(path);
  } catch (error) {
    throw new ProcUnreadableError(`cannot read ${what} (${path}): ${(error as Error).message}`);
  }
  if (text === undefined) throw new ProcUnreadableError(`cannot read ${what} (${path}): missing or not readable`);
  return text;
}

function parseWhole(text: string, path: string): number {
  const value = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
    throw new ProcUnreadableError(`${path} does not hold a whole number: "${text.trim().slice(0, 40)}"`);
  }
  return value;
}

/** Parses /proc/loadavg ("0.00 0.01 0.05 2/31635 30855"): the total task count. */
export function parseLoadavgTasks(text: string, path = 'loadavg'): number {
  const field = text.trim().split(/\s+/)[3];
  const match = field ? /^(\d+)\/(\d+)$/.exec(field) : null;
  if (!match) throw new ProcUnreadableError(`${path}: field 4 is not "running/total": "${text.trim().slice(0, 80)}"`);
  return Number(match[2]);
}

export function readNodeTasks(procRoot: string): NodeTasks {
  const pidMaxPath = join(procRoot, 'sys/kernel/pid_max');
  const threadsMaxPath = join(procRoot, 'sys/kernel/threads-max');
  const loadavgPath = join(procRoot, 'loadavg');
  const pidMax = parseWhole(readRequired(pidMaxPath, 'kernel.pid_max'), pidMaxPath);
  const threadsMax = parseWhole(readRequired(threadsMaxPath, 'kernel.threads-max'), threadsMaxPath);
  const tasks = parseLoadavgTasks(readRequired(loadavgPath, 'the task count'), loadavgPath);
  return {
    pidMax,
    threadsMax,
    ceiling: Math.min(pidMax, threadsMax),
    ceilingSource: threadsMax < pidMax ? 'kernel.threads-max' : 'kernel.pid_max',
    tasks,
  };
}

/** Every process id under procRoot (thread ids are not listed in /proc, only in task/). */
export function listProcessIds(procRoot: string): number[] {
  let names: string[];
  try {
    names = readdirSync(procRoot);
  } catch (error) {
    throw new ProcUnreadableError(`cannot list ${procRoot}: ${(error as Error).message}`);
  }
  const pids: number[] = [];
  for (const name of names) {
    const first = name.charCodeAt(0);
    if (first >= 48 && first <= 57 && /^\d+$/.test(name)) pids.push(Number(name));
  }
  return pids;
}

/** Name and Threads from /proc/<pid>/status; undefined if the text lacks them. */
export function parseStatus(pid: number, text: string): ProcessStatus | undefined {
  const nameMatch = /^Name:\t(.*)$/m.exec(text);
  const threadsMatch = /^Threads:\s*(\d+)$/m.exec(text);
  if (!nameMatch || !threadsMatch) return undefined;
  const ppid = /^PPid:\s*(\d+)$/m.exec(text)?.[1];
  return { pid, name: unescapeStatusName(nameMatch[1] ?? ''), threads: Number(threadsMatch[1]), kernel: pid === 2 || ppid === '2' };
}

// The kernel escapes "\n" and "\\" in status's Name field.
function unescapeStatusName(name: string): string {
  return name.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
}

// Paths are concatenated, not path.join()ed: join is measurable on a scan of hundreds of processes.
export function readProcessStatus(procRoot: string, pid: number): ProcessStatus | undefined {
  const text = readSmallFile(`${procRoot}/${pid}/status`);
  return text === undefined ? undefined : parseStatus(pid, text);
}

/** argv of a process ([] for kernel threads and zombies, undefined if gone). */
export function readCmdline(procRoot: string, pid: number): string[] | undefined {
  const text = readSmallFile(`${procRoot}/${pid}/cmdline`);
  if (text === undefined) return undefined;
  const args = text.split('\0');
  if (args.at(-1) === '') args.pop();
  return args;
}

export function readProcessCgroup(procRoot: string, pid: number): string | undefined {
  return readSmallFile(`${procRoot}/${pid}/cgroup`);
}

/** Threads and resident memory of the calling process (the agent watches its own). */
export function ownTaskUsage(): { threads: number; residentBytes: number } | undefined {
  const text = readSmallFile('/proc/self/status');
  const threads = text ? /^Threads:\s*(\d+)$/m.exec(text) : null;
  const rss = text ? /^VmRSS:\s*(\d+) kB$/m.exec(text) : null;
  return threads && rss ? { threads: Number(threads[1]), residentBytes: Number(rss[1]) * 1024 } : undefined;
}
