// The webhook configurations decide whether a pidguard outage can stall the cluster. These
// properties must hold in the default install and in every overlay.
import { POLICED_KINDS } from '../../../src/policy/workloads.js';
import { renderSelfSigned, type SelfSignedRender } from './self-signed.js';
import {
  NAMESPACE, PLAIN_OVERLAYS, SYSTEM_NAMESPACES, namespaceLabels, render, selects, webhooksOf, type Manifest,
} from './render.js';

let selfSigned: SelfSignedRender;
beforeAll(async () => {
  selfSigned = await renderSelfSigned();
}, 60_000); // key generation and kustomize: seconds on a loaded machine
afterAll(() => selfSigned?.cleanup());

const renders: Array<[string, () => Manifest[]]> = [
  ['the default install', () => render('.')],
  ...PLAIN_OVERLAYS.map((overlay): [string, () => Manifest[]] => [`overlay ${overlay}`, () => render(`manifests/overlays/${overlay}`)]),
  ['overlay self-signed', () => selfSigned.objects],
];

const POD_WEBHOOKS = ['mutate.pidguard.io', 'validate.pidguard.io'];

describe.each(renders)('webhook configurations of %s', (_name, objects) => {
  const webhooks = () => webhooksOf(objects());
  const webhook = (name: string) => {
    const found = webhooks().get(name);
    if (!found) throw new Error(`no webhook ${name}`);
    return found;
  };

  it('are MutatingWebhookConfiguration pidguard (mutate) and ValidatingWebhookConfiguration pidguard (validate, namespaces)', () => {
    const configurations = objects()
      .filter((object) => object.kind!.endsWith('WebhookConfiguration'))
      .map((object) => `${object.kind}/${object.metadata.name}: ${(object.webhooks as Array<{ name: string }>).map((w) => w.name).join(', ')}`);
    expect(configurations).toEqual([
      'MutatingWebhookConfiguration/pidguard: mutate.pidguard.io',
      'ValidatingWebhookConfiguration/pidguard: validate.pidguard.io, namespaces.pidguard.io',
    ]);
  });

  it('speak admission/v1, have no side effects, match equivalent versions and time out within 3 s', () => {
    for (const [name, hook] of webhooks()) {
      expect({ ...hook, webhook: name }).toMatchObject({ webhook: name, admissionReviewVersions: ['v1'], sideEffects: 'None', matchPolicy: 'Equivalent' });
      expect(hook.timeoutSeconds).toBeGreaterThanOrEqual(1);
      expect(hook.timeoutSeconds).toBeLessThanOrEqual(3);
    }
    expect(webhook('mutate.pidguard.io').reinvocationPolicy).toBe('Never');
  });

  it('fail open for pods and workloads and closed only for the namespace label guard', () => {
    expect(webhook('mutate.pidguard.io').failurePolicy).toBe('Ignore');
    expect(webhook('validate.pidguard.io').failurePolicy).toBe('Ignore');
    expect(webhook('namespaces.pidguard.io').failurePolicy).toBe('Fail');
  });

  it('call /mutate for pod creation only', () => {
    const hook = webhook('mutate.pidguard.io');
    expect(hook.rules).toEqual([{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }]);
    expect(hook.clientConfig.service?.path ?? new URL(hook.clientConfig.url!).pathname).toBe('/mutate');
  });

  it('call /validate for pod and workload creation and updates (a pod update for its pids-limit), never for subresources', () => {
    const hook = webhook('validate.pidguard.io');
    expect(hook.clientConfig.service?.path ?? new URL(hook.clientConfig.url!).pathname).toBe('/validate');
    const covered = new Map<string, string[]>();
    for (const rule of hook.rules) {
      expect(rule.apiVersions).toEqual(['v1']);
      expect(rule.scope).toBe('Namespaced');
      for (const group of rule.apiGroups) {
        for (const resource of rule.resources) covered.set(`${group}/${resource}`, [...rule.operations].sort());
      }
    }
    const expected = new Map<string, string[]>();
    for (const { group, resource } of POLICED_KINDS) expected.set(`${group}/${resource}`, ['CREATE', 'UPDATE']);
    // pids-limit-guard: a pod's status subresource keeps the metadata sent to it.
    expected.set('/pods/status', ['UPDATE']);
    expect(Object.fromEntries(covered)).toEqual(Object.fromEntries(expected));
    expect(hook.matchConditions?.map((condition) => condition.name)).toEqual(['pod-update-changes-pids-limit']);
    expect([...covered.keys()].filter((key) => key.includes('*'))).toEqual([]);
  });

  it('call /validate for namespace creation and updates in the label guard, including through status and finalize', () => {
    const hook = webhook('namespaces.pidguard.io');
    expect(hook.clientConfig.service?.path ?? new URL(hook.clientConfig.url!).pathname).toBe('/validate');
    expect(hook.rules).toEqual([
      { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['namespaces'], scope: 'Cluster' },
      // Both persist label changes on kube-apiserver 1.36.3 (FACTS.md).
      { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['namespaces/status', 'namespaces/finalize'], scope: 'Cluster' },
    ]);
  });

  it('never send the control plane\'s namespaces, pidguard-system or namespaces in mode off to the pod webhooks', () => {
    for (const name of POD_WEBHOOKS) {
      const selector = webhook(name).namespaceSelector;
      for (const namespace of [...SYSTEM_NAMESPACES, NAMESPACE]) {
        expect(`${name} ${namespace}: ${selects(selector, namespaceLabels(namespace))}`).toBe(`${name} ${namespace}: false`);
        // By name: relabelling these namespaces cannot bring them back into scope.
        expect(selects(selector, namespaceLabels(namespace, { 'pidguard.io/mode': 'enforce' }))).toBe(false);
      }
      expect(selects(selector, namespaceLabels('team-a', { 'pidguard.io/mode': 'off' }))).toBe(false);
      for (const mode of [undefined, 'enforce', 'audit', 'bogus']) {
        const labels = namespaceLabels('team-a', mode === undefined ? {} : { 'pidguard.io/mode': mode });
        expect(`${name} team-a mode=${mode}: ${selects(selector, labels)}`).toBe(`${name} team-a mode=${mode}: true`);
      }
      expect(webhook(name).objectSelector).toBeUndefined();
    }
  });

  it('send namespaces to the label guard even when they are, or become, mode off', () => {
    const selector = webhook('namespaces.pidguard.io').namespaceSelector;
    for (const mode of ['off', 'enforce', 'audit']) {
      expect(selects(selector, namespaceLabels('team-a', { 'pidguard.io/mode': mode }))).toBe(true);
    }
    expect(selects(selector, namespaceLabels('team-a'))).toBe(true);
    // Labels on these namespaces change nothing: the pod webhooks exclude them by name.
    for (const namespace of [...SYSTEM_NAMESPACES, NAMESPACE]) expect(selects(selector, namespaceLabels(namespace))).toBe(false);
  });

  it('call the fail-closed label guard only when the old or new namespace has a pidguard.io/ label', () => {
    const conditions = webhook('namespaces.pidguard.io').matchConditions ?? [];
    expect(conditions.map((condition) => condition.name)).toEqual(['has-pidguard-label', 'subresource-changes-pidguard-label']);
    const expression = conditions[0]!.expression.replace(/\s+/g, ' ');
    expect(expression).toBe(
      "(has(object.metadata.labels) && object.metadata.labels.exists(key, key.startsWith('pidguard.io/'))) || " +
      "(oldObject != null && has(oldObject.metadata.labels) && oldObject.metadata.labels.exists(key, key.startsWith('pidguard.io/')))",
    );
    // namespaces/status and /finalize (the namespace controller's updates and namespace deletion) only
    // when a pidguard.io/* label is added, changed or removed: an outage must not hold up deletion.
    expect(conditions[1]!.expression.replace(/\s+/g, ' ')).toBe(
      "!has(request.subResource) || request.subResource == '' || " +
      "(has(object.metadata.labels) && object.metadata.labels.exists(key, key.startsWith('pidguard.io/') && " +
      "!(has(oldObject.metadata.labels) && key in oldObject.metadata.labels && oldObject.metadata.labels[key] == object.metadata.labels[key]))) || " +
      "(has(oldObject.metadata.labels) && oldObject.metadata.labels.exists(key, key.startsWith('pidguard.io/') && " +
      "!(has(object.metadata.labels) && key in object.metadata.labels)))",
    );
    expect(webhook('mutate.pidguard.io').matchConditions).toBeUndefined();
    // validate.pidguard.io filters only Pod UPDATEs (pids-limit-guard): CREATEs and workloads always pass.
    expect(webhook('validate.pidguard.io').matchConditions?.[0]?.expression).toMatch(/^!\(request\.resource\.resource == 'pods' && request\.operation == 'UPDATE'\) \|\|/);
  });
});

describe('webhook client configuration', () => {
  it('points the in-cluster webhooks at Service pidguard-webhook port 443 in pidguard-system', () => {
    const objects = render('.');
    const service = objects.find((object) => object.kind === 'Service' && object.metadata.name === 'pidguard-webhook');
    expect(service?.metadata.namespace).toBe(NAMESPACE);
    for (const [, hook] of webhooksOf(objects)) {
      expect(hook.clientConfig.url).toBeUndefined();
      expect(hook.clientConfig.service).toMatchObject({ name: 'pidguard-webhook', namespace: NAMESPACE, port: 443 });
    }
  });
});
