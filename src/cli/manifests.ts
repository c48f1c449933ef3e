// Reads Kubernetes manifests from files, directories or stdin: multi-document
// YAML or JSON, `kind: List` expanded. Every error names the file and the
// document index so a CI log points straight at the broken manifest.

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../policy/types.js';
import { isRecord } from '../policy/workloads.js';
import { CliError } from './io.js';

export const UNREADABLE_INPUT_EXIT = 2;

export interface Manifest {
  /** File path, or `-` for stdin. */
  source: string;
  /** 0-based document index within the source (list items share their List's index). */
  index: number;
  object: KubeObject;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

export async function readManifests(paths: string[], stdin: NodeJS.ReadableStream): Promise<Manifest[]> {
  const manifests: Manifest[] = [];
  for (const path of paths) {
    for (const file of await expand(path)) {
      const text = file === '-' ? await readAll(stdin) : await readText(file);
      manifests.push(...parseManifests(text, file));
    }
  }
  return manifests;
}

export function parseManifests(text: string, source: string): Manifest[] {
  const manifests: Manifest[] = [];
  parseAllDocuments(text).forEach((document, index) => {
    const problem = document.errors[0];
    if (problem) throw unreadable(source, index, problem.message.split('\n')[0] ?? 'invalid YAML');
    const value: unknown = document.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return; // empty document, e.g. a trailing ---
    if (!isRecord(value)) throw unreadable(source, index, 'is not a Kubernetes object (expected a mapping)');
    if (value.kind === 'List' || (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items))) {
      if (!Array.isArray(value.items)) throw unreadable(source, index, 'is a List without items');
      value.items.forEach((item, position) => {
        if (!isRecord(item)) throw unreadable(source, index, `items[${position}] is not a Kubernetes object`);
        manifests.push({ source, index, object: item as KubeObject });
      });
      return;
    }
    if (typeof value.kind !== 'string') throw unreadable(source, index, 'has no kind');
    manifests.push({ source, index, object: value as KubeObject });
  });
  return manifests;
}

async function expand(path: string): Promise<string[]> {
  if (path === '-') return ['-'];
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, UNREADABLE_INPUT_EXIT);
  }
  if (!info.isDirectory()) return [path];
  const entries = await readdir(path, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) files.push(...(await expand(child)));
    else if (MANIFEST_FILE.test(entry.name)) files.push(child);
  }
  return files;
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, UNREADABLE_INPUT_EXIT);
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function unreadable(source: string, index: number, problem: string): CliError {
  return new CliError(`${source === '-' ? 'stdin' : source}: document ${index}: ${problem}`, UNREADABLE_INPUT_EXIT);
}
