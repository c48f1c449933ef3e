// `pidguard audit` against the real API server: objects that slipped past the
// webhook (audit-mode and exempt namespaces, a webhook outage), grouped by
// owner, exactly the expected findings; clean namespaces exit 0; a user
// without permission gets the verb and resource named.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../unit/cli/run-cli.js';
import { cluster, createNamespace, kubeconfigPath, kubectlOk, startWebhook, stopWebhook, waitFor } from './harness.js';

interface AuditJson {
  namespaces: Array<{
    name: string;
    mode: string;
    modeSource: string;
    exemptBecause?: string;
    objectsEvaluated: number;
    findings: Array<{ owner: { kind: string; name: string }; ruleId: string; objects: Record<string, number>; detail: string }>;
  }>;
  summary: { findings: number; exemptFindings: number };
  podsEvaluated: number;
}

const bestEffort = { containers: [{ name: 'web', image: 'nginx:1.27' }] };
const compliant = { containers: [{ name: 'web', image: 'nginx:1.27', resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '32Mi' } } }] };
const dotnet = { containers: [{ name: 'api', image: 'mcr.microsoft.com/dotnet/aspnet:8.0' }] };

function pod(name: string, namespace: string, spec: object, owner?: { kind: string; name: string; uid: string; apiVersion: string }) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, ...(owner ? { ownerReferences: [{ ...owner, controller: true }] } : {}) },
    spec,
  };
}

function deploymentOf(name: string, namespace: string, spec: object) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec } },
  };
}

/** Creates a Deployment, a ReplicaSet it controls and `pods` pods the ReplicaSet controls (no controller-manager runs here). */
async function deploymentWithPods(namespace: string, name: string, spec: object, pods: number): Promise<void> {
  await kubectlOk(['create', '-f', '-'], { input: deploymentOf(name, namespace, spec) });
  const deploymentUid = (await kubectlOk(['get', 'deployment', name, '-n', namespace, '-o', 'jsonpath={.metadata.uid}'])).trim();
  const rsName = `${name}-5c8d7f`;
  await kubectlOk(['create', '-f', '-'], {
    input: {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: rsName, namespace, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: deploymentUid, controller: true }] },
      spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec } },
    },
  });
  const rsUid = (await kubectlOk(['get', 'replicaset', rsName, '-n', namespace, '-o', 'jsonpath={.metadata.uid}'])).trim();
  const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rsName, uid: rsUid };
  await kubectlOk(['create', '-f', '-'], { input: Array.from({ length: pods }, (_, i) => pod(`${rsName}-${i}`, namespace, spec, owner)) });
}

async function audit(args: string[], as: 'admin' | 'user' = 'admin') {
  return runCli(['audit', '--kubeconfig', kubeconfigPath(as), ...args]);
}

describe('pidguard audit against a real API server', () => {
  let legacy: string; // pidguard.io/mode=audit: admitted with warnings, never mutated
  let shop: string; // default mode (enforce)
  let exempt: string; // pidguard.io/mode=off

  beforeAll(async () => {
    legacy = await createNamespace('audit-legacy', { 'pidguard.io/mode': 'audit' });
    shop = await createNamespace('audit-shop');
    exempt = await createNamespace('audit-exempt', { 'pidguard.io/mode': 'off' });

    await deploymentWithPods(legacy, 'cache', bestEffort, 3);
    await kubectlOk(['create', '-f', '-'], { input: pod('orders-1', legacy, dotnet) });
    await deploymentWithPods(shop, 'web', compliant, 2);
    await kubectlOk(['create', '-f', '-'], { input: pod('payments-1', shop, dotnet) }); // mutated by the webhook: compliant
    await kubectlOk(['create', '-f', '-'], { input: pod('tool', exempt, bestEffort) });

    // A BestEffort pod created in the enforce namespace while pidguard was down (failurePolicy Ignore).
    await stopWebhook();
    try {
      await waitFor('the API server to admit a BestEffort pod without pidguard', async () => {
        await kubectlOk(['create', '-f', '-'], { input: pod('during-outage', shop, bestEffort) });
        return true;
      });
    } finally {
      await startWebhook();
    }
  });

  it('reports exactly the expected findings, grouped by owner, with each namespace mode', async () => {
    const { code, stdout, stderr } = await audit(['--json', '--page-size', '2']);
    expect(stderr).toBe('');
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as AuditJson;
    const ns = (name: string) => report.namespaces.find((n) => n.name === name)!;
    const summarize = (name: string) =>
      ns(name).findings.map((f) => ({ owner: `${f.owner.kind}/${f.owner.name}`, rule: f.ruleId, objects: f.objects }));

    expect(ns(legacy)).toMatchObject({ mode: 'audit', modeSource: 'label', objectsEvaluated: 6 });
    expect(summarize(legacy)).toEqual([
      { owner: 'Deployment/cache', rule: 'require-resources', objects: { ReplicaSet: 1, Deployment: 1, Pod: 3 } },
      { owner: 'Pod/orders-1', rule: 'dotnet-guard', objects: { Pod: 1 } },
    ]);
    expect(ns(legacy).findings[1]!.detail).toContain('env DOTNET_ThreadPool_ForceMaxWorkerThreads=0x100');

    expect(ns(shop)).toMatchObject({ mode: 'enforce', modeSource: 'default', objectsEvaluated: 6 });
    expect(summarize(shop)).toEqual([{ owner: 'Pod/during-outage', rule: 'require-resources', objects: { Pod: 1 } }]);

    expect(ns(exempt)).toMatchObject({ mode: 'off', exemptBecause: 'mode off' });
    expect(summarize(exempt)).toEqual([{ owner: 'Pod/tool', rule: 'require-resources', objects: { Pod: 1 } }]);
    expect(report.summary.exemptFindings).toBeGreaterThanOrEqual(1);
  });

  it('prints a table for people', async () => {
    const { code, stdout } = await audit(['-n', legacy]);
    expect(code).toBe(1);
    expect(stdout).toMatch(new RegExp(`${legacy}\\s+audit \\(label\\)\\s+6\\s+2`));
    expect(stdout).toMatch(/Deployment\/cache\s+require-resources\s+1 ReplicaSet, 1 Deployment, 3 Pod\s+BestEffort pod/);
    expect(stdout).toContain('2 findings; 6 objects in 1 namespaces evaluated');
  });

  it('exits 0 for a clean namespace', async () => {
    const clean = await createNamespace('audit-clean');
    await deploymentWithPods(clean, 'api', compliant, 2);
    const { code, stdout } = await audit(['-n', clean, '--json']);
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as AuditJson).summary.findings).toBe(0);
  });

  it('reports a pids-limit that a node report shows unenforced', async () => {
    const uid = (await kubectlOk(['get', 'pod', 'payments-1', '-n', shop, '-o', 'jsonpath={.metadata.uid}'])).trim();
    const reportFile = join(cluster().workDir, 'node-report.json');
    writeFileSync(reportFile, JSON.stringify({ pods: [{ uid, namespace: shop, name: 'payments-1', pids: { current: 3, max: 'max' } }] }));
    const { code, stdout } = await audit(['-n', shop, '--json', '--node-report', reportFile]);
    expect(code).toBe(1);
    const findings = (JSON.parse(stdout) as AuditJson).namespaces[0]!.findings;
    expect(findings.map((f) => `${f.owner.kind}/${f.owner.name} ${f.ruleId}`)).toEqual([
      'Pod/during-outage require-resources',
      'Pod/payments-1 pids-limit-enforcement',
    ]);
    expect(findings[1]!.detail).toContain('pids.max is max (unlimited), the annotation asks for 1024');
  });

  it('names the verb and resource a user may not use', async () => {
    const { code, stderr } = await audit(['--json'], 'user');
    expect(code).toBe(2);
    expect(stderr).toMatch(/^pidguard audit: forbidden \(403\) to list replicationcontrollers at the cluster scope/);
  });

  it('--watch exposes the findings as gauges and stops on SIGTERM', async () => {
    const port = 19292;
    const child = spawn(process.execPath, ['bin/pidguard.js', 'audit', '--watch', '--interval', '1s', '--metrics-port', String(port), '--kubeconfig', kubeconfigPath('admin')], {
      cwd: cluster().repoDir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const metrics = await waitFor('audit gauges', async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return text.includes(`namespace="${legacy}"`) ? text : undefined;
      });
      expect(metrics).toContain(`pidguard_audit_findings{namespace="${legacy}",rule="require-resources",mode="audit",exempt="false"} 1`);
      expect(metrics).toContain(`pidguard_audit_findings{namespace="${exempt}",rule="require-resources",mode="off",exempt="true"} 1`);
      expect(metrics).toMatch(/pidguard_audit_runs_total\{result="success"\} [1-9]/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
