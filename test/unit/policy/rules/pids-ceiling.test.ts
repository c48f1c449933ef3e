import { defaultConfig } from '../../../../src/policy/config.js';
import { evaluate, type EvaluationRequest } from '../../../../src/policy/engine.js';
import { applyPatch } from '../../../../src/policy/json-patch.js';
import type { KubeObject } from '../../../../src/policy/types.js';
import { container, deepFreeze, pod } from '../pods.js';

const config = defaultConfig();
const run = (object: KubeObject, extra: Partial<EvaluationRequest> = {}) =>
  evaluate({ object: deepFreeze(structuredClone(object)), operation: 'CREATE', mode: 'enforce', config, ...extra });
const annotated = (value: string, image = 'nginx:1.27') =>
  pod({ containers: [container('app', { requests: { cpu: '100m' } }, { image })] }, { annotations: { 'pidguard.io/pids-limit': value } });
const stored = (object: KubeObject, extra: Partial<EvaluationRequest> = {}) => applyPatch(object, run(object, extra).patch).metadata!.annotations!;

describe('pids-ceiling', () => {
  it('lowers a pod author\'s pids-limit above the ceiling, with a warning and a record entry', () => {
    const result = run(annotated('4194304'));
    const annotations = stored(annotated('4194304'));
    expect(annotations['pidguard.io/pids-limit']).toBe('4096');
    expect(annotations['pidguard.io/mutations']).toBe(
      'pids-ceiling set: annotation pidguard.io/pids-limit=4096 (pidguard.io/pids-limit="4194304" is above the ceiling 4096; lowered to 4096)',
    );
    expect(result.warnings).toEqual(['pids-ceiling: pidguard.io/pids-limit="4194304" is above the ceiling 4096; lowered to 4096']);
    expect(result.auditAnnotations.warnings).toBe(result.warnings[0]);
  });

  it('replaces an invalid value with min(dotnet.pidsLimit, ceiling), for any pod', () => {
    expect(stored(annotated('abc'))['pidguard.io/pids-limit']).toBe('1024');
    expect(run(annotated('abc')).warnings[0]).toContain('is not a whole number from 1 to 4194304; replaced with 1024');
    const dotnet = annotated('abc', 'mcr.microsoft.com/dotnet/aspnet:8.0');
    expect(stored(dotnet, { namespaceLabels: { 'pidguard.io/pids-limit-ceiling': '512' } })['pidguard.io/pids-limit']).toBe('512');
  });

  it('keeps a value within the ceiling', () => {
    const result = run(annotated('2048'));
    expect(result.patch).toEqual([]);
    expect(result.warnings).toEqual([]);
  });

  it('follows the namespace label, which may raise the ceiling', () => {
    expect(run(annotated('100000'), { namespaceLabels: { 'pidguard.io/pids-limit-ceiling': '200000' } }).patch).toEqual([]);
    expect(stored(annotated('100000'), { namespaceLabels: { 'pidguard.io/pids-limit-ceiling': '20000' } })['pidguard.io/pids-limit']).toBe('20000');
  });

  it('warns about an invalid namespace ceiling label and uses the config ceiling', () => {
    const result = run(annotated('100000'), { namespaceLabels: { 'pidguard.io/pids-limit-ceiling': 'unlimited' } });
    expect(stored(annotated('100000'), { namespaceLabels: { 'pidguard.io/pids-limit-ceiling': 'unlimited' } })['pidguard.io/pids-limit']).toBe('4096');
    expect(result.warnings).toContain(
      'pids-ceiling: namespace label pidguard.io/pids-limit-ceiling="unlimited" is not a whole number from 16 to 4194304; using the config ceiling 4096',
    );
  });

  it('gives a .NET pod without an annotation min(dotnet.pidsLimit, namespace ceiling)', () => {
    const dotnet = pod({ containers: [container('api', undefined, { image: 'mcr.microsoft.com/dotnet/aspnet:8.0' })] });
    expect(stored(dotnet, { namespaceLabels: { 'pidguard.io/pids-limit-ceiling': '300' } })['pidguard.io/pids-limit']).toBe('300');
    expect(run(dotnet, { namespaceLabels: { 'pidguard.io/pids-limit-ceiling': '300' } }).warnings).toEqual([]);
  });

  it('in audit mode says what enforce would set and why, without patching', () => {
    const result = run(annotated('4194304'), { mode: 'audit' });
    expect(result.patch).toEqual([]);
    expect(result.warnings).toEqual([
      'audit mode, enforce would set: annotation pidguard.io/pids-limit=4096 (pidguard.io/pids-limit="4194304" is above the ceiling 4096; lowered to 4096)',
    ]);
  });

  it('is idempotent', () => {
    const once = applyPatch(annotated('abc'), run(annotated('abc')).patch);
    expect(run(once).patch).toEqual([]);
  });
});

describe('the pidguard.io/mutations record', () => {
  it('records every rule\'s changes', () => {
    const dotnet = pod(
      { containers: [container('api', undefined, { image: 'mcr.microsoft.com/dotnet/aspnet:8.0' })] },
      { annotations: { 'pidguard.io/pids-limit': 'lots' } },
    );
    expect(stored(dotnet)['pidguard.io/mutations']).toBe(
      'dotnet-guard set: container "api": cpu request 100m, cpu limit 1, memory request 256Mi, memory limit 1Gi, ' +
        'env DOTNET_ThreadPool_ForceMaxWorkerThreads=0x100, env DOTNET_ThreadPool_MaxThreads=256 | ' +
        'pids-ceiling set: annotation pidguard.io/pids-limit=1024 (pidguard.io/pids-limit="lots" is not a whole number from 1 to 4194304; replaced with 1024)',
    );
  });

  it('keeps a pod with 1,500 .NET containers under the 256 KiB annotation limit', () => {
    const containers = Array.from({ length: 1500 }, (_, i) => container(`dotnet-worker-container-${i}`, undefined, { image: 'mcr.microsoft.com/dotnet/aspnet:8.0' }));
    const big = pod({ containers }, { annotations: { 'example.com/owner': 'team' } });
    const annotations = stored(big);
    const total = Object.entries(annotations).reduce((sum, [key, value]) => sum + Buffer.byteLength(key) + Buffer.byteLength(value), 0);
    expect(total).toBeLessThan(256 * 1024);
    expect(Buffer.byteLength(annotations['pidguard.io/mutations']!)).toBeLessThanOrEqual(8 * 1024);
    expect(annotations['pidguard.io/mutations']).toMatch(/^dotnet-guard set: container "dotnet-worker-container-0": /);
    expect(annotations['pidguard.io/mutations']).toMatch(/; annotation pidguard\.io\/pids-limit=1024; \.\.\. and 1,4\d\d more containers$/);
    expect(annotations['pidguard.io/pids-limit']).toBe('1024');
  });

  it('stays bounded with a 1 MiB container name (names are not validated before the mutating webhooks)', () => {
    const name = 'n'.repeat(1 << 20);
    const huge = pod({ containers: [container(name, undefined, {
      image: 'mcr.microsoft.com/dotnet/aspnet:8.0', env: [{ name: 'DOTNET_ThreadPool_ForceMinWorkerThreads', value: '0x400' }],
    })] }, { annotations: { 'pidguard.io/pids-limit': '4194304' } });
    const enforced = run(huge);
    expect(Buffer.byteLength(stored(huge)['pidguard.io/mutations']!)).toBeLessThanOrEqual(8 * 1024);
    for (const warning of enforced.warnings) expect(Buffer.byteLength(warning)).toBeLessThanOrEqual(1024);
    expect(Buffer.byteLength(enforced.auditAnnotations.warnings!)).toBeLessThanOrEqual(4 * 1024);
    const audited = run(huge, { mode: 'audit' });
    for (const warning of audited.warnings) expect(Buffer.byteLength(warning)).toBeLessThanOrEqual(9 * 1024);
    expect(Buffer.byteLength(audited.auditAnnotations['would-mutate']!)).toBeLessThanOrEqual(8 * 1024);
  });
});
