// The decision-log policy through the real HTTPS server: denials, patches and warnings at info
// whatever --log-allowed says; plain allows and skipped reviews at debug (none), one in N at info
// (sampled:N) or all at info (all); always counted in the metrics.

import { jest } from '@jest/globals';
import { request as httpsRequest } from 'node:https';
import { staticNamespaceLabels } from '../../../src/kube/namespace-file.js';
import type { LogLevel } from '../../../src/log.js';
import { defaultConfig } from '../../../src/policy/config.js';
import { parseAllowedLogging, type AllowedLogging } from '../../../src/webhook/decision-log.js';
import { startWebhookServer, type RunningWebhookServer } from '../../../src/webhook/server.js';
import { bestEffortPod, certificateDirectory, container, dotnetPod, logCapture, pod, review, type ReviewFields } from './support.js';

jest.setTimeout(30_000);

let certs: Awaited<ReturnType<typeof certificateDirectory>>;
beforeAll(async () => {
  certs = await certificateDirectory();
});
afterAll(() => certs.remove());

async function serve(logAllowed: AllowedLogging | undefined, minimum: LogLevel) {
  const { logger, lines } = logCapture(minimum);
  const server = await startWebhookServer({
    config: defaultConfig(), namespaceLabels: staticNamespaceLabels(new Map([['team-a', {}]])), logger, logAllowed,
    certPath: certs.paths.cert, keyPath: certs.paths.key, port: 0, metricsPort: 0, host: '127.0.0.1',
  });
  return { server, decisions: () => lines.filter((line) => line.msg === 'admission decision') };
}

function post(server: RunningWebhookServer, path: '/mutate' | '/validate', fields: ReviewFields): Promise<{ allowed: boolean; patch?: string; warnings?: string[] }> {
  const body = JSON.stringify(review(fields));
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: server.port, path, method: 'POST', ca: certs.certificates.caCert, servername: 'localhost', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')).response));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const plainPod = () => pod({ containers: [container('web', { requests: { cpu: '1', memory: '1Gi' } })] }, { name: 'web', namespace: 'team-a' });

/** One of each kind of decision, the notable ones first; returns the uids of the plain ones. */
async function mixOfDecisions(server: RunningWebhookServer) {
  expect((await post(server, '/mutate', { uid: 'patched', object: dotnetPod() })).patch).toBeDefined();
  expect((await post(server, '/validate', { uid: 'denied', object: bestEffortPod() })).allowed).toBe(false);
  // Allowed with a warning: the mutating webhook did not run for this .NET pod.
  expect((await post(server, '/validate', { uid: 'warned', object: dotnetPod() })).warnings).toHaveLength(1);
  const plain = ['plain-1', 'plain-2', 'plain-3', 'plain-4', 'plain-5', 'plain-6'];
  for (const uid of plain) expect(await post(server, uid.endsWith('1') ? '/mutate' : '/validate', { uid, object: plainPod() })).toEqual({ uid, allowed: true });
  expect(await post(server, '/validate', { uid: 'skipped', operation: 'DELETE', object: null, oldObject: bestEffortPod() })).toEqual({ uid: 'skipped', allowed: true });
  return [...plain, 'skipped'];
}

const NOTABLE = [
  { uid: 'patched', level: 'info', decision: 'patched', rules: ['dotnet-guard'], warnings: 0 },
  { uid: 'denied', level: 'info', decision: 'denied', rules: ['require-resources'] },
  { uid: 'warned', level: 'info', decision: 'allowed', warnings: 1 },
];

describe('decision log policy', () => {
  it('by default logs denials, patches and warnings at info, plain allows and skipped reviews not at all, and counts every one', async () => {
    const { server, decisions } = await serve(undefined, 'info');
    try {
      await mixOfDecisions(server);
      expect(decisions()).toEqual(NOTABLE.map((line) => expect.objectContaining(line)));
      const metrics = await server.metrics.registry.metrics();
      expect(metrics).toContain('pidguard_admission_requests_total{webhook="validate",decision="allowed",mode="enforce"} 6');
      expect(metrics).toContain('pidguard_admission_requests_total{webhook="mutate",decision="allowed",mode="enforce"} 1');
      expect(metrics).toContain('pidguard_admission_requests_total{webhook="validate",decision="skipped",mode="enforce"} 1');
    } finally {
      await server.shutdown();
    }
  });

  it('logs plain allows and skipped reviews at debug when the log level is debug', async () => {
    const { server, decisions } = await serve({ kind: 'none' }, 'debug');
    try {
      const plain = await mixOfDecisions(server);
      expect(decisions().map((line) => [line.uid, line.level])).toEqual([
        ...NOTABLE.map(({ uid }) => [uid, 'info']), ...plain.map((uid) => [uid, 'debug']),
      ]);
      expect(decisions().find((line) => line.uid === 'plain-2')).toMatchObject({ webhook: 'validate', kind: 'Pod', namespace: 'team-a', name: 'web', decision: 'allowed', rules: [], warnings: 0, dryRun: false, user: 'alice' });
      expect(decisions().find((line) => line.uid === 'skipped')).toMatchObject({ decision: 'skipped', skipReason: expect.any(String) });
    } finally {
      await server.shutdown();
    }
  });

  it('sampled:N logs one in N plain allows at info, marked with N, and the rest at debug', async () => {
    const { server, decisions } = await serve({ kind: 'sampled', every: 3 }, 'debug');
    try {
      const plain = await mixOfDecisions(server);
      expect(decisions().slice(NOTABLE.length).map((line) => [line.uid, line.level, line.sampledOneIn])).toEqual(
        plain.map((uid, index) => (index % 3 === 2 ? [uid, 'info', 3] : [uid, 'debug', undefined])),
      );
      expect(decisions().slice(0, NOTABLE.length).map((line) => line.sampledOneIn)).toEqual([undefined, undefined, undefined]);
    } finally {
      await server.shutdown();
    }
  });

  it('all logs every plain allow and skipped review at info', async () => {
    const { server, decisions } = await serve({ kind: 'all' }, 'info');
    try {
      const plain = await mixOfDecisions(server);
      expect(decisions().map((line) => [line.uid, line.level])).toEqual([...NOTABLE.map(({ uid }) => [uid, 'info']), ...plain.map((uid) => [uid, 'info'])]);
    } finally {
      await server.shutdown();
    }
  });
});

describe('parseAllowedLogging', () => {
  it('reads none, all and sampled:N, and nothing else', () => {
    expect(parseAllowedLogging('none')).toEqual({ kind: 'none' });
    expect(parseAllowedLogging('all')).toEqual({ kind: 'all' });
    expect(parseAllowedLogging('sampled:100')).toEqual({ kind: 'sampled', every: 100 });
    expect(parseAllowedLogging('sampled:1000000')).toEqual({ kind: 'sampled', every: 1_000_000 });
    for (const bad of ['', 'some', 'sampled', 'sampled:', 'sampled:0', 'sampled:-1', 'sampled:1.5', 'sampled:1000001', 'sampled: 5', 'ALL', 'sampled:1e3']) {
      expect(parseAllowedLogging(bad)).toBeUndefined();
    }
  });
});
