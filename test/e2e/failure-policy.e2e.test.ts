// What the README promises when every pidguard replica is down: pods are still
// created (failurePolicy Ignore on the pod and workload webhooks), pidguard's
// own labels cannot change unseen (Fail on the narrow namespace guard), and
// ordinary namespaces are still created (its matchConditions skip them).
import { apis, createNamespace, kubectl, kubectlOk, portOpen, startWebhook, stopWebhook, uniqueName, waitFor, webhookRunning } from './harness.js';
import { bestEffortContainer, pod, workload } from './objects.js';

const MODE = 'pidguard.io/mode';

describe('with the webhook process stopped', () => {
  let enforce: string;
  let labelTarget: string;

  beforeAll(async () => {
    enforce = await createNamespace('outage-enforce', { [MODE]: 'enforce' });
    labelTarget = await createNamespace('outage-label');
    // While pidguard runs, the same pod is denied: the outage is what changes the outcome.
    const denied = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: pod(uniqueName('before'), enforce, [bestEffortContainer()]) });
    expect(denied.stderr).toContain('pidguard denied');
    await stopWebhook();
  });

  afterAll(async () => {
    if (!webhookRunning()) await startWebhook();
  });

  it('is really down', async () => {
    expect(webhookRunning()).toBe(false);
    expect(await portOpen(18443)).toBe(false);
  });

  it('creates a BestEffort pod in an enforce namespace (failurePolicy Ignore)', async () => {
    const name = uniqueName('outage-pod');
    const result = await kubectl(['apply', '-f', '-'], { input: pod(name, enforce, [bestEffortContainer()]) });
    expect(result.code).toBe(0);
    const created = await apis().core.readNamespacedPod({ name, namespace: enforce });
    expect(created.status?.qosClass).toBe('BestEffort');
  });

  it('creates a BestEffort Deployment in an enforce namespace (failurePolicy Ignore)', async () => {
    const result = await kubectl(['apply', '-f', '-'], { input: workload('Deployment', uniqueName('outage-deploy'), enforce, [bestEffortContainer()]) });
    expect(result.code).toBe(0);
  });

  it('refuses to add pidguard.io/mode to a namespace, even for the admin (failurePolicy Fail)', async () => {
    const result = await kubectl(['label', 'namespace', labelTarget, `${MODE}=off`]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('failed calling webhook "namespaces.pidguard.io"');
    const labels = (await apis().core.readNamespace({ name: labelTarget })).metadata?.labels ?? {};
    expect(labels[MODE]).toBeUndefined();
  });

  it('refuses to create a namespace that carries pidguard.io/mode', async () => {
    const name = uniqueName('outage-labelled');
    const result = await kubectl(['create', '-f', '-'], {
      input: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { [MODE]: 'off' } } },
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('failed calling webhook "namespaces.pidguard.io"');
  });

  it('creates a plain namespace (matchConditions keep the guard out of it), as the admin and as the user', async () => {
    await kubectlOk(['create', 'namespace', uniqueName('outage-plain')]);
    await kubectlOk(['create', 'namespace', uniqueName('outage-plain-user')], { as: 'user' });
  });

  it('denies again once the webhook is back', async () => {
    await startWebhook();
    expect(webhookRunning()).toBe(true);
    expect(await portOpen(18443)).toBe(true);
    await waitFor('pidguard to deny a BestEffort pod again', async () => {
      const result = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: pod(uniqueName('after'), enforce, [bestEffortContainer()]) });
      return result.code !== 0 && result.stderr.includes('pidguard denied');
    });
    // The label the outage refused can now be added (by the admin, whom the guard allows).
    await kubectlOk(['label', 'namespace', labelTarget, `${MODE}=audit`]);
  });
});
