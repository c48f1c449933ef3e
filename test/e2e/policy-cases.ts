// The case table the admission-policy parity test runs through the engine and
// through the API server: the Pod and workload shapes the policy unit tests
// use (test/unit/policy: QoS, require-resources, dotnet-guard, pids-ceiling,
// glob), plus generated ones (seeded, so a failure reproduces).

import { compareQuantities, parseQuantity } from '../../src/policy/quantity.js';
import type { Container, KubeObject, PodSpec } from '../../src/policy/types.js';

export interface PolicyCase {
  name: string;
  /** A Pod or a workload; metadata.name and namespace are set by the test. */
  object: KubeObject;
}

const c = (name: string, extra: Partial<Container> = {}): Container => ({ name, image: 'nginx:1.27', ...extra });
const res = (requests?: Record<string, string>, limits?: Record<string, string>) => ({ resources: { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) } });

function pod(spec: PodSpec, metadata: KubeObject['metadata'] = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

function workload(kind: string, spec: PodSpec, labels: Record<string, string> = {}): KubeObject {
  const template = { metadata: { labels: { app: 'x', ...labels } }, spec };
  const selector = { matchLabels: { app: 'x' } };
  switch (kind) {
    case 'Deployment':
    case 'ReplicaSet':
    case 'DaemonSet':
      return { apiVersion: 'apps/v1', kind, metadata: {}, spec: { selector, template } };
    case 'StatefulSet':
      return { apiVersion: 'apps/v1', kind, metadata: {}, spec: { selector, serviceName: 'x', template } };
    case 'ReplicationController':
      return { apiVersion: 'v1', kind, metadata: {}, spec: { selector: { app: 'x' }, template } };
    case 'Job':
      return { apiVersion: 'batch/v1', kind, metadata: {}, spec: { template: { ...template, spec: { ...spec, restartPolicy: 'Never' } } } };
    default:
      return {
        apiVersion: 'batch/v1', kind: 'CronJob', metadata: {},
        spec: { schedule: '*/5 * * * *', jobTemplate: { spec: { template: { ...template, spec: { ...spec, restartPolicy: 'Never' } } } } },
      };
  }
}

const DOTNET = 'mcr.microsoft.com/dotnet/aspnet:8.0';

const HANDWRITTEN: PolicyCase[] = [
  // QoS and require-resources (qos.test.ts, require-resources.test.ts)
  { name: 'besteffort-one', object: pod({ containers: [c('app')] }) },
  { name: 'besteffort-two', object: pod({ containers: [c('app'), c('side')] }) },
  { name: 'besteffort-init', object: pod({ containers: [c('app')], initContainers: [c('init')] }) },
  { name: 'burstable-cpu-request', object: pod({ containers: [c('app', res({ cpu: '100m' }))] }) },
  { name: 'burstable-memory-limit', object: pod({ containers: [c('app', res(undefined, { memory: '64Mi' }))] }) },
  // A require-resources failure whose warning (at a namespace's warn level) is cut to the warning bound.
  { name: 'burstable-many', object: pod({ containers: Array.from({ length: 16 }, (_, i) => c(`container-${i}`, res({ cpu: '10m' }))) }) },
  { name: 'guaranteed', object: pod({ containers: [c('app', res({ cpu: '1', memory: '1Gi' }, { cpu: '1', memory: '1Gi' }))] }) },
  { name: 'zero-requests', object: pod({ containers: [c('app', res({ cpu: '0', memory: '0' }))] }) },
  { name: 'zero-and-positive', object: pod({ containers: [c('app', res({ cpu: '0' }, { memory: '0' })), c('b', res({ memory: '1' }))] }) },
  { name: 'only-init-resourced', object: pod({ containers: [c('app')], initContainers: [c('init', res({ cpu: '10m' }))] }) },
  { name: 'other-resource-only', object: pod({ containers: [c('app', res({ 'ephemeral-storage': '1Gi' }))] }) },
  { name: 'pod-level-resources', object: pod({ resources: { requests: { cpu: '500m' } }, containers: [c('app')] }) },
  { name: 'pod-level-limits', object: pod({ resources: { limits: { cpu: '1', memory: '1Gi' } }, containers: [c('app')] }) },
  // pod-level requests defaulted from pod-level limits (the API server's defaultPodRequests; a template as its pods)
  { name: 'pod-level-limits-container-request', object: pod({ resources: { limits: { cpu: '2', memory: '2Gi' } }, containers: [c('app', res({ cpu: '500m' })), c('side')] }) },
  { name: 'pod-level-limits-zero-request', object: pod({ resources: { limits: { cpu: '1', memory: '1Gi' } }, containers: [c('app', res({ cpu: '0' }))] }) },
  { name: 'deployment-pod-level-limits', object: workload('Deployment', { resources: { limits: { cpu: '1', memory: '1Gi' } }, containers: [c('web')] }) },
  { name: 'deployment-pod-level-limits-zero-request', object: workload('Deployment', { resources: { limits: { cpu: '1', memory: '1Gi' } }, containers: [c('web', res({ cpu: '0' }))] }) },
  { name: 'cronjob-pod-level-limits-sidecar', object: workload('CronJob', { resources: { limits: { cpu: '1', memory: '1Gi' } }, containers: [c('task')], initContainers: [c('proxy', { restartPolicy: 'Always', ...res({ memory: '64Mi' }) })] }) },
  { name: 'deployment-besteffort', object: workload('Deployment', { containers: [c('web')] }) },
  { name: 'deployment-ok', object: workload('Deployment', { containers: [c('web', res({ cpu: '100m' }))] }) },
  { name: 'statefulset-besteffort', object: workload('StatefulSet', { containers: [c('db'), c('exporter')] }) },
  { name: 'daemonset-besteffort', object: workload('DaemonSet', { containers: [c('agent')] }) },
  { name: 'replicaset-ok', object: workload('ReplicaSet', { containers: [c('web', res(undefined, { memory: '1Gi' }))] }) },
  { name: 'rc-besteffort', object: workload('ReplicationController', { containers: [c('web')] }) },
  { name: 'job-besteffort', object: workload('Job', { containers: [c('task')] }) },
  { name: 'cronjob-besteffort', object: workload('CronJob', { containers: [c('task')] }) },
  { name: 'cronjob-ok', object: workload('CronJob', { containers: [c('task', res({ memory: '10Mi' }))] }) },
  // dotnet-guard detection and its changes (dotnet-guard.test.ts, glob.test.ts)
  { name: 'dotnet-official', object: pod({ containers: [c('app', { image: DOTNET })] }) },
  { name: 'dotnet-besteffort-other', object: pod({ containers: [c('app', { image: DOTNET }), c('side')] }) },
  { name: 'dotnet-request-above-limit', object: pod({ containers: [c('app', { image: DOTNET, ...res({ cpu: '2', memory: '4Gi' }) })] }) },
  { name: 'dotnet-request-below-limit', object: pod({ containers: [c('app', { image: DOTNET, ...res({ cpu: '200m' }) })] }) },
  { name: 'dotnet-own-limit', object: pod({ containers: [c('app', { image: DOTNET, ...res(undefined, { cpu: '300m' }) })] }) },
  { name: 'dotnet-pod-level', object: pod({ resources: { limits: { memory: '2Gi' } }, containers: [c('app', { image: DOTNET })] }) },
  { name: 'dotnet-corp-image', object: pod({ containers: [c('app', { image: 'registry.corp:5000/team/orders-dotnet:1.2' })] }) },
  { name: 'dotnet-registry-only', object: pod({ containers: [c('app', { image: 'dotnetreg:5000/nginx:1' })] }) },
  { name: 'dotnet-aspnet-digest', object: pod({ containers: [c('app', { image: 'corp/my-aspnet-api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef' })] }) },
  { name: 'dotnet-uppercase-domain', object: pod({ containers: [c('app', { image: 'Registry/dotnet-x:1' })] }) },
  { name: 'dotnet-localhost', object: pod({ containers: [c('app', { image: 'localhost/dotnet:1' })] }) },
  { name: 'dotnet-tag-only', object: pod({ containers: [c('app', { image: 'nginx:dotnet' })] }) },
  { name: 'dotnet-env', object: pod({ containers: [c('app', { env: [{ name: 'ASPNETCORE_URLS', value: 'http://+:80' }] })] }) },
  { name: 'dotnet-command', object: pod({ containers: [c('app', { command: ['/usr/share/dotnet/dotnet', 'App.dll'] })] }) },
  { name: 'dotnet-shell', object: pod({ containers: [c('app', { command: ['sh', '-c', 'exec dotnet "App.dll"; echo done'] })] }) },
  { name: 'dotnet-args-dll', object: pod({ containers: [c('app', { args: ['--run=x', 'lib/Orders.Api.dll'] })] }) },
  { name: 'not-dotnet-word', object: pod({ containers: [c('app', { command: ['dotnetx', 'foo.dllx', 'a/dotnet/b'], ...res({ cpu: '1m' }) })] }) },
  { name: 'dotnet-opt-in-label', object: pod({ containers: [c('app'), c('b')] }, { labels: { 'pidguard.io/runtime': 'dotnet' } }) },
  { name: 'dotnet-opt-in-annotation', object: pod({ containers: [c('app')], initContainers: [c('init', res({ cpu: '1m' }))] }, { annotations: { 'pidguard.io/runtime': 'dotnet' } }) },
  { name: 'dotnet-init', object: pod({ containers: [c('app', res({ cpu: '1m' }))], initContainers: [c('migrate', { image: DOTNET })] }) },
  { name: 'dotnet-has-maxthreads', object: pod({ containers: [c('app', { image: DOTNET, env: [{ name: 'DOTNET_ThreadPool_MaxThreads', value: '99' }] })] }) },
  { name: 'dotnet-own-cap', object: pod({ containers: [c('app', { image: DOTNET, env: [{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0x40' }] })] }) },
  { name: 'dotnet-min-above-cap', object: pod({ containers: [c('app', { image: DOTNET, env: [{ name: 'COMPlus_ThreadPool_ForceMinWorkerThreads', value: '200' }] })] }) },
  { name: 'dotnet-own-pids-limit', object: pod({ containers: [c('app', { image: DOTNET })] }, { annotations: { 'pidguard.io/pids-limit': '300' } }) },
  { name: 'dotnet-pids-limit-above', object: pod({ containers: [c('app', { image: DOTNET })] }, { annotations: { 'pidguard.io/pids-limit': '99999' } }) },
  { name: 'pids-limit-above-plain', object: pod({ containers: [c('app', res({ cpu: '1m' }))] }, { annotations: { 'pidguard.io/pids-limit': ' 0005000 ' } }) },
  { name: 'pids-limit-invalid', object: pod({ containers: [c('app', res({ cpu: '1m' }))] }, { annotations: { 'pidguard.io/pids-limit': 'lots' } }) },
  { name: 'pids-limit-zero', object: pod({ containers: [c('app', res({ cpu: '1m' }))] }, { annotations: { 'pidguard.io/pids-limit': '0' } }) },
  { name: 'pids-limit-huge', object: pod({ containers: [c('app', res({ cpu: '1m' }))] }, { annotations: { 'pidguard.io/pids-limit': '123456789012345678901' } }) },
  { name: 'pids-limit-quoted', object: pod({ containers: [c('app', res({ cpu: '1m' }))] }, { annotations: { 'pidguard.io/pids-limit': 'a "b"' } }) },
  // Records longer than the webhook keeps whole: shortened the same way, the rest counted.
  { name: 'dotnet-many-containers', object: pod({ containers: Array.from({ length: 60 }, (_, i) => c(`app-${i}`, { image: DOTNET, ...(i % 3 === 0 ? res({ cpu: '3' }) : {}) })) }) },
  { name: 'dotnet-many-with-ceiling-change', object: pod({ containers: Array.from({ length: 45 }, (_, i) => c(`api-server-container-${i}`, { image: DOTNET })) }, { annotations: { 'pidguard.io/pids-limit': '9999999' } }) },
  // pids-default (pids-default.test.ts): pods without a budget, run in namespaces with the label and with the config default on
  { name: 'pids-default-empty-annotations', object: pod({ containers: [c('app', res({ cpu: '1m' }))] }, { annotations: {} }) },
  { name: 'pids-default-other-annotation', object: pod({ containers: [c('app', res(undefined, { memory: '64Mi' }))] }, { annotations: { 'team': 'payments' } }) },
  { name: 'pids-default-own-budget', object: pod({ containers: [c('app', res({ cpu: '1m' }))] }, { annotations: { 'pidguard.io/pids-limit': '100' } }) },
  { name: 'pids-default-dotnet-keeps-its-own', object: pod({ containers: [c('app', { image: DOTNET }), c('side', res({ cpu: '1m' }))] }) },
  { name: 'deployment-dotnet-besteffort', object: workload('Deployment', { containers: [c('web', { image: DOTNET })] }) },
  { name: 'cronjob-dotnet-opt-in', object: workload('CronJob', { containers: [c('task')] }, { 'pidguard.io/runtime': 'dotnet' }) },
];

/** A small seeded generator (mulberry32), so a generated case that fails reproduces. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const IMAGES = ['nginx:1.27', DOTNET, 'corp/orders-dotnet:2', 'busybox', 'quay.io/x/aspnet-app', 'dotnet.example:5000/y'];
const QUANTITIES = ['0', '1m', '250m', '1', '3', '64Mi', '1Gi', '8Gi'];
const COMMANDS = [undefined, ['/app/server'], ['dotnet', 'Orders.dll'], ['sh', '-c', 'exec /usr/bin/dotnet "x y.dll"'], ['run-dotnet.sh']];
const PIDS_LIMITS = [undefined, '512', '5000', 'max', ' 64 ', '00001024'];
const ENV = [[], [{ name: 'DOTNET_gcServer', value: '1' }], [{ name: 'JAVA_OPTS', value: '-Xmx1g' }], [{ name: 'DOTNET_ThreadPool_MaxThreads', value: '7' }]];

function generated(count: number, seed: number): PolicyCase[] {
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const list = (): Record<string, string> | undefined => {
    if (next() < 0.5) return undefined;
    const out: Record<string, string> = {};
    if (next() < 0.6) out.cpu = pick(QUANTITIES.filter((q) => !q.endsWith('i')));
    if (next() < 0.6) out.memory = pick(QUANTITIES);
    return out;
  };
  const container = (name: string): Container => {
    const requests = list();
    const limits = list();
    // The API server rejects a request above its limit: such a pair is swapped.
    for (const resource of ['cpu', 'memory']) {
      const [request, limit] = [requests?.[resource], limits?.[resource]];
      if (request !== undefined && limit !== undefined && compareQuantities(parseQuantity(request)!, parseQuantity(limit)!) > 0) {
        requests![resource] = limit;
        limits![resource] = request;
      }
    }
    const resources = requests || limits ? res(requests, limits) : {};
    const env = pick(ENV);
    const command = pick(COMMANDS);
    return { name, image: pick(IMAGES), ...resources, ...(env.length > 0 ? { env } : {}), ...(command ? { command } : {}) };
  };
  const cases: PolicyCase[] = [];
  for (let index = 0; index < count; index += 1) {
    const containers = Array.from({ length: 1 + Math.floor(next() * 3) }, (_, i) => container(`c${i}`));
    const initContainers = next() < 0.3 ? [container('init0')] : undefined;
    const podLevel = next() < 0.1 ? { resources: { requests: { cpu: '32', memory: '48Gi' }, limits: { cpu: '64', memory: '64Gi' } } } : {};
    const spec: PodSpec = { containers, ...(initContainers ? { initContainers } : {}), ...podLevel };
    const kind = next() < 0.7 ? 'Pod' : pick(['Deployment', 'StatefulSet', 'Job', 'CronJob']);
    const pidsLimit = pick(PIDS_LIMITS);
    const optIn = next() < 0.1 ? { labels: { 'pidguard.io/runtime': 'dotnet' } } : {};
    const metadata = { ...optIn, ...(pidsLimit === undefined ? {} : { annotations: { 'pidguard.io/pids-limit': pidsLimit } }) };
    cases.push({ name: `generated-${index}`, object: kind === 'Pod' ? pod(spec, metadata) : workload(kind, spec, optIn.labels ?? {}) });
  }
  return cases;
}

export const POLICY_CASES: readonly PolicyCase[] = [...HANDWRITTEN, ...generated(80, 14)];
