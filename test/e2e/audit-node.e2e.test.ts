// `pidguard audit` on the live one-node cluster: pods created while the webhook
// was down (failurePolicy Ignore) run on the node unguarded; the audit, given the
// node's report (`pidguard node --json` on that node), lists them with their pod
// cgroups' actual pids.max, and reports nothing for the pods created while
// pidguard was up (mutated, and their pids-limit enforced by the agent).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../unit/cli/run-cli.js';
import { cluster, createNamespace, kubeconfigPath, kubectlOk, startWebhook, stopWebhook, waitFor } from './harness.js';
import {
  SMALL, agentScans, cgroupValue, deletePods, node, nodePod, pidguardNode, podCgroup, runningPod, startAgent, type AgentProcess,
} from './node.js';

const SLEEP = ['/bin/sleep', '3600'];

interface AuditJson {
  namespaces: Array<{ name: string; findings: Array<{ owner: { kind: string; name: string }; ruleId: string; detail: string }> }>;
}

let namespace: string;
let agent: AgentProcess;

beforeAll(async () => {
  namespace = await createNamespace('audit-node');
  agent = await startAgent({ intervalMs: 1000 });
  await stopWebhook();
  try {
    // As the audit test does: the API server may still try the stopped webhook once.
    await waitFor('the API server to admit pods without pidguard', async () => {
      await kubectlOk(['create', '-f', '-'], { input: nodePod('outage-dotnet', namespace, { image: node().images.dotnet, command: SLEEP }) });
      return true;
    });
    await kubectlOk(['create', '-f', '-'], { input: nodePod('outage-plain', namespace, { command: SLEEP }) });
  } finally {
    await startWebhook();
  }
  await kubectlOk(['create', '-f', '-'], { input: nodePod('guarded-dotnet', namespace, { image: node().images.dotnet, command: SLEEP }) });
  await kubectlOk(['create', '-f', '-'], { input: nodePod('guarded-plain', namespace, { command: SLEEP, resources: SMALL }) });
});

afterAll(async () => {
  await agent.stop();
  await deletePods(namespace, ['outage-dotnet', 'outage-plain', 'guarded-dotnet', 'guarded-plain']);
});

test('audit with the node report lists the unguarded pods and their actual pids.max, and nothing for the guarded ones', async () => {
  const outage = await runningPod(namespace, 'outage-dotnet');
  await runningPod(namespace, 'outage-plain');
  const guarded = await runningPod(namespace, 'guarded-dotnet');
  await runningPod(namespace, 'guarded-plain');
  expect(outage.metadata?.annotations?.['pidguard.io/pids-limit']).toBeUndefined();
  expect(guarded.metadata?.annotations?.['pidguard.io/pids-limit']).toBe('1024');
  await agentScans(agent, 2);
  expect(cgroupValue(podCgroup(guarded), 'pids.max')).toBe('1024');
  expect(cgroupValue(podCgroup(outage), 'pids.max')).toBe('max');

  const { report } = await pidguardNode();
  const reportFile = join(cluster().workDir, 'node-report-live.json');
  writeFileSync(reportFile, JSON.stringify(report));
  const { code, stdout, stderr } = await runCli(['audit', '--kubeconfig', kubeconfigPath('admin'), '-n', namespace, '--json', '--node-report', reportFile]);
  expect(stderr).toBe('');
  expect(code).toBe(1);
  const findings = (JSON.parse(stdout) as AuditJson).namespaces[0]!.findings;
  const owners = [...new Set(findings.map((finding) => `${finding.owner.kind}/${finding.owner.name}`))].sort();
  expect(owners).toEqual(['Pod/outage-dotnet', 'Pod/outage-plain']);
  for (const owner of ['outage-dotnet', 'outage-plain']) {
    const details = findings.filter((finding) => finding.owner.name === owner).map((finding) => finding.detail).join('\n');
    // What the node says about the pod, beside what admission would have changed.
    expect(details).toMatch(/pids\.max is max/);
  }
});
