// The one input reader: documents know their source and index, every problem
// is one error type (InputError) that the CLI reports as exit 2, naming the file,
// whichever file it was (config, namespaces file, pods file, manifests).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/cli/config-file.js';
import { loadNamespacesFile } from '../../../src/kube/namespace-file.js';
import { readPodsFile } from '../../../src/node/pods.js';
import { InputBudget, InputError, readDocuments, readDocumentsSync, readOneDocument } from '../../../src/input/yaml-input.js';
import { runCli } from '../cli/run-cli.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pidguard-documents-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const budget = () => new InputBudget(1 << 20, 10, 'test');

test('documents carry their source and index, async and sync alike', async () => {
  const path = join(dir, 'two.yaml');
  writeFileSync(path, 'a: 1\n---\nb: 2\n');
  const expected = [{ source: path, index: 0, value: { a: 1 } }, { source: path, index: 1, value: { b: 2 } }];
  expect(await readDocuments(path, { budget: budget() })).toEqual(expected);
  expect(readDocumentsSync(path, { budget: budget() })).toEqual(expected);
});

test('a one-document file: its value, null when empty, an error naming the second document', async () => {
  writeFileSync(join(dir, 'one.yaml'), 'a: 1\n');
  writeFileSync(join(dir, 'empty.yaml'), '');
  writeFileSync(join(dir, 'two.yaml'), 'a: 1\n---\nb: 2\n');
  const one = () => new InputBudget(1 << 20, 1, 'one document');
  expect(await readOneDocument(join(dir, 'one.yaml'), { budget: one() })).toEqual({ a: 1 });
  expect(await readOneDocument(join(dir, 'empty.yaml'), { budget: one() })).toBeNull();
  await expect(readOneDocument(join(dir, 'two.yaml'), { budget: one(), label: 'thing two.yaml' })).rejects.toThrow(new InputError('thing two.yaml: document 1: more than 1 documents and List items in total'));
});

test('every reader fails with InputError naming the file, for unreadable and for wrong content', async () => {
  writeFileSync(join(dir, 'config.yaml'), 'defaultMode: sometimes\n');
  writeFileSync(join(dir, 'namespaces.yaml'), '- a\n');
  writeFileSync(join(dir, 'pods.yaml'), 'kind: Deployment\n');
  await expect(loadConfig(join(dir, 'config.yaml'))).rejects.toThrow(InputError);
  await expect(loadConfig(join(dir, 'nope.yaml'))).rejects.toThrow(InputError);
  await expect(loadNamespacesFile(join(dir, 'namespaces.yaml'))).rejects.toThrow(new InputError(`namespaces file ${join(dir, 'namespaces.yaml')}: must be a mapping of namespace names to labels, or a NamespaceList`));
  expect(() => readPodsFile(join(dir, 'pods.yaml'))).toThrow(new InputError(`${join(dir, 'pods.yaml')}: item 0 is not a Pod (kind: Deployment)`));
  expect(() => readPodsFile(join(dir, 'nope.yaml'))).toThrow(InputError);
});

test('the CLI prints an input error inert on a terminal, exit 2', async () => {
  writeFileSync(join(dir, 'pods.yaml'), 'kind: "Pod\\u001b]0;pwn\\u0007"\n');
  const run = await runCli(['node', '--pods-file', join(dir, 'pods.yaml'), '--proc', join(dir, 'no-proc')]);
  expect(run.code).toBe(2);
  expect(run.stderr).toContain('(kind: Pod\\x1b]0;pwn\\x07)');
  expect(run.stderr).not.toContain('\u001b');
});
