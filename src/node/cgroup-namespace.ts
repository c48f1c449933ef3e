// Placing /proc/<pid>/cgroup paths in the mounted cgroup hierarchy whatever
// the reader's own cgroup namespace. The kernel shows each path relative to
// the READER's namespace root: a reader in a private cgroup namespace
// (containerd's default on cgroup v2, `unshare -C`) sees other processes as
// `/../kubepods/...` (FACTS.md), while a hostPath mount of /sys/fs/cgroup still
// shows the whole host hierarchy. Joining such a path onto the mount leaves the
// pod's directory, so the namespace root's place in the mount is found once:
// it is the directory that, with this process's own shown path appended, lists
// this process in cgroup.procs. Verified on every refresh (one small read);
// searched (breadth-first, bounded) only when that check fails. Reads only.

import { closeSync, constants, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { join, posix } from 'node:path';
import { hostNamespacePaths, parseProcessCgroups, type CgroupPathResolver, type CgroupVersion } from './cgroup-path.js';
import { readSmallFile } from './procfs.js';

export interface CgroupNamespaceOptions {
  /** A failed search is tried again only after this long (default 60 s): a search reads every cgroup.procs. */
  retryMs?: number;
  /** Directories a search visits at most (default 20,000; a node with 250 pods has a few thousand). */
  searchBudget?: number;
  now?: () => number;
}

interface RootState {
  /** The namespace root's path from the mounted hierarchy's root ('/' outside a private namespace). */
  root?: string;
  problem?: string;
  /** Verified (or searched) in the current refresh period. */
  fresh: boolean;
  /** A path that leaves the namespace could not be placed in this refresh period. */
  unplaced?: boolean;
  failedAt?: number;
}

const MAX_DEPTH = 32;

export class CgroupNamespace {
  private readonly states = new Map<CgroupVersion, RootState>();

  constructor(
    private readonly procRoot: string,
    private readonly cgroupRoot: string,
    private readonly options: CgroupNamespaceOptions = {},
  ) {}

  /** Marks the known roots for re-verification at their next use (call once per scan). */
  refresh(): void {
    for (const state of this.states.values()) {
      state.fresh = false;
      state.unplaced = false;
    }
  }

  /**
   * The path as seen from the mounted hierarchy's root. When the namespace
   * root cannot be placed, paths are taken as they are (right in the host's
   * namespace) and one that leaves the namespace (`/../`) is undefined.
   */
  readonly resolve: CgroupPathResolver = (version, path) => {
    const root = this.rootFor(version);
    if (root === undefined) {
      const shown = hostNamespacePaths(version, path);
      const state = this.states.get(version);
      if (shown === undefined && state) state.unplaced = true;
      return shown;
    }
    // A path that climbs above the mount's root cannot be inside it (join would clamp it there).
    const ups = path.split('/').filter((segment) => segment === '..').length;
    if (ups > root.split('/').filter(Boolean).length) return undefined;
    return posix.join(root, path);
  };

  /** Why paths that leave the namespace could not be placed since the last refresh, if some could not. */
  problems(): string[] {
    return [...this.states.values()].flatMap((state) => (state.unplaced && state.problem !== undefined ? [state.problem] : []));
  }

  private rootFor(version: CgroupVersion): string | undefined {
    let state = this.states.get(version);
    if (state?.fresh) return state.root;
    const now = (this.options.now ?? Date.now)();
    if (state?.failedAt !== undefined && now - state.failedAt < (this.options.retryMs ?? 60_000)) return undefined;
    state = { ...this.locateRoot(version, state?.root), fresh: true, ...(state?.unplaced ? { unplaced: true } : {}) };
    if (state.root === undefined) state.failedAt = now;
    this.states.set(version, state);
    return state.root;
  }

  private locateRoot(version: CgroupVersion, known: string | undefined): { root?: string; problem?: string } {
    const hierarchy = version === 'v1' ? join(this.cgroupRoot, 'pids') : this.cgroupRoot;
    const self = this.ownProcess(version);
    if (typeof self === 'string') return { problem: self };
    const { pid, path } = self;
    // The root found before still holds this process: one read proves it.
    if (known !== undefined && holdsProcess(join(hierarchy, known, path), pid)) return { root: known };
    // Outside a private namespace the shown path is the real one: one read proves it too.
    if (holdsProcess(join(hierarchy, path), pid)) return { root: '/' };
    const own = searchProcess(hierarchy, pid, this.options.searchBudget ?? 20_000);
    if (own === undefined) {
      return { problem: `cannot place this process's cgroup namespace in ${hierarchy}: its PID ${pid} is in no cgroup.procs there (searched ${this.options.searchBudget ?? 20_000} directories at most); paths of other pods' processes (/proc/<pid>/cgroup) cannot be resolved` };
    }
    const suffix = path === '/' ? '' : path;
    if (!own.endsWith(suffix)) return { problem: `this process is in ${own} of ${hierarchy} but shows its cgroup as ${path}: cannot place its cgroup namespace` };
    return { root: own.slice(0, own.length - suffix.length) || '/' };
  }

  private ownProcess(version: CgroupVersion): { pid: number; path: string } | string {
    let pid: number;
    try {
      pid = Number(readlinkSync(join(this.procRoot, 'self')));
    } catch (error) {
      return `cannot read ${join(this.procRoot, 'self')}: ${(error as Error).message}`;
    }
    const cgroups = parseProcessCgroups(readSmallFile(join(this.procRoot, 'self', 'cgroup')) ?? '');
    const path = version === 'v1' ? cgroups.v1Pids : cgroups.unified;
    if (!Number.isSafeInteger(pid) || path === undefined) return `cannot read this process's own ${version} cgroup from ${join(this.procRoot, 'self')}`;
    return { pid, path };
  }
}

/** The first directory (breadth-first, from the top) whose cgroup.procs lists `pid`, as a path from `hierarchy`. */
function searchProcess(hierarchy: string, pid: number, budget: number): string | undefined {
  let level = ['/'];
  let visited = 0;
  for (let depth = 0; depth < MAX_DEPTH && level.length > 0; depth += 1) {
    const next: string[] = [];
    for (const path of level) {
      if (visited >= budget) return undefined;
      visited += 1;
      const dir = join(hierarchy, path);
      if (holdsProcess(dir, pid)) return path;
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const entry of entries) if (entry.isDirectory()) next.push(posix.join(path, entry.name));
    }
    level = next;
  }
  return undefined;
}

const chunk = Buffer.allocUnsafe(64 * 1024);

/**
 * True when `dir`/cgroup.procs lists `pid`. Streamed in chunks, so the root's
 * list (one line per process of the node) costs no memory; non-blocking, so a
 * FIFO planted in a fixture cannot hang the agent.
 */
export function holdsProcess(dir: string, pid: number): boolean {
  let fd: number;
  try {
    fd = openSync(join(dir, 'cgroup.procs'), constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  const wanted = String(pid);
  let carry = '';
  try {
    for (;;) {
      const read = readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) break;
      const text = carry + chunk.toString('latin1', 0, read);
      const lines = text.split('\n');
      carry = lines.pop() ?? '';
      // No PID is longer than 7 digits: a longer unfinished line cannot be one (and stays small).
      if (carry.length > 16) carry = '-';
      if (lines.includes(wanted)) return true;
    }
    return carry === wanted;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}
