// Reading /proc the way a starving node allows: a handful of small files per
// process (status, cmdline, cgroup), one per thread only for the few top
// processes whose thread names are asked for (and at most a fixed number of
// those), synchronously into one reused buffer so a scan of hundreds of
// processes allocates almost nothing and needs no libuv pool thread.

import { closeSync, constants, fstatSync, opendirSync, openSync, readdirSync, readSync, type Dir } from 'node:fs';
import { join } from 'node:path';
import { THREAD_NAME_LIMIT } from './thread-names.js';

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

// Errors that mean "this process is gone": normal during a scan.
const VANISHED = new Set(['ENOENT', 'ESRCH']);
// Errors that mean "there, but not ours to read as a small file": skipped and reported.
const NOT_READABLE = new Set(['EACCES', 'EPERM', 'EINVAL', 'ENOTDIR', 'EISDIR', 'ELOOP', 'ENXIO', 'EAGAIN']);
// Non-blocking so that opening a FIFO returns at once (a blocking open waits
// for a writer forever); no controlling terminal from a device node.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** Why a file gave no text: it vanished (normal mid-scan) or is not a small regular file we may read. */
export interface Unreadable {
  vanished: boolean;
  problem: string;
}

function fileType(mode: number): string {
  switch (mode & constants.S_IFMT) {
    case constants.S_IFIFO: return 'FIFO';
    case constants.S_IFDIR: return 'directory';
    case constants.S_IFCHR: return 'character device';
    case constants.S_IFBLK: return 'block device';
    case constants.S_IFSOCK: return 'socket';
    default: return 'special file';
  }
}

/**
 * The start of a small regular file (up to 16 KiB), or why there is none.
 * procfs and cgroupfs files are regular files. Anything else planted in their
 * place (a FIFO, a directory, a device) can neither block the scan nor fail
 * it: the open and every read are non-blocking (a FIFO without data answers
 * EAGAIN or end-of-file), the read is bounded, and an empty or refused read is
 * explained with fstat ("not a regular file (FIFO)"). fstat is not called on
 * the normal path: it costs more than the read of a small procfs file.
 * Errors that are not about this one file (EMFILE, EIO) are thrown.
 */
export function readSmallFileOrWhy(path: string): string | Unreadable {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (error) {
    return unreadableOrThrow(error, path);
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
    return length === 0 ? (notRegular(fd, path) ?? '') : buffer.toString('utf8', 0, length);
  } catch (error) {
    return notRegular(fd, path) ?? unreadableOrThrow(error, path);
  } finally {
    closeSync(fd);
  }
}

function notRegular(fd: number, path: string): Unreadable | undefined {
  const { mode } = fstatSync(fd);
  return (mode & constants.S_IFMT) === constants.S_IFREG ? undefined : { vanished: false, problem: `${path} is not a regular file (${fileType(mode)})` };
}

function unreadableOrThrow(error: unknown, path: string): Unreadable {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (VANISHED.has(code)) return { vanished: true, problem: `${path} vanished` };
  if (NOT_READABLE.has(code)) return { vanished: false, problem: `${path}: ${code}` };
  throw error;
}

/** The start of a small regular file, or undefined when it vanished or cannot be read (see readSmallFileOrWhy). */
export function readSmallFile(path: string): string | undefined {
  const text = readSmallFileOrWhy(path);
  return typeof text === 'string' ? text : undefined;
}

function readRequired(path: string, what: string): string {
  let text: string | Unreadable;
  try {
    text = readSmallFileOrWhy(path);
  } catch (error) {
    throw new ProcUnreadableError(`cannot read ${what} (${path}): ${(error as Error).message}`);
  }
  if (typeof text !== 'string') throw new ProcUnreadableError(`cannot read ${what}: ${text.problem}`);
  return text;
}

function parseWhole(text: string, path: string): number {
  const value = parseSafeWhole(text.trim());
  if (value === undefined) {
    throw new ProcUnreadableError(`${path} does not hold a whole number: "${text.trim().slice(0, 40)}"`);
  }
  return value;
}

/** Parses /proc/loadavg ("0.00 0.01 0.05 2/31635 30855"): the total task count. */
export function parseLoadavgTasks(text: string, path = 'loadavg'): number {
  const field = text.trim().split(/\s+/)[3];
  const match = field ? /^(\d+)\/(\d+)$/.exec(field) : null;
  const tasks = match ? parseSafeWhole(match[2] ?? '') : undefined;
  if (tasks === undefined) throw new ProcUnreadableError(`${path}: field 4 is not "running/total": "${text.trim().slice(0, 80)}"`);
  return tasks;
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

/**
 * The value of a `Key:\t` line of a status file. Lines are found after a "\n":
 * comm (the Name line) may hold a carriage return, which a /m regex would take
 * for a line end, letting a process fake its own Threads or PPid line.
 */
function statusField(text: string, key: string): string | undefined {
  const start = text.indexOf(`\n${key}:`);
  if (start < 0) return undefined;
  const end = text.indexOf('\n', start + 1);
  return text.slice(start + key.length + 2, end < 0 ? text.length : end).trim();
}

/** A whole number within Number's exact range (2^53 - 1), else undefined. */
export function parseSafeWhole(text: string): number | undefined {
  if (!/^\d{1,16}$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Name, Threads and PPid from /proc/<pid>/status, or what is wrong with the text. */
export function parseStatus(pid: number, text: string): ProcessStatus | { problem: string } {
  if (!text.startsWith('Name:\t')) return { problem: 'status has no Name line' };
  const nameEnd = text.indexOf('\n');
  const name = unescapeStatusName(text.slice(6, nameEnd < 0 ? text.length : nameEnd));
  const rawThreads = statusField(text, 'Threads');
  const threads = rawThreads === undefined ? undefined : parseSafeWhole(rawThreads);
  if (threads === undefined) {
    return { problem: rawThreads === undefined ? 'status has no Threads line' : `status Threads is not a whole number up to 2^53: "${rawThreads.slice(0, 24)}"` };
  }
  return { pid, name, threads, kernel: pid === 2 || statusField(text, 'PPid') === '2' };
}

// The kernel escapes only "\n" (as \n) and "\\" (as \\) in status's Name
// (proc_task_name: seq_escape_str(..., "\n\\")); one left-to-right pass, so
// an escaped backslash followed by "n" stays a backslash and an "n".
function unescapeStatusName(name: string): string {
  return name.indexOf('\\') < 0 ? name : name.replace(/\\([\\n])/g, (_, escaped: string) => (escaped === 'n' ? '\n' : '\\'));
}

// Paths are concatenated, not path.join()ed: join is measurable on a scan of hundreds of processes.
export function readProcessStatus(procRoot: string, pid: number): ProcessStatus | Unreadable {
  const text = readSmallFileOrWhy(`${procRoot}/${pid}/status`);
  if (typeof text !== 'string') return text;
  const status = parseStatus(pid, text);
  return 'problem' in status ? { vanished: false, problem: status.problem } : status;
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

/** The names of a process's threads, as far as they were read. */
export interface ThreadNamesRead {
  /** Name (comm, cut to THREAD_NAME_LIMIT characters) -> threads read with it. */
  names: Map<string, number>;
  /** comm files read. */
  read: number;
  /** Threads listed but gone before their comm was read (normal). */
  vanished: number;
  /** comm files there but not usable (not a regular file, refused). */
  unreadable: number;
  /** Why task/ could not be listed, if it could not. */
  problem?: string;
}

/**
 * Threads listed per process at most: listing task/ costs more than the names
 * read (procfs makes an entry for each thread listed, ~3-20 µs here), and a
 * process may hold millions. task/ lists threads oldest first, so a bigger
 * process is sampled over its oldest 32,768 (pid_max's default).
 */
export const TASK_LIST_LIMIT = 32_768;

/**
 * The names (`task/<tid>/comm`) of at most `limit` of a process's threads,
 * spread evenly over its task/ listing: every k-th thread, k from the thread
 * count its status gave (`expected`), so a process with 21,000 threads is
 * sampled over all of them, not only its oldest. task/ is listed entry by
 * entry (no array of all thread ids) and the walk stops once `limit` names
 * are read, however many threads the process started meanwhile. Every comm
 * is read like any other file here: non-blocking, bounded.
 */
export function readThreadNames(procRoot: string, pid: number, expected: number, limit: number): ThreadNamesRead {
  const result: ThreadNamesRead = { names: new Map(), read: 0, vanished: 0, unreadable: 0 };
  const taskDir = `${procRoot}/${pid}/task`;
  // Entry i is read when floor(i * limit / spread) steps up: `limit` entries spread over `spread`.
  const spread = Math.min(Math.max(1, expected), TASK_LIST_LIMIT);
  let dir: Dir;
  try {
    dir = opendirSync(taskDir, { bufferSize: 128 });
  } catch (error) {
    const why = unreadableOrThrow(error, taskDir);
    result.problem = why.problem;
    return result;
  }
  try {
    let index = 0;
    for (let entry = dir.readSync(); entry !== null && index < TASK_LIST_LIMIT && result.read + result.vanished + result.unreadable < limit; entry = dir.readSync()) {
      const first = entry.name.charCodeAt(0);
      if (first < 48 || first > 57) continue;
      // Threads started since status was read (beyond `expected`) are all taken, up to the limit.
      const taken = index >= spread || Math.floor(((index + 1) * limit) / spread) > Math.floor((index * limit) / spread);
      index += 1;
      if (!taken) continue;
      const text = readSmallFileOrWhy(`${taskDir}/${entry.name}/comm`);
      if (typeof text !== 'string') {
        if (text.vanished) result.vanished += 1;
        else result.unreadable += 1;
        continue;
      }
      // The kernel ends comm with one newline.
      const name = (text.endsWith('\n') ? text.slice(0, -1) : text).slice(0, THREAD_NAME_LIMIT);
      result.names.set(name, (result.names.get(name) ?? 0) + 1);
      result.read += 1;
    }
  } catch (error) {
    result.problem = unreadableOrThrow(error, taskDir).problem;
  } finally {
    dir.closeSync();
  }
  return result;
}

/** Threads and resident memory of the calling process (the agent watches its own). */
export function ownTaskUsage(): { threads: number; residentBytes: number } | undefined {
  const text = readSmallFile('/proc/self/status');
  const threads = text === undefined ? undefined : parseSafeWhole(statusField(text, 'Threads') ?? '');
  const rss = text === undefined ? null : /^(\d+) kB$/.exec(statusField(text, 'VmRSS') ?? '');
  return threads !== undefined && rss ? { threads, residentBytes: Number(rss[1]) * 1024 } : undefined;
}
