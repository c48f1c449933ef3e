// Every object of the default install and of each overlay is accepted by the
// real API server (`kubectl apply --dry-run=server`): schema, defaults and
// validation of the pinned Kubernetes version, plus the CRDs of cert-manager
// (Issuer, Certificate) and the Prometheus Operator (ServiceMonitor,
// PodMonitor, PrometheusRule), installed from their projects' published Go
// modules by test/e2e/cluster/crds.sh.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { cluster, installThirdPartyCrds, kubectl, kubectlOk } from './harness.js';

const repo = process.cwd();
const overlays = readdirSync(join(repo, 'manifests/overlays'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(repo, 'manifests/overlays', entry.name, 'kustomization.yaml')))
  .map((entry) => `manifests/overlays/${entry.name}`)
  .sort();
const targets = ['.', 'manifests/default', ...overlays];

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

let copy: string;

function pidguard(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('node', [join(repo, 'bin/pidguard.js'), ...args], (error, stdout, stderr) => {
      if (error) reject(new Error(`pidguard ${args.join(' ')} failed: ${stderr || stdout || error.message}`));
      else resolve();
    });
  });
}

beforeAll(async () => {
  await installThirdPartyCrds();

  // A copy of the install, so that the self-signed overlay's certificates are
  // made the documented way without writing into the repository.
  copy = mkdtempSync(join(cluster().workDir, 'manifests-'));
  cpSync(join(repo, 'kustomization.yaml'), join(copy, 'kustomization.yaml'));
  cpSync(join(repo, 'manifests'), join(copy, 'manifests'), {
    recursive: true,
    filter: (source) => !relative(repo, source).startsWith('manifests/overlays/self-signed/certs'),
  });
  await pidguard(['certs', '--out', join(copy, 'manifests/overlays/self-signed/certs/'), '--dns', 'pidguard-webhook.pidguard-system.svc']);
});

describe('kubectl apply --dry-run=server of the shipped manifests', () => {
  it('covers the default install and every overlay', () => {
    expect(targets).toEqual(expect.arrayContaining(['.', 'manifests/overlays/audit', 'manifests/overlays/prometheus', 'manifests/overlays/self-signed', 'manifests/overlays/e2e']));
  });

  it.each(targets)('accepts every object of %s', async (target) => {
    const rendered = await kubectlOk(['kustomize', join(copy, target)]);
    const objects = parseAllDocuments(rendered).map((doc) => doc.toJS() as KubeObject).filter(Boolean);
    expect(objects.length).toBeGreaterThan(0);

    // Namespaced objects need their namespace to exist, even in a dry run.
    const namespaces = objects.filter((object) => object.kind === 'Namespace');
    if (namespaces.length > 0) await kubectlOk(['apply', '-f', '-'], { input: namespaces });

    const result = await kubectl(['apply', '--dry-run=server', '-o', 'name', '-f', '-'], { input: rendered });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const applied = result.stdout.trim().split('\n').filter(Boolean);
    expect(applied).toHaveLength(objects.length);
  });
});
