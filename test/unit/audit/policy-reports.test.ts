// The Reports the audit writes (src/audit/policy-reports.ts): one per namespace
// with findings the webhook judges, bounded with a complete summary, each
// result naming rule, severity, owner workload and the fix; the values are ones
// the vendored openreports.io CRD accepts. Writing them to a real API server:
// test/e2e/policy-reports.e2e.test.ts.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { FindingCollector, type NamespaceInfo } from '../../../src/audit/findings.js';
import { desiredReports, OMITTED_ANNOTATION, REPORT_API_VERSION } from '../../../src/audit/policy-reports.js';
import { defaultConfig } from '../../../src/policy/config.js';
import { evaluate } from '../../../src/policy/engine.js';
import type { KubeObject } from '../../../src/policy/types.js';

const config = defaultConfig();
const bestEffort = { containers: [{ name: 'web', image: 'nginx' }] };
const dotnet = { containers: [{ name: 'api', image: 'mcr.microsoft.com/dotnet/aspnet:8.0' }] };
const pod = (name: string, namespace: string, spec: object, owner?: { kind: string; name: string }): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', ...owner, controller: true }] } : {}) },
  spec,
});

function auditOf(namespaces: NamespaceInfo[], objects: KubeObject[]) {
  const collector = new FindingCollector(new Map(namespaces.map((n) => [n.name, n])));
  for (const o of objects) collector.add(o, evaluate({ object: o, operation: 'CREATE', mode: 'enforce', config, phase: 'validating' }));
  return collector.report();
}

const shop: NamespaceInfo = { name: 'shop', mode: 'audit', modeSource: 'label' };
const quiet: NamespaceInfo = { name: 'quiet', mode: 'enforce', modeSource: 'default' };
const off: NamespaceInfo = { name: 'tools', mode: 'off', modeSource: 'label', exemptBecause: 'mode off' };

describe('desiredReports', () => {
  const audit = auditOf([shop, quiet, off], [
    pod('web-1', 'shop', bestEffort, { kind: 'Deployment', name: 'web' }),
    pod('web-2', 'shop', bestEffort, { kind: 'Deployment', name: 'web' }),
    pod('orders', 'shop', dotnet),
    pod('tool', 'tools', bestEffort),
  ]);

  it('one Report per judged namespace with findings: none for a clean or an exempt one', () => {
    expect([...desiredReports(audit, 100, 1000, () => undefined).keys()]).toEqual(['shop']);
  });

  it('results carry rule, severity, the owner workload and the message with the fix, most severe first', () => {
    const report = desiredReports(audit, 100, 1000, () => undefined).get('shop')!;
    expect(report).toMatchObject({ apiVersion: REPORT_API_VERSION, kind: 'Report', metadata: { name: 'pidguard', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'pidguard' } }, source: 'pidguard' });
    expect(report.summary).toEqual({ pass: 0, fail: 2, warn: 0, error: 0, skip: 0 });
    expect(report.results.map((r) => [r.rule, r.severity, r.result, r.resources[0]])).toEqual([
      ['require-resources', 'high', 'fail', { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: 'shop' }],
      ['dotnet-guard', 'medium', 'fail', { apiVersion: 'v1', kind: 'Pod', name: 'orders', namespace: 'shop' }],
    ]);
    expect(report.results[0]!.message).toMatch(/^BestEffort pod .* Fix: set resources on at least one container/);
    expect(report.results[1]!.message).toMatch(/^.* Fix: recreate the pod while pidguard runs/);
    expect(report.results[0]!.properties).toEqual({ objects: '2 Pod', examples: 'Pod/web-1, Pod/web-2', mode: 'audit' });
  });

  it('is bounded: at most maxResults results, the summary counts all, an annotation says how many were left out', () => {
    const many = auditOf([shop], Array.from({ length: 250 }, (_, i) => pod(`p-${i}`, 'shop', bestEffort)));
    const report = desiredReports(many, 100, 1000, () => undefined).get('shop')!;
    expect(report.results).toHaveLength(100);
    expect(report.summary.fail).toBe(250);
    expect(report.configuration).toEqual({ limits: { maxResults: 100 } });
    expect(report.metadata.annotations).toEqual({ [OMITTED_ANNOTATION]: '150' });
    expect(Buffer.byteLength(JSON.stringify(report))).toBeLessThan(200 * 1024);
  });

  it('keeps the time a finding was first seen, so an unchanged namespace gets an unchanged report', () => {
    const seen = desiredReports(audit, 100, 5000, (namespace, key) => (namespace === 'shop' && key.includes('dotnet-guard') ? 1234 : undefined)).get('shop')!;
    expect(seen.results.map((r) => r.timestamp.seconds)).toEqual([5000, 1234]);
  });

  it('uses only values the vendored Report CRD allows', () => {
    const text = readFileSync(new URL('../../../manifests/components/policy-reports/openreports.io_reports.yaml', import.meta.url), 'utf8');
    const schema = (parse(text) as { spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: { properties: Record<string, { items?: { properties: Record<string, { enum?: string[] }> } }> } } }> } }).spec.versions[0]!;
    expect(`openreports.io/${schema.name}`).toBe(REPORT_API_VERSION);
    const result = schema.schema.openAPIV3Schema.properties.results!.items!.properties;
    const report = desiredReports(audit, 100, 1000, () => undefined).get('shop')!;
    for (const r of report.results) {
      expect(result.severity!.enum).toContain(r.severity);
      expect(result.result!.enum).toContain(r.result);
      for (const key of Object.keys(r)) expect(Object.keys(result)).toContain(key);
    }
  });
});
