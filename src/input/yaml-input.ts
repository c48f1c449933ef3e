// The one reader of user-supplied files (manifests for `evaluate`, the policy
// config, the node tools' pods file and kubeconfig, the webhook's namespaces
// file, audit's node reports): bounded before anything is parsed, read as
// documents that know their source and index. A byte budget is checked
// against a file's size before it is opened and counted while it is read (stdin
// and pipes have no size), documents are composed one at a time (never the
// whole file's syntax tree at once), aliases are expanded at most MAX_ALIAS_COUNT
// times, and every failure is an InputError naming the file and the document
// index (the CLI exits 2 on it).

import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Composer, LineCounter, Parser, type YAMLError } from 'yaml';

/** Input that cannot be read, parsed or accepted within its budget; its message names the file (and the document). */
export class InputError extends Error {
  /** The errno code (ENOENT, EACCES) when the file could not be opened or read. */
  code?: string;

  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** yaml's own default, stated: an alias bomb ("billion laughs") fails instead of expanding. */
const MAX_ALIAS_COUNT = 100;

/** Limits shared by every file of one run. */
export class InputBudget {
  private bytes = 0;
  private documents = 0;

  /** `raiseBytes` ends the error when maxBytes is exceeded: how to raise it. */
  constructor(
    readonly maxBytes: number,
    readonly maxDocuments: number,
    private readonly raiseBytes: string,
  ) {}

  /** Throws, before anything is read, when a file of `size` bytes would exceed maxBytes. */
  checkSize(source: string, size: number): void {
    if (this.bytes + size > this.maxBytes) throw this.tooLarge(source);
  }

  /** Counts `count` bytes of `source`; throws once the run's inputs exceed maxBytes. */
  takeBytes(source: string, count: number): void {
    this.bytes += count;
    if (this.bytes > this.maxBytes) throw this.tooLarge(source);
  }

  private tooLarge(source: string): InputError {
    return new InputError(`${source}: the input exceeds ${this.maxBytes} bytes in total; ${this.raiseBytes}`);
  }

  /** Counts one YAML document or List item; throws past maxDocuments. */
  takeDocument(source: string, index: number): void {
    this.documents += 1;
    if (this.documents > this.maxDocuments) {
      throw new InputError(`${source}: document ${index}: more than ${this.maxDocuments} documents and List items in total`);
    }
  }
}

/** How a source is named in messages: `stdin` for `-`, else its path. */
export function sourceName(path: string): string {
  return path === '-' ? 'stdin' : path;
}

/**
 * The text of `path` (`-` = `stdin`), counted against `budget`. A regular file
 * larger than what is left fails before it is opened; anything else (stdin, a
 * pipe such as `<(helm template ...)`) fails as soon as it has sent too much.
 */
export async function readInputText(path: string, stdin: NodeJS.ReadableStream | undefined, budget: InputBudget, label = sourceName(path)): Promise<string> {
  let stream: NodeJS.ReadableStream;
  if (path === '-' && stdin) {
    stream = stdin;
  } else {
    const info = await stat(path).catch((error: unknown) => {
      throw cannotRead(label, error);
    });
    if (info.isDirectory()) throw new InputError(`${label}: is a directory`);
    if (info.isFile()) budget.checkSize(label, info.size);
    stream = createReadStream(path);
  }
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of stream) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      budget.takeBytes(label, buffer.length);
      chunks.push(buffer);
    }
  } catch (error) {
    if (stream !== stdin) (stream as NodeJS.ReadableStream & { destroy(): void }).destroy();
    if (error instanceof InputError) throw error;
    throw cannotRead(label, error);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * readInputText for the synchronous edges (the node tools' kubeconfig and pods
 * file): the same budget, read in chunks so that a pipe cannot send more than it allows.
 */
export function readInputTextSync(path: string, budget: InputBudget, label = path): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw cannotRead(label, error);
  }
  try {
    const info = fstatSync(fd);
    if (info.isDirectory()) throw new InputError(`${label}: is a directory`);
    if (info.isFile()) budget.checkSize(label, info.size);
    const chunks: Buffer[] = [];
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const count = readSync(fd, chunk);
      if (count === 0) break;
      budget.takeBytes(label, count);
      chunks.push(chunk.subarray(0, count));
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw cannotRead(label, error);
  } finally {
    closeSync(fd);
  }
}

/** One YAML (or JSON) document of an input. */
export interface InputDocument {
  /** File path, or `-` for stdin. */
  source: string;
  /** 0-based index of the document within its source. */
  index: number;
  value: unknown;
}

export interface InputOptions {
  budget: InputBudget;
  /** How messages name the input (`config ./pidguard.yaml`); sourceName(path) by default. */
  label?: string;
  /** What `-` reads. */
  stdin?: NodeJS.ReadableStream;
}

/** Every document of `path` (`-` = stdin), read and parsed within the budget. */
export async function readDocuments(path: string, options: InputOptions): Promise<InputDocument[]> {
  const label = options.label ?? sourceName(path);
  return parseDocuments(await readInputText(path, options.stdin, options.budget, label), path, label, options.budget);
}

/** readDocuments for the synchronous edges (the node tools' pods file and kubeconfig). */
export function readDocumentsSync(path: string, options: Omit<InputOptions, 'stdin'>): InputDocument[] {
  const label = options.label ?? sourceName(path);
  return parseDocuments(readInputTextSync(path, options.budget, label), path, label, options.budget);
}

/**
 * The value of a file that holds one document (the config, the namespaces file;
 * give them a budget of one document): null when the file is empty.
 */
export async function readOneDocument(path: string, options: InputOptions): Promise<unknown> {
  const [document] = await readDocuments(path, options);
  return document?.value ?? null;
}

/** The documents of `text`, which came from `source` (named `label` in messages). */
export function parseDocuments(text: string, source: string, label: string, budget: InputBudget): InputDocument[] {
  const documents: InputDocument[] = [];
  forEachYamlDocument(text, label, budget, (value, index) => void documents.push({ source, index, value }));
  return documents;
}

/**
 * Calls `visit` with each document of `text` as plain data, in order, composing
 * one document at a time. An unparseable document, an alias bomb or nesting
 * too deep for the parser fails naming `label` and the document index.
 */
export function forEachYamlDocument(text: string, label: string, budget: InputBudget, visit: (value: unknown, index: number) => void): void {
  const lines = new LineCounter();
  const documents = new Composer({ prettyErrors: false }).compose(new Parser(lines.addNewLine).parse(text));
  for (let index = 0; ; index += 1) {
    let next;
    try {
      next = documents.next();
    } catch (error) {
      // The parser itself recursing too deep on pathological nesting.
      throw documentError(label, index, (error as Error).message);
    }
    if (next.done) return;
    budget.takeDocument(label, index);
    const document = next.value;
    const problem = document.errors[0];
    if (problem) throw documentError(label, index, positioned(problem, lines));
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      // An alias bomb (ReferenceError) or nesting deeper than the stack (RangeError).
      throw documentError(label, index, (error as Error).message);
    }
    visit(value, index);
  }
}

export function documentError(label: string, index: number, problem: string): InputError {
  return new InputError(`${label}: document ${index}: ${problem}`);
}

function positioned(error: YAMLError, lines: LineCounter): string {
  const message = error.message.split('\n')[0] ?? 'invalid YAML';
  const { line, col } = lines.linePos(error.pos[0]);
  return `${message} at line ${line}, column ${col}`;
}

export function cannotRead(label: string, error: unknown): InputError {
  const { code } = error as NodeJS.ErrnoException;
  const problem = new InputError(`cannot read ${label}: ${code ?? (error as Error).message}`);
  if (code !== undefined) problem.code = code;
  return problem;
}
