import { FindingCollector, RULE_WARNING_REASON, type NamespaceInfo } from '../../../src/audit/findings.js';
import { dotnetGuard } from '../../../src/policy/rules/dotnet-guard.js';
import { pidsCeiling } from '../../../src/policy/rules/pids-ceiling.js';
import { defaultConfig } from '../../../src/policy/config.js';
import { evaluate } from '../../../src/policy/engine.js';
import type { KubeObject, OwnerReference } from '../../../src/policy/types.js';

const config = defaultConfig();
const owned = (kind: string, name: string): OwnerReference[] => [{ apiVersion: 'v1', kind, name, controller: true }];

function object(kind: string, name: string, namespace: string, spec: Record<string, unknown>, ownerReferences?: OwnerReference[]): KubeObject {
  return { apiVersion: 'v1', kind, metadata: { name, namespace, ...(ownerReferences ? { ownerReferences } : {}) }, spec };
}
const bestEffortSpec = { containers: [{ name: 'web', image: 'nginx' }] };
const template = (spec: object) => ({ template: { spec } });
const dotnetSpec = { containers: [{ name: 'api', image: 'mcr.microsoft.com/dotnet/aspnet:8.0', resources: { requests: { cpu: '1' } } }] };

function collect(namespaces: NamespaceInfo[], objects: KubeObject[]) {
  const collector = new FindingCollector(new Map(namespaces.map((n) => [n.name, n])));
  for (const o of objects) {
    if (o.kind === 'ReplicaSet' || o.kind === 'Job') collector.rememberController(o);
  }
  for (const o of objects) collector.add(o, evaluate({ object: o, operation: 'CREATE', mode: 'enforce', config }));
  return collector.report();
}

describe('FindingCollector', () => {
  const shop: NamespaceInfo = { name: 'shop', mode: 'enforce', modeSource: 'default' };

  it("groups a Deployment, its ReplicaSet and its 40 pods into one finding", () => {
    const objects = [
      object('ReplicaSet', 'web-7d9f', 'shop', template(bestEffortSpec), owned('Deployment', 'web')),
      object('Deployment', 'web', 'shop', template(bestEffortSpec)),
      ...Array.from({ length: 40 }, (_, i) => object('Pod', `web-7d9f-${i}`, 'shop', bestEffortSpec, owned('ReplicaSet', 'web-7d9f'))),
    ];
    const report = collect([shop], objects);
    expect(report.namespaces[0]!.findings).toEqual([
      {
        namespace: 'shop',
        owner: { kind: 'Deployment', name: 'web' },
        ruleId: 'require-resources',
        reason: 'BestEffort pod (no cpu or memory requests or limits)',
        detail: 'container "web" sets no cpu or memory requests or limits',
        fix: 'set resources on at least one container, for example resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}',
        objects: { ReplicaSet: 1, Deployment: 1, Pod: 40 },
        examples: ['ReplicaSet/web-7d9f', 'Deployment/web', 'Pod/web-7d9f-0'],
      },
    ]);
    expect(report.summary).toEqual({ namespaces: 1, objectsEvaluated: 42, findings: 1, exemptFindings: 0, byRule: { 'require-resources': 1 } });
  });

  it('groups Job pods under their CronJob', () => {
    const report = collect([shop], [
      object('Job', 'report-123', 'shop', template(bestEffortSpec), owned('CronJob', 'report')),
      object('Pod', 'report-123-abc', 'shop', bestEffortSpec, owned('Job', 'report-123')),
    ]);
    expect(report.namespaces[0]!.findings.map((f) => f.owner)).toEqual([{ kind: 'CronJob', name: 'report' }]);
  });

  it('reports a running .NET pod that lacks the safeguards, but not a .NET template (its pods get them)', () => {
    const report = collect([shop], [
      object('Deployment', 'orders', 'shop', template(dotnetSpec)),
      object('Pod', 'orders-1', 'shop', dotnetSpec, owned('ReplicaSet', 'orders-1x')),
    ]);
    const [finding, ...rest] = report.namespaces[0]!.findings;
    expect(rest).toEqual([]);
    expect(finding).toMatchObject({ owner: { kind: 'ReplicaSet', name: 'orders-1x' }, ruleId: 'dotnet-guard', reason: dotnetGuard.missingReason, objects: { Pod: 1 } });
    expect(finding!.detail).toBe(
      'missing container "api": cpu limit 1, memory request 256Mi, memory limit 1Gi, env DOTNET_ThreadPool_ForceMaxWorkerThreads=0x100, env DOTNET_ThreadPool_MaxThreads=256; annotation pidguard.io/pids-limit=1024',
    );
  });

  it('reports a running pod whose pids-limit is above the ceiling or invalid, under the namespace\'s ceiling', () => {
    const annotated = (name: string, value: string): KubeObject => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop', annotations: { 'pidguard.io/pids-limit': value } },
      spec: { containers: [{ name: 'web', image: 'nginx', resources: { requests: { cpu: '1' } } }] },
    });
    const evaluateIn = (labels: Record<string, string>) => (o: KubeObject) =>
      evaluate({ object: o, operation: 'CREATE', mode: 'enforce', config, phase: 'validating', namespaceLabels: labels });
    const collector = new FindingCollector(new Map([[shop.name, shop]]));
    for (const o of [annotated('greedy', '4194304'), annotated('broken', 'abc'), annotated('fine', '4096')]) collector.add(o, evaluateIn({})(o));
    const findings = collector.report().namespaces[0]!.findings;
    expect(findings.map((f) => [f.ruleId, f.reason, f.examples])).toEqual([
      ['pids-ceiling', pidsCeiling.missingReason, ['Pod/broken']],
      ['pids-ceiling', pidsCeiling.missingReason, ['Pod/greedy']],
    ]);
    expect(findings[1]!.detail).toBe('missing annotation pidguard.io/pids-limit=4096 (pidguard.io/pids-limit="4194304" is above the ceiling 4096; lowered to 4096)');
    const raised = new FindingCollector(new Map([[shop.name, shop]]));
    raised.add(annotated('greedy', '4194304'), evaluateIn({ 'pidguard.io/pids-limit-ceiling': '4194304' })(annotated('greedy', '4194304')));
    expect(raised.report().summary.findings).toBe(0);
  });

  it('reports a thread-pool cap the pod voids, on pods and on templates (the webhook leaves it as it is)', () => {
    const voidedSpec = { containers: [{ name: 'api', image: 'mcr.microsoft.com/dotnet/aspnet:8.0', resources: { limits: { memory: '1Gi' } },
      env: [{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0x40' }, { name: 'DOTNET_ThreadPool_ForceMinWorkerThreads', value: '0x80' }] }] };
    const report = collect([shop], [object('Deployment', 'orders', 'shop', template(voidedSpec))]);
    const [finding] = report.namespaces[0]!.findings.filter((f) => f.ruleId === 'dotnet-guard/warning');
    expect(finding).toMatchObject({ reason: RULE_WARNING_REASON, objects: { Deployment: 1 } });
    expect(finding!.detail).toContain('container "api": DOTNET_ThreadPool_ForceMinWorkerThreads=0x80 (128) is above DOTNET_ThreadPool_ForceMaxWorkerThreads=0x40 (64)');
  });

  it('shows findings in exempt namespaces without counting them', () => {
    const report = collect(
      [shop, { name: 'kube-system', mode: 'enforce', modeSource: 'default', exemptBecause: 'system namespace' }, { name: 'legacy', mode: 'off', modeSource: 'label', exemptBecause: 'mode off' }],
      [object('Pod', 'a', 'kube-system', bestEffortSpec), object('Pod', 'b', 'legacy', bestEffortSpec), object('Pod', 'ok', 'shop', { containers: [{ name: 'c', resources: { limits: { memory: '1Gi' } } }] })],
    );
    expect(report.summary).toMatchObject({ findings: 0, exemptFindings: 2, objectsEvaluated: 3 });
    expect(report.namespaces.map((n) => [n.name, n.findings.length, n.objectsEvaluated])).toEqual([
      ['kube-system', 1, 1],
      ['legacy', 1, 1],
      ['shop', 0, 1],
    ]);
  });
});
