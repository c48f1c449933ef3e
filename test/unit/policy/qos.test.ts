// QoS parity with the API server (pkg/apis/core/helper/qos/qos.go, ComputePodQOS),
// case by case, including the defaulting of requests from limits, init
// containers, zero quantities, extended resources and pod-level resources.
import { computeQosClass, podLevelRequestDefaults } from '../../../src/policy/qos.js';
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

// k8s.io/kubernetes 1.36 pkg/apis/core/v1/defaults.go defaultPodRequests, as the API server applies it to every Pod.
describe('podLevelRequestDefaults defaults pod-level requests as the API server does', () => {
  const sidecar = (name: string, requests: Record<string, string>) => container(name, { requests }, { restartPolicy: 'Always' });
  const defaults: Array<[string, PodSpec, Record<string, string> | undefined]> = [
    ['no pod-level resources: nothing', { containers: [container('a', { limits: both('1', '1Gi') })] }, undefined],
    ['pod-level requests only: nothing', { containers: [container('a')], resources: { requests: { cpu: '1' } } }, { cpu: '1' }],
    ['empty pod-level limits: nothing', { containers: [container('a', { requests: { cpu: '1' } })], resources: { limits: {} } }, undefined],
    ['limits only, no container asks: the limits', { containers: [container('a')], resources: { limits: both('1', '1Gi') } }, both('1', '1Gi')],
    ['a request kept, the other from the limit', { containers: [container('a')], resources: { requests: { cpu: '250m' }, limits: both('1', '1Gi') } }, both('250m', '1Gi')],
    [
      'containers ask: their sum (a container limit counts as its request), the rest from the limit',
      { containers: [container('a', { requests: { cpu: '250m' } }), container('b', { limits: { cpu: '500m' } })], resources: { limits: both('2', '1Gi') } },
      { cpu: '750m', memory: '1Gi' },
    ],
    ['a zero request is a request', { containers: [container('a', { requests: { cpu: '0' } })], resources: { limits: { cpu: '1' } } }, { cpu: '0m' }],
    [
      'init containers as their peak, sidecars summed',
      {
        containers: [container('a', { requests: { cpu: '100m' } })],
        initContainers: [sidecar('s', { cpu: '200m' }), container('i', { requests: { cpu: '1' } })],
        resources: { limits: { cpu: '4' } },
      },
      { cpu: '1200m' },
    ],
    ['memory rounded up to milli as stored', { containers: [container('a', { requests: { memory: '1Gi' } })], resources: { limits: { memory: '2Gi' } } }, { memory: '1073741824000m' }],
    ['extended resources are not defaulted here', { containers: [container('a')], resources: { limits: { 'nvidia.com/gpu': '1' } } }, undefined],
  ];
  it.each(defaults)('%s', (_name, spec, expected) => {
    const frozen = JSON.parse(JSON.stringify(spec)) as PodSpec;
    expect(podLevelRequestDefaults(frozen).resources?.requests).toEqual(expected);
    expect(frozen).toEqual(spec);
  });

  it('makes pod-level limits alone Guaranteed, as the API server computes it', () => {
    const spec: PodSpec = { containers: [container('a')], resources: { limits: both('1', '1Gi') } };
    expect(computeQosClass(podLevelRequestDefaults(spec))).toBe('Guaranteed');
  });
});
