// A running pod's pidguard.io/pids-limit through the real API server: pod
// metadata stays mutable after admission, and the API server keeps metadata
// sent through pods/status too, so removing or raising the budget before the
// agent first writes it would void it. validate.pidguard.io (with its
// matchCondition) judges exactly those UPDATEs: lowering is allowed.
import { cluster, createNamespace, kubectl, kubectlOk, uniqueName, apis } from './harness.js';
import { burstableContainer, pod } from './objects.js';

const PIDS_LIMIT = 'pidguard.io/pids-limit';
let namespace: string;
const grant = uniqueName('pidguard-e2e-pods-status');

beforeAll(async () => {
  namespace = await createNamespace('e2e-pids-guard', { 'pidguard.io/mode': 'enforce' });
  await kubectlOk(['create', '-f', '-'], {
    input: [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: grant }, rules: [{ apiGroups: [''], resources: ['pods', 'pods/status'], verbs: ['get', 'patch', 'update'] }] },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: grant },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: grant },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: cluster().userName }],
      },
    ],
  });
});
afterAll(async () => {
  await kubectl(['delete', 'clusterrolebinding,clusterrole', grant, '--ignore-not-found']);
});

async function budgetedPod(limit: string): Promise<string> {
  const name = uniqueName('budgeted');
  const created = await kubectl(['apply', '-f', '-'], { input: pod(name, namespace, [burstableContainer()], { annotations: { [PIDS_LIMIT]: limit } }), as: 'user' });
  expect(`${created.code} ${created.stderr}`).toMatch(/^0 /);
  return name;
}
const limitOf = async (name: string) => (await apis().core.readNamespacedPod({ name, namespace })).metadata?.annotations?.[PIDS_LIMIT];

it('an unprivileged user cannot remove or raise a pod\'s pids-limit, and may lower it', async () => {
  const name = await budgetedPod('1024');
  const removed = await kubectl(['annotate', 'pod', '-n', namespace, name, `${PIDS_LIMIT}-`], { as: 'user' });
  expect(removed.code).not.toBe(0);
  expect(removed.stderr).toContain(`may not remove ${PIDS_LIMIT}`);
  const raised = await kubectl(['annotate', 'pod', '-n', namespace, name, `${PIDS_LIMIT}=2048`, '--overwrite'], { as: 'user' });
  expect(raised.code).not.toBe(0);
  expect(raised.stderr).toContain('raise (1024 to 2048)');
  expect(await limitOf(name)).toBe('1024');
  const lowered = await kubectl(['annotate', 'pod', '-n', namespace, name, `${PIDS_LIMIT}=512`, '--overwrite'], { as: 'user' });
  expect(`${lowered.code} ${lowered.stderr}`).toMatch(/^0 /);
  expect(await limitOf(name)).toBe('512');
  const other = await kubectl(['label', 'pod', '-n', namespace, name, 'team=payments'], { as: 'user' });
  expect(`${other.code} ${other.stderr}`).toMatch(/^0 /);
});

it('nor through pods/status, which keeps the metadata sent to it', async () => {
  const name = await budgetedPod('1024');
  const viaStatus = await kubectl(['patch', 'pod', '-n', namespace, name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ metadata: { annotations: { [PIDS_LIMIT]: null } } })], { as: 'user' });
  expect(viaStatus.code).not.toBe(0);
  expect(viaStatus.stderr).toContain(`may not remove ${PIDS_LIMIT}`);
  expect(await limitOf(name)).toBe('1024');
  const statusOnly = await kubectl(['patch', 'pod', '-n', namespace, name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ metadata: { annotations: { team: 'payments' } } })], { as: 'user' });
  expect(`${statusOnly.code} ${statusOnly.stderr}`).toMatch(/^0 /);
});

it('the admin (system:masters) may remove it', async () => {
  const name = await budgetedPod('1024');
  const removed = await kubectl(['annotate', 'pod', '-n', namespace, name, `${PIDS_LIMIT}-`], { as: 'admin' });
  expect(`${removed.code} ${removed.stderr}`).toMatch(/^0 /);
  expect(await limitOf(name)).toBeUndefined();
});
