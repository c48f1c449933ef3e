import fc from 'fast-check';
import { defaultConfig, parseConfig, type PolicyConfig } from '../../../../src/policy/config.js';
import { dotnetGuard, dotnetHex } from '../../../../src/policy/rules/dotnet-guard.js';
import type { Container, PodTemplate } from '../../../../src/policy/types.js';
import { container } from '../pods.js';
import { podContext } from './context.js';

function mutate(containers: Container[], metadata: PodTemplate['metadata'] = {}, config: PolicyConfig = defaultConfig(), initContainers?: Container[]) {
  const pod: PodTemplate = { metadata, spec: { containers, ...(initContainers ? { initContainers } : {}) } };
  const { warnings, context } = podContext(pod, { config });
  const changes = dotnetGuard.mutate(context, config.dotnet);
  return { pod, changes, warnings };
}

const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));

describe('dotnet-guard detection', () => {
  it.each([
    ['an official image', { image: 'mcr.microsoft.com/dotnet/aspnet:8.0' }],
    ['a chiseled official image', { image: 'mcr.microsoft.com/dotnet/runtime-deps:9.0-noble-chiseled' }],
    ['an image named dotnet', { image: 'bitnami/dotnet:8' }],
    ['an image named aspnet', { image: 'registry.local/team/aspnet-core-api@sha256:abc' }],
    ['a DOTNET_ variable', { env: [{ name: 'DOTNET_gcServer', value: '1' }] }],
    ['an ASPNETCORE_ variable', { env: [{ name: 'ASPNETCORE_URLS', value: 'http://+:80' }] }],
    ['the dotnet command', { command: ['dotnet', 'App.dll'] }],
    ['an absolute dotnet path', { command: ['/usr/share/dotnet/dotnet'] }],
    ['a dll in args', { args: ['App.dll'] }],
    ['a shell wrapper', { command: ['sh', '-c', 'exec dotnet App.dll --urls http://+:80'] }],
  ])('detects %s', (_name, extra) => {
    const { changes } = mutate([container('app', undefined, { image: 'corp/app:1', ...extra })]);
    expect(changes.length).toBeGreaterThan(0);
  });

  it.each([
    ['nginx', { image: 'nginx:1.27' }],
    ['an image that merely contains "net"', { image: 'corp/netbox:4' }],
    ['a dll mentioned mid-word', { args: ['--dllpath=/x'] }],
    ['a DOTNETX variable without underscore', { env: [{ name: 'DOTNETX', value: '1' }] }],
  ])('ignores %s', (_name, extra) => {
    const { pod, changes } = mutate([container('app', undefined, extra)]);
    expect(changes).toEqual([]);
    expect(pod.metadata?.annotations).toBeUndefined();
  });

  it.each([
    ['label', { labels: { 'pidguard.io/runtime': 'dotnet' } }],
    ['annotation', { annotations: { 'pidguard.io/runtime': 'dotnet' } }],
  ])('honours the opt-in %s for every app container but not init containers', (_name, metadata) => {
    const { pod } = mutate([container('a'), container('b')], metadata, defaultConfig(), [container('init')]);
    expect(envOf(pod.spec.containers[0]!)).toHaveProperty('DOTNET_ThreadPool_ForceMaxWorkerThreads');
    expect(envOf(pod.spec.containers[1]!)).toHaveProperty('DOTNET_ThreadPool_ForceMaxWorkerThreads');
    expect(pod.spec.initContainers![0]!.env).toBeUndefined();
  });

  it('mutates a .NET init container detected by its own signals', () => {
    const { pod } = mutate([container('app')], {}, defaultConfig(), [container('migrate', undefined, { command: ['dotnet', 'ef', 'database', 'update'] })]);
    expect(pod.spec.initContainers![0]!.resources).toEqual({ requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } });
    expect(pod.spec.containers[0]!.resources).toBeUndefined();
  });

  it('does nothing when disabled', () => {
    const { changes } = mutate([container('app', undefined, { image: 'mcr.microsoft.com/dotnet/aspnet:8.0' })], {}, parseConfig({ dotnet: { enabled: false } }));
    expect(changes).toEqual([]);
  });
});

describe('dotnet-guard mutation', () => {
  const dotnet = (resources?: Container['resources'], extra: Partial<Container> = {}) =>
    container('app', resources as never, { image: 'mcr.microsoft.com/dotnet/aspnet:8.0', ...extra });

  it('writes the thread cap in hex for the runtime and in decimal for the brief', () => {
    expect(dotnetHex(256)).toBe('0x100');
    expect(dotnetHex(1000)).toBe('0x3e8');
    const { pod } = mutate([dotnet()], {}, parseConfig({ dotnet: { maxWorkerThreads: 1000 } }));
    expect(envOf(pod.spec.containers[0]!)).toEqual({
      DOTNET_ThreadPool_ForceMaxWorkerThreads: '0x3e8',
      DOTNET_ThreadPool_MaxThreads: '1000',
    });
  });

  it('fills missing requests and limits from the defaults and annotates the pod', () => {
    const { pod, changes } = mutate([dotnet()]);
    expect(pod.spec.containers[0]!.resources).toEqual({ requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } });
    expect(pod.metadata?.annotations?.['pidguard.io/pids-limit']).toBe('1024');
    expect(changes).toEqual([
      {
        container: 'app',
        summary:
          'cpu request 100m, cpu limit 1, memory request 256Mi, memory limit 1Gi, env DOTNET_ThreadPool_ForceMaxWorkerThreads=0x100, env DOTNET_ThreadPool_MaxThreads=256',
      },
      { summary: 'annotation pidguard.io/pids-limit=1024' },
    ]);
  });

  it('never produces a limit below the request', () => {
    const { pod } = mutate([dotnet({ requests: { cpu: '4', memory: '8Gi' } })]);
    expect(pod.spec.containers[0]!.resources).toEqual({ requests: { cpu: '4', memory: '8Gi' }, limits: { cpu: '4', memory: '8Gi' } });
  });

  it('adds only a limit when the request is set and below the default limit', () => {
    const { pod } = mutate([dotnet({ requests: { cpu: '200m' } })]);
    expect(pod.spec.containers[0]!.resources).toEqual({ requests: { cpu: '200m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } });
  });

  it('keeps a limit-only resource as is (its request defaults to the limit)', () => {
    const { pod } = mutate([dotnet({ limits: { memory: '100Mi' } })]);
    expect(pod.spec.containers[0]!.resources).toEqual({ requests: { cpu: '100m' }, limits: { memory: '100Mi', cpu: '1' } });
  });

  it('keeps everything the user set', () => {
    const own = dotnet(
      { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '2', memory: '128Mi' } },
      { env: [{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0x40' }, { name: 'DOTNET_ThreadPool_MaxThreads', value: '64' }] },
    );
    const before = structuredClone(own);
    const { pod, changes } = mutate([own], { annotations: { 'pidguard.io/pids-limit': '200' } });
    expect(pod.spec.containers[0]).toEqual(before);
    expect(pod.metadata?.annotations).toEqual({ 'pidguard.io/pids-limit': '200' });
    expect(changes).toEqual([]);
  });

  it('does not override the COMPlus_ spelling of the cap (DOTNET_ would win over it), and states the cap it sets', () => {
    const { pod } = mutate([dotnet(undefined, { env: [{ name: 'COMPlus_ThreadPool_ForceMaxWorkerThreads', value: '0x80' }] })]);
    expect(envOf(pod.spec.containers[0]!)).toEqual({ COMPlus_ThreadPool_ForceMaxWorkerThreads: '0x80', DOTNET_ThreadPool_MaxThreads: '128' });
  });

  it('counts a variable set from a secret as set', () => {
    const { pod } = mutate([dotnet(undefined, { env: [{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] })]);
    expect(pod.spec.containers[0]!.env!.filter((e) => e.name === 'DOTNET_ThreadPool_ForceMaxWorkerThreads')).toHaveLength(1);
  });

  it('leaves container resources alone when the pod sets pod-level resources', () => {
    const pod: PodTemplate = { spec: { containers: [dotnet()], resources: { limits: { cpu: '2', memory: '2Gi' } } } };
    dotnetGuard.mutate(podContext(pod).context, defaultConfig().dotnet);
    expect(pod.spec.containers[0]!.resources).toBeUndefined();
    expect(envOf(pod.spec.containers[0]!)).toHaveProperty('DOTNET_ThreadPool_MaxThreads', '256');
  });

  it('is idempotent', () => {
    const { pod } = mutate([dotnet(), container('sidecar')], { annotations: { other: 'x' } });
    const once = structuredClone(pod);
    expect(dotnetGuard.mutate(podContext(pod).context, defaultConfig().dotnet)).toEqual([]);
    expect(pod).toEqual(once);
  });
});

describe('dotnet-guard and the container\'s own thread-pool settings', () => {
  const dotnet = (env: Container['env']) => container('app', { limits: { cpu: '1', memory: '1Gi' } }, { image: 'mcr.microsoft.com/dotnet/aspnet:8.0', env });
  const run = (env: Container['env']) => {
    const { pod, changes, warnings } = mutate([dotnet(env)], { annotations: { 'pidguard.io/pids-limit': '512' } });
    return { env: envOf(pod.spec.containers[0]!), changes, warnings };
  };

  it.each([
    ['0x40', '64'], ['40', '64'], ['0X1F', '31'], ['0x10000', '32767'],
  ])('states the container\'s own cap %s as %s threads', (value, decimal) => {
    const { env, warnings } = run([{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value }]);
    expect(env).toEqual({ DOTNET_ThreadPool_ForceMaxWorkerThreads: value, DOTNET_ThreadPool_MaxThreads: decimal });
    expect(warnings.length).toBe(Number.parseInt(value, 16) > 256 ? 1 : 0);
  });

  it('a forced minimum above the cap: the forced maximum is written at that minimum, with a warning on the change', () => {
    const { env, changes, warnings } = run([{ name: 'DOTNET_ThreadPool_ForceMinWorkerThreads', value: '0x400' }]);
    expect(env).toEqual({ DOTNET_ThreadPool_ForceMinWorkerThreads: '0x400', DOTNET_ThreadPool_ForceMaxWorkerThreads: '0x400', DOTNET_ThreadPool_MaxThreads: '1024' });
    expect(changes[0]).toEqual({
      container: 'app',
      summary: 'env DOTNET_ThreadPool_ForceMaxWorkerThreads=0x400 (the container\'s forced minimum), env DOTNET_ThreadPool_MaxThreads=1024',
      warning: 'DOTNET_ThreadPool_ForceMinWorkerThreads=0x400 (1024) is above the thread-pool cap 256, which would make the runtime ignore the cap: pidguard set DOTNET_ThreadPool_ForceMaxWorkerThreads=0x400 (1024) instead',
    });
    expect(warnings).toEqual([]);
  });

  it('the COMPlus_ minimum counts when there is no DOTNET_ one, and DOTNET_ wins over COMPlus_', () => {
    expect(run([{ name: 'COMPlus_ThreadPool_ForceMinWorkerThreads', value: '200' }]).env.DOTNET_ThreadPool_ForceMaxWorkerThreads).toBe('0x200');
    const both = run([{ name: 'DOTNET_ThreadPool_ForceMinWorkerThreads', value: '0x10' }, { name: 'COMPlus_ThreadPool_ForceMinWorkerThreads', value: '0x1000' }]);
    expect(both.env.DOTNET_ThreadPool_ForceMaxWorkerThreads).toBe('0x100');
  });

  it('a forced minimum above the container\'s own maximum voids the cap: warned, nothing changed, no decimal cap stated', () => {
    const { env, changes, warnings } = run([
      { name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0x40' },
      { name: 'COMPlus_ThreadPool_ForceMinWorkerThreads', value: '0x80' },
    ]);
    expect(env).toEqual({ DOTNET_ThreadPool_ForceMaxWorkerThreads: '0x40', COMPlus_ThreadPool_ForceMinWorkerThreads: '0x80' });
    expect(changes).toEqual([]);
    expect(warnings).toEqual([
      'app: COMPlus_ThreadPool_ForceMinWorkerThreads=0x80 (128) is above DOTNET_ThreadPool_ForceMaxWorkerThreads=0x40 (64): the runtime then ignores the forced maximum, so the thread pool has no cap',
    ]);
  });

  it('a maximum above the configured cap is kept and warned about', () => {
    const { env, warnings } = run([{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0x7fff' }]);
    expect(env.DOTNET_ThreadPool_ForceMaxWorkerThreads).toBe('0x7fff');
    expect(warnings).toEqual(['app: DOTNET_ThreadPool_ForceMaxWorkerThreads=0x7fff (32767) is above the configured thread-pool cap 256; pidguard keeps the container\'s value']);
  });

  it.each([
    [[{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '256 threads' }], 'DOTNET_ThreadPool_ForceMaxWorkerThreads="256 threads" is not a hexadecimal number'],
    [[{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '' }], 'DOTNET_ThreadPool_ForceMaxWorkerThreads="" is not a hexadecimal number'],
    [[{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0x100000000' }], 'is not a hexadecimal number'],
    [[{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }], 'comes from valueFrom, which pidguard cannot see'],
    [[{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0' }], '=0 (0) forces no maximum: the thread pool has no cap'],
  ])('a maximum pidguard cannot use is kept, warned about, and no decimal cap is stated: %j', (env, warning) => {
    const result = run(env as Container['env']);
    expect(result.env).not.toHaveProperty('DOTNET_ThreadPool_MaxThreads');
    expect(result.changes).toEqual([]);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toContain(warning);
  });

  it('an unreadable minimum is warned about next to pidguard\'s cap', () => {
    const { env, warnings } = run([{ name: 'DOTNET_ThreadPool_ForceMinWorkerThreads', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } }]);
    expect(env.DOTNET_ThreadPool_ForceMaxWorkerThreads).toBe('0x100');
    expect(warnings).toEqual(['app: DOTNET_ThreadPool_ForceMinWorkerThreads comes from valueFrom, which pidguard cannot see: if the runtime reads a forced minimum above the cap 256 from it, it ignores the cap']);
  });

  it('parses a 1 MiB value in one pass', () => {
    const { warnings } = run([{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: `0x${'0'.repeat(1 << 20)}40` }]);
    expect(warnings).toEqual([]);
  });
});

describe('dotnet-guard thread-pool properties', () => {
  const knobNames = ['DOTNET_ThreadPool_ForceMaxWorkerThreads', 'COMPlus_ThreadPool_ForceMaxWorkerThreads', 'DOTNET_ThreadPool_ForceMinWorkerThreads', 'COMPlus_ThreadPool_ForceMinWorkerThreads'];
  const entry = fc.record({
    name: fc.constantFrom(...knobNames),
    value: fc.oneof(fc.constantFrom('0x40', '0x100', '0x400', '200', '0', 'ff', '0x7fff', '0xffff', 'abc', '', '12 '), fc.integer({ min: 0, max: 70000 }).map((n) => `0x${n.toString(16)}`)),
    hidden: fc.boolean(),
  }).map(({ name, value, hidden }) => (hidden ? { name, valueFrom: { secretKeyRef: { name: 's', key: 'k' } } } : { name, value }));

  /** The runtime's reading, written independently: last entry wins, DOTNET_ over COMPlus_, strict hex. */
  function runtimeKnob(env: Container['env'], knob: string): number | 'unknown' | undefined {
    const last = (name: string) => [...(env ?? [])].reverse().find((e) => e.name === name);
    const found = last(`DOTNET_ThreadPool_${knob}`) ?? last(`COMPlus_ThreadPool_${knob}`);
    if (!found) return undefined;
    if (found.value === undefined) return 'unknown';
    return /^(0[xX])?[0-9a-fA-F]+$/.test(found.value) && Number.parseInt(found.value, 16) <= 0xffffffff ? Number.parseInt(found.value, 16) : 'unknown';
  }

  it('the decimal variable pidguard adds is the cap that holds; a container without its own maximum always ends up capped', () => {
    fc.assert(fc.property(fc.array(entry, { maxLength: 4 }), (env) => {
      const { pod } = mutate([container('app', { limits: { memory: '1Gi' } }, { image: 'mcr.microsoft.com/dotnet/aspnet:8.0', env })]);
      const after = pod.spec.containers[0]!.env ?? [];
      const max = runtimeKnob(after, 'ForceMaxWorkerThreads');
      const min = runtimeKnob(after, 'ForceMinWorkerThreads');
      const holds = typeof max === 'number' && max > 0 && !(typeof min === 'number' && min > max) && min !== 'unknown';
      const added = after.slice(env.length).find((e) => e.name === 'DOTNET_ThreadPool_MaxThreads');
      if (added) {
        expect(typeof max === 'number' && max > 0 && !(typeof min === 'number' && min > max)).toBe(true);
        expect(added.value).toBe(String(Math.min(max as number, 32767)));
      }
      if (runtimeKnob(env, 'ForceMaxWorkerThreads') === undefined && typeof min !== 'string') expect(holds).toBe(true);
      expect(after.slice(0, env.length)).toEqual(env); // never changes what the container set
    }), { numRuns: 2000 });
  });
});
