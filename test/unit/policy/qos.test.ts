// QoS parity with the API server (pkg/apis/core/helper/qos/qos.go, ComputePodQOS),
// case by case, including the defaulting of requests from limits, init
// containers, zero quantities, extended resources and pod-level resources.
import { computeQosClass } from '../../../src/policy/qos.js';
import type { PodSpec } from '../../../src/policy/types.js';
import { container } from './pods.js';

const both = (cpu: string, memory: string) => ({ cpu, memory });

const cases: Array<[string, PodSpec, string]> = [
  ['no resources anywhere', { containers: [container('a'), container('b')] }, 'BestEffort'],
  ['empty requests and limits', { containers: [container('a', { requests: {}, limits: {} })] }, 'BestEffort'],
  ['zero quantities do not count', { containers: [container('a', { requests: both('0', '0'), limits: both('0m', '0Mi') })] }, 'BestEffort'],
  ['only extended resources', { containers: [container('a', { requests: { 'nvidia.com/gpu': '1' }, limits: { 'ephemeral-storage': '1Gi' } })] }, 'BestEffort'],
  ['one cpu request', { containers: [container('a', { requests: { cpu: '100m' } })] }, 'Burstable'],
  ['one memory limit', { containers: [container('a', { limits: { memory: '64Mi' } })] }, 'Burstable'],
  ['requests equal limits', { containers: [container('a', { requests: both('1', '1Gi'), limits: both('1', '1Gi') })] }, 'Guaranteed'],
  ['equal in different units', { containers: [container('a', { requests: both('1000m', '1024Mi'), limits: both('1', '1Gi') })] }, 'Guaranteed'],
  ['limits only: requests default to limits', { containers: [container('a', { limits: both('500m', '128Mi') })] }, 'Guaranteed'],
  ['requests below limits', { containers: [container('a', { requests: both('100m', '128Mi'), limits: both('1', '1Gi') })] }, 'Burstable'],
  [
    'one guaranteed container, one without resources',
    { containers: [container('a', { limits: both('1', '1Gi') }), container('b')] },
    'Burstable',
  ],
  [
    'init container with resources counts',
    { containers: [container('app')], initContainers: [container('init', { requests: { memory: '10Mi' } })] },
    'Burstable',
  ],
  [
    'guaranteed app and init containers',
    { containers: [container('app', { limits: both('1', '1Gi') })], initContainers: [container('init', { limits: both('200m', '64Mi') })] },
    'Guaranteed',
  ],
  [
    'guaranteed app, init without limits',
    { containers: [container('app', { limits: both('1', '1Gi') })], initContainers: [container('init')] },
    'Burstable',
  ],
  [
    'cpu limit only on every container',
    { containers: [container('a', { limits: { cpu: '1' } })] },
    'Burstable',
  ],
  [
    'pod-level requests only',
    { containers: [container('a')], resources: { requests: both('1', '1Gi') } },
    'Burstable',
  ],
  [
    'pod-level requests equal limits',
    { containers: [container('a')], resources: { requests: both('1', '1Gi'), limits: both('1', '1Gi') } },
    'Guaranteed',
  ],
  [
    'pod-level limits missing memory',
    { containers: [container('a')], resources: { requests: { cpu: '1' }, limits: { cpu: '1' } } },
    'Burstable',
  ],
  [
    'pod-level resources win over containers, even when empty',
    { containers: [container('a', { limits: both('1', '1Gi') })], resources: {} },
    'BestEffort',
  ],
];

describe('computeQosClass matches the API server', () => {
  it.each(cases)('%s', (_name, spec, expected) => {
    expect(computeQosClass(spec)).toBe(expected);
  });
});
