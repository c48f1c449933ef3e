// pidguard must pass its own policy: its workloads are excluded from its webhooks (pidguard-system),
// but a cluster running another admission policy, or pidguard's audit pointed at everything, would
// judge them the same way. Judged by the real engine, in enforce mode, at every requireResources level.
import { evaluate } from '../../../src/policy/engine.js';
import { defaultConfig, type PolicyConfig } from '../../../src/policy/config.js';
import { RESOURCE_LEVELS } from '../../../src/policy/rules/require-resources.js';
import { render, workloads } from './render.js';

function configAt(level: PolicyConfig['requireResources']['level']): PolicyConfig {
  const config = defaultConfig();
  return { ...config, requireResources: { level } };
}

describe('pidguard judged by its own policy', () => {
  const judged = () => workloads(render('.'));

  it('has the three workloads to judge', () => {
    expect(judged()).toHaveLength(3);
  });

  it.each(RESOURCE_LEVELS)('admits every workload of the install unchanged at requireResources level %s', (level) => {
    for (const { object } of judged()) {
      const evaluation = evaluate({ object, operation: 'CREATE', mode: 'enforce', config: configAt(level) });
      expect({ workload: `${object.kind}/${object.metadata.name}`, evaluated: evaluation.evaluated, allowed: evaluation.allowed, violations: evaluation.violations, mutations: evaluation.mutations })
        .toEqual({ workload: `${object.kind}/${object.metadata.name}`, evaluated: true, allowed: true, violations: [], mutations: [] });
    }
  });

  it('runs every pod in the Guaranteed or Burstable QoS class, never BestEffort', () => {
    for (const { object } of judged()) {
      const evaluation = evaluate({ object, operation: 'CREATE', mode: 'enforce', config: defaultConfig() });
      expect(['Guaranteed', 'Burstable']).toContain(evaluation.qosClass);
    }
  });

  it('lets the installer create its labelled namespace (system:masters is in namespaceGuard.groups)', () => {
    const namespace = render('.').find((object) => object.kind === 'Namespace')!;
    const evaluation = evaluate({ object: namespace, operation: 'CREATE', mode: 'enforce', config: defaultConfig(), userInfo: { username: 'admin', groups: ['system:masters'] } });
    expect(evaluation).toMatchObject({ evaluated: true, allowed: true, violations: [] });
  });
});
