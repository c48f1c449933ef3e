// `pidguard test`: the repository's examples pass (they run in `npm test` here);
// a deliberately wrong copy of them fails with exit 1 and a diff naming test,
// object, field, expected and actual; broken test files are usage errors naming
// the file and key.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT } from '../../../src/cli/exit-codes.js';
import { compareOutcome, parseFieldPath, valueAt, type ObjectExpectation } from '../../../src/cli/test-suite.js';
import { runCli } from './run-cli.js';

const examples = fileURLToPath(new URL('../../../examples/tests/', import.meta.url));
const exampleFile = join(examples, 'policy.pidguard-test.yaml');
const dir = mkdtempSync(join(tmpdir(), 'pidguard-test-'));

/** The example with `edits` applied, its relative paths made absolute (it lives in a temporary directory). */
function exampleCopy(name: string, edits: Array<[string, string]>): string {
  let text = readFileSync(exampleFile, 'utf8').replaceAll('manifests/', join(examples, 'manifests/')).replace('config: strict-config.yaml', `config: ${join(examples, 'strict-config.yaml')}`);
  for (const [from, to] of edits) {
    expect(text).toContain(from);
    text = text.replace(from, to);
  }
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function testFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('the examples', () => {
  it('pass', async () => {
    const { code, stdout, stderr } = await runCli(['test', exampleFile]);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/5 tests, 5 passed, 0 failed\n$/);
    expect(stdout.match(/^PASS /gm)).toHaveLength(5);
    expect(code).toBe(EXIT.ok);
  });

  it('a wrong copy fails with a diff per test, object and field', async () => {
    const wrong = exampleCopy('wrong.yaml', [
      ['spec.containers[name=api].resources.limits.memory: 1Gi', 'spec.containers[name=api].resources.limits.memory: 2Gi'],
      ['        name: web\n        decision: denied\n        denyingRules: [require-resources]', '        name: web\n        decision: allowed\n        denyingRules: []'],
      ['warnings: [above the ceiling 4096; lowered to 4096]', 'warnings: []'],
    ]);
    const { code, stdout } = await runCli(['test', wrong]);
    expect(code).toBe(EXIT.mismatch);
    expect(stdout).toContain(`FAIL ${wrong}: a .NET pod without resources gets them, a thread-pool cap and a PID budget
  Pod/orders-api
    spec.containers[name=api].resources.limits.memory:
      expected "2Gi"
      actual   "1Gi"
`);
    expect(stdout).toContain(`FAIL ${wrong}: a BestEffort Deployment is denied, a sized one admitted untouched
  Deployment/web
    decision:
      expected "allowed"
      actual   "denied"
    denyingRules:
      expected []
      actual   ["require-resources"]
`);
    expect(stdout).toContain(`  Pod/greedy
    warnings:
      expected []
      actual   ["pids-ceiling: pidguard.io/pids-limit=\\"100000\\" is above the ceiling 4096; lowered to 4096"]
`);
    expect(stdout).toMatch(/^PASS .*: in an audit-mode namespace/m);
    expect(stdout).toMatch(/5 tests, 2 passed, 3 failed\n$/);
  });

  it('--json gives the same results for scripts', async () => {
    const wrong = exampleCopy('wrong-json.yaml', [['metadata.annotations["pidguard.io/pids-limit"]: "1024"', 'metadata.annotations["pidguard.io/pids-limit"]: 1024']]);
    const { code, stdout } = await runCli(['test', '--json', wrong]);
    expect(code).toBe(EXIT.mismatch);
    const report = JSON.parse(stdout) as { tests: Array<{ passed: boolean; objects: Array<{ object: string; mismatches: unknown[] }> }>; summary: unknown };
    expect(report.summary).toEqual({ tests: 5, passed: 4, failed: 1 });
    expect(report.tests[0]!.objects).toEqual([{ object: 'Pod/orders-api', mismatches: [{ what: 'metadata.annotations["pidguard.io/pids-limit"]', expected: 1024, actual: '1024' }] }]);
  });
});

describe('test files', () => {
  const manifest = join(examples, 'manifests/web.yaml');
  const header = 'apiVersion: pidguard.io/v1alpha1\nkind: Test\n';

  it('an object not in the manifests is a mismatch listing what is there', async () => {
    const file = testFile('absent.yaml', `${header}tests:\n  - name: t\n    manifests: [${manifest}]\n    expect: [{kind: Pod, name: nope, decision: allowed}]\n`);
    const { code, stdout } = await runCli(['test', file]);
    expect(code).toBe(EXIT.mismatch);
    expect(stdout).toContain('    object:\n      expected "Pod/nope in the manifests"\n      actual   "Deployment/web, Deployment/web-sized"\n');
  });

  it.each([
    ['an unknown key (a typo is not an ignored expectation)', 'expect: [{kind: Pod, name: a, decison: denied}]', 'tests[0].expect[0]: unknown key "decison" (known: kind, name, namespace, decision, denyingRules, mutatingRules, warnings, fields, matches)'],
    ['a decision pidguard never makes', 'expect: [{kind: Pod, name: a, decision: rejected}]', 'tests[0].expect[0].decision: must be one of allowed, mutated, denied, would-mutate, would-deny, skipped'],
    ['a path that does not parse', 'expect: [{kind: Pod, name: a, fields: {"spec.containers[x": 1}}]', 'tests[0].expect[0].fields: path "spec.containers[x": "[" at 15 is never closed'],
    ['no expectations', 'expect: []', 'tests[0].expect: must be a non-empty list'],
  ])('%s is a usage error naming the file and key', async (_what, expectLine, message) => {
    const file = testFile('broken.yaml', `${header}tests:\n  - name: t\n    manifests: [${manifest}]\n    ${expectLine}\n`);
    const { code, stderr } = await runCli(['test', file]);
    expect(stderr).toBe(`pidguard test: ${file}: ${message}\n`);
    expect(code).toBe(EXIT.usage);
  });

  it('a missing manifest names it', async () => {
    const file = testFile('missing.yaml', `${header}tests:\n  - name: t\n    manifests: [no-such.yaml]\n    expect: [{kind: Pod, name: a}]\n`);
    const { code, stderr } = await runCli(['test', file]);
    expect(stderr).toContain(join(dir, 'no-such.yaml'));
    expect(code).toBe(EXIT.usage);
  });

  it('no test file is a usage error', async () => {
    expect((await runCli(['test'])).code).toBe(EXIT.usage);
  });
});

describe('field paths and subset matches', () => {
  const pod = {
    metadata: { annotations: { 'pidguard.io/pids-limit': '1024' } },
    spec: { containers: [{ name: 'a', image: 'x', env: [{ name: 'K', value: 'v' }] }, { name: 'b', image: 'y' }] },
  };
  const outcome = { decision: 'mutated' as const, denyingRules: [], mutatingRules: [], warnings: [], stored: pod };
  const expectation = (more: Partial<ObjectExpectation>): ObjectExpectation => ({ kind: 'Pod', name: 'p', fields: [], ...more });

  it('reads keys, quoted keys, indices and items by field', () => {
    expect(valueAt(pod, parseFieldPath('metadata.annotations["pidguard.io/pids-limit"]'))).toBe('1024');
    expect(valueAt(pod, parseFieldPath('spec.containers[1].image'))).toBe('y');
    expect(valueAt(pod, parseFieldPath('spec.containers[name=a].env[name=K].value'))).toBe('v');
    expect(valueAt(pod, parseFieldPath('spec.containers[name=c].image'))).toBeUndefined();
    expect(() => parseFieldPath('a..b')).toThrow('an empty key at 2');
    expect(() => parseFieldPath('a.')).toThrow('ends with "."');
    expect(() => parseFieldPath('x'.repeat(1025))).toThrow('must have 1 to 1024 characters');
  });

  it('null expects the field absent', () => {
    const fields = [{ path: 'spec.containers[name=b].env', segments: parseFieldPath('spec.containers[name=b].env'), value: null }];
    expect(compareOutcome(expectation({ fields }), outcome)).toEqual([]);
    const present = [{ path: 'spec.containers[name=a].env', segments: parseFieldPath('spec.containers[name=a].env'), value: null }];
    expect(compareOutcome(expectation({ fields: present }), outcome)).toHaveLength(1);
  });

  it('matches lists of named items by name and reports each differing leaf by its path', () => {
    expect(compareOutcome(expectation({ matches: { spec: { containers: [{ name: 'b', image: 'y' }] } } }), outcome)).toEqual([]);
    const mismatches = compareOutcome(expectation({ matches: { spec: { containers: [{ name: 'a', image: 'z', env: [{ name: 'K', value: 'w' }] }, { name: 'c' }] } } }), outcome);
    expect(mismatches.map((m) => m.what)).toEqual(['spec.containers[name=a].image', 'spec.containers[name=a].env[name=K].value', 'spec.containers[name=c]']);
  });

  it('a warning expectation matches as many warnings as there are, each by a piece of it', () => {
    const warned = { ...outcome, warnings: ['one: x', 'two: y'] };
    expect(compareOutcome(expectation({ warnings: ['two', 'one'] }), warned)).toEqual([]);
    expect(compareOutcome(expectation({ warnings: ['one'] }), warned)).toHaveLength(1);
    expect(compareOutcome(expectation({ warnings: ['one', 'one'] }), warned)).toHaveLength(1);
  });
});
