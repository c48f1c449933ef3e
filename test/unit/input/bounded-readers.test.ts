// Every YAML file pidguard reads goes through the one bounded reader
// (src/input/yaml-input.ts): the webhook's --namespaces-file, the node tools'
// kubeconfig and --pods-file as well as evaluate's manifests and the config.
// A file past its byte cap fails before it is parsed, naming the file; an
// alias bomb or a wrong-typed field fails with the edge's own error, never a
// TypeError (exit 70) or an unbounded read.

import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNamespacesFile, MAX_NAMESPACES_FILE_BYTES } from '../../../src/kube/namespace-file.js';
import { endpointFor, KubeconfigError, MAX_KUBECONFIG_BYTES } from '../../../src/kube/kubeconfig.js';
import { MAX_PODS_FILE_BYTES, readPodsFile } from '../../../src/node/pods.js';
import { InputError } from '../../../src/input/yaml-input.js';

const loadEndpoint = (path: string) => endpointFor({ kind: 'kubeconfig', path, from: '--kubeconfig' });
import { runCli } from '../cli/run-cli.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pidguard-bounded-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A sparse file one byte past `cap`: its size is checked before it is read. */
function oversized(name: string, cap: number): string {
  const path = join(dir, name);
  writeFileSync(path, 'a: 1\n');
  truncateSync(path, cap + 1);
  return path;
}

const aliasBomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...'bcdefghij'.split('').map((name, index) => {
  const previous = String.fromCharCode(97 + index);
  return `${name}: &${name} [*${previous},*${previous},*${previous},*${previous},*${previous},*${previous},*${previous},*${previous},*${previous},*${previous}]`;
})].join('\n');

describe('--namespaces-file', () => {
  test('a file past the cap fails before it is parsed', async () => {
    const path = oversized('ns.yaml', MAX_NAMESPACES_FILE_BYTES);
    await expect(loadNamespacesFile(path)).rejects.toThrow(new InputError(`namespaces file ${path}: the input exceeds ${MAX_NAMESPACES_FILE_BYTES} bytes in total; a namespaces file holds labels only`));
  });

  test('an alias bomb and a second document are errors naming the file', async () => {
    writeFileSync(join(dir, 'bomb.yaml'), aliasBomb);
    await expect(loadNamespacesFile(join(dir, 'bomb.yaml'))).rejects.toThrow(InputError);
    writeFileSync(join(dir, 'two.yaml'), 'a: {}\n---\nb: {}\n');
    await expect(loadNamespacesFile(join(dir, 'two.yaml'))).rejects.toThrow(/two\.yaml: .*document 1/);
  });
});

describe('kubeconfig', () => {
  test('a file past the cap is a KubeconfigError naming it', () => {
    const path = oversized('config', MAX_KUBECONFIG_BYTES);
    expect(() => loadEndpoint(path)).toThrow(KubeconfigError);
    expect(() => loadEndpoint(path)).toThrow(/exceeds/);
  });

  test('an alias bomb, or contexts that are not a list, is a KubeconfigError, not a TypeError', () => {
    writeFileSync(join(dir, 'bomb'), aliasBomb);
    expect(() => loadEndpoint(join(dir, 'bomb'))).toThrow(KubeconfigError);
    for (const [name, text] of [['contexts', 'current-context: c\ncontexts: 5\n'], ['clusters', 'current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nclusters: {k: 1}\n'], ['scalar', '42\n']]) {
      writeFileSync(join(dir, name as string), text as string);
      expect(() => loadEndpoint(join(dir, name as string))).toThrow(KubeconfigError);
    }
  });

  test('a certificate file without end (/dev/zero) or a server that is not a URL is a KubeconfigError', () => {
    const config = (cluster: string) => `current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: ${cluster}}]\nusers: [{name: u, user: {token: t}}]\n`;
    writeFileSync(join(dir, 'zero'), config('{server: "https://127.0.0.1:1", certificate-authority: /dev/zero}'));
    expect(() => loadEndpoint(join(dir, 'zero'))).toThrow(/\/dev\/zero: the input exceeds/);
    writeFileSync(join(dir, 'url'), config('{server: "not a url"}'));
    expect(() => loadEndpoint(join(dir, 'url'))).toThrow(new KubeconfigError(`kubeconfig ${join(dir, 'url')}: cluster "k" server "not a url" is not a URL`));
  });

  test('`pidguard node` with a kubeconfig whose contexts are not a list reports it and goes on (never exit 70)', async () => {
    writeFileSync(join(dir, 'config'), 'current-context: c\ncontexts: 5\n');
    const run = await runCli(['node', '--proc', join(dir, 'none'), '--kubeconfig', join(dir, 'config')]);
    expect(run.code).not.toBe(70);
    expect(run.stderr).not.toContain('unexpected error');
  });
});

describe('--pods-file', () => {
  test('a file past the cap fails before it is parsed', () => {
    const path = oversized('pods.yaml', MAX_PODS_FILE_BYTES);
    expect(() => readPodsFile(path)).toThrow(InputError);
    expect(() => readPodsFile(path)).toThrow(/exceeds/);
  });

  test('an alias bomb is a InputError naming the file', () => {
    writeFileSync(join(dir, 'bomb.yaml'), aliasBomb);
    expect(() => readPodsFile(join(dir, 'bomb.yaml'))).toThrow(InputError);
  });
});
