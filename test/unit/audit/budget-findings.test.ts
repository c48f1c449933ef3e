// The audit's PID budget findings on running pods, through runAudit over a
// stand-in transport: a pod the policy would now give a budget, a pids-limit
// above the ceiling, and (with node reports) a pod cgroup whose pids.max
// disagrees with the annotation either way.

import { runAudit } from '../../../src/audit/run-audit.js';
import type { AuditFinding } from '../../../src/audit/findings.js';
import type { ObservedPodPids } from '../../../src/audit/pids-enforcement.js';
import type { KubeTransport } from '../../../src/kube/transport.js';
import { parseConfig } from '../../../src/policy/config.js';
import type { KubeObject } from '../../../src/policy/types.js';

const pod = (name: string, annotation?: string): KubeObject => ({
  metadata: { name, namespace: 'shop', uid: `uid-${name}`, ...(annotation ? { annotations: { 'pidguard.io/pids-limit': annotation } } : {}) },
  spec: { containers: [{ name: 'main', image: 'nginx:1.27', resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '1', memory: '128Mi' } } }] },
});

/** Serves one namespace and these pods; every other list is empty. */
function transport(pods: KubeObject[]): KubeTransport {
  const lists: Record<string, KubeObject[]> = {
    '/api/v1/namespaces': [{ metadata: { name: 'shop', labels: { 'pidguard.io/mode': 'enforce' } } }],
    '/api/v1/pods': pods,
  };
  return {
    async *listPages(path: string) {
      yield { items: structuredClone(lists[path] ?? []) };
    },
  } as unknown as KubeTransport;
}

async function findings(pods: KubeObject[], observed?: Map<string, ObservedPodPids>, config = parseConfig({ pidsDefault: { enabled: true, limit: 2048 } })) {
  const { report } = await runAudit(transport(pods), { config, pageSize: 100, timeoutMs: 1000, ...(observed ? { observedPods: observed } : {}) });
  return report.namespaces.flatMap((ns) => ns.findings).map(({ ruleId, owner, detail }: AuditFinding) => ({ ruleId, pod: owner.name, detail }));
}

test('a running pod without a budget that the policy would now give one is a pids-default finding', async () => {
  expect(await findings([pod('no-budget'), pod('has-budget', '512')])).toEqual([
    { ruleId: 'pids-default', pod: 'no-budget', detail: 'missing annotation pidguard.io/pids-limit=2048' },
  ]);
});

test('with the default off there is nothing to report about a pod without a budget', async () => {
  expect(await findings([pod('no-budget')], undefined, parseConfig({}))).toEqual([]);
});

test('a pids-limit above the ceiling is a pids-ceiling finding', async () => {
  expect(await findings([pod('greedy', '9000')])).toEqual([
    expect.objectContaining({ ruleId: 'pids-ceiling', pod: 'greedy', detail: expect.stringContaining('pidguard.io/pids-limit=4096') }),
  ]);
});

test('node reports: pids.max above the budget, below it, and in agreement', async () => {
  const observed = new Map<string, ObservedPodPids>([
    ['uid-open', { source: 'worker-1.json', pidsMax: 'max' }],
    ['uid-tight', { source: 'worker-1.json', pidsMax: 512 }],
    ['uid-agreed', { source: 'worker-1.json', pidsMax: 1024 }],
  ]);
  const result = await findings([pod('open', '1024'), pod('tight', '2048'), pod('agreed', '1024')], observed);
  expect(result).toEqual([
    { ruleId: 'pids-limit-enforcement', pod: 'open', detail: expect.stringMatching(/^pids\.max is max \(unlimited\), the annotation asks for 1024 \(worker-1\.json\)/) },
    { ruleId: 'pids-limit-enforcement/stricter', pod: 'tight', detail: expect.stringMatching(/^pids\.max is 512, the budget is 2048 \(worker-1\.json\)/) },
  ]);
});
