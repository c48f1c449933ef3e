// The admission endpoints through supertest: every operation, mode and label
// source, the namespace-label guard, and the answers /mutate and /validate give.

import request from 'supertest';
import { applyPatch } from '../../../src/policy/json-patch.js';
import type { KubeObject } from '../../../src/policy/types.js';
import { noNamespaceLabels, type NamespaceLabelSource } from '../../../src/kube/namespace-labels.js';
import {
  bestEffortPod, configWith, container, decodePatch, dotnetPod, namespaceObject, namespaces, pod, review, STANDARD_NAMESPACES, testApp, type ReviewFields,
} from './support.js';

type Answer = { uid: string; allowed: boolean; status?: { code: number; reason?: string; message: string }; patchType?: string; patch?: string; warnings?: string[]; auditAnnotations?: Record<string, string> };

async function post(app: ReturnType<typeof testApp>['app'], path: '/mutate' | '/validate', fields: ReviewFields): Promise<Answer> {
  const res = await request(app).post(path).set('content-type', 'application/json').send(review(fields));
  expect(res.status).toBe(200);
  expect(res.body.apiVersion).toBe('admission.k8s.io/v1');
  expect(res.body.kind).toBe('AdmissionReview');
  return res.body.response as Answer;
}

const deploymentOf = (spec: { containers: ReturnType<typeof container>[] }, namespace = 'team-a'): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace },
  spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec } },
});

describe('CREATE', () => {
  const { app } = testApp();

  it('/mutate patches a .NET pod with a base64 JSON patch that applies cleanly and echoes the uid', async () => {
    const object = dotnetPod();
    const answer = await post(app, '/mutate', { uid: 'c0ffee', object });
    expect(answer.uid).toBe('c0ffee');
    expect(answer.allowed).toBe(true);
    expect(answer.patchType).toBe('JSONPatch');
    const patched = applyPatch(object, decodePatch(answer) as never) as KubeObject;
    const api = (patched.spec as { containers: Array<{ env: Array<{ name: string; value: string }>; resources: unknown }> }).containers[0]!;
    expect(api.env).toContainEqual({ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0x100' });
    expect(api.resources).toEqual({ requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } });
    expect(patched.metadata?.annotations?.['pidguard.io/pids-limit']).toBe('1024');
    expect(answer.warnings).toBeUndefined();
  });

  it('/mutate answers without patchType or patch when there is nothing to change', async () => {
    const answer = await post(app, '/mutate', { object: pod({ containers: [container('web', { requests: { cpu: '1', memory: '1Gi' } })] }) });
    expect(answer).toEqual({ uid: 'uid-1', allowed: true });
  });

  it('/mutate never denies: a BestEffort pod passes /mutate and is denied by /validate with 403 Forbidden', async () => {
    expect(await post(app, '/mutate', { object: bestEffortPod() })).toEqual({ uid: 'uid-1', allowed: true });
    const answer = await post(app, '/validate', { object: bestEffortPod() });
    expect(answer.allowed).toBe(false);
    expect(answer.status).toEqual({ code: 403, reason: 'Forbidden', message: expect.stringMatching(/^pidguard denied pod "web": require-resources: /) });
  });

  it('/validate allows a mutated .NET pod without warnings', async () => {
    const object = dotnetPod();
    const mutated = applyPatch(object, decodePatch(await post(app, '/mutate', { object })) as never) as KubeObject;
    expect(await post(app, '/validate', { object: mutated })).toEqual({ uid: 'uid-1', allowed: true });
  });

  it('/validate warns when the mutating webhook was skipped for a pod, and still allows it', async () => {
    const answer = await post(app, '/validate', { object: dotnetPod() });
    expect(answer.allowed).toBe(true);
    expect(answer.warnings).toEqual([expect.stringMatching(/^pidguard's mutating webhook did not run for this pod.*DOTNET_ThreadPool_ForceMaxWorkerThreads=0x100/)]);
    expect(answer.auditAnnotations?.['mutation-skipped']).toContain('pids-limit=1024');
    expect(answer.patch).toBeUndefined();
  });

  it('judges workloads through their template at /validate and never patches them at /mutate', async () => {
    const bestEffort = deploymentOf({ containers: [container('web')] });
    expect(await post(app, '/mutate', { object: bestEffort })).toEqual({ uid: 'uid-1', allowed: true });
    const answer = await post(app, '/validate', { object: bestEffort });
    expect(answer.status?.message).toMatch(/Deployment "web" \(its pod template\)/);
    const dotnet = deploymentOf({ containers: [container('api', undefined, { image: 'mcr.microsoft.com/dotnet/runtime:8.0' })] });
    expect(await post(app, '/mutate', { object: dotnet })).toEqual({ uid: 'uid-1', allowed: true });
    expect(await post(app, '/validate', { object: dotnet })).toEqual({ uid: 'uid-1', allowed: true });
  });
});

describe('UPDATE, DELETE, CONNECT, dry-run, subresources, other kinds', () => {
  const { app } = testApp();

  it('never patches a pod on UPDATE (resources and env of a pod are immutable)', async () => {
    const old = dotnetPod();
    const changed = dotnetPod({ labels: { release: 'two' } });
    expect(await post(app, '/mutate', { operation: 'UPDATE', object: changed, oldObject: old })).toEqual({ uid: 'uid-1', allowed: true });
    expect(await post(app, '/validate', { operation: 'UPDATE', object: bestEffortPod(), oldObject: bestEffortPod() })).toEqual({ uid: 'uid-1', allowed: true });
  });

  it('polices a workload UPDATE only when the pod template changed', async () => {
    const old = deploymentOf({ containers: [container('web')] });
    const scaled = { ...old, spec: { ...(old.spec as object), replicas: 5 } };
    expect((await post(app, '/validate', { operation: 'UPDATE', object: scaled, oldObject: old })).allowed).toBe(true);
    const retagged = deploymentOf({ containers: [container('web', undefined, { image: 'nginx:1.28' })] });
    expect((await post(app, '/validate', { operation: 'UPDATE', object: retagged, oldObject: old })).status?.code).toBe(403);
  });

  it('allows DELETE with a null object at both endpoints', async () => {
    for (const path of ['/mutate', '/validate'] as const) {
      expect(await post(app, path, { operation: 'DELETE', object: null, oldObject: bestEffortPod(), uid: `del-${path}` })).toEqual({ uid: `del-${path}`, allowed: true });
    }
  });

  it('allows CONNECT (exec, attach, port-forward) untouched', async () => {
    const connect = { operation: 'CONNECT', subResource: 'exec', kind: { group: '', version: 'v1', kind: 'PodExecOptions' }, object: { apiVersion: 'v1', kind: 'PodExecOptions', command: ['sh'] } as KubeObject };
    expect(await post(app, '/mutate', connect)).toEqual({ uid: 'uid-1', allowed: true });
    expect(await post(app, '/validate', connect)).toEqual({ uid: 'uid-1', allowed: true });
  });

  it('gives a dry-run request the same decision and logs it as dry-run', async () => {
    const { app: dryApp, logs } = testApp();
    const wet = await post(dryApp, '/validate', { object: bestEffortPod() });
    const dry = await post(dryApp, '/validate', { object: bestEffortPod(), dryRun: true });
    expect(dry).toEqual(wet);
    const patchWet = await post(dryApp, '/mutate', { object: dotnetPod() });
    expect(await post(dryApp, '/mutate', { object: dotnetPod(), dryRun: true })).toEqual(patchWet);
    expect(logs.filter((line) => line.msg === 'admission decision').map((line) => line.dryRun)).toEqual([false, true, false, true]);
  });

  it('leaves a Pod or workload of a shape the API server rejects to its validation, logged as skipped', async () => {
    const { app: shapes, logs } = testApp();
    const emptyPod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'empty', namespace: 'team-a' }, spec: { containers: [] } } as KubeObject;
    const noTemplate = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'bare', namespace: 'team-a' }, spec: { replicas: 1 } } as KubeObject;
    for (const object of [emptyPod, noTemplate]) {
      expect(await post(shapes, '/mutate', { object })).toEqual({ uid: 'uid-1', allowed: true });
      expect(await post(shapes, '/validate', { object })).toEqual({ uid: 'uid-1', allowed: true });
    }
    const decisions = logs.filter((line) => line.msg === 'admission decision' && line.webhook === 'validate');
    expect(decisions.map((line) => [line.decision, line.skipReason])).toEqual([
      ['skipped', 'malformed object: spec.containers is empty'],
      ['skipped', 'malformed object: spec.template is missing'],
    ]);
  });

  it('leaves subresource requests alone (status, ephemeralcontainers, binding)', async () => {
    for (const subResource of ['status', 'ephemeralcontainers', 'binding']) {
      expect(await post(app, '/validate', { operation: 'UPDATE', subResource, object: bestEffortPod(), oldObject: bestEffortPod() })).toEqual({ uid: 'uid-1', allowed: true });
      expect(await post(app, '/mutate', { operation: 'CREATE', subResource, object: dotnetPod() })).toEqual({ uid: 'uid-1', allowed: true });
    }
  });

  it('allows kinds it does not police, untouched and without warnings', async () => {
    const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'nowhere' }, data: { a: 'b' } } as KubeObject;
    const { app: lonely } = testApp({ namespaceLabels: noNamespaceLabels() });
    expect(await post(lonely, '/mutate', { object: configMap, namespace: 'nowhere' })).toEqual({ uid: 'uid-1', allowed: true });
    expect(await post(lonely, '/validate', { object: configMap, namespace: 'nowhere' })).toEqual({ uid: 'uid-1', allowed: true });
  });
});

describe('modes from namespace labels', () => {
  const { app } = testApp();

  it('enforce (label or default) denies and patches', async () => {
    for (const namespace of ['enforced', 'team-a']) {
      expect((await post(app, '/validate', { namespace, object: bestEffortPod() })).status?.code).toBe(403);
      expect((await post(app, '/mutate', { namespace, object: dotnetPod() })).patchType).toBe('JSONPatch');
    }
  });

  it('audit allows, never patches, and warns and annotates what enforce would do', async () => {
    expect(await post(app, '/mutate', { namespace: 'audited', object: dotnetPod() })).toEqual({ uid: 'uid-1', allowed: true });
    const answer = await post(app, '/validate', { namespace: 'audited', object: bestEffortPod() });
    expect(answer.allowed).toBe(true);
    expect(answer.warnings).toEqual([expect.stringMatching(/^audit mode, enforce would deny: pidguard denied pod "web"/)]);
    expect(answer.auditAnnotations?.['would-deny']).toMatch(/require-resources/);
    const dotnet = await post(app, '/validate', { namespace: 'audited', object: dotnetPod() });
    expect(dotnet.warnings).toEqual([expect.stringMatching(/^audit mode, enforce would set: container "api"/)]);
    expect(dotnet.auditAnnotations?.['would-mutate']).toContain('0x100');
  });

  it('off evaluates nothing', async () => {
    expect(await post(app, '/validate', { namespace: 'exempt', object: bestEffortPod() })).toEqual({ uid: 'uid-1', allowed: true });
    expect(await post(app, '/mutate', { namespace: 'exempt', object: dotnetPod() })).toEqual({ uid: 'uid-1', allowed: true });
  });

  it('an invalid mode label means the default mode plus a warning', async () => {
    const answer = await post(app, '/validate', { namespace: 'typo', object: bestEffortPod() });
    expect(answer.status?.code).toBe(403);
    expect(answer.warnings).toEqual([expect.stringContaining('pidguard.io/mode="of" is not one of enforce, audit, off')]);
  });

  it('the configured default mode applies to unlabelled namespaces', async () => {
    const { app: auditByDefault } = testApp({ config: configWith({ defaultMode: 'audit' }) });
    const answer = await post(auditByDefault, '/validate', { namespace: 'team-a', object: bestEffortPod() });
    expect(answer.allowed).toBe(true);
    expect(answer.warnings?.[0]).toMatch(/^audit mode, enforce would deny/);
  });
});

describe('label sources and failing closed', () => {
  it('no label source: the default mode applies, with a warning, never an exemption', async () => {
    const { app, metrics } = testApp({ namespaceLabels: noNamespaceLabels() });
    const answer = await post(app, '/validate', { namespace: 'exempt', object: bestEffortPod() });
    expect(answer.status?.code).toBe(403);
    expect(answer.warnings?.[0]).toMatch(/could not read the labels of namespace "exempt" \(no namespace label source .*\); applying the cluster default mode enforce \(fail closed\)/);
    expect((await post(app, '/mutate', { namespace: 'exempt', object: dotnetPod() })).patchType).toBe('JSONPatch');
    expect(await metrics.registry.getSingleMetricAsString('pidguard_namespace_label_lookups_total')).toContain('pidguard_namespace_label_lookups_total{result="unavailable"} 2');
  });

  it('a namespace missing from the namespaces file fails closed too', async () => {
    const { app } = testApp({ namespaceLabels: namespaces({ exempt: { 'pidguard.io/mode': 'off' } }) });
    const answer = await post(app, '/validate', { namespace: 'elsewhere', object: bestEffortPod() });
    expect(answer.status?.code).toBe(403);
    expect(answer.warnings?.[0]).toContain('namespace "elsewhere" is not in the namespaces file');
  });

  it('a source that must ask the API server (answers later) gives the same decisions, and every review finishes', async () => {
    const fromFile = namespaces(STANDARD_NAMESPACES);
    const later: NamespaceLabelSource = { ...fromFile, labelsOf: async (namespace) => fromFile.labelsOf(namespace) };
    const { app, inFlight } = testApp({ namespaceLabels: later });
    const audited = await post(app, '/validate', { namespace: 'audited', object: bestEffortPod() });
    expect(audited.allowed).toBe(true);
    expect(audited.warnings?.[0]).toMatch(/^audit mode, enforce would deny/);
    expect((await post(app, '/mutate', { namespace: 'team-a', object: dotnetPod() })).patchType).toBe('JSONPatch');
    expect(inFlight()).toBe(0);
  });

  it('a lookup that fails outright answers 500 with the reason, logs it, and the server keeps serving', async () => {
    const broken: NamespaceLabelSource = { ...noNamespaceLabels(), labelsOf: async () => { throw new Error('connection reset'); } };
    const { app, logs, inFlight } = testApp({ namespaceLabels: broken });
    const res = await request(app).post('/validate').set('content-type', 'application/json').send(review({ uid: 'u-500', object: bestEffortPod() }));
    expect(res.status).toBe(500);
    expect(res.body.response).toEqual({ uid: 'u-500', allowed: false, status: { code: 500, message: 'internal error while reviewing the request: connection reset' } });
    expect(logs.find((line) => line.msg === 'admission review failed')).toMatchObject({ uid: 'u-500', code: 'INTERNAL', status: 500 });
    expect((await request(app).get('/healthz')).status).toBe(200);
    expect(inFlight()).toBe(0);
  });

  it('reviews wait for a slow lookup only while the body budget holds their parsed bodies (20x each); the rest are judged at once, fail closed', async () => {
    // Lookups that answer only when released, as with an API server that hangs.
    const fromFile = namespaces(STANDARD_NAMESPACES);
    const waiting: Array<() => void> = [];
    const slow: NamespaceLabelSource = {
      ...fromFile,
      labelsOf: (namespace) => new Promise((resolve) => waiting.push(() => resolve(fromFile.labelsOf(namespace) as Awaited<ReturnType<NamespaceLabelSource['labelsOf']>>))),
    };
    const body = Buffer.byteLength(JSON.stringify(review({ uid: 'u-0', namespace: 'audited', object: bestEffortPod() })));
    // Room for the raw bodies of all five and the parsed bodies of two.
    const { app, inFlight } = testApp({ namespaceLabels: slow, bodyBytesInFlight: 5 * body + 2 * 20 * body + Math.floor(body / 2) });
    const answers = [0, 1, 2, 3, 4].map((n) => request(app).post('/validate').set('content-type', 'application/json').send(review({ uid: `u-${n}`, namespace: 'audited', object: bestEffortPod() })).then((res) => res.body.response as { uid: string; allowed: boolean; warnings?: string[] }));
    // Three are answered without their labels: the default mode (enforce) denies the BestEffort pod, saying why.
    const deadline = Date.now() + 5_000;
    while (inFlight() !== 2 || waiting.length !== 5) {
      if (Date.now() > deadline) throw new Error(`in flight ${inFlight()}, lookups ${waiting.length}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    waiting.forEach((release) => release());
    const responses = await Promise.all(answers);
    const waited = responses.filter((answer) => answer.allowed);
    const judgedAtOnce = responses.filter((answer) => !answer.allowed);
    expect(waited).toHaveLength(2); // the namespace's audit label, read once the lookup answered
    expect(waited.every((answer) => /^audit mode, enforce would deny/.test(answer.warnings?.[0] ?? ''))).toBe(true);
    expect(judgedAtOnce).toHaveLength(3);
    for (const answer of judgedAtOnce) {
      expect(answer.warnings?.[0]).toBe('pidguard could not read the labels of namespace "audited" (not waited for: the body budget is full with reviews waiting for namespace labels); applying the cluster default mode enforce (fail closed)');
    }
    expect(inFlight()).toBe(0);
  });

  it('/mutate never carries the fail-closed warning (/validate does, once)', async () => {
    const { app } = testApp({ namespaceLabels: noNamespaceLabels() });
    expect((await post(app, '/mutate', { object: dotnetPod() })).warnings).toBeUndefined();
  });
});

describe('namespace-label guard', () => {
  const { app } = testApp({ config: configWith({ namespaceGuard: { users: ['platform-admin'], groups: ['system:masters'] } }) });
  const update = (userInfo: unknown, labelsBefore: Record<string, string>, labelsAfter: Record<string, string>, name = 'team-a'): ReviewFields => ({
    operation: 'UPDATE', userInfo, kind: { group: '', version: 'v1', kind: 'Namespace' },
    object: namespaceObject(name, labelsAfter), oldObject: namespaceObject(name, labelsBefore),
  });

  it('denies an ordinary user adding pidguard.io/mode: off', async () => {
    const answer = await post(app, '/validate', update({ username: 'eve', groups: ['system:authenticated'] }, {}, { 'pidguard.io/mode': 'off' }));
    expect(answer.allowed).toBe(false);
    expect(answer.status?.message).toMatch(/namespace "team-a".*user "eve" may not add pidguard.io\/mode=off/);
  });

  it('denies changing and removing the label, and setting it on CREATE', async () => {
    const eve = { username: 'eve' };
    expect((await post(app, '/validate', update(eve, { 'pidguard.io/mode': 'enforce' }, { 'pidguard.io/mode': 'audit' }))).allowed).toBe(false);
    expect((await post(app, '/validate', update(eve, { 'pidguard.io/mode': 'enforce' }, {}))).allowed).toBe(false);
    expect((await post(app, '/validate', { userInfo: eve, object: namespaceObject('new', { 'pidguard.io/mode': 'off' }) })).allowed).toBe(false);
  });

  it('allows configured users and groups, and other label changes by anyone', async () => {
    expect((await post(app, '/validate', update({ username: 'platform-admin' }, {}, { 'pidguard.io/mode': 'off' }))).allowed).toBe(true);
    expect((await post(app, '/validate', update({ username: 'root', groups: ['system:masters'] }, {}, { 'pidguard.io/mode': 'off' }))).allowed).toBe(true);
    expect((await post(app, '/validate', update({ username: 'eve' }, {}, { team: 'a' }))).allowed).toBe(true);
  });

  it.each(['status', 'finalize'])('guards the labels on UPDATE through namespaces/%s as well', async (subResource) => {
    const eve = { username: 'eve' };
    const through = (fields: ReviewFields): ReviewFields => ({ ...fields, subResource });
    const denied = await post(app, '/validate', through(update(eve, { 'pidguard.io/mode': 'enforce' }, { 'pidguard.io/mode': 'off' })));
    expect(denied.allowed).toBe(false);
    expect(denied.status?.message).toMatch(/namespace "team-a".*user "eve" may not change pidguard.io\/mode from enforce to off/);
    expect((await post(app, '/validate', through(update(eve, { 'pidguard.io/mode': 'enforce' }, { 'pidguard.io/mode': 'enforce', team: 'a' })))).allowed).toBe(true);
    expect((await post(app, '/validate', through(update({ username: 'platform-admin' }, {}, { 'pidguard.io/mode': 'off' })))).allowed).toBe(true);
  });

  it('judges Namespace objects in the default mode, whatever their own or their label source says', async () => {
    // "exempt" is mode off in the label source; its own label must not exempt it from the guard.
    const answer = await post(app, '/validate', update({ username: 'eve' }, { 'pidguard.io/mode': 'off' }, { 'pidguard.io/mode': 'off', 'pidguard.io/extra': 'x' }, 'exempt'));
    expect(answer.allowed).toBe(false);
    expect(answer.warnings).toBeUndefined();
  });
});

describe('one log line and metrics per decision', () => {
  it('logs uid, kind, namespace, name, operation, mode, decision, rules, dry-run and latency', async () => {
    const { app, logs, metrics } = testApp();
    await post(app, '/validate', { uid: 'log-1', object: bestEffortPod() });
    const decisions = logs.filter((line) => line.msg === 'admission decision');
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({
      level: 'info', uid: 'log-1', webhook: 'validate', kind: 'Pod', namespace: 'team-a', name: 'web', operation: 'CREATE',
      mode: 'enforce', decision: 'denied', rules: ['require-resources'], dryRun: false, user: 'alice',
    });
    expect(typeof decisions[0]!.latencyMs).toBe('number');
    const text = await metrics.registry.metrics();
    expect(text).toContain('pidguard_admission_requests_total{webhook="validate",decision="denied",mode="enforce"} 1');
    expect(text).toContain('pidguard_policy_violations_total{rule="require-resources",mode="enforce"} 1');
    expect(text).toContain('pidguard_admission_decision_duration_seconds_count{webhook="validate"} 1');
  });

  it('counts mutations at /mutate only when a patch is sent, and skipped requests as skipped', async () => {
    const { app, metrics } = testApp();
    await post(app, '/mutate', { object: dotnetPod() });
    await post(app, '/mutate', { namespace: 'audited', object: dotnetPod() });
    await post(app, '/mutate', { operation: 'DELETE', object: null, oldObject: dotnetPod() });
    const text = await metrics.registry.metrics();
    // dotnet-guard made two changes: the container's resources and env, and the pod's pids-limit annotation.
    expect(text).toContain('pidguard_mutations_total{rule="dotnet-guard"} 2');
    expect(text).toContain('pidguard_admission_requests_total{webhook="mutate",decision="patched",mode="enforce"} 1');
    expect(text).toContain('pidguard_admission_requests_total{webhook="mutate",decision="allowed",mode="audit"} 1');
    expect(text).toContain('pidguard_admission_requests_total{webhook="mutate",decision="skipped",mode="enforce"} 1');
  });
});

describe('health endpoints', () => {
  it('/healthz is ok; /readyz follows the label source', async () => {
    let ready = false;
    const source = { ...namespaces(STANDARD_NAMESPACES), isReady: () => ready, state: () => 'syncing' as const };
    const { app } = testApp({ namespaceLabels: source });
    expect((await request(app).get('/healthz')).status).toBe(200);
    const notReady = await request(app).get('/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.text).toContain('namespace-labels: syncing');
    ready = true;
    expect((await request(app).get('/readyz')).status).toBe(200);
  });
});
