// namespaces.pidguard.io: only the configured groups (system:masters by
// default) may add, change or remove pidguard.io/* labels; RBAC alone would let
// anyone who can patch a namespace exempt it.
import { apis, cluster, createNamespace, kubectl, kubectlOk, uniqueName } from './harness.js';

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
