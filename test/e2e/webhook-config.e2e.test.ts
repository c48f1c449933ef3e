// The webhook configurations the API server runs with are the shipped ones:
// rendered from manifests/overlays/e2e, which changes only clientConfig.
import { parseAllDocuments } from 'yaml';
import { kubectlOk } from './harness.js';

type Webhook = Record<string, unknown> & { name: string; clientConfig: { url?: string; caBundle?: string; service?: unknown } };
interface WebhookConfiguration {
  kind: string;
  metadata: { name: string };
  webhooks: Webhook[];
}

/** Everything but clientConfig, which is where the e2e overlay differs from the install. */
const COMPARED = ['admissionReviewVersions', 'sideEffects', 'failurePolicy', 'matchPolicy', 'reinvocationPolicy', 'timeoutSeconds', 'rules', 'namespaceSelector', 'objectSelector', 'matchConditions'];

async function shipped(): Promise<WebhookConfiguration[]> {
  const text = await kubectlOk(['kustomize', 'manifests/base/admission']);
  return parseAllDocuments(text).map((doc) => doc.toJS() as WebhookConfiguration);
}

async function live(kind: string, name: string): Promise<WebhookConfiguration> {
  const resource = kind === 'MutatingWebhookConfiguration' ? 'mutatingwebhookconfiguration' : 'validatingwebhookconfiguration';
  return JSON.parse(await kubectlOk(['get', resource, name, '-o', 'json'])) as WebhookConfiguration;
}

function pick(webhook: Webhook): Record<string, unknown> {
  return Object.fromEntries(COMPARED.filter((key) => webhook[key] !== undefined).map((key) => [key, webhook[key]]));
}

describe('registered webhook configurations', () => {
  it('are the shipped MutatingWebhookConfiguration and ValidatingWebhookConfiguration, pointed at the local webhook', async () => {
    const configurations = await shipped();
    expect(configurations.map((c) => `${c.kind}/${c.metadata.name}`).sort()).toEqual([
      'MutatingWebhookConfiguration/pidguard',
      'ValidatingWebhookConfiguration/pidguard',
    ]);
    for (const expected of configurations) {
      const actual = await live(expected.kind, expected.metadata.name);
      expect(actual.webhooks.map((w) => w.name)).toEqual(expected.webhooks.map((w) => w.name));
      expected.webhooks.forEach((webhook, index) => {
        const registered = actual.webhooks[index]!;
        // The API server fills in defaults (e.g. objectSelector: {}); every shipped field must be there as shipped.
        expect(pick(registered)).toMatchObject(pick(webhook));
        expect(registered.clientConfig.url).toMatch(/^https:\/\/127\.0\.0\.1:18443\/(mutate|validate)$/);
        expect(registered.clientConfig.caBundle).toBeTruthy();
      });
    }
  });

  it('are the ones the contract names: Ignore for pods and workloads, Fail for the namespace guard', async () => {
    const mutating = await live('MutatingWebhookConfiguration', 'pidguard');
    const validating = await live('ValidatingWebhookConfiguration', 'pidguard');
    const policies = Object.fromEntries([...mutating.webhooks, ...validating.webhooks].map((w) => [w.name, w.failurePolicy]));
    expect(policies).toEqual({
      'mutate.pidguard.io': 'Ignore',
      'validate.pidguard.io': 'Ignore',
      'namespaces.pidguard.io': 'Fail',
    });
  });
});
