// docs/WEBHOOK.md and the code must not drift: every error code, metric and
// flag the server has is documented, with the body limit the code enforces.

import { readFileSync } from 'node:fs';
import { staticNamespaceLabels } from '../../../src/kube/namespace-file.js';
import { serveCommand } from '../../../src/cli/serve.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../../../src/webhook/admission-endpoint.js';
import { WEBHOOK_ERRORS } from '../../../src/webhook/errors.js';
import { MAX_JSON_CONTAINERS, MAX_JSON_DEPTH } from '../../../src/webhook/json-shape.js';
import { DEFAULT_SERVER_LIMITS } from '../../../src/webhook/limits.js';
import { createWebhookMetrics } from '../../../src/webhook/metrics.js';

const doc = readFileSync(new URL('../../../docs/WEBHOOK.md', import.meta.url), 'utf8');

describe('docs/WEBHOOK.md', () => {
  it('lists every error code with its HTTP status', () => {
    for (const [code, { status }] of Object.entries(WEBHOOK_ERRORS)) {
      expect(doc).toMatch(new RegExp(`\\| \`${code}\` \\| ${status} \\|`));
    }
  });

  it('documents every pidguard metric', async () => {
    const metrics = createWebhookMetrics({ namespaceLabels: staticNamespaceLabels(new Map()), certificateExpirySeconds: () => 1, certificateValid: () => true });
    const names = (await metrics.registry.getMetricsAsJSON()).map((metric) => metric.name).filter((name) => name.startsWith('pidguard_'));
    expect(names.length).toBeGreaterThanOrEqual(10);
    for (const name of names) expect(doc).toContain(`\`${name}\``);
  });

  it('documents every serve flag', () => {
    const flags = Object.keys(serveCommand.flags);
    expect(flags.length).toBeGreaterThanOrEqual(10);
    for (const flag of flags) expect(doc).toContain(`\`--${flag}`);
  });

  it('states the body limit the code enforces', () => {
    expect(DEFAULT_BODY_LIMIT_BYTES).toBe(7 * 1024 * 1024);
    expect(doc).toContain('7 MiB');
  });

  it('states the limits and timeouts the server enforces by default', () => {
    const limits = doc.slice(doc.indexOf('## Limits under hostile load'));
    expect(limits).toContain(`\`--body-budget\` (${DEFAULT_SERVER_LIMITS.bodyBytesInFlight / 1024 / 1024} MiB)`);
    expect(limits).toContain(`\`--max-connections\` (${DEFAULT_SERVER_LIMITS.maxConnections})`);
    expect(limits).toContain(`\`--handshake-timeout\` (${DEFAULT_SERVER_LIMITS.handshakeTimeoutMs / 1000} s)`);
    expect(limits).toContain(`\`--headers-timeout\` (${DEFAULT_SERVER_LIMITS.headersTimeoutMs / 1000} s)`);
    expect(limits).toContain(`\`--request-timeout\` (${DEFAULT_SERVER_LIMITS.requestTimeoutMs / 1000} s)`);
    expect(limits).toContain(`${MAX_JSON_DEPTH} levels deep, ${MAX_JSON_CONTAINERS.toLocaleString('en-US')} objects and arrays`);
  });
});
