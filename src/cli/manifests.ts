// Reads Kubernetes manifests from files, directories or stdin: multi-document
// YAML or JSON, `kind: List` expanded. Every error names the file and the
// document index so a CI log points straight at the broken manifest.
//
// Directories are walked recursively with symlinks followed; each directory is
// read once (by device and inode), so a symlink loop ends there. Anything the
// walk cannot examine (a dangling symlink, no permission) and a manifest-named
// entry that is not a regular file fail the run (exit 2) naming it: a
// directory run never leaves out something that could hold manifests.

import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../policy/types.js';
import { isRecord } from '../policy/json-value.js';
import {
  cannotRead, documentError, InputError, readDocuments, sourceName, type InputBudget, type InputDocument,
} from '../input/yaml-input.js';

export interface Manifest {
  /** File path, or `-` for stdin. */
  source: string;
  /** 0-based document index within the source (list items share their List's index). */
  index: number;
  object: KubeObject;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** `note` hears about directories reached a second time (and not read again). */
export async function readManifests(paths: string[], stdin: NodeJS.ReadableStream, budget: InputBudget, note: (line: string) => void): Promise<Manifest[]> {
  const manifests: Manifest[] = [];
  const directories = new Map<string, string>();
  for (const path of paths) {
    for (const file of await expand(path, directories, note)) {
      objectsOf(await readDocuments(file, { budget, stdin }), budget, manifests);
    }
  }
  return manifests;
}

/** Appends the Kubernetes objects of `documents` to `into`, List items counted against the budget. */
function objectsOf(documents: InputDocument[], budget: InputBudget, into: Manifest[]): void {
  for (const { source, index, value } of documents) {
    const label = sourceName(source);
    if (value === null || value === undefined) continue; // empty document, e.g. a trailing ---
    if (!isRecord(value)) throw documentError(label, index, 'is not a Kubernetes object (expected a mapping)');
    if (value.kind === 'List' || (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items))) {
      if (!Array.isArray(value.items)) throw documentError(label, index, 'is a List without items');
      value.items.forEach((item, position) => {
        budget.takeDocument(label, index);
        if (!isRecord(item)) throw documentError(label, index, `items[${position}] is not a Kubernetes object`);
        into.push({ source, index, object: item as KubeObject });
      });
      continue;
    }
    if (typeof value.kind !== 'string') throw documentError(label, index, 'has no kind');
    into.push({ source, index, object: value as KubeObject });
  }
}

/** The files `path` stands for: itself, or the manifest files below it. */
async function expand(path: string, directories: Map<string, string>, note: (line: string) => void): Promise<string[]> {
  if (path === '-') return ['-'];
  const info = await examine(path);
  return info.isDirectory() ? walk(path, info, directories, note) : [path];
}

async function walk(directory: string, info: Stats, directories: Map<string, string>, note: (line: string) => void): Promise<string[]> {
  const identity = `${info.dev}:${info.ino}`;
  const first = directories.get(identity);
  if (first !== undefined) {
    note(`${directory} is ${first} again (through a symlink): read once`);
    return [];
  }
  directories.set(identity, directory);
  const names = await readdir(directory).catch((error: unknown) => {
    throw cannotRead(directory, error);
  });
  const files: string[] = [];
  for (const name of names.sort((a, b) => a.localeCompare(b))) {
    const child = join(directory, name);
    const entry = await examine(child);
    if (entry.isDirectory()) files.push(...(await walk(child, entry, directories, note)));
    else if (!MANIFEST_FILE.test(name)) continue;
    else if (entry.isFile()) files.push(child);
    else throw new InputError(`cannot read ${child}: not a regular file`);
  }
  return files;
}

/** stat, following symlinks: a dangling one fails naming the link and its target. */
async function examine(path: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (error) {
    const link = await lstat(path).catch(() => undefined);
    if (!link?.isSymbolicLink()) throw cannotRead(path, error);
    const target = await readlink(path).catch(() => '?');
    throw new InputError(`cannot read ${path}: a dangling symlink to ${target} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}
