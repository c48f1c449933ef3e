// The PID budget ceiling and the thread-pool cap through the real API server
// and the registered webhooks: a pod author cannot raise their own budget, and
// what pidguard overrides is shown to them by kubectl as a warning.
import type { V1Pod } from '@kubernetes/client-node';
import { runCli } from '../unit/cli/run-cli.js';
import { apis, createNamespace, kubeconfigPath, kubectl, kubectlOk, uniqueName } from './harness.js';
import { burstableContainer, DOTNET_IMAGE, pod } from './objects.js';

const PIDS_LIMIT = 'pidguard.io/pids-limit';
const MUTATIONS = 'pidguard.io/mutations';

let capped: string;
let plain: string;

beforeAll(async () => {
  capped = await createNamespace('e2e-ceiling', { 'pidguard.io/mode': 'enforce', 'pidguard.io/pids-limit-ceiling': '512' });
  plain = await createNamespace('e2e-no-ceiling-label', { 'pidguard.io/mode': 'enforce' });
});

function applyAsUser(object: object) {
  return kubectl(['apply', '-f', '-'], { input: object, as: 'user' });
}

async function readPod(namespace: string, name: string): Promise<V1Pod> {
  return apis().core.readNamespacedPod({ name, namespace });
}

it('lowers a pod author\'s pids-limit to the namespace ceiling, and kubectl shows the warning', async () => {
  const name = uniqueName('greedy');
  const result = await applyAsUser(pod(name, capped, [burstableContainer()], { annotations: { [PIDS_LIMIT]: '4194304' } }));
  expect(result.code).toBe(0);
  expect(result.stderr).toContain('Warning: pids-ceiling: pidguard.io/pids-limit="4194304" is above the ceiling 512; lowered to 512');
  const created = await readPod(capped, name);
  expect(created.metadata?.annotations?.[PIDS_LIMIT]).toBe('512');
  expect(created.metadata?.annotations?.[MUTATIONS]).toMatch(/^pids-ceiling set: annotation pidguard\.io\/pids-limit=512 /);
});

it('replaces an invalid pids-limit with the default budget under the config ceiling', async () => {
  const name = uniqueName('invalid-budget');
  const result = await applyAsUser(pod(name, plain, [burstableContainer()], { annotations: { [PIDS_LIMIT]: 'unlimited' } }));
  expect(result.code).toBe(0);
  expect(result.stderr).toContain('is not a whole number from 1 to 4194304; replaced with 1024');
  expect((await readPod(plain, name)).metadata?.annotations?.[PIDS_LIMIT]).toBe('1024');
});

it('caps the thread pool at a forced minimum above the cap, so a cap still exists, and says so', async () => {
  const name = uniqueName('forced-min');
  const container = {
    name: 'app', image: DOTNET_IMAGE,
    env: [{ name: 'DOTNET_ThreadPool_ForceMinWorkerThreads', value: '0x400' }],
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '1Gi' } },
  };
  const result = await applyAsUser(pod(name, plain, [container]));
  expect(result.code).toBe(0);
  expect(result.stderr).toContain('DOTNET_ThreadPool_ForceMinWorkerThreads=0x400 (1024) is above the thread-pool cap 256');
  const env = Object.fromEntries((await readPod(plain, name)).spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
  expect(env).toMatchObject({ DOTNET_ThreadPool_ForceMaxWorkerThreads: '0x400', DOTNET_ThreadPool_MaxThreads: '1024' });
});

it('audit reports a running pod above a ceiling lowered after it was admitted, using the listed namespace labels', async () => {
  const namespace = await createNamespace('e2e-ceiling-lowered', { 'pidguard.io/mode': 'enforce' });
  const name = uniqueName('big-budget');
  expect((await applyAsUser(pod(name, namespace, [burstableContainer()], { annotations: { [PIDS_LIMIT]: '3000' } }))).code).toBe(0);
  const before = await runCli(['audit', '--kubeconfig', kubeconfigPath('admin'), '-n', namespace, '--json']);
  expect(JSON.parse(before.stdout).summary.findings).toBe(0);
  await kubectlOk(['label', 'namespace', namespace, 'pidguard.io/pids-limit-ceiling=1000'], { as: 'admin' });
  const after = await runCli(['audit', '--kubeconfig', kubeconfigPath('admin'), '-n', namespace, '--json']);
  expect(after.code).toBe(1);
  const [finding] = JSON.parse(after.stdout).namespaces[0].findings;
  expect(finding).toMatchObject({ ruleId: 'pids-ceiling', examples: [`Pod/${name}`] });
  expect(finding.detail).toContain('pidguard.io/pids-limit="3000" is above the ceiling 1000');
});
