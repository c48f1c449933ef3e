// Per-namespace require-resources levels through the real API server and the
// registered webhooks: a namespace enforcing not-besteffort and warning at
// requests-and-limits admits a Burstable pod without cpu limits with a warning
// kubectl shows, denies a BestEffort pod, and `audit` and `evaluate` (the same
// engine) report the same warning.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../unit/cli/run-cli.js';
import { createNamespace, kubeconfigPath, kubectl, uniqueName } from './harness.js';
import { bestEffortContainer, burstableContainer, pod } from './objects.js';

const LEVELS = { 'pidguard.io/mode': 'enforce', 'pidguard.io/require-resources': 'not-besteffort', 'pidguard.io/require-resources-warn': 'requests-and-limits' };
const WARNING = 'require-resources: level requests-and-limits (namespace label pidguard.io/require-resources-warn): containers without cpu and memory requests and limits: container "app" (limits.cpu) must set them.';

it('warns at the warn level, denies at the enforced one, and audit and evaluate say the same', async () => {
  const namespace = await createNamespace('e2e-levels', LEVELS);
  const name = uniqueName('burstable');
  const admitted = await kubectl(['apply', '-f', '-'], { input: pod(name, namespace, [burstableContainer()]), as: 'user' });
  expect(admitted.code).toBe(0);
  expect(admitted.stderr).toContain(`Warning: ${WARNING}`);

  const denied = await kubectl(['apply', '-f', '-'], { input: pod(uniqueName('besteffort'), namespace, [bestEffortContainer()]), as: 'user' });
  expect(denied.code).not.toBe(0);
  expect(denied.stderr).toContain('require-resources: BestEffort pod');
  expect(denied.stderr).not.toContain('level requests-and-limits');

  const audit = await runCli(['audit', '--kubeconfig', kubeconfigPath('admin'), '-n', namespace, '--json']);
  const findings = JSON.parse(audit.stdout).namespaces[0].findings as Array<{ ruleId: string; detail: string; examples: string[] }>;
  expect(findings).toEqual([expect.objectContaining({ ruleId: 'require-resources/warning', examples: [`Pod/${name}`], detail: expect.stringContaining(WARNING) })]);

  const directory = mkdtempSync(join(tmpdir(), 'pidguard-e2e-levels-'));
  try {
    const file = join(directory, 'manifests.json');
    const namespaceObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: LEVELS } };
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [namespaceObject, pod(name, namespace, [burstableContainer()])] }));
    const evaluated = await runCli(['evaluate', '-f', file]);
    expect(evaluated.code).toBe(0);
    expect(evaluated.stdout).toContain(`warning: ${WARNING}`);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
