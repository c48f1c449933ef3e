// The default install (`kubectl kustomize .`): what it contains and the safety properties of its
// workloads, RBAC and certificates.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_CONFIG_DOCUMENT, defaultConfig, parseConfig } from '../../../src/policy/config.js';
import { parseQuantity, isPositive } from '../../../src/policy/quantity.js';
import type { Container, PodSpec } from '../../../src/policy/types.js';
import { POLICED_KINDS } from '../../../src/policy/workloads.js';
import {
  IMAGE, NAMESPACE, REPO_ROOT, containersOf, find, ofKind, podSpecOf, render, workloads, type Manifest,
} from './render.js';

const install = () => render('.');

/** A container's effective security settings: the container's own, else the pod's. */
function effectiveSecurity(spec: PodSpec, container: Container) {
  const pod = (spec.securityContext ?? {}) as Record<string, unknown>;
  const own = (container.securityContext ?? {}) as Record<string, unknown>;
  const pick = (key: string) => (own[key] !== undefined ? own[key] : pod[key]);
  return {
    runAsNonRoot: pick('runAsNonRoot'),
    runAsUser: pick('runAsUser'),
    allowPrivilegeEscalation: own.allowPrivilegeEscalation,
    privileged: own.privileged,
    readOnlyRootFilesystem: own.readOnlyRootFilesystem,
    capabilities: (own.capabilities ?? {}) as { add?: string[]; drop?: string[] },
    seccompType: (pick('seccompProfile') as { type?: string } | undefined)?.type,
  };
}

/** Pod Security "restricted", plus a read-only root filesystem and the image's non-root uid. */
const RESTRICTED = {
  runAsNonRoot: true,
  runAsUser: 65532,
  allowPrivilegeEscalation: false,
  privileged: undefined,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompType: 'RuntimeDefault',
};

/** Go durations as cert-manager takes them: 2160h, 90m, 1h30m. */
function durationSeconds(text: unknown): number {
  if (typeof text !== 'string' || !/^(\d+h)?(\d+m)?(\d+s)?$/.test(text) || text === '') {
    throw new Error(`not a duration: ${JSON.stringify(text)}`);
  }
  const part = (unit: string) => Number(new RegExp(`(\\d+)${unit}`).exec(text)?.[1] ?? 0);
  return part('h') * 3600 + part('m') * 60 + part('s');
}

describe('the default install (kubectl kustomize .)', () => {
  it('puts every namespaced object in pidguard-system and applies the Namespace first and the webhook configurations last', () => {
    const objects = install();
    const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
    for (const object of objects) {
      if (clusterScoped.has(object.kind!)) expect(object.metadata.namespace).toBeUndefined();
      else expect(`${object.kind}/${object.metadata.name} in ${object.metadata.namespace}`).toBe(`${object.kind}/${object.metadata.name} in ${NAMESPACE}`);
    }
    expect(objects[0]).toMatchObject({ kind: 'Namespace', metadata: { name: NAMESPACE } });
    const kinds = objects.map((object) => object.kind);
    const firstWebhookConfiguration = kinds.findIndex((kind) => kind!.endsWith('WebhookConfiguration'));
    expect(kinds.slice(firstWebhookConfiguration).every((kind) => kind!.endsWith('WebhookConfiguration'))).toBe(true);
    expect(kinds.lastIndexOf('Deployment')).toBeLessThan(firstWebhookConfiguration);
  });

  it('labels its namespace so pidguard skips itself and the node agent is allowed by Pod Security', () => {
    const namespace = find(install(), 'Namespace', NAMESPACE);
    expect(namespace.metadata.labels).toMatchObject({
      'pidguard.io/mode': 'off',
      'pod-security.kubernetes.io/enforce': 'privileged',
    });
  });

  it('lets the critical priority classes be used in pidguard-system where providers require a quota', () => {
    const quota = find(install(), 'ResourceQuota', 'pidguard-critical-pods');
    expect(quota.spec).toMatchObject({
      scopeSelector: { matchExpressions: [{ scopeName: 'PriorityClass', operator: 'In', values: ['system-node-critical', 'system-cluster-critical'] }] },
    });
    const priorityClasses = workloads(install()).map(({ template }) => template.spec.priorityClassName).filter(Boolean);
    const covered = (quota.spec as { scopeSelector: { matchExpressions: Array<{ values: string[] }> } }).scopeSelector.matchExpressions[0]!.values;
    for (const priorityClass of priorityClasses) expect(covered).toContain(priorityClass);
  });

  describe('policy configuration', () => {
    const configText = () => (find(install(), 'ConfigMap', 'pidguard-config').data as Record<string, string>)['config.yaml']!;

    it('mirrors DEFAULT_CONFIG_DOCUMENT exactly, so the install behaves like the built-in defaults', () => {
      expect(parse(configText())).toEqual(DEFAULT_CONFIG_DOCUMENT);
      expect(parseConfig(parse(configText()))).toEqual(defaultConfig());
    });

    it('explains itself with comments and keeps defaultMode on the first line (the audit overlay replaces it)', () => {
      expect(configText().split('\n')[0]).toMatch(/^defaultMode: enforce\b/);
      expect(configText().split('\n').filter((line) => line.trim().startsWith('#')).length).toBeGreaterThanOrEqual(10);
    });
  });

  describe('workloads', () => {
    it('are the webhook Deployment, the node agent DaemonSet and the audit Deployment, all on one image', () => {
      const found = workloads(install()).map(({ object }) => `${object.kind}/${object.metadata.name}`).sort();
      expect(found).toEqual(['DaemonSet/pidguard-agent', 'Deployment/pidguard-audit', 'Deployment/pidguard-webhook']);
      for (const { template } of workloads(install())) {
        for (const container of containersOf(template.spec)) expect(container.image).toBe(IMAGE);
      }
    });

    it('set positive cpu and memory requests and limits on every container', () => {
      const problems: string[] = [];
      for (const { object, template } of workloads(install())) {
        for (const container of containersOf(template.spec)) {
          for (const field of ['requests', 'limits'] as const) {
            for (const name of ['cpu', 'memory']) {
              const raw = container.resources?.[field]?.[name];
              const quantity = raw === undefined ? undefined : parseQuantity(raw);
              if (!quantity || !isPositive(quantity)) problems.push(`${object.metadata.name}/${container.name}: ${field}.${name}=${raw}`);
            }
          }
        }
      }
      expect(problems).toEqual([]);
    });

    it('use service accounts of their own that the install defines', () => {
      const accounts = ofKind(install(), 'ServiceAccount').map((account) => account.metadata.name);
      const used = workloads(install()).map(({ template }) => template.spec.serviceAccountName);
      expect(used.sort()).toEqual(['pidguard-agent', 'pidguard-audit', 'pidguard-webhook']);
      expect(accounts.sort()).toEqual(['pidguard-agent', 'pidguard-audit', 'pidguard-webhook']);
    });

    it('probe over HTTP, never exec (the runtime cannot fork an exec probe on a node out of PIDs)', () => {
      for (const { template } of workloads(install())) {
        for (const container of containersOf(template.spec)) {
          expect(container.livenessProbe).toBeDefined();
          for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
            const handler = container[probe] as Record<string, unknown> | undefined;
            if (handler) expect(Object.keys(handler)).toContain('httpGet');
            if (handler) expect(Object.keys(handler)).not.toContain('exec');
          }
        }
      }
    });
  });

  describe('webhook Deployment', () => {
    const deployment = () => find(install(), 'Deployment', 'pidguard-webhook');
    const spec = () => podSpecOf(install(), 'Deployment', 'pidguard-webhook');
    const container = () => spec().containers[0]!;

    it('runs 3 replicas, surging during updates so that three stay ready', () => {
      expect(deployment().spec).toMatchObject({ replicas: 3, strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } });
    });

    it('has a PodDisruptionBudget that keeps at least two replicas through voluntary disruptions', () => {
      const budget = find(install(), 'PodDisruptionBudget', 'pidguard-webhook');
      const { maxUnavailable, minAvailable } = budget.spec as { maxUnavailable?: number; minAvailable?: number };
      expect(maxUnavailable === 1 || minAvailable === 2).toBe(true);
      expect((budget.spec as { selector: unknown }).selector).toEqual({ matchLabels: (deployment().spec as { selector: { matchLabels: unknown } }).selector.matchLabels });
    });

    it('spreads replicas over nodes and zones and prefers not to share a node', () => {
      const podLabels = (deployment().spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
      const constraints = spec().topologySpreadConstraints as Array<{ topologyKey: string; whenUnsatisfiable: string; labelSelector: { matchLabels: Record<string, string> } }>;
      expect(constraints.map((c) => [c.topologyKey, c.whenUnsatisfiable])).toEqual([
        ['kubernetes.io/hostname', 'DoNotSchedule'],
        ['topology.kubernetes.io/zone', 'ScheduleAnyway'],
      ]);
      for (const constraint of constraints) expect(podLabels).toMatchObject(constraint.labelSelector.matchLabels);
      const antiAffinity = (spec().affinity as { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: Array<{ podAffinityTerm: { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } } }> } }).podAntiAffinity;
      const term = antiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]!.podAffinityTerm;
      expect(term.topologyKey).toBe('kubernetes.io/hostname');
      expect(podLabels).toMatchObject(term.labelSelector.matchLabels);
    });

    it('caps the V8 heap at the size the webhook benchmarks measure under', () => {
      const bench = readFileSync(join(REPO_ROOT, 'bench/serve-process.mjs'), 'utf8');
      const benchCap = /export const WEBHOOK_HEAP_CAP_MIB = (\d+);/.exec(bench)?.[1];
      expect(benchCap).toBeDefined();
      expect(container().env).toContainEqual({ name: 'NODE_OPTIONS', value: `--max-old-space-size=${benchCap}` });
    });

    it('is system-cluster-critical', () => {
      expect(spec().priorityClassName).toBe('system-cluster-critical');
    });

    it('runs with the restricted security context', () => {
      expect(effectiveSecurity(spec(), container())).toEqual(RESTRICTED);
      expect(spec().hostPID ?? false).toBe(false);
      expect(spec().hostNetwork ?? false).toBe(false);
    });

    it('serves with the TLS secret and the policy config mounted where its args point', () => {
      expect(container().args).toEqual([
        'serve',
        '--tls-cert=/etc/pidguard/tls/tls.crt',
        '--tls-key=/etc/pidguard/tls/tls.key',
        '--config=/etc/pidguard/config/config.yaml',
      ]);
      const mounts = container().volumeMounts as Array<{ name: string; mountPath: string; readOnly?: boolean }>;
      const volumes = spec().volumes as Array<{ name: string; secret?: { secretName: string; defaultMode?: number }; configMap?: { name: string } }>;
      const volumeAt = (path: string) => volumes.find((volume) => volume.name === mounts.find((mount) => mount.mountPath === path && mount.readOnly)?.name);
      expect(volumeAt('/etc/pidguard/tls')?.secret?.secretName).toBe('pidguard-webhook-tls');
      expect(volumeAt('/etc/pidguard/config')?.configMap?.name).toBe('pidguard-config');
      // Readable by the pod's fsGroup (uid 65532), by no one else.
      expect(volumeAt('/etc/pidguard/tls')?.secret?.defaultMode).toBe(0o440);
      expect(spec().securityContext).toMatchObject({ fsGroup: 65532 });
    });

    it('probes /healthz and /readyz over HTTPS on the serving port', () => {
      const port = { name: 'https', containerPort: 8443, protocol: 'TCP' };
      expect(container().ports).toContainEqual(port);
      expect(container().ports).toContainEqual({ name: 'metrics', containerPort: 9090, protocol: 'TCP' });
      expect(container().livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'https', scheme: 'HTTPS' } });
      expect(container().readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'https', scheme: 'HTTPS' } });
    });

    it('is reached through Service pidguard-webhook: 443 to the serving port, 9090 for metrics', () => {
      const service = find(install(), 'Service', 'pidguard-webhook');
      const podLabels = (deployment().spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
      expect(podLabels).toMatchObject((service.spec as { selector: Record<string, string> }).selector);
      expect((service.spec as { ports: unknown[] }).ports).toEqual([
        { name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' },
        { name: 'metrics', port: 9090, targetPort: 'metrics', protocol: 'TCP' },
      ]);
    });

    it('has a NetworkPolicy: the serving port from anywhere (the API server is not selectable), metrics from in-cluster pods only', () => {
      const policy = find(install(), 'NetworkPolicy', 'pidguard-webhook');
      const podLabels = (deployment().spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
      const spec = policy.spec as { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: unknown[] };
      expect(podLabels).toMatchObject(spec.podSelector.matchLabels);
      expect(spec.policyTypes).toEqual(['Ingress']);
      expect(spec.ingress).toEqual([
        { ports: [{ port: 'https', protocol: 'TCP' }] },
        { from: [{ namespaceSelector: {} }], ports: [{ port: 'metrics', protocol: 'TCP' }] },
      ]);
      const portNames = (container().ports as Array<{ name: string }>).map((port) => port.name).sort();
      expect(portNames).toEqual(['https', 'metrics']); // every port the pod opens is covered by a rule
    });
  });

  describe('node agent DaemonSet', () => {
    const spec = () => podSpecOf(install(), 'DaemonSet', 'pidguard-agent');
    const container = () => spec().containers[0]!;

    it('sees the host PID namespace, tolerates every taint and is system-node-critical', () => {
      expect(spec().hostPID).toBe(true);
      expect(spec().hostNetwork ?? false).toBe(false);
      expect(spec().tolerations).toEqual([{ operator: 'Exists' }]);
      expect(spec().priorityClassName).toBe('system-node-critical');
    });

    it('runs as root without privilege escalation and with every capability dropped', () => {
      expect(effectiveSecurity(spec(), container())).toEqual({
        runAsNonRoot: false,
        runAsUser: 0,
        allowPrivilegeEscalation: false,
        privileged: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
        seccompType: 'RuntimeDefault',
      });
    });

    it('mounts the host /proc read-only and the cgroup hierarchy read-write, and no other host path', () => {
      const volumes = spec().volumes as Array<{ name: string; hostPath?: { path: string } }>;
      const mounts = container().volumeMounts as Array<{ name: string; mountPath: string; readOnly?: boolean }>;
      const hostMounts = mounts
        .map((mount) => ({ mount, hostPath: volumes.find((volume) => volume.name === mount.name)?.hostPath?.path }))
        .filter(({ hostPath }) => hostPath !== undefined)
        .map(({ mount, hostPath }) => `${hostPath} -> ${mount.mountPath} ${mount.readOnly ? 'ro' : 'rw'}`);
      expect(hostMounts.sort()).toEqual(['/proc -> /host/proc ro', '/sys/fs/cgroup -> /host/sys/fs/cgroup rw']);
      expect(volumes.filter((volume) => volume.hostPath).length).toBe(2);
    });

    it('runs `agent` on the host paths with its node name from the downward API', () => {
      expect(container().args).toEqual(['agent', '--proc=/host/proc', '--cgroup-root=/host/sys/fs/cgroup', '--config=/etc/pidguard/config/config.yaml']);
      expect(container().env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    });

    it('reads the webhook\'s policy config (the pids-limit ceiling) from the ConfigMap, read-only', () => {
      const mounts = container().volumeMounts as Array<{ name: string; mountPath: string; readOnly?: boolean }>;
      expect(mounts).toContainEqual({ name: 'config', mountPath: '/etc/pidguard/config', readOnly: true });
      expect(spec().volumes).toContainEqual({ name: 'config', configMap: { name: 'pidguard-config' } });
    });

    it('exports metrics on 9091 and is probed on /healthz there', () => {
      expect(container().ports).toEqual([{ name: 'metrics', containerPort: 9091, protocol: 'TCP' }]);
      expect(container().livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'metrics' } });
    });
  });

  describe('audit Deployment', () => {
    const spec = () => podSpecOf(install(), 'Deployment', 'pidguard-audit');
    const container = () => spec().containers[0]!;

    it('runs one long-lived `audit --watch` exporting gauges on 9092, with the webhook\'s policy file', () => {
      expect(find(install(), 'Deployment', 'pidguard-audit').spec).toMatchObject({ replicas: 1, strategy: { type: 'Recreate' } });
      expect(container().args).toEqual(['audit', '--watch', '--interval=5m', '--metrics-port=9092', '--config=/etc/pidguard/config/config.yaml']);
      expect(container().ports).toEqual([{ name: 'metrics', containerPort: 9092, protocol: 'TCP' }]);
      expect(container().livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'metrics' } });
      expect(spec().volumes).toContainEqual({ name: 'config', configMap: { name: 'pidguard-config' } });
    });

    it('runs with the restricted security context', () => {
      expect(effectiveSecurity(spec(), container())).toEqual(RESTRICTED);
    });

    it('caps the V8 heap at the size bench/audit-scale.bench.mjs measures under', () => {
      const bench = readFileSync(join(REPO_ROOT, 'bench/audit-scale.bench.mjs'), 'utf8');
      const benchCap = /const HEAP_CAP_MIB = (\d+);/.exec(bench)?.[1];
      expect(benchCap).toBeDefined();
      expect(container().env).toContainEqual({ name: 'NODE_OPTIONS', value: `--max-old-space-size=${benchCap}` });
    });
  });

  describe('RBAC', () => {
    type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[]; nonResourceURLs?: string[] };
    /** `group/resource: verbs` lines, sorted, so a test reads like the intended permission list. */
    const permissions = (name: string) =>
      ((find(install(), 'ClusterRole', name).rules as Rule[]) ?? [])
        .flatMap((rule) => rule.apiGroups.flatMap((group) => rule.resources.map((resource) => `${group || 'core'}/${resource}: ${[...rule.verbs].sort().join(',')}`)))
        .sort();

    it('gives the webhook read access to namespaces and nothing else', () => {
      expect(permissions('pidguard-webhook')).toEqual(['core/namespaces: get,list,watch']);
    });

    it('gives the node agent pods, its node, node status, events, namespace reads (the ceiling label) and its Reports (--policy-reports)', () => {
      expect(permissions('pidguard-agent')).toEqual([
        'core/events: create,patch',
        'core/namespaces: get',
        'core/nodes/status: patch',
        'core/nodes: get',
        'core/pods: get,list,watch',
        'events.k8s.io/events: create,patch',
        'openreports.io/reports: create,delete,list,patch',
      ]);
    });

    it('gives the audit list access to namespaces and every policed kind (src/policy/workloads.ts), and its Reports, nothing more', () => {
      const policed = POLICED_KINDS.map(({ group, resource }) => `${group || 'core'}/${resource}: list`);
      expect(permissions('pidguard-audit')).toEqual(['core/namespaces: list', 'openreports.io/reports: create,delete,list,patch', ...policed].sort());
      expect(policed).toHaveLength(8);
    });

    it('has no wildcards, no secrets, no escalation verbs and no namespaced roles', () => {
      const roles = [...ofKind(install(), 'ClusterRole'), ...ofKind(install(), 'Role')];
      expect(roles.map((role) => role.metadata.name).sort()).toEqual(['pidguard-agent', 'pidguard-audit', 'pidguard-webhook']);
      for (const role of roles) {
        for (const rule of role.rules as Rule[]) {
          const words = [...rule.apiGroups, ...rule.resources, ...rule.verbs, ...(rule.resourceNames ?? []), ...(rule.nonResourceURLs ?? [])];
          expect(words.filter((word) => word.includes('*'))).toEqual([]);
          expect(rule.resources).not.toContain('secrets');
          expect(rule.verbs.filter((verb) => ['escalate', 'bind', 'impersonate'].includes(verb))).toEqual([]);
        }
        expect(role.aggregationRule).toBeUndefined();
      }
    });

    it('binds each role to its own service account only, never to a built-in role', () => {
      const bindings = [...ofKind(install(), 'ClusterRoleBinding'), ...ofKind(install(), 'RoleBinding')];
      const bound = bindings.map((binding) => {
        const roleRef = binding.roleRef as { kind: string; name: string };
        const subjects = binding.subjects as Array<{ kind: string; name: string; namespace: string }>;
        return `${roleRef.kind}/${roleRef.name} <- ${subjects.map((s) => `${s.kind}/${s.namespace}/${s.name}`).join(',')}`;
      });
      expect(bound.sort()).toEqual([
        `ClusterRole/pidguard-agent <- ServiceAccount/${NAMESPACE}/pidguard-agent`,
        `ClusterRole/pidguard-audit <- ServiceAccount/${NAMESPACE}/pidguard-audit`,
        `ClusterRole/pidguard-webhook <- ServiceAccount/${NAMESPACE}/pidguard-webhook`,
      ]);
    });
  });

  describe('cert-manager', () => {
    const objects = () => install();
    const certificate = (name: string) => find(objects(), 'Certificate', name).spec as Record<string, unknown>;
    const issuer = (name: string) => find(objects(), 'Issuer', name).spec as Record<string, unknown>;

    it('chains a self-signed Issuer, a CA Certificate, a CA Issuer and the serving Certificate', () => {
      expect(ofKind(objects(), 'ClusterIssuer')).toEqual([]);
      expect(issuer('pidguard-selfsigned')).toEqual({ selfSigned: {} });
      expect(certificate('pidguard-ca')).toMatchObject({ isCA: true, issuerRef: { kind: 'Issuer', name: 'pidguard-selfsigned' } });
      expect(issuer('pidguard-ca')).toEqual({ ca: { secretName: certificate('pidguard-ca').secretName } });
      expect(certificate('pidguard-webhook')).toMatchObject({ issuerRef: { kind: 'Issuer', name: 'pidguard-ca' }, secretName: 'pidguard-webhook-tls' });
      expect(certificate('pidguard-webhook').isCA ?? false).toBe(false);
    });

    it('issues the serving certificate for the Service the webhooks call', () => {
      expect(certificate('pidguard-webhook').dnsNames).toEqual([
        'pidguard-webhook.pidguard-system.svc',
        'pidguard-webhook.pidguard-system.svc.cluster.local',
      ]);
      expect(certificate('pidguard-webhook').usages).toContain('server auth');
    });

    it('sets duration and renewBefore on both certificates, renewing well before expiry', () => {
      for (const name of ['pidguard-ca', 'pidguard-webhook']) {
        const duration = durationSeconds(certificate(name).duration);
        const renewBefore = durationSeconds(certificate(name).renewBefore);
        expect(renewBefore).toBeGreaterThanOrEqual(duration / 10);
        expect(renewBefore).toBeLessThan(duration / 2);
      }
      // The CA outlives several serving certificates.
      expect(durationSeconds(certificate('pidguard-ca').duration)).toBeGreaterThan(4 * durationSeconds(certificate('pidguard-webhook').duration));
    });

    it('has cainjector fill both webhook configurations from the serving certificate', () => {
      const configurations: Manifest[] = [...ofKind(objects(), 'MutatingWebhookConfiguration'), ...ofKind(objects(), 'ValidatingWebhookConfiguration')];
      expect(configurations).toHaveLength(2);
      for (const configuration of configurations) {
        expect(configuration.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBe(`${NAMESPACE}/pidguard-webhook`);
      }
    });
  });
});
