// What each overlay changes, and that it changes nothing else.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_CONFIG_DOCUMENT, parseConfig } from '../../../src/policy/config.js';
import { renderSelfSigned, SERVICE_DNS, type SelfSignedRender } from './self-signed.js';
import {
  IMAGE, NAMESPACE, REPO_ROOT, containersOf, find, ofKind, podSpecOf, render, webhooksOf, workloads, type Manifest,
} from './render.js';

const CERT_MANAGER_KINDS = ['Certificate', 'Issuer', 'ClusterIssuer'];
const identity = (object: Manifest) => `${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`;
const configText = (objects: Manifest[]) => (find(objects, 'ConfigMap', 'pidguard-config').data as Record<string, string>)['config.yaml']!;
const withoutAnnotation = (object: Manifest, key: string) => {
  const copy = structuredClone(object);
  delete copy.metadata.annotations?.[key];
  if (copy.metadata.annotations && Object.keys(copy.metadata.annotations).length === 0) delete copy.metadata.annotations;
  return copy;
};

describe('overlay audit', () => {
  const audit = () => render('manifests/overlays/audit');

  it('sets the cluster default mode to audit and keeps the rest of the policy file, comments included', () => {
    expect(parse(configText(audit()))).toEqual({ ...DEFAULT_CONFIG_DOCUMENT, defaultMode: 'audit' });
    expect(parseConfig(parse(configText(audit()))).defaultMode).toBe('audit');
    const [auditFirst, ...auditRest] = configText(audit()).split('\n');
    const [baseFirst, ...baseRest] = configText(render('.')).split('\n');
    expect(auditFirst).toMatch(/^defaultMode: audit\b/);
    expect(baseFirst).toMatch(/^defaultMode: enforce\b/);
    expect(auditRest).toEqual(baseRest);
  });

  it('changes nothing else and leaves its helper object out of the output', () => {
    const base = render('.');
    expect(audit().map(identity)).toEqual(base.map(identity));
    for (const object of audit()) {
      if (object.kind === 'ConfigMap' && object.metadata.name === 'pidguard-config') continue;
      expect(object).toEqual(base.find((other) => identity(other) === identity(object)));
    }
  });
});

describe('overlay self-signed', () => {
  let result: SelfSignedRender;
  beforeAll(async () => {
    result = await renderSelfSigned();
  }, 60_000); // key generation and kustomize: seconds on a loaded machine
  afterAll(() => result?.cleanup());

  it('has no cert-manager objects or annotations', () => {
    expect(result.objects.filter((object) => CERT_MANAGER_KINDS.includes(object.kind!))).toEqual([]);
    for (const object of result.objects) expect(object.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBeUndefined();
  });

  it('makes the TLS Secret from certs/ and mounts it in the webhook under its hashed name', () => {
    const secrets = ofKind(result.objects, 'Secret');
    expect(secrets).toHaveLength(1);
    const secret = secrets[0]!;
    expect(secret.metadata.name).toMatch(/^pidguard-webhook-tls-[a-z0-9]{10}$/);
    expect(secret.metadata.namespace).toBe(NAMESPACE);
    expect(secret.type).toBe('kubernetes.io/tls');
    const data = secret.data as Record<string, string>;
    expect(Object.keys(data).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    for (const [key, content] of Object.entries(result.files)) expect(Buffer.from(data[key]!, 'base64').toString()).toBe(content);
    const volumes = podSpecOf(result.objects, 'Deployment', 'pidguard-webhook').volumes as Array<{ name: string; secret?: { secretName: string } }>;
    expect(volumes.find((volume) => volume.name === 'tls')?.secret?.secretName).toBe(secret.metadata.name);
  });

  it('puts the CA into every webhook\'s caBundle, and that CA verifies the serving certificate', () => {
    const webhooks = webhooksOf(result.objects);
    expect(webhooks.size).toBe(3);
    for (const [, hook] of webhooks) expect(Buffer.from(hook.clientConfig.caBundle ?? '', 'base64').toString()).toBe(result.files['ca.crt']);
    const ca = new X509Certificate(result.files['ca.crt']);
    const serving = new X509Certificate(result.files['tls.crt']);
    expect(serving.verify(ca.publicKey)).toBe(true);
    expect(serving.checkHost(SERVICE_DNS)).toBe(SERVICE_DNS);
  });

  it('is otherwise the default install', () => {
    const base = render('.').filter((object) => !CERT_MANAGER_KINDS.includes(object.kind!));
    const others = result.objects.filter((object) => object.kind !== 'Secret');
    expect(others.map(identity)).toEqual(base.map(identity));
    for (const object of others) {
      const normalized = withoutAnnotation(object, 'cert-manager.io/inject-ca-from');
      for (const hook of (normalized.webhooks as Array<{ clientConfig: { caBundle?: string } }> | undefined) ?? []) delete hook.clientConfig.caBundle;
      const spec = normalized.kind === 'Deployment' && normalized.metadata.name === 'pidguard-webhook' ? podSpecOf([normalized], 'Deployment', 'pidguard-webhook') : undefined;
      for (const volume of (spec?.volumes as Array<{ secret?: { secretName: string } }> | undefined) ?? []) {
        if (volume.secret) volume.secret.secretName = 'pidguard-webhook-tls';
      }
      const expected = withoutAnnotation(base.find((other) => identity(other) === identity(object))!, 'cert-manager.io/inject-ca-from');
      expect(normalized).toEqual(expected);
    }
  });

  it('ignores generated certificates in git', () => {
    const ignore = readFileSync(join(REPO_ROOT, 'manifests/overlays/self-signed/.gitignore'), 'utf8');
    expect(ignore.split('\n')).toContain('certs/');
  });
});

describe('overlay prometheus', () => {
  const objects = () => render('manifests/overlays/prometheus');
  type Rule = { alert?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  const rules = () => {
    const groups = (find(objects(), 'PrometheusRule', 'pidguard').spec as { groups: Array<{ name: string; rules: Rule[] }> }).groups;
    return groups.flatMap((group) => group.rules);
  };
  const podLabels = (kind: string, name: string) =>
    ((find(objects(), kind, name).spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels);

  it('adds scrape configuration, alerts and the Grafana dashboard to the default install, nothing else', () => {
    const base = render('.').map(identity);
    const added = objects().map(identity).filter((id) => !base.includes(id));
    expect(added.sort()).toEqual([
      `ConfigMap/${NAMESPACE}/pidguard-dashboard`,
      `PodMonitor/${NAMESPACE}/pidguard-agent`,
      `PodMonitor/${NAMESPACE}/pidguard-audit`,
      `PrometheusRule/${NAMESPACE}/pidguard`,
      `ServiceMonitor/${NAMESPACE}/pidguard-webhook`,
    ]);
    expect(objects().length).toBe(base.length + added.length);
  });

  it('scrapes the webhook through its Service\'s metrics port and the agent and audit pods directly', () => {
    const monitor = find(objects(), 'ServiceMonitor', 'pidguard-webhook').spec as { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string }> };
    const service = find(objects(), 'Service', 'pidguard-webhook');
    expect(service.metadata.labels).toMatchObject(monitor.selector.matchLabels);
    expect((service.spec as { ports: Array<{ name: string }> }).ports.map((port) => port.name)).toContain(monitor.endpoints[0]!.port);
    for (const [monitorName, kind, workload] of [['pidguard-agent', 'DaemonSet', 'pidguard-agent'], ['pidguard-audit', 'Deployment', 'pidguard-audit']] as const) {
      const podMonitor = find(objects(), 'PodMonitor', monitorName).spec as { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: Array<{ port: string; honorLabels?: boolean }> };
      expect(podLabels(kind, workload)).toMatchObject(podMonitor.selector.matchLabels);
      const ports = containersOf(podSpecOf(objects(), kind, workload)).flatMap((container) => (container.ports as Array<{ name: string }>).map((port) => port.name));
      expect(ports).toContain(podMonitor.podMetricsEndpoints[0]!.port);
      // Their series carry namespace/pod labels of their own (the pod limited, the namespace audited).
      expect(podMonitor.podMetricsEndpoints[0]!.honorLabels).toBe(true);
    }
  });

  it('alerts on node PID usage, webhook outages, errors and latency, and certificate expiry', () => {
    const uses = (metric: string) => rules().filter((rule) => rule.expr.includes(metric)).map((rule) => rule.alert);
    expect(uses('pidguard_node_pid_usage_ratio').length).toBeGreaterThanOrEqual(2);
    expect(uses('pidguard_admission_invalid_requests_total')).toEqual(['PidguardWebhookErrors']);
    expect(uses('apiserver_admission_webhook_fail_open_count')).toEqual(['PidguardAdmissionFailOpen']);
    expect(uses('pidguard_admission_decision_duration_seconds_bucket')).toEqual(['PidguardDecisionSlow']);
    expect(uses('apiserver_admission_webhook_admission_duration_seconds_bucket')).toEqual(['PidguardWebhookSlow']);
    expect(uses('pidguard_tls_certificate_expiry_seconds').length).toBeGreaterThanOrEqual(2);
    for (const rule of rules()) {
      expect(rule.alert).toMatch(/^Pidguard[A-Za-z]+$/);
      expect(['warning', 'critical']).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary).toBeTruthy();
    }
    const names = rules().map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
  });

  it('uses only metric names that pidguard registers (webhook, node agent, audit)', () => {
    const sources = readdirSync(join(REPO_ROOT, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .map((file) => readFileSync(join(REPO_ROOT, 'src', file), 'utf8'));
    const registered = new Set(sources.flatMap((source) => [...source.matchAll(/'(pidguard_[a-z_]+)'/g)].map((match) => match[1]!)));
    const used = new Set(rules().flatMap((rule) => [...rule.expr.matchAll(/\b(pidguard_[a-z_]+)/g)].map((match) => match[1]!)));
    const unknown = [...used].filter((metric) => !registered.has(metric) && !registered.has(metric.replace(/_(bucket|sum|count)$/, '')));
    expect(unknown).toEqual([]);
    for (const metric of ['pidguard_node_pid_usage_ratio', 'pidguard_tls_certificate_expiry_seconds', 'pidguard_admission_invalid_requests_total']) {
      expect(used).toContain(metric);
    }
  });

  it('warns and pages at the agent\'s default warning and critical ratios', () => {
    const thresholds = rules()
      .filter((rule) => rule.expr.includes('pidguard_node_pid_usage_ratio'))
      .map((rule) => `${rule.labels!.severity} ${/>\s*([\d.]+)/.exec(rule.expr)![1]}`);
    expect(thresholds.sort()).toEqual(['critical 0.9', 'warning 0.7']);
  });
});

describe('overlay e2e', () => {
  const objects = () => render('manifests/overlays/e2e');
  const URLS: Record<string, string> = {
    'mutate.pidguard.io': 'https://127.0.0.1:18443/mutate',
    'validate.pidguard.io': 'https://127.0.0.1:18443/validate',
    'namespaces.pidguard.io': 'https://127.0.0.1:18443/validate',
  };

  it('holds only the two webhook configurations', () => {
    expect(objects().map(identity)).toEqual(['MutatingWebhookConfiguration//pidguard', 'ValidatingWebhookConfiguration//pidguard']);
  });

  it('calls the local webhook by URL, with no Service, no caBundle and no cert-manager annotation', () => {
    const webhooks = webhooksOf(objects());
    expect([...webhooks.keys()].sort()).toEqual(Object.keys(URLS).sort());
    for (const [name, hook] of webhooks) expect(hook.clientConfig).toEqual({ url: URLS[name] });
    for (const object of objects()) expect(object.metadata.annotations).toBeUndefined();
  });

  it('is otherwise exactly the shipped configuration, so the e2e tests exercise what users install', () => {
    const shipped = render('.');
    for (const object of objects()) {
      const expected = withoutAnnotation(find(shipped, object.kind!, object.metadata.name!), 'cert-manager.io/inject-ca-from');
      const actual = structuredClone(object);
      const hooks = (configuration: Manifest) => configuration.webhooks as Array<{ clientConfig: unknown }>;
      hooks(actual).forEach((hook, index) => {
        hook.clientConfig = hooks(expected)[index]!.clientConfig;
      });
      expect(actual).toEqual(expected);
    }
  });
});

describe('choosing the image (docs/INSTALL.md)', () => {
  it('is one kustomize images entry in an overlay of the default install', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pidguard-image-'));
    try {
      writeFileSync(join(dir, 'kustomization.yaml'), [
        'resources:',
        `  - ${relative(dir, join(REPO_ROOT, 'manifests/default'))}`,
        'images:',
        `  - name: ${IMAGE.split(':')[0]}`,
        '    newName: registry.example.com/platform/pidguard',
        '    newTag: 9.9.9',
        '',
      ].join('\n'));
      const images = workloads(render(dir)).flatMap(({ template }) => containersOf(template.spec).map((container) => container.image));
      expect(images).toEqual(['registry.example.com/platform/pidguard:9.9.9', 'registry.example.com/platform/pidguard:9.9.9', 'registry.example.com/platform/pidguard:9.9.9']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
