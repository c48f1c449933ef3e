// The Helm chart (charts/pidguard), rendered by the real helm (test/e2e/cluster/helm-build.sh) with
// the value sets docs/HELM.md describes, is accepted object by object by the real API server
// (`kubectl apply --dry-run=server`), with the cert-manager and Prometheus Operator CRDs installed;
// and a real `helm install` and uninstall the way docs/HELM.md tells users to do them.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CHART, RELEASE, helm } from '../unit/chart/helm.js';
import { cluster, installThirdPartyCrds, kubeconfigPath, kubectl, kubectlOk, waitFor } from './harness.js';

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
  ['PolicyReports: the Report CRD, --policy-reports on the audit and the agent', 'pidguard-system', () => ['--set', 'audit.policyReports.enabled=true,agent.policyReports.enabled=true']],
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
    // Cluster-scoped objects other files applied server-side (the Report CRD, the audit's
    // ClusterRole) lack kubectl's last-applied annotation, and kubectl says so: about the
    // cluster's history, not the chart. Every other line of stderr fails the test.
    const lastApplied = /^Warning: resource \S+ is missing the kubectl\.kubernetes\.io\/last-applied-configuration annotation .*$/;
    expect(result.stderr.split('\n').filter((line) => line !== '' && !lastApplied.test(line))).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n').filter(Boolean)).toHaveLength(objects.length);
  });
});

describe('helm install and uninstall, as docs/HELM.md says', () => {
  const namespace = 'pidguard-helm-e2e';
  const other = 'pidguard-helm-e2e-created';
  const withCluster = (args: string[]) => helm([...args, '--kubeconfig', kubeconfigPath('admin')]);
  const WEBHOOK_CONFIGURATIONS = ['validatingwebhookconfiguration', 'mutatingwebhookconfiguration'];
  const missing = async (kind: string, name: string, ns?: string) => {
    const result = await kubectl(['get', kind, name, ...(ns ? ['-n', ns] : [])]);
    return result.code !== 0 && result.stderr.includes('NotFound');
  };

  // The e2e run's own webhook configurations are named pidguard too: set aside for this test, and
  // registered again afterwards (until then pods and workloads of other tests are not judged).
  beforeAll(async () => {
    for (const kind of WEBHOOK_CONFIGURATIONS) await kubectlOk(['delete', kind, 'pidguard']);
  });
  afterAll(async () => {
    withCluster(['uninstall', RELEASE, '-n', namespace, '--ignore-not-found']);
    withCluster(['uninstall', RELEASE, '-n', other, '--ignore-not-found']);
    await kubectl(['delete', 'namespace', namespace, other, '--ignore-not-found', '--wait=false']);
    await kubectlOk(['apply', '-f', join(cluster().workDir, 'webhooks.yaml')]);
    await waitFor('the e2e webhook configurations to be live again', async () => {
      const answer = await kubectl(['run', 'chart-e2e-probe', '-n', 'default', '--image=busybox', '--restart=Never', '--dry-run=server']);
      return answer.stderr.includes('pidguard denied');
    }, 60_000);
  });

  it('installs into a namespace made and labelled first, with namespace.create=false', async () => {
    await kubectlOk(['create', 'namespace', namespace]);
    await kubectlOk(['label', 'namespace', namespace, 'pidguard.io/mode=off', 'pod-security.kubernetes.io/enforce=privileged']);
    withCluster(['install', RELEASE, CHART, '--namespace', namespace, '--set', 'namespace.create=false']);
    const status = JSON.parse(withCluster(['status', RELEASE, '--namespace', namespace, '-o', 'json'])) as { info: { status: string } };
    expect(status.info.status).toBe('deployed');
    const configuration = JSON.parse(await kubectlOk(['get', 'validatingwebhookconfiguration', 'pidguard', '-o', 'json'])) as { metadata: { annotations: Record<string, string>; labels: Record<string, string> } };
    expect(configuration.metadata.annotations).toMatchObject({ 'meta.helm.sh/release-name': RELEASE, 'meta.helm.sh/release-namespace': namespace, 'cert-manager.io/inject-ca-from': `${namespace}/pidguard-webhook` });
    expect(configuration.metadata.labels['app.kubernetes.io/managed-by']).toBe('Helm');
    for (const [kind, name] of [['deployment', 'pidguard-webhook'], ['daemonset', 'pidguard-agent'], ['certificate', 'pidguard-webhook'], ['configmap', 'pidguard-config']]) {
      await kubectlOk(['get', kind!, name!, '-n', namespace]);
    }
  });

  it('uninstalls completely after the webhook configurations are deleted first', async () => {
    for (const kind of WEBHOOK_CONFIGURATIONS) await kubectlOk(['delete', kind, 'pidguard']);
    expect(withCluster(['uninstall', RELEASE, '--namespace', namespace])).toContain(`release "${RELEASE}" uninstalled`);
    for (const [kind, name] of [['clusterrole', 'pidguard-webhook'], ['clusterrolebinding', 'pidguard-agent'], ...WEBHOOK_CONFIGURATIONS.map((kind) => [kind, 'pidguard'])]) {
      expect(await missing(kind!, name!)).toBe(true);
    }
    for (const [kind, name] of [['deployment', 'pidguard-webhook'], ['daemonset', 'pidguard-agent'], ['certificate', 'pidguard-webhook'], ['service', 'pidguard-webhook']]) {
      expect(await missing(kind!, name!, namespace)).toBe(true);
    }
    // Helm leaves the namespace it did not create.
    await kubectlOk(['get', 'namespace', namespace]);
  });

  it('fails with --create-namespace and the chart\'s own Namespace, as docs/HELM.md warns', () => {
    expect(() => withCluster(['install', RELEASE, CHART, '--namespace', other, '--create-namespace'])).toThrow(/already exists/);
  });
});
