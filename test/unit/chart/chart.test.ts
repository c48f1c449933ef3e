// The Helm chart (charts/pidguard) rendered with the real helm: with default values the same
// objects as the kustomize default install, object by object; each value changes what it says.
import { jest } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { parse } from 'yaml';
import { certsCommand } from '../../../src/cli/certs.js';
import { parseConfig } from '../../../src/policy/config.js';
import { renderSelfSigned, type SelfSignedRender } from '../manifests/self-signed.js';
import { NAMESPACE, REPO_ROOT, containersOf, find, ofKind, podSpecOf, render, webhooksOf, workloads, type Manifest } from '../manifests/render.js';
import { CHART, helm, template } from './helm.js';

// Each render is a helm process (and the self-signed case two key generations): slow on a loaded machine.
jest.setTimeout(60_000);

const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/instance', 'app.kubernetes.io/version'];
const identity = (object: Manifest) => `${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`;
const configOf = (objects: Manifest[]) => parse((find(objects, 'ConfigMap', 'pidguard-config').data as Record<string, string>)['config.yaml']!) as unknown;
const CERT_MANAGER_KINDS = ['Certificate', 'Issuer'];

/** Without what helm adds on purpose: its labels, the pod templates' checksum annotations; the policy file parsed (comments aside). */
function normalized(object: Manifest): Manifest {
  const copy = structuredClone(object);
  for (const key of HELM_LABELS) delete copy.metadata.labels?.[key];
  const template = (copy.spec as { template?: { metadata?: { annotations?: Record<string, string> } } } | undefined)?.template;
  if (template?.metadata?.annotations) {
    for (const key of Object.keys(template.metadata.annotations)) if (key.startsWith('checksum/')) delete template.metadata.annotations[key];
    if (Object.keys(template.metadata.annotations).length === 0) delete template.metadata.annotations;
  }
  if (copy.kind === 'ConfigMap' && copy.metadata.name === 'pidguard-config') {
    copy.data = { 'config.yaml': parse((copy.data as Record<string, string>)['config.yaml']!) as unknown } as never;
  }
  return copy;
}

/** Every object of `actual` equals its namesake in `expected`, and neither has one the other lacks. */
function expectSameObjects(actual: Manifest[], expected: Manifest[]): void {
  expect(actual.map(identity).sort()).toEqual(expected.map(identity).sort());
  for (const object of actual) {
    const other = expected.find((candidate) => identity(candidate) === identity(object))!;
    expect({ id: identity(object), object: normalized(object) }).toEqual({ id: identity(object), object: normalized(other) });
  }
}

describe('the Helm chart with default values', () => {
  it('renders the same objects as the kustomize default install, object by object', () => {
    expectSameObjects(template(), render('.'));
  });

  it('labels every object as Helm-managed by this release, never in a selector', () => {
    for (const object of template()) {
      expect(object.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': 'pidguard', 'helm.sh/chart': 'pidguard-0.1.0' });
      const selector = (object.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector?.matchLabels ?? {};
      for (const key of HELM_LABELS) expect(selector[key]).toBeUndefined();
    }
  });

  it('renders a policy file pidguard accepts, and rolls the pods when it changes', () => {
    expect(parseConfig(configOf(template())).defaultMode).toBe('enforce');
    const checksums = (objects: Manifest[]) => workloads(objects).map(({ template: pod }) => pod.metadata?.annotations?.['checksum/config']);
    expect(checksums(template()).every((sum) => /^[0-9a-f]{64}$/.test(sum ?? ''))).toBe(true);
    const changed = checksums(template(['--set', 'config.pids.ceiling=2048']));
    checksums(template()).forEach((sum, index) => expect(changed[index]).not.toBe(sum));
  });

  it('passes helm lint, strict, with default values and with every optional part switched on', () => {
    expect(helm(['lint', '--strict', CHART])).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(helm(['lint', '--strict', CHART, '--set', 'prometheus.enabled=true,audit.enabled=false,agent.enabled=false'])).toContain('0 chart(s) failed');
  });
});

describe('the Helm chart values', () => {
  it('config.defaultMode=audit is the audit overlay', () => {
    const objects = template(['--set', 'config.defaultMode=audit']);
    expect(configOf(objects)).toEqual(configOf(render('manifests/overlays/audit')));
    expectSameObjects(objects.filter((object) => object.kind !== 'ConfigMap'), render('manifests/overlays/audit').filter((object) => object.kind !== 'ConfigMap'));
  });

  it('a mode pidguard does not know, or a misspelled value, fails the render naming it (values.schema.json)', () => {
    expect(() => template(['--set', 'config.defaultMode=warn'])).toThrow(/at '\/config\/defaultMode': value must be one of 'enforce', 'audit', 'off'/);
    expect(() => template(['--set', 'agent.enable=false'])).toThrow(/at '\/agent': additional properties 'enable' not allowed/);
    expect(() => template(['--set', 'prometheus.enable=true'])).toThrow(/at '\/prometheus': additional properties 'enable' not allowed/);
    expect(() => template(['--set', 'image.digest=latest'])).toThrow(/at '\/image\/digest'/);
  });

  it('prometheus.enabled=true is the prometheus overlay (monitors, alerts, the dashboard), with extra labels when asked', () => {
    expectSameObjects(template(['--set', 'prometheus.enabled=true']), render('manifests/overlays/prometheus'));
    const labelled = template(['--set', 'prometheus.enabled=true,prometheus.labels.release=kube-prometheus-stack']);
    for (const kind of ['ServiceMonitor', 'PodMonitor', 'PrometheusRule']) {
      for (const object of ofKind(labelled, kind)) expect(object.metadata.labels?.release).toBe('kube-prometheus-stack');
    }
    expect(find(labelled, 'ConfigMap', 'pidguard-dashboard').metadata.labels?.grafana_dashboard).toBe('1');
    const noDashboard = template(['--set', 'prometheus.enabled=true,prometheus.dashboard.enabled=false']);
    expect(noDashboard.map(identity)).not.toContain(`ConfigMap/${NAMESPACE}/pidguard-dashboard`);
  });

  it('agent.enabled=false and audit.enabled=false leave out their workloads, accounts, roles and monitors', () => {
    const objects = template(['--set', 'agent.enabled=false,audit.enabled=false,prometheus.enabled=true']);
    const names = objects.map(identity);
    for (const name of ['pidguard-agent', 'pidguard-audit']) expect(names.filter((id) => id.endsWith(`/${name}`))).toEqual([]);
    expect(workloads(objects).map(({ object }) => object.metadata.name)).toEqual(['pidguard-webhook']);
    // The rest is the default install's.
    expectSameObjects(objects.filter((object) => !['ServiceMonitor', 'PodMonitor', 'PrometheusRule'].includes(object.kind!) && object.metadata.name !== 'pidguard-dashboard'),
      render('.').filter((object) => !['pidguard-agent', 'pidguard-audit'].includes(object.metadata.name!)));
  });

  it('image.* sets all three containers: repository and tag, or a digest', () => {
    const images = (flags: string[]) => workloads(template(flags)).flatMap(({ template: pod }) => containersOf(pod.spec).map((container) => `${container.image} ${container.imagePullPolicy}`));
    expect(images(['--set', 'image.repository=registry.example.com/platform/pidguard,image.tag=9.9.9,image.pullPolicy=Always'])).toEqual(Array(3).fill('registry.example.com/platform/pidguard:9.9.9 Always'));
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(images(['--set', `image.digest=${digest}`])).toEqual(Array(3).fill(`ghcr.io/pidguard/pidguard@${digest} IfNotPresent`));
    const secrets = workloads(template(['--set', 'imagePullSecrets[0].name=regcred'])).map(({ template: pod }) => pod.spec.imagePullSecrets);
    expect(secrets).toEqual(Array(3).fill([{ name: 'regcred' }]));
  });

  it('resources, replicas and the webhook timeout are values', () => {
    const objects = template(['--set', 'webhook.replicas=5,webhook.resources.limits.memory=512Mi,agent.resources.requests.cpu=20m,audit.resources.limits.cpu=1,webhook.timeoutSeconds=5']);
    expect((find(objects, 'Deployment', 'pidguard-webhook').spec as { replicas: number }).replicas).toBe(5);
    expect(podSpecOf(objects, 'Deployment', 'pidguard-webhook').containers[0]!.resources).toEqual({ requests: { cpu: '100m', memory: '192Mi' }, limits: { cpu: '1', memory: '512Mi' } });
    expect(podSpecOf(objects, 'DaemonSet', 'pidguard-agent').containers[0]!.resources?.requests).toEqual({ cpu: '20m', memory: '128Mi' });
    expect(podSpecOf(objects, 'Deployment', 'pidguard-audit').containers[0]!.resources?.limits).toEqual({ cpu: 1, memory: '512Mi' });
    for (const [, hook] of webhooksOf(objects)) expect(hook.timeoutSeconds).toBe(5);
  });

  it('audit.policyReports.enabled=true is the default install with the policy-reports component: --policy-reports and the vendored CRD, kept on uninstall', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pidguard-chart-reports-'));
    try {
      const from = (path: string) => relative(dir, join(REPO_ROOT, path)); // kustomize takes relative paths only
      writeFileSync(join(dir, 'kustomization.yaml'), `resources: [${from('.')}]\ncomponents: [${from('manifests/components/policy-reports')}]\n`);
      const withComponent = render(dir);
      const objects = template(['--set', 'audit.policyReports.enabled=true']);
      const crd = find(objects, 'CustomResourceDefinition', 'reports.openreports.io');
      expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
      delete crd.metadata.annotations!['helm.sh/resource-policy'];
      expectSameObjects(objects, withComponent);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The chart's copy of the CRD is the vendored file, byte for byte (Helm reads only inside the chart).
    expect(readFileSync(join(CHART, 'files/openreports.io_reports.yaml'), 'utf8')).toBe(readFileSync(join(REPO_ROOT, 'manifests/components/policy-reports/openreports.io_reports.yaml'), 'utf8'));
    // With the CRD installed by another tool: the flag only.
    const withoutCrd = template(['--set', 'audit.policyReports.enabled=true,policyReports.installCRD=false']);
    expect(ofKind(withoutCrd, 'CustomResourceDefinition')).toEqual([]);
    expect(containersOf(podSpecOf(withoutCrd, 'Deployment', 'pidguard-audit')).find((c) => c.name === 'audit')?.args).toContain('--policy-reports');
    expect(helm(['lint', '--strict', CHART, '--set', 'audit.policyReports.enabled=true'])).toContain('0 chart(s) failed');
    expect(() => template(['--set', 'audit.policyReports.enable=true'])).toThrow(/at '\/audit\/policyReports': additional properties 'enable' not allowed/);
  });

  it('agent.policyReports.enabled=true adds --policy-reports to the agent only, and the CRD', () => {
    const objects = template(['--set', 'agent.policyReports.enabled=true']);
    const argsOf = (list: Manifest[], kind: string, name: string) => podSpecOf(list, kind, name).containers[0]!.args;
    expect(argsOf(objects, 'DaemonSet', 'pidguard-agent')).toEqual([...argsOf(template(), 'DaemonSet', 'pidguard-agent')!, '--policy-reports']);
    expect(argsOf(objects, 'Deployment', 'pidguard-audit')).not.toContain('--policy-reports');
    expect(ofKind(objects, 'CustomResourceDefinition').map((crd) => crd.metadata.name)).toEqual(['reports.openreports.io']);
    expect(ofKind(template(['--set', 'agent.policyReports.enabled=true,agent.enabled=false']), 'CustomResourceDefinition')).toEqual([]);
    expect(helm(['lint', '--strict', CHART, '--set', 'agent.policyReports.enabled=true,policyReports.installCRD=false'])).toContain('0 chart(s) failed');
  });

  it('namespace.create=false leaves the Namespace out and nothing else', () => {
    const objects = template(['--set', 'namespace.create=false']);
    expectSameObjects(objects, render('.').filter((object) => object.kind !== 'Namespace'));
  });

  it('installs into another namespace: every object, the webhook exclusions, the Service reference, cainjector and the certificate follow', () => {
    const objects = template([], 'guard');
    for (const object of objects) {
      if (['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'].includes(object.kind!)) continue;
      expect(identity(object)).toBe(`${object.kind}/guard/${object.metadata.name}`);
    }
    expect(find(objects, 'Namespace', 'guard').metadata.labels).toMatchObject({ 'pidguard.io/mode': 'off', 'pod-security.kubernetes.io/enforce': 'privileged' });
    for (const [, hook] of webhooksOf(objects)) {
      expect(hook.clientConfig.service?.namespace).toBe('guard');
      expect(hook.namespaceSelector?.matchExpressions?.[0]).toEqual({ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-node-lease', 'kube-public', 'guard'] });
    }
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      expect(find(objects, kind, 'pidguard').metadata.annotations).toEqual({ 'cert-manager.io/inject-ca-from': 'guard/pidguard-webhook' });
    }
    expect((find(objects, 'Certificate', 'pidguard-webhook').spec as { dnsNames: string[] }).dnsNames).toEqual(['pidguard-webhook.guard.svc', 'pidguard-webhook.guard.svc.cluster.local']);
    for (const kind of ['ClusterRoleBinding']) {
      for (const binding of ofKind(objects, kind)) expect((binding as unknown as { subjects: Array<{ namespace: string }> }).subjects[0]!.namespace).toBe('guard');
    }
  });

  describe('tls.mode=self-signed', () => {
    let overlay: SelfSignedRender;
    let certs: string;
    let objects: Manifest[];
    beforeAll(async () => {
      overlay = await renderSelfSigned();
      certs = mkdtempSync(join(tmpdir(), 'pidguard-chart-certs-'));
      const stderr = new PassThrough();
      const code = await certsCommand.run(['--out', certs, '--dns', 'pidguard-webhook.pidguard-system.svc'], { stdout: new PassThrough(), stderr, stdin: Readable.from([]), env: {} });
      if (code !== 0) throw new Error(`pidguard certs exited ${code}: ${stderr.read()?.toString() ?? ''}`);
      objects = template(['--set', 'tls.mode=self-signed', '--set-file', `tls.selfSigned.caCert=${certs}/ca.crt,tls.selfSigned.cert=${certs}/tls.crt,tls.selfSigned.key=${certs}/tls.key`]);
    });
    afterAll(() => {
      overlay?.cleanup();
      if (certs) rmSync(certs, { recursive: true, force: true });
    });

    it('has no cert-manager objects; the Secret holds the files and every caBundle the CA', () => {
      expect(objects.filter((object) => CERT_MANAGER_KINDS.includes(object.kind!))).toEqual([]);
      const secret = find(objects, 'Secret', 'pidguard-webhook-tls');
      expect(secret.type).toBe('kubernetes.io/tls');
      const data = secret.data as Record<string, string>;
      for (const [key, file] of [['ca.crt', 'ca.crt'], ['tls.crt', 'tls.crt'], ['tls.key', 'tls.key']]) {
        expect(Buffer.from(data[key!]!, 'base64').toString()).toBe(readFileSync(join(certs, file!), 'utf8'));
      }
      const webhooks = webhooksOf(objects);
      expect(webhooks.size).toBe(3);
      for (const [, hook] of webhooks) expect(Buffer.from(hook.clientConfig.caBundle ?? '', 'base64').toString()).toBe(readFileSync(join(certs, 'ca.crt'), 'utf8'));
      for (const object of objects) expect(object.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBeUndefined();
    });

    it('is otherwise the self-signed overlay (its Secret name carries a hash; the chart rolls the pods by checksum instead)', () => {
      const withoutCa = (list: Manifest[]) => list.map((object) => {
        const copy = structuredClone(object);
        for (const hook of (copy.webhooks as Array<{ clientConfig: { caBundle?: string } }> | undefined) ?? []) delete hook.clientConfig.caBundle;
        const volumes = copy.kind === 'Deployment' && copy.metadata.name === 'pidguard-webhook' ? (podSpecOf([copy], 'Deployment', 'pidguard-webhook').volumes as Array<{ secret?: { secretName: string } }>) : [];
        for (const volume of volumes) if (volume.secret) volume.secret.secretName = 'pidguard-webhook-tls';
        return copy;
      });
      expectSameObjects(withoutCa(objects.filter((object) => object.kind !== 'Secret')), withoutCa(overlay.objects.filter((object) => object.kind !== 'Secret')));
      const annotations = (find(objects, 'Deployment', 'pidguard-webhook').spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations;
      expect(annotations['checksum/tls']).toMatch(/^[0-9a-f]{64}$/);
    });

    it('without the files the render fails, saying which value and how to make them', () => {
      expect(() => template(['--set', 'tls.mode=self-signed'])).toThrow(/tls.mode self-signed needs tls.selfSigned.caCert: --set-file .*pidguard certs/);
      expect(() => template(['--set', 'tls.mode=vault'])).toThrow(/at '\/tls\/mode': value must be one of 'cert-manager', 'self-signed'/);
    });
  });
});
