// Pods and workloads through the real API server and the registered pidguard
// webhooks: what kubectl shows, and what the API server stores.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { apis, auditEventsFor, createNamespace, kubectl, uniqueName, waitFor, webhookRequestCount } from './harness.js';
import { bestEffortContainer, burstableContainer, DOTNET_IMAGE, DOTNET_VARIANTS, pod, workload, type Container } from './objects.js';

/** kubectl's rendering of a webhook denial: the API server names the webhook, then pidguard's message. */
const WEBHOOK_DENIAL = /admission webhook "(validate|mutate)\.pidguard\.io" denied the request: pidguard denied /;
/** The subject of pidguard's denial of a pod (its wording says `pod`; the case is not the point). */
function deniedPod(name: string): RegExp {
  return new RegExp(`pidguard denied pod "${name}": `, 'i');
}

/** kubectl prints admission warnings as `Warning: <text>` on stderr. */
function auditWarning(denial: RegExp): RegExp {
  return new RegExp(`^Warning: audit mode, enforce would deny: ${denial.source}`, 'im');
}

const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob'] as const;
const FORCE_MAX = 'DOTNET_ThreadPool_ForceMaxWorkerThreads';
const MAX_THREADS = 'DOTNET_ThreadPool_MaxThreads';
const PIDS_LIMIT = 'pidguard.io/pids-limit';
const MUTATIONS = 'pidguard.io/mutations';

let enforce: string;
let unlabelled: string;
let audit: string;
let off: string;

beforeAll(async () => {
  enforce = await createNamespace('e2e-enforce', { 'pidguard.io/mode': 'enforce' });
  unlabelled = await createNamespace('e2e-default-mode');
  audit = await createNamespace('e2e-audit', { 'pidguard.io/mode': 'audit' });
  off = await createNamespace('e2e-off', { 'pidguard.io/mode': 'off' });
});

function apply(object: object, extra: string[] = [], as: 'admin' | 'user' = 'admin') {
  return kubectl(['apply', '-f', '-', ...extra], { input: object, as });
}

async function readPod(namespace: string, name: string): Promise<V1Pod> {
  return apis().core.readNamespacedPod({ name, namespace });
}

/** Whether the API server has stored the object: `kubectl get` succeeds or answers NotFound. */
async function stored(kind: string, namespace: string, name: string): Promise<boolean> {
  const result = await kubectl(['get', kind, name, '-n', namespace, '-o', 'name']);
  if (result.code === 0) return true;
  if (result.stderr.includes('NotFound')) return false;
  throw new Error(`kubectl get ${kind} ${name} -n ${namespace}: ${result.stderr}`);
}

function envOf(container: V1Container | undefined): Record<string, string | undefined> {
  return Object.fromEntries((container?.env ?? []).map((entry) => [entry.name, entry.value]));
}

/** The pod as pidguard found it: nothing pidguard sets is there. */
function expectUntouched(created: V1Pod): void {
  const annotations = created.metadata?.annotations ?? {};
  expect(annotations[PIDS_LIMIT]).toBeUndefined();
  expect(annotations[MUTATIONS]).toBeUndefined();
  for (const container of created.spec?.containers ?? []) {
    expect(envOf(container)[FORCE_MAX]).toBeUndefined();
    expect(envOf(container)[MAX_THREADS]).toBeUndefined();
  }
}

describe('enforce mode', () => {
  it.each([
    ['labelled pidguard.io/mode=enforce', () => enforce],
    ['without a label (defaultMode enforce)', () => unlabelled],
  ])('rejects a BestEffort pod in a namespace %s, and kubectl shows why and how to fix it', async (_label, namespaceOf) => {
    const namespace = namespaceOf();
    const name = uniqueName('besteffort');
    const result = await apply(pod(name, namespace, [bestEffortContainer('app'), bestEffortContainer('sidecar')]), [], 'user');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(WEBHOOK_DENIAL);
    expect(result.stderr).toMatch(deniedPod(name));
    expect(result.stderr).toContain('require-resources: BestEffort pod');
    expect(result.stderr).toContain('containers "app", "sidecar"');
    expect(result.stderr).toContain('Fix: set resources on at least one container');
    expect(await stored('pod', namespace, name)).toBe(false);
  });

  it('admits a Burstable pod that is not .NET, unchanged', async () => {
    const name = uniqueName('burstable');
    const result = await apply(pod(name, enforce, [burstableContainer()]), [], 'user');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const created = await readPod(enforce, name);
    expectUntouched(created);
    expect(created.spec?.containers[0]?.resources).toEqual(burstableContainer().resources);
    expect(created.status?.qosClass).toBe('Burstable');
  });

  it.each(DOTNET_VARIANTS.map((variant) => [variant.by, variant] as const))(
    'creates a .NET pod detected by %s with limits, both thread-pool variables, pids-limit and the record annotation',
    async (_by, variant) => {
      const name = uniqueName('dotnet');
      const result = await apply(pod(name, enforce, [variant.container], variant.meta), [], 'user');
      expect(result.stderr).not.toContain('Warning:'); // enforce mode patches; it does not warn
      expect(result.code).toBe(0);

      const created = await readPod(enforce, name);
      const container = created.spec?.containers[0];
      expect(container?.resources).toEqual({
        requests: { cpu: '100m', memory: '256Mi' },
        limits: { cpu: '1', memory: '1Gi' },
      });
      const env = envOf(container);
      expect(env[FORCE_MAX]).toBe('0x100'); // hexadecimal: what the .NET runtime parses
      expect(env[MAX_THREADS]).toBe('256');
      expect(created.metadata?.annotations?.[PIDS_LIMIT]).toBe('1024');
      const record = created.metadata?.annotations?.[MUTATIONS] ?? '';
      expect(record).toMatch(/^dotnet-guard set: container "app": /);
      expect(record).toContain(`${FORCE_MAX}=0x100`);
      expect(record).toContain(`annotation ${PIDS_LIMIT}=1024`);
      expect(created.status?.qosClass).toBe('Burstable');
      // What the user wrote is still there.
      expect(container?.image).toBe(variant.container.image);
      expect(container?.command).toEqual(variant.container.command);
      for (const [key, value] of Object.entries(variant.meta.labels ?? {})) expect(created.metadata?.labels?.[key]).toBe(value);
    },
  );

  it("keeps a .NET pod's own resources, thread-pool variables and pids-limit", async () => {
    const name = uniqueName('dotnet-own');
    const own: Container = {
      name: 'app',
      image: DOTNET_IMAGE,
      env: [
        { name: FORCE_MAX, value: '0x40' },
        { name: MAX_THREADS, value: '64' },
        { name: 'ASPNETCORE_URLS', value: 'http://+:8080' },
      ],
      resources: { requests: { cpu: '2', memory: '2Gi' }, limits: { cpu: '2', memory: '2Gi' } },
    };
    const result = await apply(pod(name, enforce, [own], { annotations: { [PIDS_LIMIT]: '4096' } }), [], 'user');
    expect(result.code).toBe(0);
    const created = await readPod(enforce, name);
    const container = created.spec?.containers[0];
    expect(container?.resources).toEqual(own.resources);
    expect(container?.env).toEqual(own.env);
    expect(created.metadata?.annotations?.[PIDS_LIMIT]).toBe('4096');
    expect(created.metadata?.annotations?.[MUTATIONS]).toBeUndefined(); // pidguard set nothing
    expect(created.status?.qosClass).toBe('Guaranteed');
  });

  it.each(WORKLOAD_KINDS)('rejects a %s whose pod template is BestEffort at apply', async (kind) => {
    const name = uniqueName(kind.toLowerCase());
    const result = await apply(workload(kind, name, enforce, [bestEffortContainer()]), [], 'user');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(WEBHOOK_DENIAL);
    expect(result.stderr).toContain(`pidguard denied ${kind} "${name}"`);
    expect(result.stderr).toContain('require-resources: BestEffort pod');
    expect(await stored(kind.toLowerCase(), enforce, name)).toBe(false);
  });

  it('accepts a .NET Deployment without resources, leaves its template as written, and its pods get them', async () => {
    const name = uniqueName('dotnet-deploy');
    const result = await apply(workload('Deployment', name, enforce, [{ name: 'app', image: DOTNET_IMAGE }]), [], 'user');
    expect(result.code).toBe(0);
    const stored = await apis().apps.readNamespacedDeployment({ name, namespace: enforce });
    const container = stored.spec?.template.spec?.containers[0];
    expect(container?.resources ?? {}).toEqual({});
    expect(container?.env).toBeUndefined();
    expect(stored.spec?.template.metadata?.annotations?.[PIDS_LIMIT]).toBeUndefined();

    // No controller-manager runs here: create the pod its ReplicaSet would, from the stored template.
    const podName = `${name}-7d9c5b-x2x4q`;
    const fromTemplate = { apiVersion: 'v1', kind: 'Pod', metadata: { ...stored.spec?.template.metadata, name: podName, namespace: enforce }, spec: stored.spec?.template.spec };
    const created = await kubectl(['create', '-f', '-'], { input: fromTemplate, as: 'user' });
    expect(created.code).toBe(0);
    const podOf = await readPod(enforce, podName);
    expect(podOf.spec?.containers[0]?.resources?.limits).toEqual({ cpu: '1', memory: '1Gi' });
    expect(envOf(podOf.spec?.containers[0])[FORCE_MAX]).toBe('0x100');
    expect(podOf.metadata?.annotations?.[PIDS_LIMIT]).toBe('1024');
  });

  it('admits a workload whose template is Burstable', async () => {
    const name = uniqueName('burstable-job');
    const result = await apply(workload('Job', name, enforce, [burstableContainer()]), [], 'user');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});

describe('audit mode', () => {
  it("admits a BestEffort pod, kubectl prints pidguard's warning, and the pod is not mutated", async () => {
    const name = uniqueName('audit-besteffort');
    const result = await apply(pod(name, audit, [bestEffortContainer()]), [], 'user');
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(auditWarning(deniedPod(name)));
    expect(result.stderr).toContain('require-resources: BestEffort pod');
    const created = await readPod(audit, name);
    expectUntouched(created);
    expect(created.status?.qosClass).toBe('BestEffort');
  });

  it('admits a .NET pod unpatched and warns what enforce would set', async () => {
    const name = uniqueName('audit-dotnet');
    const result = await apply(pod(name, audit, [{ name: 'app', image: DOTNET_IMAGE }]), [], 'user');
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('Warning: audit mode, enforce would set: container "app": ');
    expect(result.stderr).toContain(`${FORCE_MAX}=0x100`);
    const created = await readPod(audit, name);
    expectUntouched(created);
    expect(created.spec?.containers[0]?.resources ?? {}).toEqual({});
  });

  it.each([
    ['would-deny', [bestEffortContainer()], 'require-resources: BestEffort pod'],
    ['would-mutate', [{ name: 'app', image: DOTNET_IMAGE }], `${FORCE_MAX}=0x100`],
  ] as const)("records %s as an audit annotation in the API server's audit log", async (key, containers, expected) => {
    const name = uniqueName(`audit-${key}`);
    const result = await apply(pod(name, audit, [...containers]), [], 'user');
    expect(result.code).toBe(0);
    const annotations = await waitFor(`the audit event of pod ${name}`, async () =>
      auditEventsFor('pods', audit, name).find((event) => event.verb === 'create')?.annotations);
    // The API server prefixes each webhook's audit annotations with the webhook's name.
    const values = Object.entries(annotations)
      .filter(([annotation]) => new RegExp(`^(mutate|validate)\\.pidguard\\.io/${key}$`).test(annotation))
      .map(([, value]) => value);
    expect(values.length).toBeGreaterThan(0);
    for (const value of values) expect(value).toContain(expected);
  });

  it('admits a BestEffort Deployment with a warning', async () => {
    const name = uniqueName('audit-deploy');
    const result = await apply(workload('Deployment', name, audit, [bestEffortContainer()]), [], 'user');
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(auditWarning(/pidguard denied Deployment "[^"]+"/));
    expect(result.stderr).toContain(`Deployment "${name}"`);
    expect(await stored('deployment', audit, name)).toBe(true);
  });
});

describe('namespaces the API server never sends to pidguard', () => {
  // The counter moves with every AdmissionReview pidguard answers; the
  // positive control at the end proves that it does move.
  it.each([
    ['labelled pidguard.io/mode=off', () => off],
    ['kube-system', () => 'kube-system'],
  ])('a namespace %s: pods and workloads are admitted as written and pidguard is not called', async (_label, namespaceOf) => {
    const namespace = namespaceOf();
    const before = await webhookRequestCount();
    const plainName = uniqueName('skip-besteffort');
    const dotnetName = uniqueName('skip-dotnet');
    const deployName = uniqueName('skip-deploy');
    for (const object of [
      pod(plainName, namespace, [bestEffortContainer()]),
      pod(dotnetName, namespace, [{ name: 'app', image: DOTNET_IMAGE }]),
      workload('Deployment', deployName, namespace, [bestEffortContainer()]),
    ]) {
      const result = await apply(object);
      expect(result.stderr).not.toMatch(/pidguard|Warning:/);
      expect(result.code).toBe(0);
    }
    expectUntouched(await readPod(namespace, plainName));
    expectUntouched(await readPod(namespace, dotnetName));
    expect(await webhookRequestCount()).toBe(before);

    // Positive control: the same BestEffort pod in an enforce namespace reaches pidguard.
    const denied = await apply(pod(uniqueName('control'), enforce, [bestEffortContainer()]));
    expect(denied.stderr).toMatch(WEBHOOK_DENIAL);
    expect(await webhookRequestCount()).toBeGreaterThan(before);

    if (namespace === 'kube-system') {
      await kubectl(['delete', 'pod', plainName, dotnetName, '-n', namespace, '--wait=false']);
      await kubectl(['delete', 'deployment', deployName, '-n', namespace, '--wait=false']);
    }
  });
});

describe('kubectl apply --dry-run=server', () => {
  it('denies a BestEffort pod with the same message and stores nothing', async () => {
    const name = uniqueName('dry-besteffort');
    const result = await apply(pod(name, enforce, [bestEffortContainer()]), ['--dry-run=server'], 'user');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(WEBHOOK_DENIAL);
    expect(result.stderr).toMatch(deniedPod(name));
    expect(result.stderr).toContain('require-resources: BestEffort pod');
    expect(await stored('pod', enforce, name)).toBe(false);
  });

  it('returns the mutated .NET pod and stores nothing', async () => {
    const name = uniqueName('dry-dotnet');
    const result = await apply(pod(name, enforce, [{ name: 'app', image: DOTNET_IMAGE }]), ['--dry-run=server', '-o', 'json'], 'user');
    expect(result.code).toBe(0);
    const answered = JSON.parse(result.stdout) as V1Pod;
    expect(envOf(answered.spec?.containers[0])[FORCE_MAX]).toBe('0x100');
    expect(envOf(answered.spec?.containers[0])[MAX_THREADS]).toBe('256');
    expect(answered.spec?.containers[0]?.resources?.limits).toEqual({ cpu: '1', memory: '1Gi' });
    expect(answered.metadata?.annotations?.[PIDS_LIMIT]).toBe('1024');
    expect(answered.metadata?.annotations?.[MUTATIONS]).toMatch(/^dotnet-guard set: /);
    expect(await stored('pod', enforce, name)).toBe(false);
  });

  it('denies a BestEffort CronJob and stores nothing', async () => {
    const name = uniqueName('dry-cronjob');
    const result = await apply(workload('CronJob', name, enforce, [bestEffortContainer()]), ['--dry-run=server'], 'user');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`pidguard denied CronJob "${name}"`);
    expect(await stored('cronjob', enforce, name)).toBe(false);
  });

  it('warns in audit mode and stores nothing', async () => {
    const name = uniqueName('dry-audit');
    const result = await apply(pod(name, audit, [bestEffortContainer()]), ['--dry-run=server'], 'user');
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(auditWarning(deniedPod(name)));
    expect(await stored('pod', audit, name)).toBe(false);
  });
});
