// `pidguard evaluate` on hostile and clumsy input: every way in is bounded
// before parsing, every failure exits 2 naming the file (and document), and
// nothing the API server would reject is reported as "allowed".
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { byteSizeFlag } from '../../../src/cli/args.js';
import { runCli } from './run-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'pidguard-eval-inputs-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let directories = 0;

/** A fresh directory holding `files` (name -> content). */
function tree(files: Record<string, string> = {}): string {
  directories += 1;
  const directory = join(scratch, String(directories));
  mkdirSync(directory);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(directory, name), content);
  return directory;
}

const pod = (name: string, namespace = 'default') =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec: {containers: [{name: a, image: x, resources: {requests: {cpu: 1m}}}]}\n`;

/** Nine aliases of nine aliases ... six deep: 9^6 = 531,441 nodes from a 300-byte document. */
const ALIAS_BOMB = `a: &a [x, x, x, x, x, x, x, x, x]\n${['b', 'c', 'd', 'e', 'f']
  .map((name, i) => `${name}: &${name} [${Array(9).fill(`*${'abcde'[i]}`).join(', ')}]`)
  .join('\n')}\nkind: Pod\n`;

describe('input limits', () => {
  it('an alias bomb exits 2 naming the file and document, not 70', async () => {
    const file = join(tree({ 'bomb.yaml': `${pod('ok')}---\n${ALIAS_BOMB}` }), 'bomb.yaml');
    const { code, stdout, stderr } = await runCli(['evaluate', '-f', file]);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toBe(`pidguard evaluate: ${file}: document 1: Excessive alias count indicates a resource exhaustion attack\n`);
  });

  it('nesting deeper than the parser can take exits 2 naming the document', async () => {
    const file = join(tree({ 'deep.yaml': `${'['.repeat(100_000)}${']'.repeat(100_000)}\n` }), 'deep.yaml');
    const { code, stderr } = await runCli(['evaluate', '-f', file]);
    expect(code).toBe(2);
    expect(stderr).toMatch(new RegExp(`^pidguard evaluate: ${file}: document 0: Maximum call stack size exceeded`));
  });

  it('a file over the default 16 MiB is refused by its size, before it is parsed', async () => {
    const file = join(tree({ 'huge.yaml': `# ${'x'.repeat(16 * 1024 * 1024)}\n${pod('p')}` }), 'huge.yaml');
    const { code, stdout, stderr } = await runCli(['evaluate', '-f', file]);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toBe(`pidguard evaluate: ${file}: the input exceeds 16777216 bytes in total; raise --max-input-bytes, or evaluate the files in parts\n`);
  });

  it('--max-input-bytes counts all inputs together, stdin as it streams', async () => {
    const directory = tree({ 'a.yaml': pod('a'), 'b.yaml': pod('b') });
    const size = pod('a').length;
    expect((await runCli(['evaluate', '-f', directory, '--max-input-bytes', String(2 * size)])).code).toBe(0);
    const over = await runCli(['evaluate', '-f', directory, '--max-input-bytes', String(2 * size - 1)]);
    expect(over.code).toBe(2);
    expect(over.stderr).toContain(`${join(directory, 'b.yaml')}: the input exceeds ${2 * size - 1} bytes in total`);
    const stdin = await runCli(['evaluate', '-f', '-', '--max-input-bytes', '1Ki'], { stdin: `# ${'x'.repeat(2048)}\n` });
    expect(stdin.code).toBe(2);
    expect(stdin.stderr).toBe('pidguard evaluate: stdin: the input exceeds 1024 bytes in total; raise --max-input-bytes, or evaluate the files in parts\n');
  });

  it('more than 100,000 documents exit 2 at the first one over', async () => {
    const file = join(tree({ 'many.yaml': 'kind: ConfigMap\n---\n'.repeat(100_001) }), 'many.yaml');
    const { code, stderr } = await runCli(['evaluate', '-f', file]);
    expect(code).toBe(2);
    expect(stderr).toBe(`pidguard evaluate: ${file}: document 100000: more than 100000 documents and List items in total\n`);
  });

  it.each([['lots'], ['0'], ['1Ti'], ['300Mi'], ['1.5Mi']])('--max-input-bytes %s is a usage error', async (value) => {
    const { code, stderr } = await runCli(['evaluate', '-f', '-', '--max-input-bytes', value]);
    expect(code).toBe(2);
    expect(stderr).toContain(`--max-input-bytes must be a size in bytes such as 1048576, 512Ki or 32Mi (from 1 to 268435456 bytes), got "${value}"`);
  });

  it('parses sizes', () => {
    expect(byteSizeFlag('512Ki', '--x', 1, 2 ** 30)).toBe(524_288);
    expect(byteSizeFlag('16Mi', '--x', 1, 2 ** 30)).toBe(16_777_216);
    expect(byteSizeFlag('1Gi', '--x', 1, 2 ** 30)).toBe(2 ** 30);
    expect(byteSizeFlag('100', '--x', 1, 2 ** 30)).toBe(100);
  });
});

describe('the config file goes through the same reader', () => {
  it('an alias bomb names the config and the document', async () => {
    const config = join(tree({ 'config.yaml': ALIAS_BOMB }), 'config.yaml');
    const { code, stderr } = await runCli(['evaluate', '-f', '-', '--config', config], { stdin: pod('p') });
    expect(code).toBe(2);
    expect(stderr).toBe(`pidguard evaluate: config ${config}: document 0: Excessive alias count indicates a resource exhaustion attack\n`);
  });

  it('a config over 1 MiB is refused by its size', async () => {
    const config = join(tree({ 'config.yaml': `# ${'x'.repeat(1024 * 1024)}\ndefaultMode: audit\n` }), 'config.yaml');
    const { code, stderr } = await runCli(['evaluate', '-f', '-', '--config', config], { stdin: pod('p') });
    expect(code).toBe(2);
    expect(stderr).toBe(`pidguard evaluate: config ${config}: the input exceeds 1048576 bytes in total; a policy config is one small YAML document\n`);
  });

  it('a config of two documents is refused, and a readable one still works', async () => {
    const directory = tree({ 'two.yaml': 'defaultMode: audit\n---\ndefaultMode: enforce\n', 'one.yaml': 'defaultMode: audit\n' });
    const two = await runCli(['evaluate', '-f', '-', '--config', join(directory, 'two.yaml')], { stdin: pod('p') });
    expect(two.code).toBe(2);
    expect(two.stderr).toContain(`config ${join(directory, 'two.yaml')}: document 1: more than 1 documents`);
    const one = await runCli(['evaluate', '-f', '-', '--config', join(directory, 'one.yaml')], { stdin: pod('p') });
    expect(one.stdout).toMatch(/Pod\/p\s+default\s+audit\s+allowed/);
  });
});

describe('objects the API server rejects are errors, never "allowed"', () => {
  it.each([
    ['a Pod without spec', 'kind: Pod\nmetadata: {name: p}\n', 'Pod "p": spec is missing'],
    ['a Pod whose spec is a string', 'kind: Pod\nmetadata: {name: p}\nspec: x\n', 'Pod "p": spec is not an object'],
    ['a Pod without containers', 'kind: Pod\nmetadata: {name: p}\nspec: {}\n', 'Pod "p": spec.containers is missing'],
    ['spec.containers: 5', 'kind: Pod\nmetadata: {name: p}\nspec: {containers: 5}\n', 'Pod "p": spec.containers is not a list'],
    ['no containers at all', 'kind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n', 'Pod "p": spec.containers is empty'],
    ['a Deployment without template', 'kind: Deployment\nmetadata: {name: d}\nspec: {replicas: 1}\n', 'Deployment "d": spec.template is missing'],
    ['a Deployment whose template has no spec', 'kind: Deployment\nmetadata: {name: d}\nspec: {template: {metadata: {}}}\n', 'Deployment "d": spec.template.spec is missing'],
    ['a StatefulSet with containers: 5', 'kind: StatefulSet\nmetadata: {name: s}\nspec: {template: {spec: {containers: 5}}}\n', 'StatefulSet "s": spec.template.spec.containers is not a list'],
    ['a CronJob without jobTemplate.spec', 'kind: CronJob\nmetadata: {name: c}\nspec: {jobTemplate: {}}\n', 'CronJob "c": spec.jobTemplate.spec is missing'],
    ['a Job whose template env is a string', 'kind: Job\nmetadata: {name: j}\nspec: {template: {spec: {containers: [{name: a, env: x}]}}}\n', 'Job "j": spec.template.spec.containers[0].env is not a list'],
    ['a Namespace whose labels are a list', 'kind: Namespace\nmetadata: {name: n, labels: [a]}\n', 'Namespace "n": metadata.labels is not a map of strings'],
  ])('%s', async (_name, content, problem) => {
    const file = join(tree({ 'bad.yaml': `${pod('fine')}---\n${content}` }), 'bad.yaml');
    const { code, stdout, stderr } = await runCli(['evaluate', '-f', file]);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toBe(`pidguard evaluate: the API server would reject this object as malformed:\n  ${file}: document 1: ${problem}\n`);
  });
});

describe('directories and symlinks', () => {
  it('follows a symlinked directory and a symlinked file', async () => {
    const elsewhere = tree({ 'in-linked-dir.yaml': pod('linked-dir') });
    const target = join(tree({ 'target.yaml': pod('linked-file') }), 'target.yaml');
    const directory = tree({ 'own.yaml': pod('own') });
    symlinkSync(elsewhere, join(directory, 'more'));
    symlinkSync(target, join(directory, 'file.yaml'));
    const { code, stdout } = await runCli(['evaluate', '-f', directory, '-o', 'report']);
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as Array<{ name: string }>).map((e) => e.name)).toEqual(['linked-file', 'linked-dir', 'own']);
  });

  it('reads a directory once when a symlink loops back to it, and says so', async () => {
    const directory = tree({ 'a.yaml': pod('a') });
    mkdirSync(join(directory, 'sub'));
    writeFileSync(join(directory, 'sub', 'b.yaml'), pod('b'));
    symlinkSync('..', join(directory, 'sub', 'up'));
    const { code, stdout, stderr } = await runCli(['evaluate', '-f', directory, '-o', 'report']);
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as Array<{ name: string }>).map((e) => e.name)).toEqual(['a', 'b']);
    expect(stderr).toBe(`note: ${join(directory, 'sub', 'up')} is ${directory} again (through a symlink): read once\n`);
  });

  it('a dangling symlink fails the run naming the link and its target', async () => {
    const directory = tree({ 'a.yaml': pod('a') });
    symlinkSync(join(directory, 'gone'), join(directory, 'b.yaml'));
    const { code, stdout, stderr } = await runCli(['evaluate', '-f', directory]);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toBe(`pidguard evaluate: cannot read ${join(directory, 'b.yaml')}: a dangling symlink to ${join(directory, 'gone')} (ENOENT)\n`);
  });

  it('a dangling symlink of any name fails: it may have been a directory of manifests', async () => {
    const directory = tree({ 'a.yaml': pod('a') });
    symlinkSync('../nowhere', join(directory, 'overlays'));
    const { code, stderr } = await runCli(['evaluate', '-f', directory]);
    expect(code).toBe(2);
    expect(stderr).toBe(`pidguard evaluate: cannot read ${join(directory, 'overlays')}: a dangling symlink to ../nowhere (ENOENT)\n`);
  });

  it('a manifest-named FIFO in a directory fails instead of hanging the run', async () => {
    const directory = tree({ 'a.yaml': pod('a') });
    execFileSync('mkfifo', [join(directory, 'pipe.yaml')]);
    const { code, stderr } = await runCli(['evaluate', '-f', directory]);
    expect(code).toBe(2);
    expect(stderr).toBe(`pidguard evaluate: cannot read ${join(directory, 'pipe.yaml')}: not a regular file\n`);
  });
});

describe('Namespace documents', () => {
  const namespace = (labels: string) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {${labels}}}\n`;

  it('two of one name with different labels exit 2 naming both', async () => {
    const directory = tree({ 'a.yaml': namespace('pidguard.io/mode: enforce, team: a'), 'b.yaml': `${pod('p', 'shop')}---\n${namespace('pidguard.io/mode: "off", team: a')}` });
    const { code, stdout, stderr } = await runCli(['evaluate', '-f', directory]);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toBe(
      'pidguard evaluate: Namespace "shop" is defined twice with different labels (pidguard.io/mode: enforce vs off):\n' +
        `  ${join(directory, 'a.yaml')}: document 0\n  ${join(directory, 'b.yaml')}: document 1\n` +
        'which one the cluster keeps depends on the order they are applied in: keep one\n',
    );
  });

  it('the same Namespace twice with the same labels is fine', async () => {
    const directory = tree({ 'a.yaml': namespace('pidguard.io/mode: audit'), 'b.yaml': `${namespace('pidguard.io/mode: audit')}---\n${pod('p', 'shop')}` });
    const { code, stdout } = await runCli(['evaluate', '-f', directory]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/Pod\/p\s+shop\s+audit\s+allowed/);
  });
});
