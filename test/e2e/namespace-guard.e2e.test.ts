// namespaces.pidguard.io: only the configured groups (system:masters by
// default) may add, change or remove pidguard.io/* labels; RBAC alone would let
// anyone who can patch a namespace exempt it.
import { apis, cluster, createNamespace, kubectl, kubectlOk, startWebhook, stopWebhook, uniqueName, webhookRunning, type Identity } from './harness.js';

const MODE = 'pidguard.io/mode';
const GUARD_DENIAL = /admission webhook "namespaces\.pidguard\.io" denied the request: pidguard denied namespace /i;

async function labelsOf(namespace: string): Promise<Record<string, string>> {
  return (await apis('admin').core.readNamespace({ name: namespace })).metadata?.labels ?? {};
}

describe('namespace label guard', () => {
  it('stops the unprivileged user from adding pidguard.io/mode, and lets the admin add it', async () => {
    const namespace = uniqueName('guard-add');
    await kubectlOk(['create', 'namespace', namespace], { as: 'user' });

    const denied = await kubectl(['label', 'namespace', namespace, `${MODE}=off`], { as: 'user' });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(GUARD_DENIAL);
    expect(denied.stderr).toContain('namespace-label-guard: protected label change');
    expect(denied.stderr).toContain(`user "${cluster().userName}" may not add ${MODE}=off`);
    expect((await labelsOf(namespace))[MODE]).toBeUndefined();

    await kubectlOk(['label', 'namespace', namespace, `${MODE}=off`], { as: 'admin' });
    expect((await labelsOf(namespace))[MODE]).toBe('off');
  });

  it('stops the unprivileged user from changing or removing it, and lets the admin remove it', async () => {
    const namespace = await createNamespace('guard-remove', { [MODE]: 'enforce' });

    const change = await kubectl(['label', 'namespace', namespace, `${MODE}=off`, '--overwrite'], { as: 'user' });
    expect(change.code).not.toBe(0);
    expect(change.stderr).toContain(`may not change ${MODE} from enforce to off`);

    const remove = await kubectl(['label', 'namespace', namespace, `${MODE}-`], { as: 'user' });
    expect(remove.code).not.toBe(0);
    expect(remove.stderr).toMatch(GUARD_DENIAL);
    expect(remove.stderr).toContain(`may not remove ${MODE}`);
    expect((await labelsOf(namespace))[MODE]).toBe('enforce');

    await kubectlOk(['label', 'namespace', namespace, `${MODE}-`], { as: 'admin' });
    expect((await labelsOf(namespace))[MODE]).toBeUndefined();
  });

  it('stops the unprivileged user from creating a namespace that is already exempt', async () => {
    const namespace = uniqueName('guard-create');
    const result = await kubectl(['create', '-f', '-'], {
      as: 'user',
      input: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { [MODE]: 'off' } } },
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(GUARD_DENIAL);
    const lookup = await kubectl(['get', 'namespace', namespace]);
    expect(lookup.stderr).toContain('NotFound');
  });

  it("lets the unprivileged user change other labels of a namespace that carries pidguard's", async () => {
    const namespace = await createNamespace('guard-other', { [MODE]: 'audit' });
    await kubectlOk(['label', 'namespace', namespace, 'team=payments'], { as: 'user' });
    const labels = await labelsOf(namespace);
    expect(labels.team).toBe('payments');
    expect(labels[MODE]).toBe('audit');
  });
});

/** PUT the namespace as read, with `labels` merged in (null removes), to its status or finalize subresource. */
async function putLabels(who: Identity, namespace: string, subresource: string, labels: Record<string, string | null>) {
  const object = JSON.parse(await kubectlOk(['get', 'namespace', namespace, '-o', 'json'])) as { metadata: { labels?: Record<string, string> } };
  const merged = { ...object.metadata.labels, ...labels };
  object.metadata.labels = Object.fromEntries(Object.entries(merged).filter((entry): entry is [string, string] => entry[1] !== null));
  return kubectl(['replace', '--raw', `/api/v1/namespaces/${namespace}/${subresource}`, '-f', '-'], { as: who, input: object });
}

// kube-apiserver persists metadata sent with PUT namespaces/<ns>/status and .../finalize
// (FACTS.md), so the guard must see those subresources too, or anyone allowed to update
// them could exempt a namespace.
describe.each(['status', 'finalize'])('namespace label guard through namespaces/%s', (subresource) => {
  const grant = uniqueName(`pidguard-e2e-ns-${subresource}`);

  beforeAll(async () => {
    await kubectlOk(['create', '-f', '-'], {
      input: [
        {
          apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: grant },
          rules: [{ apiGroups: [''], resources: [`namespaces/${subresource}`], verbs: ['update'] }],
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: grant },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: grant },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: cluster().userName }],
        },
      ],
    });
    const allowed = await kubectl(['auth', 'can-i', 'update', 'namespaces', `--subresource=${subresource}`], { as: 'user' });
    expect(`${allowed.code} ${allowed.stdout.trim()}`).toBe('0 yes');
  });
  afterAll(async () => {
    await kubectl(['delete', 'clusterrolebinding,clusterrole', grant, '--ignore-not-found']);
  });

  it(`stops the unprivileged user from adding, changing or removing pidguard.io/* labels`, async () => {
    const namespace = await createNamespace(`guard-${subresource}`, { [MODE]: 'enforce' });

    const change = await putLabels('user', namespace, subresource, { [MODE]: 'off' });
    expect(change.code).not.toBe(0);
    expect(change.stderr).toMatch(GUARD_DENIAL);
    expect(change.stderr).toContain(`user "${cluster().userName}" may not change ${MODE} from enforce to off`);

    const remove = await putLabels('user', namespace, subresource, { [MODE]: null });
    expect(remove.code).not.toBe(0);
    expect(remove.stderr).toContain(`may not remove ${MODE}`);

    const add = await putLabels('user', namespace, subresource, { 'pidguard.io/pids-limit-ceiling': '100000' });
    expect(add.code).not.toBe(0);
    expect(add.stderr).toContain('may not add pidguard.io/pids-limit-ceiling=100000');

    expect(await labelsOf(namespace)).toMatchObject({ [MODE]: 'enforce' });
    expect((await labelsOf(namespace))['pidguard.io/pids-limit-ceiling']).toBeUndefined();
  });

  it('lets the unprivileged user change other labels through it, and the admin change pidguard.io/* ones', async () => {
    const namespace = await createNamespace(`guard-${subresource}-ok`, { [MODE]: 'audit' });

    const other = await putLabels('user', namespace, subresource, { team: 'payments' });
    expect(`${other.code} ${other.stderr}`).toBe('0 ');
    expect(await labelsOf(namespace)).toMatchObject({ team: 'payments', [MODE]: 'audit' });

    const admin = await putLabels('admin', namespace, subresource, { [MODE]: 'off' });
    expect(`${admin.code} ${admin.stderr}`).toBe('0 ');
    expect((await labelsOf(namespace))[MODE]).toBe('off');
  });
});

// The namespace controller updates namespaces/status and calls namespaces/finalize when a
// namespace is deleted. The guard's failurePolicy is Fail, so its matchConditions send it
// those requests only when a pidguard.io/* label changes: a pidguard outage must not leave
// labelled namespaces stuck in Terminating.
describe('namespace label guard through subresources while the webhook is down', () => {
  let namespace: string;
  beforeAll(async () => {
    namespace = await createNamespace('guard-outage', { [MODE]: 'enforce' });
    await stopWebhook();
  });
  afterAll(async () => {
    if (!webhookRunning()) await startWebhook();
  });

  it.each(['status', 'finalize'])('lets namespaces/%s through when no pidguard.io/* label changes', async (subresource) => {
    const result = await putLabels('admin', namespace, subresource, { team: subresource });
    expect(`${result.code} ${result.stderr}`).toBe('0 ');
    expect(await labelsOf(namespace)).toMatchObject({ team: subresource, [MODE]: 'enforce' });
  });

  it.each(['status', 'finalize'])('refuses a pidguard.io/* label change through namespaces/%s, even for the admin', async (subresource) => {
    const result = await putLabels('admin', namespace, subresource, { [MODE]: 'off' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('failed calling webhook "namespaces.pidguard.io"');
    expect((await labelsOf(namespace))[MODE]).toBe('enforce');
  });
});
