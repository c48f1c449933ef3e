import { observedPodsFromReports, unenforcedPidsLimit, unguardedPodPids } from '../../../src/audit/pids-enforcement.js';
import { defaultConfig } from '../../../src/policy/config.js';
import type { KubeObject } from '../../../src/policy/types.js';

const config = defaultConfig();

const pod = (annotation?: string): KubeObject => ({
  kind: 'Pod',
  metadata: { name: 'p', uid: 'u1', ...(annotation ? { annotations: { 'pidguard.io/pids-limit': annotation } } : {}) },
});

describe('unenforcedPidsLimit', () => {
  it.each([
    ['unlimited', 'max', 'pids.max is max (unlimited), the annotation asks for 1024 (node-a.json)'],
    ['higher', 4096, 'pids.max is 4096, the annotation asks for 1024 (node-a.json)'],
    ['unreadable', undefined, 'pids.max is unreadable, the annotation asks for 1024 (node-a.json)'],
  ])('reports a cgroup whose limit is %s', (_name, pidsMax, detail) => {
    expect(unenforcedPidsLimit(pod('1024'), { source: 'node-a.json', ...(pidsMax === undefined ? {} : { pidsMax: pidsMax as number | 'max' }) }, config)).toBe(
      `${detail}; is the pidguard agent running on that node with enforcement on?`,
    );
  });

  it.each([
    ['enforced exactly', pod('1024'), { source: 'n', pidsMax: 1024 }],
    ['stricter (kubelet podPidsLimit)', pod('1024'), { source: 'n', pidsMax: 512 }],
    ['no annotation', pod(), { source: 'n', pidsMax: 'max' as const }],
    ['no node data', pod('1024'), undefined],
  ])('says nothing when %s', (_name, object, observed) => {
    expect(unenforcedPidsLimit(object, observed, config)).toBeUndefined();
  });

  it('judges against the limit the agent writes: an invalid or above-ceiling annotation is no way around the check', () => {
    expect(unenforcedPidsLimit(pod('lots'), { source: 'n', pidsMax: 'max' }, config)).toMatch(/^pids\.max is max \(unlimited\), the agent writes 1024 for the annotation "lots" \(n\)/);
    expect(unenforcedPidsLimit(pod('4194304'), { source: 'n', pidsMax: 5000 }, config)).toMatch(/^pids\.max is 5000, the agent writes 4096 for the annotation "4194304" \(n\)/);
    expect(unenforcedPidsLimit(pod('4194304'), { source: 'n', pidsMax: 300 }, { ...config, pids: { ceiling: 512 } }, { 'pidguard.io/pids-limit-ceiling': '256' })).toMatch(/writes 256/);
    expect(unenforcedPidsLimit(pod('4194304'), { source: 'n', pidsMax: 4096 }, config)).toBeUndefined();
  });
});

describe('unguardedPodPids', () => {
  it.each([
    ['unlimited', 'max', 'pids.max is max (unlimited)'],
    ['set by the kubelet', 4096, 'pids.max is 4096'],
    ['unreadable', undefined, 'pids.max is unreadable'],
  ])('shows the actual pids.max of a pod without pids-limit when it is %s', (_name, pidsMax, actual) => {
    expect(unguardedPodPids(pod(), { source: 'node-a.json', ...(pidsMax === undefined ? {} : { pidsMax: pidsMax as number | 'max' }) })).toBe(
      `no pidguard.io/pids-limit; on its node ${actual} (node-a.json)`,
    );
  });

  it.each([
    ['the pod has a pids-limit (unenforcedPidsLimit judges it)', pod('1024'), { source: 'n', pidsMax: 'max' as const }],
    ['no node data', pod(), undefined],
  ])('says nothing when %s', (_name, object, observed) => {
    expect(unguardedPodPids(object, observed)).toBeUndefined();
  });
});

describe('observedPodsFromReports', () => {
  it('indexes pods by uid', () => {
    const observed = observedPodsFromReports([
      { source: 'a.json', document: { pods: [{ uid: 'u1', pids: { max: 'max' } }, { uid: 'u2', pids: { max: 100 } }, { pids: {} }] } },
      { source: 'b.json', document: { pods: [{ uid: 'u3', pids: {} }] } },
    ]);
    expect([...observed.entries()]).toEqual([
      ['u1', { source: 'a.json', pidsMax: 'max' }],
      ['u2', { source: 'a.json', pidsMax: 100 }],
      ['u3', { source: 'b.json' }],
    ]);
  });

  it('names a file that is not a node report', () => {
    expect(() => observedPodsFromReports([{ source: 'x.json', document: { items: [] } }])).toThrow(
      'x.json: not a node report (no "pods" list; produce it with `pidguard node --json`)',
    );
  });
});
