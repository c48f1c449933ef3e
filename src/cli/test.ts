// `pidguard test`: CI checks of the policy. A test file lists manifests and what
// the admission policy must do with each object (decision, denying rule,
// warnings, fields of the object as stored); every test runs through the same
// reading and engine code as `evaluate`, and any difference fails the run with
// a diff per test and object. The format: docs/TESTING-POLICY.md.

import { dirname, resolve } from 'node:path';
import type { PolicyConfig } from '../policy/config.js';
import { InputBudget, InputError, readOneDocument, sourceName } from '../input/yaml-input.js';
import { byteSizeFlag } from './args.js';
import { loadConfig } from './config-file.js';
import { asStored, decisionOf, DEFAULT_MAX_INPUT_BYTES, evaluateManifests, MAX_INPUT_BYTES_CEILING, MAX_INPUT_DOCUMENTS, type ManifestEvaluation } from './evaluate.js';
import { EXIT } from './exit-codes.js';
import { commandHelp, parseCommandArgs, type FlagSpecs } from './flags.js';
import { CliError, type Command } from './io.js';
import { readManifests } from './manifests.js';
import { printable } from './table.js';
import { ABSENT, compareOutcome, parseTestSuite, type Decision, type Mismatch, type ObjectExpectation, type TestCase } from './test-suite.js';

const FLAGS = {
  json: { type: 'boolean', help: 'print the results as JSON' },
  'max-input-bytes': { type: 'string', value: 'SIZE', help: 'the most the test files and their manifests may hold together, checked before parsing (Ki, Mi, Gi suffixes; at most 256Mi)', default: DEFAULT_MAX_INPUT_BYTES },
} as const satisfies FlagSpecs;

const HELP = commandHelp({
  name: 'test',
  usage: 'Usage: pidguard test <test-file> [<test-file> ...] [flags]',
  about: `Runs policy tests: each test of a test file evaluates its manifests with the
admission policy exactly as \`pidguard evaluate\` does (its own config, mode and
namespace labels if it names them) and compares every listed object with what
is expected: the decision, the denying and mutating rules, the warnings, fields
of the object as the API server would store it. Prints PASS or FAIL per test and,
for each failure, expected against actual per object and field.`,
  flags: FLAGS,
  notes: `Paths in a test file (manifests, config) are relative to the test file. The
format, with examples: docs/TESTING-POLICY.md and examples/tests/.`,
});

interface ObjectResult {
  object: string;
  mismatches: Mismatch[];
}

interface TestResult {
  file: string;
  name: string;
  passed: boolean;
  objects: ObjectResult[];
}

export const testCommand: Command = {
  name: 'test',
  summary: 'Check manifests against expected policy decisions (CI)',
  flags: FLAGS,
  help: HELP,
  async run(argv, io) {
    const { values: flags, positionals } = parseCommandArgs(argv, FLAGS, io.env);
    if (positionals.length === 0) throw new CliError('name at least one test file (see --help)', EXIT.usage);
    const budget = new InputBudget(
      byteSizeFlag(flags['max-input-bytes'], '--max-input-bytes', 1, MAX_INPUT_BYTES_CEILING),
      MAX_INPUT_DOCUMENTS,
      'raise --max-input-bytes, or run the test files in parts',
    );
    const configs = new Map<string, Promise<PolicyConfig>>();
    const configAt = (path: string | undefined) => {
      const key = path ?? '';
      if (!configs.has(key)) configs.set(key, loadConfig(path));
      return configs.get(key)!;
    };
    const results: TestResult[] = [];
    for (const file of positionals) {
      const suite = parseTestSuite(await readOneDocument(file, { budget, label: `test file ${sourceName(file)}` }), file);
      const base = dirname(resolve(file));
      for (const test of suite.tests) {
        const configPath = test.config ?? suite.config;
        const config = await configAt(configPath === undefined ? undefined : resolve(base, configPath));
        const manifests = await readManifests(test.manifests.map((path) => resolve(base, path)), io.stdin, budget, (line) => io.stderr.write(`note: ${line}\n`));
        const evaluations = evaluateManifests(manifests, config, test.mode, test.namespaceLabels);
        results.push({ file, name: test.name, ...judge(test, evaluations, file) });
      }
    }
    io.stdout.write(flags.json ? `${JSON.stringify(jsonReport(results), null, 2)}\n` : renderResults(results));
    return results.every((result) => result.passed) ? EXIT.ok : EXIT.mismatch;
  },
};

function judge(test: TestCase, evaluations: ManifestEvaluation[], file: string): Omit<TestResult, 'file' | 'name'> {
  const objects = test.expect.map((expectation) => {
    const object = describe(expectation);
    const found = evaluations.filter(({ evaluation: e }) => e.kind === expectation.kind && e.name === expectation.name
      && (expectation.namespace === undefined || (e.namespace ?? 'default') === expectation.namespace));
    if (found.length > 1) {
      throw new InputError(`${file}: test "${test.name}": ${object} is in the manifests ${found.length} times (in namespaces ${found.map((f) => f.evaluation.namespace ?? 'default').join(', ')}): add namespace to the expectation`);
    }
    const [match] = found;
    if (!match) {
      const present = evaluations.map(({ evaluation: e }) => `${e.kind}/${e.name}`).join(', ') || 'no Pods or workloads';
      return { object, mismatches: [{ what: 'object', expected: `${object} in the manifests`, actual: present }] };
    }
    const { manifest, evaluation } = match;
    const outcome = {
      decision: decisionOf(evaluation) as Decision,
      denyingRules: [...new Set(evaluation.violations.map((v) => v.ruleId))].sort(),
      mutatingRules: [...new Set(evaluation.mutations.map((m) => m.ruleId))].sort(),
      warnings: evaluation.warnings,
      stored: asStored(manifest.object, evaluation),
    };
    return { object, mismatches: compareOutcome(expectation, outcome) };
  });
  return { passed: objects.every((o) => o.mismatches.length === 0), objects };
}

function describe(expectation: ObjectExpectation): string {
  return `${expectation.namespace ? `${expectation.namespace}/` : ''}${expectation.kind}/${expectation.name}`;
}

/** A value in a diff line: JSON, cut at 300 characters, inert on a terminal. */
function shown(value: unknown): string {
  if (value === ABSENT) return '(absent)';
  const json = JSON.stringify(value) ?? String(value);
  return printable(json.length > 300 ? `${json.slice(0, 300)}...` : json);
}

function renderResults(results: TestResult[]): string {
  const lines: string[] = [];
  for (const result of results) {
    lines.push(`${result.passed ? 'PASS' : 'FAIL'} ${printable(result.file)}: ${printable(result.name)}`);
    for (const { object, mismatches } of result.objects) {
      if (mismatches.length === 0) continue;
      lines.push(`  ${printable(object)}`);
      for (const m of mismatches) lines.push(`    ${printable(m.what)}:`, `      expected ${shown(m.expected)}`, `      actual   ${shown(m.actual)}`);
    }
  }
  const failed = results.filter((r) => !r.passed).length;
  lines.push(`${results.length} test${results.length === 1 ? '' : 's'}, ${results.length - failed} passed, ${failed} failed`);
  return `${lines.join('\n')}\n`;
}

function jsonReport(results: TestResult[]) {
  const plain = (value: unknown) => (value === ABSENT ? null : value);
  return {
    tests: results.map((r) => ({
      ...r,
      objects: r.objects.map((o) => ({ ...o, mismatches: o.mismatches.map((m) => ({ what: m.what, expected: plain(m.expected), actual: plain(m.actual), ...(m.actual === ABSENT ? { absent: true } : {}) })) })),
    })),
    summary: { tests: results.length, passed: results.filter((r) => r.passed).length, failed: results.filter((r) => !r.passed).length },
  };
}
