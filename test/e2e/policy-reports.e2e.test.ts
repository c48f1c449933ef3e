// `pidguard audit --policy-reports` against the real API server (--watch as the
// audit's own ServiceAccount with exactly the ClusterRole of
// manifests/base/audit.yaml) and the Report CRD vendored in
// manifests/components/policy-reports: one
// Report per namespace with findings, bounded, updated in place (same uid, no
// write when nothing changed), deleted when the findings go; with --watch,
// reports appear and disappear as pods come and go.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { runCli } from '../unit/cli/run-cli.js';
import { cluster, createNamespace, kubectl, kubectlOk, waitFor } from './harness.js';

const CRD = 'manifests/components/policy-reports/openreports.io_reports.yaml';

interface StoredReport {
  metadata: { uid: string; resourceVersion: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  source: string;
  summary: { fail: number; warn: number };
  configuration: { limits: { maxResults: number } };
  results: Array<{ policy: string; rule: string; severity: string; result: string; message: string; resources: Array<{ apiVersion: string; kind: string; name: string; namespace: string }>; properties: Record<string, string> }>;
}

const bestEffort = { containers: [{ name: 'web', image: 'nginx:1.27' }] };
const dotnet = { containers: [{ name: 'api', image: 'mcr.microsoft.com/dotnet/aspnet:8.0' }] };
const pod = (name: string, namespace: string, spec: object, owner?: object) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, ...(owner ? { ownerReferences: [{ ...owner, controller: true }] } : {}) },
  spec,
});

let auditKubeconfig: string;

/** The audit's ServiceAccount, ClusterRole and binding from manifests/base/audit.yaml, and a kubeconfig with its token. */
async function auditIdentity(): Promise<string> {
  const objects = parseAllDocuments(readFileSync(join(cluster().repoDir, 'manifests/base/audit.yaml'), 'utf8'))
    .map((document) => document.toJS() as { kind: string })
    .filter((object) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(object.kind));
  expect(objects).toHaveLength(3);
  if ((await kubectl(['get', 'namespace', 'pidguard-system'])).code !== 0) await kubectlOk(['create', 'namespace', 'pidguard-system']);
  await kubectlOk(['apply', '--server-side', '-f', '-'], { input: objects });
  const token = (await kubectlOk(['create', 'token', 'pidguard-audit', '-n', 'pidguard-system', '--duration', '1h'])).trim();
  const file = join(cluster().workDir, 'audit-sa.kubeconfig');
  writeFileSync(file, JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'e2e', cluster: { server: cluster().server, 'certificate-authority': cluster().caFile } }],
    users: [{ name: 'pidguard-audit', user: { token } }],
    contexts: [{ name: 'audit', context: { cluster: 'e2e', user: 'pidguard-audit' } }],
    'current-context': 'audit',
  }));
  return file;
}

async function report(namespace: string): Promise<StoredReport | undefined> {
  const result = await kubectl(['get', 'reports.openreports.io', 'pidguard', '-n', namespace, '-o', 'json']);
  if (result.code !== 0) {
    if (result.stderr.includes('NotFound')) return undefined;
    throw new Error(result.stderr);
  }
  return JSON.parse(result.stdout) as StoredReport;
}

/** One namespace (-n) as the shipped audit ServiceAccount: its ClusterRole lists namespaces and gets none, which -n must do with. */
const audit = (args: string[]) => runCli(['audit', '--kubeconfig', auditKubeconfig, '--policy-reports', ...args]);

beforeAll(async () => {
  await kubectlOk(['apply', '--server-side', '-f', join(cluster().repoDir, CRD)]);
  await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd/reports.openreports.io']);
  // Established is not yet served: the API server answers 429 "storage is (re)initializing" for a moment.
  await waitFor('reports.openreports.io to be served', async () => (await kubectl(['get', 'reports.openreports.io', '-A'])).code === 0);
  auditKubeconfig = await auditIdentity();
});

// The audit's identity goes again: later files apply the install (client-side) and would find
// objects this file created server-side (kubectl warns of a missing last-applied annotation).
afterAll(async () => {
  await kubectlOk(['delete', '--ignore-not-found', 'clusterrolebinding/pidguard-audit', 'clusterrole/pidguard-audit']);
  await kubectlOk(['delete', '--ignore-not-found', '-n', 'pidguard-system', 'serviceaccount/pidguard-audit']);
});

describe('audit --policy-reports', () => {
  let shop: string;
  let clean: string;

  beforeAll(async () => {
    // Audit mode: the webhook admits these unchanged, as an outage or a pre-pidguard cluster would have.
    shop = await createNamespace('reports-shop', { 'pidguard.io/mode': 'audit' });
    clean = await createNamespace('reports-clean', { 'pidguard.io/mode': 'audit' });
    await kubectlOk(['create', '-f', '-'], { input: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: shop }, spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: bestEffort } } } });
    const uid = (await kubectlOk(['get', 'deployment', 'web', '-n', shop, '-o', 'jsonpath={.metadata.uid}'])).trim();
    const owner = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid };
    await kubectlOk(['create', '-f', '-'], { input: [pod('web-1', shop, bestEffort, owner), pod('web-2', shop, bestEffort, owner), pod('orders', shop, dotnet)] });
  });

  it('writes one bounded Report per namespace with findings: rule, severity, owner, message with the fix; none for a clean namespace', async () => {
    const run = await audit(['-n', shop, '--json', '--report-max-results', '1']);
    expect(run.stderr).toBe('policy reports: 1 written, 0 unchanged, 0 deleted\n');
    expect(run.code).toBe(1);
    const stored = (await report(shop))!;
    expect(stored.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'pidguard' });
    expect(stored.source).toBe('pidguard');
    // Bounded: one result kept (the most severe), the summary counts both, the annotation says one is left out.
    expect(stored.summary).toMatchObject({ fail: 2, warn: 0 });
    expect(stored.configuration).toEqual({ limits: { maxResults: 1 } });
    expect(stored.metadata.annotations).toEqual({ 'pidguard.io/results-omitted': '1' });
    expect(stored.results).toHaveLength(1);
    expect(stored.results[0]).toMatchObject({
      policy: 'pidguard',
      rule: 'require-resources',
      severity: 'high',
      result: 'fail',
      resources: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: shop }],
      properties: { objects: '1 Deployment, 2 Pod', mode: 'audit' },
    });
    expect(stored.results[0]!.message).toMatch(/^BestEffort pod .*\. Fix: set resources on at least one container/);

    const cleanRun = await audit(['-n', clean]);
    expect(cleanRun.code).toBe(0);
    expect(cleanRun.stderr).toBe('policy reports: 0 written, 0 unchanged, 0 deleted\n');
    expect(await report(clean)).toBeUndefined();
  });

  it('rewrites nothing when nothing changed, updates in place when findings change, deletes the report when none are left', async () => {
    const first = await audit(['-n', shop]);
    expect(first.stderr).toBe('policy reports: 1 written, 0 unchanged, 0 deleted\n'); // max results back to 100: a change
    const before = (await report(shop))!;
    expect(before.results.map((r) => `${r.rule} ${r.severity} ${r.resources[0]!.kind}/${r.resources[0]!.name}`)).toEqual([
      'require-resources high Deployment/web',
      'dotnet-guard medium Pod/orders',
    ]);
    expect(before.metadata.annotations).toBeUndefined();
    // The report as the API server stores it, in the run's output (docs/POLICY-REPORTS.md shows one).
    console.log(await kubectlOk(['get', 'reports.openreports.io', 'pidguard', '-n', shop, '-o', 'yaml']));

    const again = await audit(['-n', shop]);
    expect(again.stderr).toBe('policy reports: 0 written, 1 unchanged, 0 deleted\n');
    expect((await report(shop))!.metadata.resourceVersion).toBe(before.metadata.resourceVersion);

    await kubectlOk(['delete', 'pod', 'orders', '-n', shop, '--wait=false']);
    await waitFor('pod orders gone', async () => (await kubectl(['get', 'pod', 'orders', '-n', shop])).code !== 0);
    expect((await audit(['-n', shop])).stderr).toBe('policy reports: 1 written, 0 unchanged, 0 deleted\n');
    const updated = (await report(shop))!;
    expect(updated.metadata.uid).toBe(before.metadata.uid);
    expect(updated.summary.fail).toBe(1);
    expect(updated.results.map((r) => r.rule)).toEqual(['require-resources']);

    await kubectlOk(['delete', 'deployment', 'web', '-n', shop]);
    await kubectlOk(['delete', 'pods', '--all', '-n', shop, '--wait=false']);
    await waitFor('the pods gone', async () => (await kubectlOk(['get', 'pods', '-n', shop, '-o', 'name'])).trim() === '');
    const last = await audit(['-n', shop]);
    expect(last.stderr).toBe('policy reports: 0 written, 0 unchanged, 1 deleted\n');
    expect(last.code).toBe(0);
    expect(await report(shop)).toBeUndefined();
  });

  it('--watch: reports appear, update and disappear as pods come and go', async () => {
    const team = await createNamespace('reports-watch', { 'pidguard.io/mode': 'audit' });
    const child = spawn(process.execPath, ['bin/pidguard.js', 'audit', '--watch', '--policy-reports', '--interval', '1s', '--metrics-port', '19392', '--kubeconfig', auditKubeconfig], {
      cwd: cluster().repoDir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await kubectlOk(['create', '-f', '-'], { input: pod('batch-1', team, bestEffort) });
      const appeared = await waitFor('the report to appear', async () => report(team));
      expect(appeared.results.map((r) => `${r.rule} Pod/${r.resources[0]!.name}`)).toEqual(['require-resources Pod/batch-1']);

      await kubectlOk(['create', '-f', '-'], { input: pod('batch-2', team, bestEffort) });
      const grown = await waitFor('the report to list both pods', async () => {
        const current = await report(team);
        return current?.results.length === 2 ? current : undefined;
      });
      expect(grown.metadata.uid).toBe(appeared.metadata.uid);

      await kubectlOk(['delete', 'pods', '--all', '-n', team, '--wait=false']);
      await waitFor('the report to disappear', async () => (await report(team)) === undefined, 60_000);
      const metrics = await (await fetch('http://127.0.0.1:19392/metrics')).text();
      expect(metrics).toMatch(/pidguard_audit_policy_report_writes_total\{operation="delete",result="success"\} [1-9]/);
      expect(log).not.toContain('not written');
    } catch (error) {
      throw new Error(`${(error as Error).message}\nthe audit's log:\n${log}`);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
