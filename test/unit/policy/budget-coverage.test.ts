// The closing note's figure: which share of a mixed workload's pods gets a PID
// budget (a pidguard.io/pids-limit) under the defaults, computed with evaluate()
// over test/fixtures/budgets/mixed-runtimes.yaml (four pods each of .NET, JVM,
// Python, Go and nginx). docs/NODE.md quotes these numbers.

import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { parseConfig, type PolicyConfig } from '../../../src/policy/config.js';
import { evaluate } from '../../../src/policy/engine.js';
import type { KubeObject } from '../../../src/policy/types.js';

const pods = parseAllDocuments(readFileSync(new URL('../../fixtures/budgets/mixed-runtimes.yaml', import.meta.url), 'utf8')).map(
  (document) => document.toJS() as KubeObject,
);

/** Pod names, by runtime label, that get a pids-limit. */
function budgeted(config: PolicyConfig, namespaceLabels: Record<string, string> = {}): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const pod of pods) {
    const evaluation = evaluate({ object: structuredClone(pod), operation: 'CREATE', mode: 'enforce', config, namespaceLabels });
    const runtime = pod.metadata?.labels?.runtime ?? '';
    result[runtime] ??= [];
    if (evaluation.mutations.some((mutation) => mutation.summary.includes('annotation pidguard.io/pids-limit='))) result[runtime].push(pod.metadata?.name ?? '');
  }
  return result;
}

test('the fixture is the mixed workload it claims: 20 pods, 4 per runtime', () => {
  expect(pods).toHaveLength(20);
  const runtimes = pods.map((pod) => pod.metadata?.labels?.runtime);
  for (const runtime of ['dotnet', 'jvm', 'python', 'go', 'nginx']) expect(runtimes.filter((r) => r === runtime)).toHaveLength(4);
});

test('under the defaults 3 of 20 pods (15%) get a budget: the .NET pods whose spec shows it', () => {
  expect(budgeted(parseConfig({}))).toEqual({
    dotnet: ['orders-api', 'billing-worker', 'invoice-job'],
    jvm: [],
    python: [],
    go: [],
    nginx: [],
  });
});

test('with pidsDefault enabled, or the namespace label, every pod gets one (20 of 20)', () => {
  const all = (result: Record<string, string[]>) => Object.values(result).flat().length;
  expect(all(budgeted(parseConfig({ pidsDefault: { enabled: true } })))).toBe(20);
  expect(all(budgeted(parseConfig({}), { 'pidguard.io/pids-limit-default': '512' }))).toBe(20);
});
