// The pids controller's files of one cgroup: read its usage and limit, and
// lower its limit. Same names on cgroup v1 and v2 (pids.events exists on v1
// since Linux 4.x and holds the same `max <n>` line).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSmallFile } from './procfs.js';

export interface PidsUsage {
  /** Tasks in the cgroup and its descendants. */
  current?: number;
  /** The limit; 'max' means unlimited. */
  max?: number | 'max';
  /** Forks/clones refused because the limit was reached (pids.events `max`). */
  refusedForks?: number;
}

function parseCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  return /^\d+$/.test(trimmed) ? Number(trimmed) : undefined;
}

export function parsePidsMax(text: string | undefined): number | 'max' | undefined {
  if (text === undefined) return undefined;
  return text.trim() === 'max' ? 'max' : parseCount(text);
}

export function parseRefusedForks(eventsText: string | undefined): number | undefined {
  const match = eventsText === undefined ? null : /^max (\d+)$/m.exec(eventsText);
  return match ? Number(match[1]) : undefined;
}

/** Reads pids.current, pids.max and pids.events; fields are absent when a file is. */
export function readPidsUsage(dir: string): PidsUsage {
  const usage: PidsUsage = {};
  const current = parseCount(readSmallFile(join(dir, 'pids.current')));
  const max = parsePidsMax(readSmallFile(join(dir, 'pids.max')));
  const refused = parseRefusedForks(readSmallFile(join(dir, 'pids.events')));
  if (current !== undefined) usage.current = current;
  if (max !== undefined) usage.max = max;
  if (refused !== undefined) usage.refusedForks = refused;
  return usage;
}

/** Writes a limit into pids.max. The caller decides it is a lowering. */
export function writePidsMax(dir: string, limit: number): void {
  writeFileSync(join(dir, 'pids.max'), `${limit}\n`);
}

/** True when `limit` is strictly lower than the current setting ('max' is unlimited). */
export function lowers(limit: number, current: number | 'max'): boolean {
  return current === 'max' || limit < current;
}
