// `pidguard serve` with a cluster, as a child process against a stand-in API server over TLS:
// one kubeconfig resolution serves both the namespace cache (list + watch) and, with
// podPidLimit.enabled, the KEP-6063 discovery (a dry-run pod create). The real API server's
// answers are in test/e2e (install, pod-pid-limit).

import { jest } from '@jest/globals';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loggedLine, spawnServe, type ServeChild } from './serve-child.js';
import { generateDevCertificates, writeDevCertificates, devCertificatePaths } from '../../../src/webhook/dev-certificates.js';

jest.setTimeout(60_000);

const work = mkdtempSync(join(tmpdir(), 'pidguard-serve-cluster-'));
const seen: string[] = [];
let api: Server;
let serve: ServeChild;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

beforeAll(async () => {
  const paths = devCertificatePaths(work);
  await writeDevCertificates(generateDevCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 1 }), paths);
  api = createServer({ cert: readFileSync(paths.cert), key: readFileSync(paths.key) }, (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const url = new URL(req.url!, 'https://api');
    if (req.method === 'GET' && url.pathname === '/api/v1/namespaces' && url.searchParams.get('watch') !== '1') {
      return json(res, 200, { kind: 'NamespaceList', metadata: { resourceVersion: '10' }, items: [{ metadata: { name: 'team-a', labels: { 'pidguard.io/mode': 'enforce' } } }] });
    }
    if (req.method === 'GET' && url.pathname === '/api/v1/namespaces') {
      res.writeHead(200, { 'content-type': 'application/json' }); // a watch that stays open, quiet
      return;
    }
    if (req.method === 'POST' && url.pathname === '/api/v1/namespaces/pidguard-system/pods' && url.searchParams.get('dryRun') === 'All') {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        const pod = JSON.parse(body) as { spec: unknown };
        json(res, 201, { ...pod, status: { qosClass: 'Guaranteed' } });
      });
      return;
    }
    json(res, 404, { kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 });
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  const port = (api.address() as { port: number }).port;
  const kubeconfig = join(work, 'kubeconfig');
  writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
    clusters: [{ name: 'c', cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority': paths.caCert } }],
    users: [{ name: 'u', user: { token: 't' } }],
    contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
  }));
  const config = join(work, 'config.yaml');
  writeFileSync(config, 'podPidLimit:\n  enabled: true\n');
  const env = { PATH: process.env.PATH ?? '', HOME: work, POD_NAMESPACE: 'pidguard-system' };
  serve = spawnServe([
    '--kubeconfig', kubeconfig, '--config', config, '--tls-cert', paths.cert, '--tls-key', paths.key,
    '--port', '0', '--metrics-port', '0', '--address', '127.0.0.1', '--shutdown-delay', '0s',
  ], { env });
});

afterAll(async () => {
  if (serve.child.exitCode === null) {
    serve.child.kill('SIGTERM');
    await once(serve.child, 'exit');
  }
  api.closeAllConnections();
  await new Promise((resolve) => api.close(resolve));
  rmSync(work, { recursive: true, force: true });
});

describe('pidguard serve with a cluster and podPidLimit.enabled', () => {
  it('watches namespaces and asks the same API server whether it accepts spec.resources.limits.pid', async () => {
    expect(await loggedLine(serve, 'namespace cache synced')).toMatchObject({ namespaces: 1 });
    expect(await loggedLine(serve, 'writing spec.resources.limits.pid (KEP-6063)')).toMatchObject({ detail: expect.stringContaining('keeps the QoS class from the containers') });
    expect(seen).toEqual(expect.arrayContaining([
      expect.stringMatching(/^GET \/api\/v1\/namespaces\?limit=/),
      expect.stringMatching(/^GET \/api\/v1\/namespaces\?watch=1/),
      'POST /api/v1/namespaces/pidguard-system/pods?dryRun=All',
    ]));
    expect(serve.lines.filter((line) => line.msg === 'watching namespaces')).toHaveLength(1);
  });
});
