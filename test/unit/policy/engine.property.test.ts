// Properties of the engine over generated pods: every patch is valid RFC 6902
// that applies with validation on, is idempotent, only adds, never touches a
// value the user set, and a mutated .NET pod is never BestEffort. Requests are
// deep-frozen, so a rule writing outside the copy it is given (pod-copy.ts)
// throws here instead of changing the caller's object.
import fc from 'fast-check';
import { defaultConfig, parseConfig } from '../../../src/policy/config.js';
import { evaluate } from '../../../src/policy/engine.js';
import { POD_KINDS, podTemplatePath } from '../../../src/policy/workloads.js';
import { resolvePidsLimit } from '../../../src/policy/pids-budget.js';
import { applyPatch } from '../../../src/policy/json-patch.js';
import { deepFreeze } from './pods.js';
import { allContainers, computeQosClass } from '../../../src/policy/qos.js';
import { compareQuantities, parseQuantity } from '../../../src/policy/quantity.js';
import type { Container, KubeObject, PodSpec, PodTemplate } from '../../../src/policy/types.js';
import { copyForMutation, type WritablePart } from '../../../src/policy/pod-copy.js';
import { RULES } from '../../../src/policy/rules/index.js';
import { dotnetGuard } from '../../../src/policy/rules/dotnet-guard.js';
import type { PodMutationRule, Rule } from '../../../src/policy/rules/rule.js';
import { podContext } from './rules/context.js';

const config = defaultConfig();
/** Every rule switched on (and the pod-level PID limit served), so each rule's writes are exercised. */
const allOn = parseConfig({ pidsDefault: { enabled: true }, podPidLimit: { enabled: true } });
const quantity = fc.constantFrom('0', '10m', '100m', '1', '1.5', '2000m', '64Mi', '1Gi', '3Gi', '128974848', '1e3');
const resourceList = fc.dictionary(fc.constantFrom('cpu', 'memory', 'ephemeral-storage', 'example.com/gpu'), quantity, { maxKeys: 3 });
const resources = fc.option(
  fc.record({ requests: resourceList, limits: resourceList }, { requiredKeys: [] }),
  { nil: undefined },
);
const envName = fc.constantFrom(
  'PATH', 'DOTNET_gcServer', 'ASPNETCORE_URLS', 'DOTNET_ThreadPool_ForceMaxWorkerThreads',
  'COMPlus_ThreadPool_ForceMaxWorkerThreads', 'DOTNET_ThreadPool_MaxThreads', 'A/B~C',
  'DOTNET_ThreadPool_ForceMinWorkerThreads', 'COMPlus_ThreadPool_ForceMinWorkerThreads',
);
const envValue = fc.oneof(fc.string({ maxLength: 5 }), fc.constantFrom('0x40', '0x400', '200', '0', '0x7fff'));
const env = fc.option(fc.array(fc.record({ name: envName, value: envValue }), { maxLength: 4 }), { nil: undefined });
const image = fc.constantFrom('nginx:1.27', 'mcr.microsoft.com/dotnet/aspnet:8.0', 'corp/orders-api:1', 'bitnami/dotnet-sdk:8', 'busybox');
const command = fc.option(fc.constantFrom(['dotnet', 'App.dll'], ['sh', '-c', 'sleep 1'], ['/app/server']), { nil: undefined });

function containers(prefix: string, min: number) {
  return fc.array(fc.record({ image, command, env, resources }), { minLength: min, maxLength: 3 }).map((list) =>
    list.map((c, i) => {
      const result: Container = { name: `${prefix}${i}`, image: c.image };
      if (c.command) result.command = [...c.command];
      if (c.env) result.env = c.env;
      if (c.resources) result.resources = c.resources;
      return result;
    }),
  );
}

const metadataMap = fc.option(
  fc.dictionary(fc.constantFrom('pidguard.io/runtime', 'pidguard.io/pids-limit', 'app', 'example.com/owner', 'a~b'), fc.constantFrom('dotnet', '77', 'x', '4194304', '9000'), { maxKeys: 3 }),
  { nil: undefined },
);

const podArbitrary: fc.Arbitrary<KubeObject> = fc
  .record({
    labels: metadataMap,
    annotations: metadataMap,
    containers: containers('c', 1),
    initContainers: fc.option(containers('i', 1), { nil: undefined }),
    podResources: fc.option(fc.constant({ limits: { cpu: '2', memory: '2Gi' } }), { nil: undefined }),
  })
  .map(({ labels, annotations, containers: main, initContainers, podResources }) => {
    const spec: PodSpec = { containers: main };
    if (initContainers) spec.initContainers = initContainers;
    if (podResources) spec.resources = podResources;
    const metadata: KubeObject['metadata'] = { name: 'p', namespace: 'ns' };
    if (labels) metadata.labels = labels;
    if (annotations) metadata.annotations = annotations;
    return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
  });

const mutate = (object: KubeObject) => evaluate({ object: deepFreeze(structuredClone(object)), operation: 'CREATE', mode: 'enforce', config });

/** Every leaf of a JSON value with its path. */
function leaves(value: unknown, path: string[] = []): Array<[string[], unknown]> {
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, child]) => leaves(child, [...path, key]));
  }
  return [[path, value]];
}

function at(value: unknown, path: string[]): unknown {
  return path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], value);
}

const RUNS = { numRuns: 400 };

/** Paths the rules read, each to be replaced by arbitrary JSON. */
const READ_PATHS = [
  ['metadata'], ['metadata', 'labels'], ['metadata', 'annotations'], ['spec'], ['spec', 'resources'], ['spec', 'resources', 'limits'],
  ['spec', 'containers'], ['spec', 'initContainers'], ['spec', 'containers', '0'], ['spec', 'containers', '0', 'name'],
  ['spec', 'containers', '0', 'image'], ['spec', 'containers', '0', 'command'], ['spec', 'containers', '0', 'env'],
  ['spec', 'containers', '0', 'env', '0'], ['spec', 'containers', '0', 'resources'], ['spec', 'containers', '0', 'resources', 'requests'],
];

/** Runs one mutation rule alone on a copy of only the parts it declares it writes, of a deep-frozen pod. */
function mutateWithin(rule: PodMutationRule, object: KubeObject, writes: readonly WritablePart[]): void {
  const copy = copyForMutation(deepFreeze(structuredClone(object)), new Set(writes));
  const { context } = podContext(copy as unknown as PodTemplate, { config: allOn, podPidLimitServed: true });
  rule.mutate(context, rule.options === undefined ? undefined : (allOn as unknown as Record<string, unknown>)[rule.options.key]);
}

describe('mutation rules write only what they declare (pod-copy.ts copies exactly that)', () => {
  const mutationRules = (RULES as readonly Rule[]).filter((rule): rule is PodMutationRule => rule.target === 'pod-mutation');

  it.each(mutationRules.map((rule) => [rule.id, rule] as const))('%s', (_id, rule) => {
    fc.assert(fc.property(podArbitrary, (object) => mutateWithin(rule, object, rule.writes)), RUNS);
  });

  it('a rule that writes a part it did not declare throws on the frozen request', () => {
    const dotnetPod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'app', image: 'mcr.microsoft.com/dotnet/aspnet:8.0', env: [], resources: { requests: { cpu: '100m' } } }] } };
    expect(() => mutateWithin(dotnetGuard, dotnetPod, dotnetGuard.writes)).not.toThrow();
    for (const part of dotnetGuard.writes) {
      expect(() => mutateWithin(dotnetGuard, dotnetPod, dotnetGuard.writes.filter((declared) => declared !== part))).toThrow(/not extensible|read only property/);
    }
  });
});

describe('engine properties', () => {
  it('never throws, whatever JSON stands where the rules read: a malformed pod is reported as such', () => {
    fc.assert(
      fc.property(podArbitrary, fc.constantFrom(...READ_PATHS), fc.jsonValue(), fc.constantFrom('enforce', 'audit'), (object, path, value, mode) => {
        const broken = structuredClone(object) as Record<string, any>;
        let node = broken;
        for (const key of path.slice(0, -1)) {
          if (node[key] === null || typeof node[key] !== 'object') return; // the path does not exist in this pod
          node = node[key];
        }
        node[path.at(-1)!] = value;
        const result = evaluate({ object: deepFreeze(broken) as KubeObject, operation: 'CREATE', mode: mode as 'enforce' | 'audit', config });
        if (result.malformed) expect(result).toMatchObject({ evaluated: false, allowed: true, patch: [] });
        else applyPatch(broken, result.patch);
      }),
      { numRuns: 2000 },
    );
  });

  it('a workload of any pod kind is either malformed or judged, whatever JSON stands on the way to or in its template', () => {
    const kinds = POD_KINDS.filter((kind) => kind !== 'Pod');
    fc.assert(
      fc.property(podArbitrary, fc.constantFrom(...kinds), fc.nat(), fc.jsonValue(), (pod, kind, cut, value) => {
        const templatePath = podTemplatePath(kind) as readonly string[];
        const template = { metadata: pod.metadata, spec: pod.spec };
        const workload: Record<string, any> = { apiVersion: 'apps/v1', kind, metadata: { name: 'w', namespace: 'ns' } };
        let node = workload;
        for (const key of templatePath.slice(0, -1)) node = node[key] = {};
        node[templatePath.at(-1)!] = template;
        // Replace one step on the way down (or in the template) by arbitrary JSON.
        const paths = [...templatePath.map((_, depth) => templatePath.slice(0, depth + 1)), [...templatePath, 'spec'], [...templatePath, 'spec', 'containers']];
        const path = paths[cut % paths.length] as readonly string[];
        let parent = workload;
        for (const key of path.slice(0, -1)) parent = parent[key];
        parent[path.at(-1)!] = value;
        const result = evaluate({ object: deepFreeze(workload) as KubeObject, operation: 'CREATE', mode: 'enforce', config });
        if (result.malformed) expect(result).toMatchObject({ evaluated: false, allowed: true, patch: [] });
        else expect(result.evaluated).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('every patch applies with fast-json-patch validation on', () => {
    fc.assert(
      fc.property(podArbitrary, (object) => {
        applyPatch(object, mutate(object).patch); // throws on an invalid operation or path
      }),
      RUNS,
    );
  });

  it('applying the mutation twice changes nothing', () => {
    fc.assert(
      fc.property(podArbitrary, (object) => {
        const once = applyPatch(object, mutate(object).patch);
        expect(mutate(once).patch).toEqual([]);
      }),
      RUNS,
    );
  });

  it('only adds: no value the user set is removed or changed, except a pids-limit outside the budget', () => {
    const pidsLimitPath = ['metadata', 'annotations', 'pidguard.io/pids-limit'];
    fc.assert(
      fc.property(podArbitrary, (object) => {
        const { patch } = mutate(object);
        const budget = resolvePidsLimit(object.metadata?.annotations?.['pidguard.io/pids-limit'], config);
        for (const op of patch) {
          if (op.op === 'add') continue;
          expect(op).toEqual({ op: 'replace', path: '/metadata/annotations/pidguard.io~1pids-limit', value: String(budget!.limit) });
          expect(budget!.problem).toBeDefined();
        }
        const mutated = applyPatch(object, patch);
        for (const [path, value] of leaves(object)) {
          if (path.join('/') === pidsLimitPath.join('/') && budget?.problem !== undefined) continue;
          expect(at(mutated, path)).toEqual(value);
        }
      }),
      RUNS,
    );
  });

  it('a mutated .NET pod is never BestEffort, so the validating side admits it', () => {
    fc.assert(
      fc.property(podArbitrary, (object) => {
        const result = mutate(object);
        const containersTouched = result.mutations.some((m) => m.container !== undefined);
        if (!containersTouched) return;
        const mutated = applyPatch(object, result.patch);
        expect(computeQosClass(mutated.spec as PodSpec)).not.toBe('BestEffort');
        expect(result.allowed).toBe(true);
        expect(mutate(mutated).allowed).toBe(true);
      }),
      RUNS,
    );
  });

  it('every limit pidguard sets is at least the request', () => {
    fc.assert(
      fc.property(podArbitrary, (object) => {
        const original = allContainers(object.spec as PodSpec);
        const mutated = allContainers(applyPatch(object, mutate(object).patch).spec as PodSpec);
        mutated.forEach((c, index) => {
          for (const name of ['cpu', 'memory']) {
            const limit = c.resources?.limits?.[name];
            const request = parseQuantity(c.resources?.requests?.[name] ?? '');
            const setByPidguard = original[index]!.resources?.limits?.[name] === undefined && limit !== undefined;
            if (setByPidguard && request) expect(compareQuantities(parseQuantity(limit)!, request)).toBeGreaterThanOrEqual(0);
          }
        });
      }),
      RUNS,
    );
  });
});
