import { defaultConfig } from '../../../src/policy/config.js';
import { evaluate, type EvaluationRequest } from '../../../src/policy/engine.js';
import { applyPatch } from '../../../src/policy/json-patch.js';
import { RULES, validateRegistry, type Rule } from '../../../src/policy/rules/index.js';
import type { KubeObject, PodSpec } from '../../../src/policy/types.js';
import { container, deepFreeze, deployment, pod } from './pods.js';

const config = defaultConfig();
const run = (object: KubeObject | null, extra: Partial<EvaluationRequest> = {}) =>
  evaluate({ object, operation: 'CREATE', mode: 'enforce', config, ...extra });

const bestEffort: PodSpec = { containers: [container('web')] };
const dotnetSpec: PodSpec = { containers: [container('api', undefined, { image: 'mcr.microsoft.com/dotnet/aspnet:8.0' })] };
const withTemplate = (kind: string, spec: PodSpec): KubeObject => {
  const template = { metadata: { labels: { app: 'x' } }, spec };
  const specs: Record<string, unknown> = {
    Deployment: { template },
    StatefulSet: { serviceName: 'x', template },
    DaemonSet: { template },
    ReplicaSet: { template },
    ReplicationController: { template },
    Job: { template },
    CronJob: { schedule: '* * * * *', jobTemplate: { spec: { template } } },
  };
  return { apiVersion: 'v1', kind, metadata: { name: 'x', namespace: 'default' }, spec: specs[kind] };
};

describe('registry', () => {
  it('lists the rules with unique kebab-case ids', () => {
    expect(RULES.map((r) => r.id)).toEqual(['dotnet-guard', 'pids-default', 'pids-ceiling', 'pod-pid-limit', 'require-resources', 'namespace-label-guard', 'pids-limit-guard']);
  });

  it('refuses duplicates, bad ids and empty descriptions', () => {
    const [rule] = RULES;
    expect(() => validateRegistry([rule!, rule!])).toThrow('registered twice');
    expect(() => validateRegistry([{ ...rule!, id: 'Bad_Id' }])).toThrow('not kebab-case');
    expect(() => validateRegistry([{ ...rule!, description: ' ' }])).toThrow('no description');
  });
});

describe('evaluate: pods', () => {
  it('denies a BestEffort pod in enforce mode with a message naming the rule and the fix', () => {
    const result = run(pod(bestEffort));
    expect(result.allowed).toBe(false);
    expect(result.message).toBe(
      'pidguard denied pod "p": require-resources: BestEffort pod (no cpu or memory requests or limits): container "web" sets no cpu or memory requests or limits. ' +
        'Fix: set resources on at least one container, for example resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}.',
    );
    expect(result.violations.map((v) => v.ruleId)).toEqual(['require-resources']);
    expect(result.patch).toEqual([]);
    expect(result.qosClass).toBe('BestEffort');
  });

  it('mutates a .NET pod and admits it: the check sees the mutated pod', () => {
    const result = run(pod(dotnetSpec));
    expect(result.allowed).toBe(true);
    expect(result.violations).toEqual([]);
    expect(result.qosClass).toBe('Burstable');
    const mutated = applyPatch(pod(dotnetSpec), result.patch);
    expect(mutated.metadata?.annotations?.['pidguard.io/pids-limit']).toBe('1024');
    expect((mutated.spec as PodSpec).containers[0]!.resources?.limits).toEqual({ cpu: '1', memory: '1Gi' });
  });

  it('escapes the / of annotation keys as ~1 when annotations already exist', () => {
    const result = run(pod(dotnetSpec, { annotations: { existing: 'yes' } }));
    const paths = result.patch.map((op) => op.path);
    expect(paths).toContain('/metadata/annotations/pidguard.io~1pids-limit');
    expect(paths).toContain('/metadata/annotations/pidguard.io~1mutations');
  });

  it('adds the whole annotations map when the pod has none', () => {
    const result = run(pod(dotnetSpec));
    expect(result.patch).toContainEqual(expect.objectContaining({ op: 'add', path: '/metadata/annotations' }));
  });

  it('appends to an existing env list and creates a missing one', () => {
    const withEnv = pod({ containers: [container('api', undefined, { command: ['dotnet', 'a.dll'], env: [{ name: 'A', value: '1' }] })] });
    const appended = run(withEnv).patch.filter((op) => op.path.includes('/env'));
    expect(appended.map((op) => op.path)).toEqual(['/spec/containers/0/env/1', '/spec/containers/0/env/2']);
    const created = run(pod(dotnetSpec)).patch.filter((op) => op.path.includes('/env'));
    expect(created).toEqual([{ op: 'add', path: '/spec/containers/0/env', value: expect.any(Array) }]);
  });

  it('patches init containers at their own path', () => {
    const spec: PodSpec = { containers: [container('app', { requests: { cpu: '1' } })], initContainers: [container('m', undefined, { args: ['Migrate.dll'] })] };
    const paths = run(pod(spec)).patch.map((op) => op.path);
    expect(paths.some((p) => p.startsWith('/spec/initContainers/0/'))).toBe(true);
    expect(paths.some((p) => p.startsWith('/spec/containers/0/'))).toBe(false);
  });

  it('adds nothing to an already mutated pod', () => {
    const mutated = applyPatch(pod(dotnetSpec), run(pod(dotnetSpec)).patch);
    const again = run(mutated);
    expect(again.patch).toEqual([]);
    expect(again.mutations).toEqual([]);
    expect(again.allowed).toBe(true);
  });

  it('names pods by generateName when the API server will name them', () => {
    expect(run(pod(bestEffort, { name: undefined, generateName: 'web-' })).name).toBe('web-*');
  });
});

describe('evaluate: modes', () => {
  it('audit never denies or patches, and says what enforce would do', () => {
    const denied = run(pod(bestEffort), { mode: 'audit' });
    expect(denied.allowed).toBe(true);
    expect(denied.patch).toEqual([]);
    expect(denied.warnings).toEqual([`audit mode, enforce would deny: ${run(pod(bestEffort)).message}`]);
    expect(denied.auditAnnotations).toEqual({ 'would-deny': run(pod(bestEffort)).message });

    const mutated = run(pod(dotnetSpec), { mode: 'audit' });
    expect(mutated.patch).toEqual([]);
    expect(mutated.warnings[0]).toMatch(/^audit mode, enforce would set: container "api": cpu request 100m/);
    expect(mutated.auditAnnotations['would-mutate']).toContain('annotation pidguard.io/pids-limit=1024');
  });

  it('off evaluates nothing', () => {
    const result = run(pod(bestEffort), { mode: 'off' });
    expect(result).toMatchObject({ evaluated: false, skipReason: 'mode off', allowed: true, violations: [], patch: [], warnings: [] });
  });

  it('enforce adds no warnings or audit annotations', () => {
    const result = run(pod(bestEffort));
    expect(result.warnings).toEqual([]);
    expect(result.auditAnnotations).toEqual({});
  });
});

describe('evaluate: workloads are judged as the pods they create', () => {
  it.each(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job', 'CronJob'])(
    '%s with a BestEffort template is denied, and never patched',
    (kind) => {
      const result = run(withTemplate(kind, bestEffort));
      expect(result.allowed).toBe(false);
      expect(result.message).toContain(`pidguard denied ${kind} "x" (its pod template): require-resources`);
      expect(result.patch).toEqual([]);
    },
  );

  it.each(['Deployment', 'CronJob'])('%s with a .NET template is admitted: its pods will be fixed', (kind) => {
    const result = run(withTemplate(kind, dotnetSpec));
    expect(result.allowed).toBe(true);
    expect(result.patch).toEqual([]);
    expect(result.mutations.map((m) => m.ruleId)).toEqual(['dotnet-guard', 'dotnet-guard']);
  });

  it('honours the opt-in label on the template', () => {
    const object = deployment(bestEffort);
    (object.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels['pidguard.io/runtime'] = 'dotnet';
    expect(run(object).allowed).toBe(true);
  });

  it.each([
    ['Pod', {}, 'spec is missing'],
    ['Pod', { spec: { containers: 5 } }, 'spec.containers is not a list'],
    ['Pod', { spec: { containers: [] } }, 'spec.containers is empty'],
    ['Deployment', { spec: {} }, 'spec.template is missing'],
    ['Deployment', { spec: { template: { spec: 'x' } } }, 'spec.template.spec is not an object'],
    ['CronJob', { spec: { jobTemplate: { spec: { template: { spec: {} } } } } }, 'spec.jobTemplate.spec.template.spec.containers is missing'],
  ])('reports a %s the API server would reject (%j) as malformed, judges nothing and leaves it to the API server', (kind, body, problem) => {
    const result = run({ apiVersion: kind === 'Pod' ? 'v1' : 'apps/v1', kind, metadata: { name: 'broken' }, ...body });
    expect(result).toMatchObject({ evaluated: false, allowed: true, malformed: problem, skipReason: `malformed object: ${problem}`, violations: [], patch: [] });
  });
});

describe('evaluate: operations', () => {
  it('does not police DELETE (null object) or CONNECT', () => {
    expect(run(null, { operation: 'DELETE', oldObject: pod(bestEffort) })).toMatchObject({ evaluated: false, allowed: true, kind: 'Pod', name: 'p' });
    expect(run(pod(bestEffort), { operation: 'CONNECT' })).toMatchObject({ evaluated: false, allowed: true });
  });

  it('does not police subresources', () => {
    expect(run(pod(bestEffort), { subResource: 'status' })).toMatchObject({ evaluated: false, skipReason: 'subresource status is not policed' });
  });

  it('does not police kinds without a pod template', () => {
    expect(run({ kind: 'ConfigMap', metadata: { name: 'c' } })).toMatchObject({ evaluated: false, skipReason: 'kind ConfigMap is not policed' });
  });

  it('never mutates or denies a pod UPDATE (resources and env are immutable)', () => {
    const result = run(pod(dotnetSpec), { operation: 'UPDATE', oldObject: pod(dotnetSpec) });
    expect(result).toMatchObject({ evaluated: false, allowed: true, patch: [] });
  });

  it('lets a workload UPDATE through when the template is unchanged (scale, annotate an old object)', () => {
    const before = deployment(bestEffort);
    const after = structuredClone(before);
    (after.spec as Record<string, unknown>).replicas = 5;
    after.metadata!.annotations = { note: 'x' };
    expect(run(after, { operation: 'UPDATE', oldObject: before })).toMatchObject({ evaluated: false, skipReason: 'pod template unchanged', allowed: true });
  });

  it('judges a workload UPDATE that changes the template', () => {
    const before = deployment({ containers: [container('web', { requests: { cpu: '1' } })] });
    const after = deployment(bestEffort);
    expect(run(after, { operation: 'UPDATE', oldObject: before }).allowed).toBe(false);
  });
});

describe('evaluate: namespaces', () => {
  const namespace = (labels: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels } });

  it('guards pidguard labels on CREATE and UPDATE', () => {
    const alice = { username: 'alice', groups: ['system:authenticated'] };
    const created = run(namespace({ 'pidguard.io/mode': 'off' }), { userInfo: alice });
    expect(created.allowed).toBe(false);
    expect(created.message).toContain('pidguard denied namespace "team-a": namespace-label-guard: protected label change: user "alice" may not add pidguard.io/mode=off');
    const updated = run(namespace({}), { operation: 'UPDATE', oldObject: namespace({ 'pidguard.io/mode': 'enforce' }), userInfo: alice });
    expect(updated.message).toContain('may not remove pidguard.io/mode');
  });

  it.each(['status', 'finalize'])('guards them on UPDATE through the %s subresource, which persists labels too', (subResource) => {
    const alice = { username: 'alice', groups: ['system:authenticated'] };
    const before = namespace({ 'pidguard.io/mode': 'enforce', team: 'a' });
    const relabelled = run(namespace({ 'pidguard.io/mode': 'off', team: 'a' }), { operation: 'UPDATE', subResource, oldObject: before, userInfo: alice });
    expect(relabelled).toMatchObject({ evaluated: true, allowed: false });
    expect(relabelled.message).toContain('user "alice" may not change pidguard.io/mode from enforce to off');
    expect(run(namespace({ 'pidguard.io/mode': 'enforce', team: 'b' }), { operation: 'UPDATE', subResource, oldObject: before, userInfo: alice })).toMatchObject({ evaluated: true, allowed: true });
    expect(run(namespace({ 'pidguard.io/mode': 'off' }), { operation: 'UPDATE', subResource, oldObject: before, userInfo: { username: 'admin', groups: ['system:masters'] } }).allowed).toBe(true);
  });

  it('lets cluster admins change them', () => {
    expect(run(namespace({ 'pidguard.io/mode': 'off' }), { userInfo: { username: 'admin', groups: ['system:masters'] } }).allowed).toBe(true);
  });
});

describe('evaluate: hostile keys', () => {
  it('keeps a "__proto__" key as data and never lets it reach a prototype', () => {
    const object = JSON.parse(
      '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":{"__proto__":"yes"}},' +
        '"spec":{"__proto__":{"polluted":"yes"},"containers":[{"name":"api","image":"mcr.microsoft.com/dotnet/aspnet:8.0"}]}}',
    ) as KubeObject;
    const result = run(object);
    expect(result.allowed).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const mutated = applyPatch(object, result.patch);
    expect(Object.getPrototypeOf(mutated.spec)).toBe(Object.prototype);
    expect(Object.hasOwn(mutated.metadata!.annotations!, '__proto__')).toBe(true);
    expect(mutated.metadata!.annotations!['pidguard.io/pids-limit']).toBe('1024');
  });

  it('a "__proto__" key inside requests or limits lends no quantities: a map of objects is malformed, a quantity under it is ignored', () => {
    for (const field of ['requests', 'limits']) {
      const hidden = JSON.parse(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"web","image":"nginx","resources":{"${field}":{"__proto__":{"cpu":"1","memory":"1Gi"}}}}]}}`) as KubeObject;
      expect(run(hidden)).toMatchObject({ evaluated: false, malformed: expect.stringContaining(`resources.${field} is not a map of quantities`) });
      const odd = JSON.parse(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"web","image":"nginx","resources":{"${field}":{"__proto__":"1"}}}]}}`) as KubeObject;
      expect(run(odd)).toMatchObject({ allowed: false, qosClass: 'BestEffort' });
    }
  });

  it('a "__proto__" key cannot lend a container resources it does not have (the API server drops that key)', () => {
    const hidden = '"__proto__":{"resources":{"requests":{"cpu":"1","memory":"1Gi"}},"env":[{"name":"DOTNET_ThreadPool_ForceMaxWorkerThreads","value":"0x1"}]}';
    const bestEffortPod = JSON.parse(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"web","image":"nginx",${hidden}}]}}`) as KubeObject;
    expect(run(bestEffortPod)).toMatchObject({ allowed: false, qosClass: 'BestEffort' });
    const dotnetPod = JSON.parse(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"api","image":"mcr.microsoft.com/dotnet/aspnet:8.0",${hidden}}]}}`) as KubeObject;
    const mutated = applyPatch(dotnetPod, run(dotnetPod).patch);
    const api = (mutated.spec as PodSpec).containers[0]!;
    expect(Object.hasOwn(api, 'resources')).toBe(true);
    expect(api.env).toContainEqual({ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0x100' });
  });
});

describe('evaluate: admission phases', () => {
  it('mutating: the patch only, no checks', () => {
    const dotnet = run(pod(dotnetSpec), { phase: 'mutating' });
    expect(dotnet.patch).toEqual(run(pod(dotnetSpec)).patch);
    expect(dotnet.qosClass).toBeUndefined();
    const denied = run(pod(bestEffort), { phase: 'mutating' });
    expect(denied).toMatchObject({ allowed: true, violations: [], patch: [] });
  });

  it('validating: the decision and the pending mutations, no patch', () => {
    const dotnet = run(pod(dotnetSpec), { phase: 'validating' });
    expect(dotnet).toMatchObject({ allowed: true, patch: [], qosClass: 'Burstable' });
    expect(dotnet.mutations).toEqual(run(pod(dotnetSpec)).mutations);
    expect(run(pod(bestEffort), { phase: 'validating' }).message).toBe(run(pod(bestEffort)).message);
  });
});

describe('evaluate: the request object is never changed', () => {
  const kinds = ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job', 'CronJob'];

  it.each(kinds)('a deep-frozen .NET %s is mutated and judged in every phase without a write to it', (kind) => {
    const object = kind === 'Pod' ? pod(structuredClone(dotnetSpec)) : withTemplate(kind, structuredClone(dotnetSpec));
    const frozen = deepFreeze(structuredClone(object));
    for (const phase of ['mutating', 'validating', 'both'] as const) {
      const result = run(frozen, { phase });
      expect(result.mutations.map((m) => m.ruleId)).toEqual(['dotnet-guard', 'dotnet-guard']);
      expect(result.allowed).toBe(true);
    }
    expect(frozen).toEqual(object);
  });

  it('rule warnings reach admission warnings and the `warnings` audit annotation in every mode', () => {
    const voided = pod({ containers: [container('api', { limits: { memory: '1Gi' } }, {
      image: 'mcr.microsoft.com/dotnet/aspnet:8.0',
      env: [{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0x40' }, { name: 'DOTNET_ThreadPool_ForceMinWorkerThreads', value: '0x80' }],
    })] }, { annotations: { 'pidguard.io/pids-limit': '512' } });
    const expected = 'dotnet-guard: container "api": DOTNET_ThreadPool_ForceMinWorkerThreads=0x80 (128) is above DOTNET_ThreadPool_ForceMaxWorkerThreads=0x40 (64): the runtime then ignores the forced maximum, so the thread pool has no cap';
    for (const mode of ['enforce', 'audit'] as const) {
      for (const phase of ['mutating', 'validating'] as const) {
        const result = run(voided, { mode, phase });
        expect(result.warnings).toContain(expected);
        expect(result.auditAnnotations.warnings).toBe(expected);
        expect(result.ruleWarnings).toEqual([{ ruleId: 'dotnet-guard', container: 'api', message: expected.slice('dotnet-guard: container "api": '.length) }]);
      }
    }
  });

  it('bounds the warnings of a pod with thousands of containers', () => {
    const containers = Array.from({ length: 2000 }, (_, i) => container(`c${i}`, { limits: { memory: '1Gi' } }, {
      image: 'mcr.microsoft.com/dotnet/aspnet:8.0', env: [{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0x7fff' }],
    }));
    const result = run(pod({ containers }));
    expect(result.warnings).toHaveLength(21);
    expect(result.warnings[20]).toBe('... and 1980 more warnings');
    expect(Buffer.byteLength(result.auditAnnotations.warnings!)).toBeLessThanOrEqual(4096);
    expect(result.auditAnnotations.warnings).toMatch(/; \.\.\. and 1,9\d\d more$/);
  });

  it('a rule that writes outside the copy it is given fails loudly instead of changing the request', () => {
    const rogue: Rule = {
      id: 'rogue',
      description: 'writes a field pod-copy.ts shares with the request',
      target: 'pod-mutation',
      writes: ['container-env'],
      missingReason: 'rogue',
      mutate({ pod }) {
        (pod.spec.containers[0]!.command ??= []).push('--rogue');
        return [{ summary: 'rogue' }];
      },
    };
    const frozen = deepFreeze(pod({ containers: [container('web', undefined, { command: ['serve'] })] }));
    expect(() => evaluate({ object: frozen, operation: 'CREATE', mode: 'enforce', config }, [rogue])).toThrow(TypeError);
  });
});

describe('pod-level requests defaulted from pod-level limits (as the API server does before admission)', () => {
  const limitsOnly: PodSpec = { containers: [container('app')], resources: { limits: { cpu: '1', memory: '1Gi' } } };
  const atRequests = { ...config, requireResources: { ...config.requireResources, level: 'requests' as const } };

  it('judges a Pod with pod-level limits only as the cluster admits it: requests set, Guaranteed', () => {
    const result = evaluate({ object: pod(limitsOnly), operation: 'CREATE', mode: 'enforce', config: atRequests });
    expect(result).toMatchObject({ allowed: true, qosClass: 'Guaranteed' });
    expect(result.patch).toEqual([]);
  });

  it('judges a workload template as the pods created from it', () => {
    expect(evaluate({ object: deployment(limitsOnly), operation: 'CREATE', mode: 'enforce', config: atRequests })).toMatchObject({ allowed: true, qosClass: 'Guaranteed' });
  });

  it('still denies at requests-and-limits when the containers set no limits of their own and the pod none for memory', () => {
    const cpuOnly: PodSpec = { containers: [container('app')], resources: { limits: { cpu: '1' } } };
    const strict = { ...config, requireResources: { ...config.requireResources, level: 'requests-and-limits' as const } };
    const result = evaluate({ object: pod(cpuOnly), operation: 'CREATE', mode: 'enforce', config: strict });
    expect(result).toMatchObject({ allowed: false, qosClass: 'Burstable' });
    expect(result.message).toContain('requests.memory');
  });
});
