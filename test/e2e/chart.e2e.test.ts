// The Helm chart (charts/pidguard), rendered by the real helm (test/e2e/cluster/helm-build.sh) with
// the value sets docs/HELM.md describes, is accepted object by object by the real API server
// (`kubectl apply --dry-run=server`), with the cert-manager and Prometheus Operator CRDs installed.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CHART, RELEASE, helm } from '../unit/chart/helm.js';
import { cluster, installThirdPartyCrds, kubectl, kubectlOk } from './harness.js';

const OTHER_NAMESPACE = 'pidguard-chart-e2e';
let certs: string;

interface KubeObject { kind: string; metadata: { name: string; namespace?: string } }

beforeAll(async () => {
  await installThirdPartyCrds();
  certs = mkdtempSync(join(cluster().workDir, 'chart-certs-'));
  await new Promise<void>((resolve, reject) => {
    execFile('node', [join(process.cwd(), 'bin/pidguard.js'), 'certs', '--out', certs, '--dns', 'pidguard-webhook.pidguard-system.svc'], (error, stdout, stderr) => {
      if (error) reject(new Error(`pidguard certs failed: ${stderr || stdout || error.message}`));
      else resolve();
    });
  });
});

afterAll(async () => {
  await kubectl(['delete', 'namespace', OTHER_NAMESPACE, '--ignore-not-found', '--wait=false']);
});

const cases: Array<[string, string, () => string[]]> = [
  ['default values', 'pidguard-system', () => []],
  ['Prometheus objects and the Grafana dashboard', 'pidguard-system', () => ['--set', 'prometheus.enabled=true,prometheus.labels.release=kube-prometheus-stack']],
  ['self-signed certificates from pidguard certs', 'pidguard-system', () => ['--set', 'tls.mode=self-signed', '--set-file', `tls.selfSigned.caCert=${certs}/ca.crt,tls.selfSigned.cert=${certs}/tls.crt,tls.selfSigned.key=${certs}/tls.key`]],
  ['another namespace, audit mode, no node agent, own image', OTHER_NAMESPACE, () => ['--set', 'config.defaultMode=audit,agent.enabled=false,image.repository=registry.example.com/pidguard,image.tag=9.9.9']],
];

describe('kubectl apply --dry-run=server of the Helm chart', () => {
  it.each(cases)('accepts every object rendered with %s', async (_name, namespace, flags) => {
    const rendered = helm(['template', RELEASE, CHART, '--namespace', namespace, ...flags()]);
    const objects = parseAllDocuments(rendered).map((document) => document.toJS() as KubeObject | null).filter((object): object is KubeObject => object !== null);
    expect(objects.filter((object) => object.kind.endsWith('WebhookConfiguration')).map((object) => object.kind).sort()).toEqual(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);

    // Namespaced objects need their namespace to exist, even in a dry run.
    const namespaces = objects.filter((object) => object.kind === 'Namespace');
    expect(namespaces.map((object) => object.metadata.name)).toEqual([namespace]);
    await kubectlOk(['apply', '-f', '-'], { input: namespaces });

    const result = await kubectl(['apply', '--dry-run=server', '-o', 'name', '-f', '-'], { input: rendered });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n').filter(Boolean)).toHaveLength(objects.length);
  });
});
