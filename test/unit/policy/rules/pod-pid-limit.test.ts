// pod-pid-limit (KEP-6063): behind podPidLimit.enabled, and only when the caller
// found that the API server accepts spec.resources.limits.pid, the pod's PID
// budget is written there too, clamped to 128-16384; idempotent. And dotnet-guard
// skips cpu/memory only for pod-level cpu/memory, not for a pid-only block.
import { defaultConfig, parseConfig, type PolicyConfig } from '../../../../src/policy/config.js';
import { evaluate, type EvaluationRequest } from '../../../../src/policy/engine.js';
import { applyPatch } from '../../../../src/policy/json-patch.js';
import type { KubeObject } from '../../../../src/policy/types.js';
import { container, deepFreeze, pod } from '../pods.js';

const on = parseConfig({ podPidLimit: { enabled: true }, pidsDefault: { enabled: true } });
const served = { podPidLimitServed: true };
const annotated = (limit: string, resources?: Record<string, unknown>) =>
  pod({ containers: [container('web', { limits: { cpu: '1', memory: '1Gi' } })], ...(resources ? { resources } : {}) }, { annotations: { 'pidguard.io/pids-limit': limit } });

const run = (object: KubeObject, config: PolicyConfig, extra: Partial<EvaluationRequest> = {}) => {
  const result = evaluate({ object: deepFreeze(structuredClone(object)), operation: 'CREATE', mode: 'enforce', config, ...extra });
  return Object.assign(result, { patched: applyPatch(structuredClone(object), result.patch) as KubeObject });
};
const podPid = (result: ReturnType<typeof run>) => (result.patched.spec as { resources?: { limits?: { pid?: string } } }).resources?.limits?.pid;

describe('pod-pid-limit', () => {
  it('is off by default, and writes nothing while the API server does not accept the field', () => {
    expect(defaultConfig().podPidLimit).toEqual({ enabled: false });
    expect(podPid(run(annotated('1024'), defaultConfig(), served))).toBeUndefined();
    expect(podPid(run(annotated('1024'), on))).toBeUndefined();
    expect(podPid(run(annotated('1024'), on, { podPidLimitServed: false }))).toBeUndefined();
  });

  it('writes the number the agent enforces for the annotation, recorded like every mutation', () => {
    const result = run(annotated('1024'), on, served);
    expect(podPid(result)).toBe('1024');
    expect(result.mutations).toContainEqual({ ruleId: 'pod-pid-limit', summary: 'pod resources.limits.pid=1024' });
  });

  it('follows the budget other rules set first: the ceiling, pids-default, dotnet-guard', () => {
    expect(podPid(run(annotated('9000'), on, served))).toBe('4096');
    expect(podPid(run(pod({ containers: [container('web', { limits: { cpu: '1', memory: '1Gi' } })] }), on, served))).toBe('2048');
    expect(podPid(run(pod({ containers: [container('api', {}, { image: 'mcr.microsoft.com/dotnet/aspnet:8.0' })] }), on, served))).toBe('1024');
  });

  it.each([
    ['64', '128', /KEP-6063's minimum; the agent still enforces the budget 64/],
    ['16', '128', /minimum/],
  ])('clamps a budget of %s to the KEP\'s range (%s)', (limit, field, note) => {
    const result = run(annotated(limit), on, served);
    expect(podPid(result)).toBe(field);
    expect(result.mutations.find((m) => m.ruleId === 'pod-pid-limit')?.summary).toMatch(note);
  });

  it('clamps above the KEP\'s maximum of 16384', () => {
    const config = parseConfig({ podPidLimit: { enabled: true }, pids: { ceiling: 65536 } });
    const result = run(annotated('30000'), config, served);
    expect(podPid(result)).toBe('16384');
    expect(result.mutations.find((m) => m.ruleId === 'pod-pid-limit')?.summary).toMatch(/the kubelet holds the pod below its budget 30000/);
  });

  it('is idempotent: a second pass over its own output changes nothing', () => {
    const first = run(annotated('1024'), on, served);
    const second = run(first.patched, on, served);
    expect(second.mutations.filter((m) => m.ruleId === 'pod-pid-limit')).toEqual([]);
    expect(second.patch.filter((op) => op.path.startsWith('/spec/resources'))).toEqual([]);
  });

  it('keeps a stricter value the author set, and lowers a higher or unreadable one with a warning', () => {
    expect(podPid(run(annotated('1024', { limits: { pid: '500' } }), on, served))).toBe('500');
    const higher = run(annotated('1024', { limits: { pid: '8000' } }), on, served);
    expect(podPid(higher)).toBe('1024');
    expect(higher.mutations.find((m) => m.ruleId === 'pod-pid-limit')?.warning).toMatch(/limits\.pid="8000" is above the pod's PID budget/);
    expect(podPid(run(annotated('1024', { limits: { pid: 'lots' } }), on, served))).toBe('1024');
  });

  it('a pid-only pod-level block leaves the QoS class to the containers (discovery requires a server that does so): the pod stays admitted', () => {
    const result = run(annotated('1024'), parseConfig({ podPidLimit: { enabled: true }, requireResources: { level: 'not-besteffort' } }), served);
    expect(podPid(result)).toBe('1024');
    expect(result.qosClass).toBe('Guaranteed');
    expect(result.allowed).toBe(true);
  });

  it('keeps the pod\'s pod-level cpu/memory as they are', () => {
    const result = run(annotated('1024', { limits: { cpu: '2', memory: '2Gi' } }), on, served);
    expect((result.patched.spec as { resources?: unknown }).resources).toEqual({ limits: { cpu: '2', memory: '2Gi', pid: '1024' } });
  });
});

describe('dotnet-guard and pod-level resources', () => {
  const dotnetPod = (resources?: Record<string, unknown>) =>
    pod({ containers: [container('api', {}, { image: 'mcr.microsoft.com/dotnet/aspnet:8.0' })], ...(resources ? { resources } : {}) });
  const containerResources = (result: ReturnType<typeof run>) => (result.patched.spec as { containers: Array<{ resources?: unknown }> }).containers[0]?.resources;

  it('a pod-level pid-only block does not suppress the cpu/memory defaults', () => {
    expect(containerResources(run(dotnetPod({ limits: { pid: '1024' } }), defaultConfig()))).toEqual({
      requests: { cpu: '100m', memory: '256Mi' },
      limits: { cpu: '1', memory: '1Gi' },
    });
  });

  it.each([
    ['limits.cpu', { limits: { cpu: '2' } }],
    ['requests.memory', { requests: { memory: '1Gi' } }],
  ])('pod-level %s still does', (_name, resources) => {
    expect(containerResources(run(dotnetPod(resources), defaultConfig()))).toEqual({});
  });
});
