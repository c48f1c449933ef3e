// A throwaway pids cgroup tree for the live tests, the replay and the
// benchmark: a uniquely named root under the machine's pids hierarchy (v1
// /sys/fs/cgroup/pids, or v2 /sys/fs/cgroup with the pids controller), made
// into node- and pod-shaped children, removed deepest first afterwards. The
// agent never uses this: it only reads cgroup files and writes pids.max.

import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPidsUsage, type PidsUsage } from '../src/node/pids-cgroup.js';

export class CgroupSandboxError extends Error {}

export class CgroupSandbox {
  private readonly created: string[] = [];

  private constructor(
    /** The cgroup mount root the agent should be given (--cgroup-root). */
    readonly cgroupRoot: string,
    readonly version: 'v1' | 'v2',
    /** Path of the sandbox root inside the pids hierarchy, e.g. /pidguard-test-1a2b3c. */
    readonly rootPath: string,
  ) {}

  /** Creates /<prefix>-<random> in the pids hierarchy; fails with a message saying why it cannot. */
  static create(prefix: string, cgroupRoot = '/sys/fs/cgroup'): CgroupSandbox {
    const v1 = join(cgroupRoot, 'pids');
    let version: 'v1' | 'v2';
    if (existsSync(join(v1, 'cgroup.procs'))) version = 'v1';
    else if (readOptional(join(cgroupRoot, 'cgroup.controllers'))?.split(/\s+/).includes('pids')) version = 'v2';
    else throw new CgroupSandboxError(`no pids cgroup hierarchy at ${v1} (v1) or ${cgroupRoot} (v2 with the pids controller)`);
    const hierarchy = version === 'v1' ? v1 : cgroupRoot;
    try {
      accessSync(hierarchy, constants.W_OK);
    } catch {
      throw new CgroupSandboxError(`the pids cgroup hierarchy ${hierarchy} is not writable by this user (uid ${process.getuid?.()}): run as root`);
    }
    const sandbox = new CgroupSandbox(cgroupRoot, version, `/${prefix}-${randomBytes(4).toString('hex')}`);
    sandbox.mkdir('');
    return sandbox;
  }

  /** Absolute directory of a path relative to the sandbox root. */
  dir(relative: string): string {
    return join(this.version === 'v1' ? join(this.cgroupRoot, 'pids') : this.cgroupRoot, this.rootPath, relative);
  }

  /** Path as /proc/<pid>/cgroup shows it. */
  cgroupPath(relative: string): string {
    return join(this.rootPath, relative);
  }

  /** Creates a cgroup and its missing parents. */
  mkdir(relative: string): string {
    const parts = relative.split('/').filter(Boolean);
    for (let depth = 0; depth <= parts.length; depth += 1) {
      const dir = this.dir(parts.slice(0, depth).join('/'));
      if (existsSync(dir)) continue;
      if (this.version === 'v2') enableV2Pids(join(dir, '..'));
      try {
        mkdirSync(dir);
      } catch (error) {
        throw new CgroupSandboxError(`cannot create cgroup ${dir}: ${(error as Error).message}`);
      }
      this.created.push(dir);
    }
    return this.dir(relative);
  }

  setMax(relative: string, max: number | 'max'): void {
    writeFileSync(join(this.dir(relative), 'pids.max'), `${max}\n`);
  }

  /** Moves a whole process (all its threads) into a cgroup. */
  attach(relative: string, pid: number): void {
    writeFileSync(join(this.dir(relative), 'cgroup.procs'), `${pid}\n`);
  }

  usage(relative: string): PidsUsage {
    return readPidsUsage(this.dir(relative));
  }

  /** Removes every cgroup created, deepest first. Its processes must be dead; retries while the kernel reaps them. */
  async remove(): Promise<string[]> {
    const problems: string[] = [];
    for (const dir of [...this.created].reverse()) {
      for (let attempt = 0; ; attempt += 1) {
        try {
          if (existsSync(dir)) rmdirSync(dir);
          break;
        } catch (error) {
          if (attempt >= 50) {
            problems.push(`${dir}: ${(error as Error).message}`);
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    }
    return problems;
  }
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function enableV2Pids(parent: string): void {
  const control = join(parent, 'cgroup.subtree_control');
  if (!readOptional(control)?.split(/\s+/).includes('pids')) writeFileSync(control, '+pids\n');
}
