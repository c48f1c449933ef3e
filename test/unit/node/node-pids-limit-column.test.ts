// `pidguard node`'s PIDS-LIMIT and LIMIT SET BY columns show the limit the agent
// enforces (src/policy/pids-budget.ts under --config's ceiling), not the raw
// annotation: an annotation above the ceiling or invalid is flagged, and a pod
// cgroup holding the clamped value counts as set by pidguard.

import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { runCli } from '../cli/run-cli.js';

const fixture = fileURLToPath(new URL('../../fixtures/node/incident', import.meta.url));
const ORDERS = '3f1c9a52-8d4e-4b1a-9c67-0e2d5f8a1b01';
const BILLING = '7b2e4d11-5a3c-4f8e-b1d2-6c9e0a7f3d22';
const ordersDir = `sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${ORDERS.replace(/-/g, '_')}.slice`;
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'pidguard-node-limit-'));
  cpSync(fixture, root, { recursive: true });
  const pods = parse(readFileSync(join(root, 'pods.yaml'), 'utf8')) as { items: Array<{ metadata: { uid: string; annotations?: Record<string, string> } }> };
  const annotate = { [ORDERS]: '4194304', [BILLING]: 'abc' } as Record<string, string>;
  for (const pod of pods.items) {
    const value = annotate[pod.metadata.uid];
    if (value !== undefined) pod.metadata.annotations = { ...pod.metadata.annotations, 'pidguard.io/pids-limit': value };
  }
  writeFileSync(join(root, 'pods.yaml'), stringify(pods));
  writeFileSync(join(root, 'config.yaml'), 'pids:\n  ceiling: 2000\ndotnet:\n  pidsLimit: 1000\n');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const nodeArgs = (...extra: string[]) => ['node', '--proc', join(root, 'proc'), '--cgroup-root', join(root, 'sys/fs/cgroup'), '--pods-file', join(root, 'pods.yaml'), '--top', '20', ...extra];
const podsOf = (stdout: string) => (JSON.parse(stdout) as { pods: Array<{ uid: string; pidsLimit?: number; pidsLimitAnnotation?: string; pidsLimitProblem?: string; limitSetBy: string }> }).pods;

test('--json: pidsLimit is the enforced limit under --config; the annotation and the problem are kept beside it', async () => {
  writeFileSync(join(root, ordersDir, 'pids.max'), '2000\n');
  const run = await runCli(nodeArgs('--json', '--config', join(root, 'config.yaml')));
  const pods = podsOf(run.stdout);
  expect(pods.find((pod) => pod.uid === ORDERS)).toMatchObject({
    pidsLimit: 2000,
    pidsLimitAnnotation: '4194304',
    pidsLimitProblem: expect.stringContaining('above the ceiling 2000'),
    limitSetBy: 'pidguard',
  });
  expect(pods.find((pod) => pod.uid === BILLING)).toMatchObject({ pidsLimit: 1000, pidsLimitAnnotation: 'abc', pidsLimitProblem: expect.stringContaining('not a whole number') });
});

test('PIDGUARD_CONFIG works as --config; without either the built-in ceiling 4096 applies', async () => {
  const withEnv = podsOf((await runCli(nodeArgs('--json'), { env: { PIDGUARD_CONFIG: join(root, 'config.yaml') } })).stdout);
  expect(withEnv.find((pod) => pod.uid === ORDERS)?.pidsLimit).toBe(2000);
  const builtIn = podsOf((await runCli(nodeArgs('--json'))).stdout);
  expect(builtIn.find((pod) => pod.uid === ORDERS)?.pidsLimit).toBe(4096);
  expect(builtIn.find((pod) => pod.uid === BILLING)?.pidsLimit).toBe(1024);
});

test('table: the enforced limit is shown and a clamped or invalid annotation is flagged', async () => {
  const run = await runCli(nodeArgs('--config', join(root, 'config.yaml')));
  const podsTable = run.stdout.slice(run.stdout.indexOf('PODS (pod-level')).split('\n');
  const ordersRow = podsTable.find((line) => line.startsWith('shop/orders-api'));
  const billingRow = podsTable.find((line) => line.startsWith('shop/billing-worker'));
  expect(ordersRow).toMatch(/2,000 \(annotation 4194304 above ceiling\)/);
  expect(billingRow).toMatch(/1,000 \(annotation "abc" invalid\)/);
});

test('a broken --config is exit 2 naming the field', async () => {
  writeFileSync(join(root, 'config.yaml'), 'pids:\n  ceiling: 5\n');
  const run = await runCli(nodeArgs('--config', join(root, 'config.yaml')));
  expect(run.code).toBe(2);
  expect(run.stderr).toContain('pids.ceiling');
});
