// The pids controller's files of one cgroup: read its usage and limit, and
// lower its limit. Same names on cgroup v1 and v2. pids.events' `max` line
// counts refused forks, but where depends on the kernel: cgroup v1 (and v2
// before Linux 6.12) counts a refusal in the cgroup of the task that forked,
// i.e. the container's leaf cgroup, not the pod cgroup whose limit refused it
// (seen on this machine's v1 hierarchy); v2 on newer kernels counts it
// hierarchically at the pod level too. So a pod's refusals are the larger of
// its own count and the sum over its child cgroups.

import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafeWhole, readSmallFile } from './procfs.js';

export interface PidsUsage {
  /** Tasks in the cgroup and its descendants. */
  current?: number;
  /** The limit; 'max' means unlimited. */
  max?: number | 'max';
  /** Forks/clones refused because the limit was reached (pids.events `max`). */
  refusedForks?: number;
  /** The most tasks the cgroup ever held (pids.peak: cgroup v2 since Linux 6.1; absent on v1). */
  peak?: number;
}

/** A pids.current-style count: a whole number within Number's exact range, else undefined. */
export function parseCount(text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseSafeWhole(text.trim());
}

export function parsePidsMax(text: string | undefined): number | 'max' | undefined {
  if (text === undefined) return undefined;
  return text.trim() === 'max' ? 'max' : parseCount(text);
}

export function parseRefusedForks(eventsText: string | undefined): number | undefined {
  const match = eventsText === undefined ? null : /^max (\d+)$/m.exec(eventsText);
  return match ? Number(match[1]) : undefined;
}

/**
 * Reads pids.current, pids.max, pids.peak and refused forks (see above); fields are absent
 * when a file is. A cgroup whose pids.max is "max" has no limit of its own to
 * refuse forks with, so its pids.events files are not read (a scan of a node
 * with hundreds of pods saves two opens and a readdir per pod).
 */
export function readPidsUsage(dir: string): PidsUsage {
  const usage: PidsUsage = {};
  const current = parseCount(readSmallFile(`${dir}/pids.current`));
  const max = parsePidsMax(readSmallFile(`${dir}/pids.max`));
  const peak = parseCount(readSmallFile(`${dir}/pids.peak`));
  if (current !== undefined) usage.current = current;
  if (max !== undefined) usage.max = max;
  if (peak !== undefined) usage.peak = peak;
  if (max === 'max') usage.refusedForks = 0;
  else if (max !== undefined) {
    const own = parseRefusedForks(readSmallFile(`${dir}/pids.events`));
    if (own !== undefined) usage.refusedForks = Math.max(own, childRefusedForks(dir));
  }
  return usage;
}

function childRefusedForks(dir: string): number {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  let total = 0;
  for (const entry of entries) {
    if (entry.isDirectory()) total += parseRefusedForks(readSmallFile(join(dir, entry.name, 'pids.events'))) ?? 0;
  }
  return total;
}

/** Writes a limit into pids.max. The caller decides it is a lowering. */
export function writePidsMax(dir: string, limit: number): void {
  writeFileSync(join(dir, 'pids.max'), `${limit}\n`);
}

/** True when `limit` is strictly lower than the current setting ('max' is unlimited). */
export function lowers(limit: number, current: number | 'max'): boolean {
  return current === 'max' || limit < current;
}
