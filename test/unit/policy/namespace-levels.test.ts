// Per-namespace require-resources levels through the engine: the level the
// namespace's mode applies (pidguard.io/require-resources) and a stricter
// level that only warns (pidguard.io/require-resources-warn), in every mode.
import { defaultConfig, parseConfig } from '../../../src/policy/config.js';
import { evaluate } from '../../../src/policy/engine.js';
import type { KubeObject, Mode, PodSpec } from '../../../src/policy/types.js';
import { container, deployment, pod } from './pods.js';

const bestEffort: PodSpec = { containers: [container('web')] };
const burstableNoLimits: PodSpec = { containers: [container('web', { requests: { cpu: '100m', memory: '128Mi' } })] };
const guaranteed: PodSpec = { containers: [container('web', { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } })] };
const team = { 'pidguard.io/require-resources': 'not-besteffort', 'pidguard.io/require-resources-warn': 'requests-and-limits' };
const LIMITS_WARNING =
  'require-resources: level requests-and-limits (namespace label pidguard.io/require-resources-warn): containers without cpu and memory requests and limits: ' +
  'container "web" (limits.cpu, limits.memory) must set them. Fix: set cpu and memory requests and limits on every container, ' +
  'for example resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 500m, memory: 256Mi}}.';

const run = (object: KubeObject, mode: Mode, namespaceLabels?: Record<string, string>, config = defaultConfig()) =>
  evaluate({ object, operation: 'CREATE', mode, config, namespaceLabels });

describe('per-namespace require-resources levels', () => {
  it.each<[string, KubeObject, Mode, Record<string, string> | undefined, boolean, string[], string[]]>([
    // name, object, mode, labels, allowed, violations (rule ids), warnings
    ['no labels: the config level, no warnings', pod(burstableNoLimits), 'enforce', undefined, true, [], []],
    ['enforce not-besteffort + warn requests-and-limits: Burstable without limits is warned', pod(burstableNoLimits), 'enforce', team, true, [], [LIMITS_WARNING]],
    ['the same for a Deployment (judged through its template)', deployment(burstableNoLimits), 'enforce', team, true, [], [LIMITS_WARNING]],
    ['enforce + warn: BestEffort is denied, and the warning does not repeat it', pod(bestEffort), 'enforce', team, false, ['require-resources'], []],
    ['enforce + warn: a Guaranteed pod passes both', pod(guaranteed), 'enforce', team, true, [], []],
    ['audit + warn: Burstable without limits is warned', pod(burstableNoLimits), 'audit', team, true, [], [LIMITS_WARNING]],
    ['enforce requests-and-limits by label: Burstable without limits is denied', pod(burstableNoLimits), 'enforce', { 'pidguard.io/require-resources': 'requests-and-limits' }, false, ['require-resources'], []],
    ['a warn level below the enforced one says nothing more', pod(burstableNoLimits), 'enforce', { 'pidguard.io/require-resources': 'requests', 'pidguard.io/require-resources-warn': 'not-besteffort' }, true, [], []],
  ])('%s', (_name, object, mode, labels, allowed, violations, warnings) => {
    const result = run(object, mode, labels);
    expect(result.allowed).toBe(allowed);
    expect(result.violations.map((v) => v.ruleId)).toEqual(violations);
    expect(result.warnings).toEqual(warnings);
    if (warnings.length > 0) expect(result.auditAnnotations['warnings']).toBe(LIMITS_WARNING);
  });

  it('the namespace label overrides the config level, both ways', () => {
    const strict = parseConfig({ requireResources: { level: 'requests-and-limits' } });
    expect(run(pod(burstableNoLimits), 'enforce', undefined, strict).allowed).toBe(false);
    expect(run(pod(burstableNoLimits), 'enforce', { 'pidguard.io/require-resources': 'not-besteffort' }, strict).allowed).toBe(true);
  });

  it('an invalid mode level keeps the config level and says so; an invalid warn level warns', () => {
    const result = run(pod(bestEffort), 'enforce', { 'pidguard.io/require-resources': 'none', 'pidguard.io/require-resources-warn': 'strict' });
    expect(result.allowed).toBe(false);
    expect(result.warnings).toEqual([
      'require-resources: namespace label pidguard.io/require-resources="none" is not one of not-besteffort, requests, requests-and-limits; using the config level not-besteffort',
    ]);
    const warned = run(pod(guaranteed), 'enforce', { 'pidguard.io/require-resources-warn': 'strict' });
    expect(warned.allowed).toBe(true);
    expect(warned.warnings).toEqual([
      'require-resources: namespace label pidguard.io/require-resources-warn="strict" is not one of not-besteffort, requests, requests-and-limits; no warn level applies',
    ]);
  });

  it('the mutating phase runs no checks, so /mutate does not repeat the warning', () => {
    expect(evaluate({ object: pod(burstableNoLimits), operation: 'CREATE', mode: 'enforce', config: defaultConfig(), namespaceLabels: team, phase: 'mutating' }).warnings).toEqual([]);
  });

  it('only guardians may set the level labels (namespace-label-guard)', () => {
    for (const label of Object.keys(team)) {
      const namespace: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team', labels: { [label]: 'requests' } } };
      const asUser = evaluate({ object: namespace, operation: 'CREATE', mode: 'enforce', config: defaultConfig(), userInfo: { username: 'dev', groups: ['devs'] } });
      expect(asUser.allowed).toBe(false);
      expect(asUser.message).toContain(`add ${label}=requests`);
      const asAdmin = evaluate({ object: namespace, operation: 'CREATE', mode: 'enforce', config: defaultConfig(), userInfo: { username: 'admin', groups: ['system:masters'] } });
      expect(asAdmin.allowed).toBe(true);
    }
  });
});
