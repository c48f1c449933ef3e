import { parseConfig } from '../../../../src/policy/config.js';
import { requireResources } from '../../../../src/policy/rules/require-resources.js';
import type { PodSpec } from '../../../../src/policy/types.js';
import { container } from '../pods.js';
import { checkedPodContext } from './context.js';

const check = (spec: PodSpec, level = 'not-besteffort') => {
  const config = parseConfig({ requireResources: { level } });
  return requireResources.check(checkedPodContext({ spec }, { config }), config.requireResources);
};

describe('require-resources', () => {
  describe('level not-besteffort', () => {
    it('rejects a BestEffort pod and names every container', () => {
      expect(check({ containers: [container('app'), container('sidecar')], initContainers: [container('migrate')] })).toEqual({
        reason: 'BestEffort pod (no cpu or memory requests or limits)',
        detail: 'containers "app", "sidecar", "migrate" set no cpu or memory requests or limits',
        fix: 'set resources on at least one container, for example resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}',
      });
    });

    it('uses the singular for one container', () => {
      expect(check({ containers: [container('app')] })?.detail).toBe('container "app" sets no cpu or memory requests or limits');
    });

    it('explains an empty pod-level resources block', () => {
      expect(check({ containers: [container('app', { limits: { cpu: '1' } })], resources: {} })?.detail).toBe(
        'spec.resources sets no positive cpu or memory request or limit',
      );
    });

    it.each([
      ['a cpu request on one container', { containers: [container('a', { requests: { cpu: '10m' } }), container('b')] }],
      ['a memory limit on an init container', { containers: [container('a')], initContainers: [container('i', { limits: { memory: '1Mi' } })] }],
      ['pod-level requests', { containers: [container('a')], resources: { requests: { memory: '1Gi' } } }],
    ])('admits a pod with %s', (_name, spec) => {
      expect(check(spec as PodSpec)).toBeUndefined();
    });
  });

  describe('level requests', () => {
    it('names each container and what it lacks', () => {
      const finding = check(
        {
          containers: [container('a', { requests: { cpu: '1', memory: '1Gi' } }), container('b', { requests: { cpu: '1' } })],
          initContainers: [container('i')],
        },
        'requests',
      );
      expect(finding?.reason).toBe('containers without cpu and memory requests');
      expect(finding?.detail).toBe('containers "b" (requests.memory), "i" (requests.cpu, requests.memory) must set them');
    });

    it('counts limits as requests (the API server defaults one from the other)', () => {
      expect(check({ containers: [container('a', { limits: { cpu: '1', memory: '1Gi' } })] }, 'requests')).toBeUndefined();
    });

    it('accepts pod-level values for every container', () => {
      expect(check({ containers: [container('a'), container('b')], resources: { requests: { cpu: '1', memory: '1Gi' } } }, 'requests')).toBeUndefined();
    });
  });

  describe('level requests-and-limits', () => {
    it('requires limits too', () => {
      const finding = check({ containers: [container('a', { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '1Gi' } })] }, 'requests-and-limits');
      expect(finding?.detail).toBe('container "a" (limits.cpu) must set them');
    });

    it('admits fully specified containers', () => {
      expect(check({ containers: [container('a', { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '2', memory: '1Gi' } })] }, 'requests-and-limits')).toBeUndefined();
    });
  });
});
