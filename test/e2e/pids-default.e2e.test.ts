// pids-default through the real API server and the registered webhooks: with the
// config's default off (the install's), a namespace labelled
// pidguard.io/pids-limit-default gives its pods a PID budget, an unlabelled one
// does not, only the label guard's users may set the label, and the audit finds
// running pods without the budget they would now get.
import type { V1Pod } from '@kubernetes/client-node';
import { runCli } from '../unit/cli/run-cli.js';
import { apis, createNamespace, kubeconfigPath, kubectl, kubectlOk, uniqueName } from './harness.js';
import { burstableContainer, pod } from './objects.js';

const PIDS_LIMIT = 'pidguard.io/pids-limit';
const DEFAULT_LABEL = 'pidguard.io/pids-limit-default';

function applyAsUser(object: object) {
  return kubectl(['apply', '-f', '-'], { input: object, as: 'user' });
}

async function annotationsOf(namespace: string, name: string): Promise<Record<string, string>> {
  const created: V1Pod = await apis().core.readNamespacedPod({ name, namespace });
  return created.metadata?.annotations ?? {};
}

it('gives pods in a labelled namespace its default budget, at most the ceiling, and records it', async () => {
  const labelled = await createNamespace('e2e-pids-default', { 'pidguard.io/mode': 'enforce', [DEFAULT_LABEL]: '300' });
  const name = uniqueName('budgeted');
  expect((await applyAsUser(pod(name, labelled, [burstableContainer()]))).code).toBe(0);
  expect(await annotationsOf(labelled, name)).toMatchObject({ [PIDS_LIMIT]: '300', 'pidguard.io/mutations': 'pids-default set: annotation pidguard.io/pids-limit=300' });

  const capped = await createNamespace('e2e-pids-default-capped', { 'pidguard.io/mode': 'enforce', [DEFAULT_LABEL]: '9000', 'pidguard.io/pids-limit-ceiling': '600' });
  const other = uniqueName('capped');
  expect((await applyAsUser(pod(other, capped, [burstableContainer()]))).code).toBe(0);
  expect((await annotationsOf(capped, other))[PIDS_LIMIT]).toBe('600');
});

it('leaves pods in an unlabelled namespace alone (the default is off), and only the guard may set the label', async () => {
  const namespace = await createNamespace('e2e-pids-default-off', { 'pidguard.io/mode': 'enforce' });
  const name = uniqueName('unbudgeted');
  expect((await applyAsUser(pod(name, namespace, [burstableContainer()]))).code).toBe(0);
  expect(await annotationsOf(namespace, name)).not.toHaveProperty(PIDS_LIMIT);

  const denied = await kubectl(['label', 'namespace', namespace, `${DEFAULT_LABEL}=100000`], { as: 'user' });
  expect(denied.code).not.toBe(0);
  expect(denied.stderr).toContain('namespace-label-guard');

  await kubectlOk(['label', 'namespace', namespace, `${DEFAULT_LABEL}=500`], { as: 'admin' });
  const audit = await runCli(['audit', '--kubeconfig', kubeconfigPath('admin'), '-n', namespace, '--json']);
  expect(audit.code).toBe(1);
  const [finding] = JSON.parse(audit.stdout).namespaces[0].findings;
  expect(finding).toMatchObject({ ruleId: 'pids-default', examples: [`Pod/${name}`], detail: 'missing annotation pidguard.io/pids-limit=500' });
  expect(finding.reason).toMatch(/^pod running without a PID budget/);
});
