// The Report CRD pidguard depends on is vendored unmodified from a pinned
// upstream version (its header names module, version and hash), and the
// policy-reports component adds it and the audit's --policy-reports flag.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { render, REPO_ROOT } from './render.js';

const CRD = join(REPO_ROOT, 'manifests/components/policy-reports/openreports.io_reports.yaml');

test('the vendored CRD is the upstream file its header names, byte for byte', () => {
  const text = readFileSync(CRD, 'utf8');
  const header = text.slice(0, text.indexOf('\n---\n') + 1);
  const upstream = text.slice(header.length);
  expect(header).toContain('github.com/openreports/reports-api v0.2.1');
  const recorded = /this file's upstream sha256 ([0-9a-f]{64})/.exec(header)?.[1];
  expect(createHash('sha256').update(upstream).digest('hex')).toBe(recorded);
});

test('the component adds the CRD and --policy-reports to the audit, and nothing else', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pidguard-reports-overlay-'));
  const from = (path: string) => relative(dir, join(REPO_ROOT, path)); // kustomize takes relative paths only
  writeFileSync(join(dir, 'kustomization.yaml'), `resources: [${from('manifests/base')}]\ncomponents: [${from('manifests/components/policy-reports')}]\n`);
  const withReports = render(dir);
  const base = render('manifests/base');
  const ids = (objects: typeof base) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  expect(ids(withReports)).toEqual([...ids(base), 'CustomResourceDefinition/reports.openreports.io'].sort());
  const args = (objects: typeof base) => (objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'pidguard-audit')!.spec as { template: { spec: { containers: Array<{ args: string[] }> } } }).template.spec.containers[0]!.args;
  expect(args(withReports)).toEqual([...args(base), '--policy-reports']);
});
