// The harness itself: a real API server at the pinned version, admin and user
// identities with the permissions the scenarios rely on.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apis, cluster, createNamespace, kubectl, kubectlOk, uniqueName } from './harness.js';

const controlPlaneModule = join(process.cwd(), 'test/e2e/cluster/controlplane/go.mod');

describe('e2e control plane', () => {
  it('runs kube-apiserver and kubectl at the Kubernetes version pinned in the control-plane module', async () => {
    const pinned = /^\s*k8s\.io\/kubernetes\s+(v\S+)/m.exec(readFileSync(controlPlaneModule, 'utf8'))?.[1];
    expect(pinned).toBe('v1.36.3');
    const versions = JSON.parse(await kubectlOk(['version', '-o', 'json'])) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(versions.serverVersion.gitVersion).toBe(pinned);
    expect(versions.clientVersion.gitVersion).toBe(pinned);
  });

  it('serves on loopback over TLS only', () => {
    expect(cluster().server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('lets the admin read kube-system through @kubernetes/client-node', async () => {
    const namespace = await apis('admin').core.readNamespace({ name: 'kube-system' });
    expect(namespace.metadata?.labels?.['kubernetes.io/metadata.name']).toBe('kube-system');
  });

  it('authenticates the user by client certificate and RBAC denies what her role does not grant', async () => {
    const whoami = JSON.parse(await kubectlOk(['auth', 'whoami', '-o', 'json'], { as: 'user' })) as {
      status: { userInfo: { username: string; groups?: string[] } };
    };
    expect(whoami.status.userInfo.username).toBe(cluster().userName);
    expect(whoami.status.userInfo.groups ?? []).not.toContain('system:masters');

    const secrets = await kubectl(['get', 'secrets', '-n', 'kube-system'], { as: 'user' });
    expect(secrets.code).not.toBe(0);
    expect(secrets.stderr).toContain(`User "${cluster().userName}" cannot list resource "secrets"`);

    const roles = await kubectl(['create', 'clusterrole', uniqueName('escalate'), '--verb=*', '--resource=*'], { as: 'user' });
    expect(roles.code).not.toBe(0);
    expect(roles.stderr).toContain('forbidden');
  });

  it('lets the user create namespaces and pods in them, so only pidguard guards its labels', async () => {
    const namespace = uniqueName('e2e-user-ns');
    await kubectlOk(['create', 'namespace', namespace], { as: 'user' });
    const canCreatePods = await kubectl(['auth', 'can-i', 'create', 'pods', '-n', namespace], { as: 'user' });
    expect(canCreatePods.stdout.trim()).toBe('yes');
    const canPatchNamespaces = await kubectl(['auth', 'can-i', 'patch', 'namespaces'], { as: 'user' });
    expect(canPatchNamespaces.stdout.trim()).toBe('yes');
  });

  it('creates namespaces with their default ServiceAccount, which pod admission needs', async () => {
    const namespace = await createNamespace('e2e-harness');
    const account = await apis('admin').core.readNamespacedServiceAccount({ name: 'default', namespace });
    expect(account.metadata?.name).toBe('default');
  });
});
