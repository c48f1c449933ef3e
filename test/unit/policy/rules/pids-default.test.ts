// pids-default: a PID budget for every pod, from the config (off by default) or
// the namespace's guarded pidguard.io/pids-limit-default label, at most the ceiling;
// .NET pods keep dotnet.pidsLimit.
import { ConfigError, defaultConfig, parseConfig, type PolicyConfig } from '../../../../src/policy/config.js';
import { evaluate, type EvaluationRequest } from '../../../../src/policy/engine.js';
import { applyPatch } from '../../../../src/policy/json-patch.js';
import { pidsDefault, PIDS_LIMIT_DEFAULT_LABEL } from '../../../../src/policy/rules/pids-default.js';
import type { KubeObject } from '../../../../src/policy/types.js';
import { container, deepFreeze, deployment, pod } from '../pods.js';

const on = parseConfig({ pidsDefault: { enabled: true } });
const plain = () => pod({ containers: [container('web', { requests: { cpu: '100m', memory: '64Mi' } })] });
const dotnet = () => pod({ containers: [container('api', { limits: { cpu: '1', memory: '1Gi' } }, { image: 'mcr.microsoft.com/dotnet/aspnet:8.0' })] });
const labels = (value: string, extra: Record<string, string> = {}) => ({ [PIDS_LIMIT_DEFAULT_LABEL]: value, ...extra });

const run = (object: KubeObject, config: PolicyConfig, extra: Partial<EvaluationRequest> = {}) => {
  const result = evaluate({ object: deepFreeze(structuredClone(object)), operation: 'CREATE', mode: 'enforce', config, ...extra });
  return Object.assign(result, { patched: applyPatch(structuredClone(object), result.patch) as KubeObject });
};
/** The pod's pids-limit once the patch is applied. */
const budgetOf = (result: ReturnType<typeof run>) => result.patched.metadata?.annotations?.['pidguard.io/pids-limit'];
const ruleMutations = (result: ReturnType<typeof run>) => result.mutations.filter((m) => m.ruleId === 'pids-default');

describe('pids-default', () => {
  it('is off by default: a pod in an unlabelled namespace is left as it is', () => {
    expect(defaultConfig().pidsDefault).toEqual({ enabled: false, limit: 2048 });
    const result = run(plain(), defaultConfig(), { namespaceLabels: { team: 'a' } });
    expect(result.mutations).toEqual([]);
    expect(result.patch).toEqual([]);
  });

  it('when enabled, gives a pod without a pids-limit the configured budget, recorded like every mutation', () => {
    const result = run(plain(), on);
    expect(ruleMutations(result)).toEqual([{ ruleId: 'pids-default', summary: 'annotation pidguard.io/pids-limit=2048' }]);
    expect(budgetOf(result)).toBe('2048');
    expect(result.patched.metadata?.annotations?.['pidguard.io/mutations']).toBe('pids-default set: annotation pidguard.io/pids-limit=2048');
  });

  it('leaves .NET pods their own budget (dotnet-guard runs first) and any pod its own pids-limit', () => {
    expect(ruleMutations(run(dotnet(), on))).toEqual([]);
    expect(budgetOf(run(dotnet(), on))).toBe('1024');
    const own = pod({ containers: [container('web', { requests: { cpu: '1', memory: '1Gi' } })] }, { annotations: { 'pidguard.io/pids-limit': '300' } });
    expect(run(own, on).mutations).toEqual([]);
  });

  it('takes the namespace label even when the config default is off, and applies the ceiling to it', () => {
    expect(budgetOf(run(plain(), defaultConfig(), { namespaceLabels: labels('512') }))).toBe('512');
    expect(budgetOf(run(plain(), on, { namespaceLabels: labels('100000') }))).toBe('4096');
    expect(budgetOf(run(plain(), on, { namespaceLabels: labels('3000', { 'pidguard.io/pids-limit-ceiling': '1000' }) }))).toBe('1000');
    expect(budgetOf(run(plain(), on, { namespaceLabels: { 'pidguard.io/pids-limit-ceiling': '256' } }))).toBe('256');
  });

  it.each([
    [defaultConfig(), undefined, 'no default budget is set'],
    [on, '2048', 'using the config default 2048'],
  ])('warns about a label it cannot read and never exempts the pod for it (%#)', (config, budget, consequence) => {
    const result = run(plain(), config, { namespaceLabels: labels('lots') });
    expect(budgetOf(result)).toBe(budget);
    expect(result.ruleWarnings).toEqual([{
      ruleId: 'pids-default',
      message: `namespace label pidguard.io/pids-limit-default="lots" is not a whole number from 1 to 4194304; ${consequence}`,
    }]);
  });

  it('reports what a workload\'s pods will get without patching the template, and judges it in audit mode too', () => {
    const web = deployment({ containers: [container('web', { requests: { cpu: '100m', memory: '64Mi' } })] });
    const enforced = run(web, on);
    expect(ruleMutations(enforced)).toHaveLength(1);
    expect(enforced.patch).toEqual([]);
    const audited = run(plain(), on, { mode: 'audit' });
    expect(audited.patch).toEqual([]);
    expect(audited.warnings).toContain('audit mode, enforce would set: annotation pidguard.io/pids-limit=2048');
  });

  it('declares the audit reason and writes only pod annotations', () => {
    expect(pidsDefault.writes).toEqual(['pod-annotations']);
    expect(pidsDefault.missingReason).toMatch(/^pod running without a PID budget/);
  });

  it('its label is guarded like every pidguard.io/* namespace label', () => {
    const namespace = (labelled: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: labelled } });
    const result = evaluate({
      object: namespace(labels('100000')), oldObject: namespace({}), operation: 'UPDATE', mode: 'enforce', config: on,
      userInfo: { username: 'dev', groups: ['system:authenticated'] },
    });
    expect(result.violations.map((v) => v.ruleId)).toEqual(['namespace-label-guard']);
  });

  it.each([
    [{ pidsDefault: { limit: '2048' } }, 'pidsDefault.limit', 'whole number from 16 to 4194304'],
    [{ pidsDefault: { limit: 8 } }, 'pidsDefault.limit', 'whole number from 16 to 4194304'],
    [{ pidsDefault: { enabled: 'yes' } }, 'pidsDefault.enabled', 'true or false'],
    [{ pidsDefault: { enabled: true, limit: 8192 } }, 'pidsDefault.limit', '8192 is above pids.ceiling (4096)'],
    [{ pidsDefault: { default: 10 } }, 'pidsDefault.default', 'unknown field (known: enabled, limit)'],
  ])('rejects config %j naming %s', (document, field, problem) => {
    expect(() => parseConfig(document)).toThrow(ConfigError);
    expect(() => parseConfig(document)).toThrow(`config: ${field}: `);
    expect(() => parseConfig(document)).toThrow(problem);
  });

  it('accepts a limit above the ceiling while off, so lowering pids.ceiling alone stays valid', () => {
    expect(parseConfig({ pids: { ceiling: 1024 }, dotnet: { pidsLimit: 512 } }).pidsDefault).toEqual({ enabled: false, limit: 2048 });
  });
});
