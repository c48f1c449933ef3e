// Shared builders for the webhook tests: AdmissionReview bodies, an in-memory
// app with a log capture, and development certificates in a temporary directory.

import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { staticNamespaceLabels } from '../../../src/kube/namespace-file.js';
import type { NamespaceLabelSource } from '../../../src/kube/namespace-labels.js';
import { defaultConfig, parseConfig, type PolicyConfig } from '../../../src/policy/config.js';
import type { KubeObject } from '../../../src/policy/types.js';
import { createAdmissionHandler } from '../../../src/webhook/admission-handler.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../../../src/webhook/admission-endpoint.js';
import { createWebhookRouter } from '../../../src/webhook/router.js';
import { createBodyBudget } from '../../../src/webhook/body-budget.js';
import { createDecisionLog, type AllowedLogging } from '../../../src/webhook/decision-log.js';
import { DEFAULT_SERVER_LIMITS } from '../../../src/webhook/limits.js';
import { devCertificatePaths, generateDevCertificates, writeDevCertificates } from '../../../src/webhook/dev-certificates.js';
import { createJsonLogger, type LogLevel } from '../../../src/log.js';
import { createWebhookMetrics } from '../../../src/webhook/metrics.js';
import { container, pod } from '../policy/pods.js';

export { container, pod };

export interface ReviewFields {
  uid?: string;
  operation?: string;
  namespace?: string;
  subResource?: string;
  dryRun?: boolean;
  userInfo?: unknown;
  object?: KubeObject | null;
  oldObject?: KubeObject | null;
  kind?: { group: string; version: string; kind: string };
}

export function review(fields: ReviewFields): Record<string, unknown> {
  const object = fields.object === undefined ? null : fields.object;
  const kindName = fields.kind?.kind ?? (object ?? fields.oldObject)?.kind ?? 'Pod';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: fields.uid ?? 'uid-1',
      kind: fields.kind ?? { group: kindName === 'Pod' || kindName === 'Namespace' || kindName === 'ConfigMap' ? '' : 'apps', version: 'v1', kind: kindName },
      resource: { group: '', version: 'v1', resource: `${kindName.toLowerCase()}s` },
      namespace: fields.namespace ?? (kindName === 'Namespace' ? undefined : 'team-a'),
      operation: fields.operation ?? 'CREATE',
      userInfo: fields.userInfo ?? { username: 'alice', groups: ['system:authenticated'] },
      object,
      oldObject: fields.oldObject ?? null,
      dryRun: fields.dryRun ?? false,
      ...(fields.subResource ? { subResource: fields.subResource } : {}),
    },
  };
}

export const dotnetPod = (metadata: KubeObject['metadata'] = {}): KubeObject =>
  pod({ containers: [container('api', undefined, { image: 'mcr.microsoft.com/dotnet/aspnet:8.0' })] }, { name: 'api', namespace: 'team-a', ...metadata });

export const bestEffortPod = (): KubeObject => pod({ containers: [container('web')] }, { name: 'web', namespace: 'team-a' });

export const namespaceObject = (name: string, labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels },
});

/** Collects log lines as parsed JSON objects. */
export function logCapture(minimum: LogLevel = 'debug') {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createJsonLogger(stream, { minimum }) };
}

export function namespaces(entries: Record<string, Record<string, string>>): NamespaceLabelSource {
  return staticNamespaceLabels(new Map(Object.entries(entries)));
}

export const STANDARD_NAMESPACES = {
  'team-a': {},
  enforced: { 'pidguard.io/mode': 'enforce' },
  audited: { 'pidguard.io/mode': 'audit' },
  exempt: { 'pidguard.io/mode': 'off' },
  typo: { 'pidguard.io/mode': 'of' },
};

export function testApp(options: { namespaceLabels?: NamespaceLabelSource; config?: PolicyConfig; bodyLimitBytes?: number; bodyBytesInFlight?: number; logAllowed?: AllowedLogging } = {}) {
  const namespaceLabels = options.namespaceLabels ?? namespaces(STANDARD_NAMESPACES);
  const metrics = createWebhookMetrics({ namespaceLabels, certificateExpirySeconds: () => 3600, certificateValid: () => true });
  const { lines, logger } = logCapture();
  let inFlight = 0;
  const app = createWebhookRouter({
    handle: createAdmissionHandler({ config: options.config ?? defaultConfig(), namespaceLabels }),
    logger,
    decisionLog: createDecisionLog(logger, options.logAllowed ?? { kind: 'none' }),
    metrics,
    bodyLimitBytes: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    bodyBudget: createBodyBudget(options.bodyBytesInFlight ?? DEFAULT_SERVER_LIMITS.bodyBytesInFlight),
    draining: () => false,
    inFlight: { add: () => void (inFlight += 1), done: () => void (inFlight -= 1) },
    readiness: [{ name: 'namespace-labels', problem: () => (namespaceLabels.isReady() ? undefined : 'syncing') }],
  });
  return { app, metrics, logs: lines, inFlight: () => inFlight };
}

export function configWith(document: Record<string, unknown>): PolicyConfig {
  return parseConfig(document);
}

export function decodePatch(response: { patch?: string }): Array<{ op: string; path: string; value?: unknown }> {
  return JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString('utf8')) as Array<{ op: string; path: string; value?: unknown }>;
}

/** A fresh temporary directory holding ca.crt, ca.key, tls.crt, tls.key. */
export async function certificateDirectory(dnsNames = ['localhost'], ipAddresses = ['127.0.0.1']) {
  const directory = mkdtempSync(join(tmpdir(), 'pidguard-webhook-test-'));
  const paths = devCertificatePaths(directory);
  const certificates = generateDevCertificates({ dnsNames, ipAddresses, days: 30 });
  await writeDevCertificates(certificates, paths);
  return { directory, paths, certificates, remove: () => rmSync(directory, { recursive: true, force: true }) };
}

/**
 * Starts a /validate review over real TLS and sends only its first `firstBytes`
 * bytes, so it is in flight when a test begins shutdown; `sendRest()` completes it.
 */
export function partialReview(options: { port: number; ca: string | Buffer; uid: string; firstBytes: number }) {
  const body = Buffer.from(JSON.stringify(review({ uid: options.uid, object: bestEffortPod() })));
  let sendRest = () => {};
  const answer = new Promise<{ status: number; uid: string }>((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1', port: options.port, path: '/validate', method: 'POST', ca: options.ca, servername: 'localhost', agent: false,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode!, uid: JSON.parse(text).response.uid }));
      },
    );
    req.on('error', reject);
    req.write(body.subarray(0, options.firstBytes));
    sendRest = () => req.end(body.subarray(options.firstBytes));
  });
  return { answer, sendRest: () => sendRest() };
}
