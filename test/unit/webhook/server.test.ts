// The real HTTPS server: TLS versions, certificate rotation by replacing files
// (renamed over, and the kubelet's ..data symlink swap), the expiry gauge,
// streamed oversized bodies, and an in-process graceful shutdown.

import { jest } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { connect, type ConnectionOptions } from 'node:tls';
import { staticNamespaceLabels } from '../../../src/kube/namespace-file.js';
import { defaultConfig } from '../../../src/policy/config.js';
import { generateDevCertificates } from '../../../src/webhook/dev-certificates.js';
import { startWebhookServer, type RunningWebhookServer } from '../../../src/webhook/server.js';
import { bestEffortPod, certificateDirectory, logCapture, partialReview, review } from './support.js';

const DEADLINE_MS = 15_000;
jest.setTimeout(30_000); // RSA key generation for each renewed pair is slow on a busy machine

function handshake(port: number, options: ConnectionOptions = {}): Promise<{ fingerprint: string; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ...options }, () => {
      const result = { fingerprint: socket.getPeerCertificate().fingerprint256, protocol: socket.getProtocol() };
      socket.end();
      resolve(result);
    });
    socket.once('error', reject);
  });
}

function post(port: number, ca: string, body: string | Buffer[], path = '/validate'): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, method: 'POST', ca, servername: 'localhost', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')), headers: res.headers }));
    });
    req.on('error', reject);
    if (typeof body === 'string') req.end(body);
    else {
      for (const chunk of body) req.write(chunk); // no content-length: chunked transfer encoding
      req.end();
    }
  });
}

function getPlain(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port, path }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    }).on('error', reject);
  });
}

const getMetrics = async (port: number) => (await getPlain(port, '/metrics')).text;

async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;

async function start(certPath: string, keyPath: string, extra: { now?: () => number; bodyLimitBytes?: number } = {}) {
  const { logger, lines } = logCapture();
  const server = await startWebhookServer({
    config: defaultConfig(),
    namespaceLabels: staticNamespaceLabels(new Map([['team-a', {}]])),
    logger,
    certPath,
    keyPath,
    port: 0,
    metricsPort: 0,
    host: '127.0.0.1',
    certificatePollIntervalMs: 50,
    ...extra,
  });
  return { server, logs: lines };
}

describe('HTTPS server', () => {
  let certs: Awaited<ReturnType<typeof certificateDirectory>>;
  let server: RunningWebhookServer;
  let logs: Array<Record<string, unknown>>;
  const fixedNow = { value: 0 };
  let servingCa = '';

  beforeAll(async () => {
    certs = await certificateDirectory();
    fixedNow.value = new Date(new X509Certificate(certs.certificates.cert).validTo).getTime() - 1000 * 1000;
    servingCa = certs.certificates.caCert;
    ({ server, logs } = await start(certs.paths.cert, certs.paths.key, { now: () => fixedNow.value, bodyLimitBytes: 256 * 1024 }));
  });
  afterAll(async () => {
    await server.shutdown();
    certs.remove();
  });

  it('answers a review over TLS verified against the generated CA', async () => {
    const res = await post(server.port, certs.certificates.caCert, JSON.stringify(review({ uid: 'tls-1', object: bestEffortPod() })));
    expect(res.status).toBe(200);
    expect(res.body.response).toMatchObject({ uid: 'tls-1', allowed: false, status: { code: 403, reason: 'Forbidden' } });
  });

  it('speaks TLS 1.2 and 1.3 and refuses older versions', async () => {
    expect((await handshake(server.port)).protocol).toBe('TLSv1.3');
    expect((await handshake(server.port, { maxVersion: 'TLSv1.2' })).protocol).toBe('TLSv1.2');
    await expect(handshake(server.port, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })).rejects.toThrow();
  });

  it('refuses TLS 1.2 clients offering only CBC-SHA1 or non-forward-secret suites, and counts them', async () => {
    for (const ciphers of ['AES128-SHA:AES256-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA', 'AES128-GCM-SHA256:AES256-GCM-SHA384']) {
      await expect(handshake(server.port, { maxVersion: 'TLSv1.2', ciphers })).rejects.toThrow(/handshake failure/i);
    }
    expect(await handshake(server.port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' })).toMatchObject({ protocol: 'TLSv1.2' });
    expect(await getMetrics(server.metricsPort)).toMatch(/^pidguard_webhook_rejected_total\{reason="tls-handshake"\} [2-9]/m);
  });

  it('exports seconds until the certificate expires, on a plain-HTTP metrics port', async () => {
    expect(await getMetrics(server.metricsPort)).toMatch(/^pidguard_tls_certificate_expiry_seconds 1000$/m);
    expect(await getPlain(server.metricsPort, '/healthz')).toEqual({ status: 200, text: 'ok\n' });
    expect((await getPlain(server.metricsPort, '/mutate')).status).toBe(404);
  });

  it('refuses a streamed (chunked) body over the limit with 413 and keeps serving', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const res = await post(server.port, certs.certificates.caCert, [Buffer.from('{"padding":"'), chunk, chunk, chunk, chunk, chunk, Buffer.from('"}')]);
    expect(res.status).toBe(413);
    expect(res.body.response.status.message).toMatch(/more than 262144 bytes/);
    const ok = await post(server.port, certs.certificates.caCert, JSON.stringify(review({ object: bestEffortPod() })));
    expect(ok.status).toBe(200);
  });

  it('serves a replaced certificate on new handshakes, without a restart', async () => {
    const before = await handshake(server.port);
    expect(before.fingerprint).toBe(fingerprintOf(certs.certificates.cert));
    const renewed = generateDevCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 60 });
    // Write beside, then rename over: what most tools (and cert-manager's secret sync) do.
    writeFileSync(`${certs.paths.key}.new`, renewed.key);
    writeFileSync(`${certs.paths.cert}.new`, renewed.cert);
    renameSync(`${certs.paths.key}.new`, certs.paths.key);
    renameSync(`${certs.paths.cert}.new`, certs.paths.cert);
    await eventually(() => handshake(server.port), (h) => h.fingerprint === fingerprintOf(renewed.cert), 'the renewed certificate');
    servingCa = renewed.caCert;
    const res = await post(server.port, renewed.caCert, JSON.stringify(review({ object: bestEffortPod() })));
    expect(res.status).toBe(200);
    expect(await getMetrics(server.metricsPort)).toMatch(/^pidguard_tls_certificate_reloads_total\{result="success"\} [1-9]/m);
    expect(logs.some((line) => line.msg === 'serving certificate reloaded' && line.certificateSha256 === fingerprintOf(renewed.cert))).toBe(true);
  });

  it('keeps the previous pair while the files do not match, then takes the new pair', async () => {
    const current = (await handshake(server.port)).fingerprint;
    const next = generateDevCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 60 });
    writeFileSync(certs.paths.cert, next.cert); // the key is not written yet: a mismatched pair
    await eventually(() => getMetrics(server.metricsPort), (text) => /pidguard_tls_certificate_reloads_total\{result="failure"\} [1-9]/.test(text), 'a failed reload');
    expect((await handshake(server.port)).fingerprint).toBe(current);
    writeFileSync(certs.paths.key, next.key);
    await eventually(() => handshake(server.port), (h) => h.fingerprint === fingerprintOf(next.cert), 'the matching pair');
    servingCa = next.caCert;
  });

  it('still answers, verified against the CA of the pair now served', async () => {
    const res = await post(server.port, servingCa, JSON.stringify(review({ object: bestEffortPod() })));
    expect(res.status).toBe(200);
  });
});

describe('a serving certificate that is not valid now', () => {
  it.each([
    // The renewed pair is valid from 5 minutes ago for 60 days: past the first one's expiry, but not before its start.
    ['expired', (cert: X509Certificate) => new Date(cert.validTo).getTime() + 1000, /^serving certificate expired at /, (fixed: number) => fixed],
    ['not yet valid', (cert: X509Certificate) => new Date(cert.validFrom).getTime() - 1000, /^serving certificate is not valid before /, () => Date.now()],
  ])('%s: is served, logged as an error and exposed; a renewed pair makes it valid again', async (_name, nowFor, message, nowAfterRenewal) => {
    const certs = await certificateDirectory();
    const clock = { now: nowFor(new X509Certificate(certs.certificates.cert)) };
    const { server, logs } = await start(certs.paths.cert, certs.paths.key, { now: () => clock.now });
    try {
      expect(logs.find((line) => message.test(String(line.msg)))).toMatchObject({ level: 'error', certificateSha256: fingerprintOf(certs.certificates.cert) });
      expect(await getMetrics(server.metricsPort)).toMatch(/^pidguard_tls_certificate_valid 0$/m);
      expect((await handshake(server.port)).fingerprint).toBe(fingerprintOf(certs.certificates.cert));
      const renewed = generateDevCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 60 });
      writeFileSync(`${certs.paths.key}.new`, renewed.key);
      writeFileSync(`${certs.paths.cert}.new`, renewed.cert);
      renameSync(`${certs.paths.key}.new`, certs.paths.key);
      renameSync(`${certs.paths.cert}.new`, certs.paths.cert);
      await eventually(() => handshake(server.port), (h) => h.fingerprint === fingerprintOf(renewed.cert), 'the renewed certificate');
      clock.now = nowAfterRenewal(clock.now);
      expect(await getMetrics(server.metricsPort)).toMatch(/^pidguard_tls_certificate_valid 1$/m);
    } finally {
      await server.shutdown();
      certs.remove();
    }
  });
});

describe('kubelet-style secret volume', () => {
  it('follows an atomic swap of the ..data symlink', async () => {
    const certs = await certificateDirectory();
    const volume = join(certs.directory, 'volume');
    const first = join(volume, '..2026_01_01');
    mkdirSync(first, { recursive: true });
    writeFileSync(join(first, 'tls.crt'), certs.certificates.cert);
    writeFileSync(join(first, 'tls.key'), certs.certificates.key);
    symlinkSync('..2026_01_01', join(volume, '..data'));
    symlinkSync('..data/tls.crt', join(volume, 'tls.crt'));
    symlinkSync('..data/tls.key', join(volume, 'tls.key'));
    const { server } = await start(join(volume, 'tls.crt'), join(volume, 'tls.key'));
    try {
      expect((await handshake(server.port)).fingerprint).toBe(fingerprintOf(certs.certificates.cert));
      const renewed = generateDevCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 60 });
      const second = join(volume, '..2026_02_01');
      mkdirSync(second);
      writeFileSync(join(second, 'tls.crt'), renewed.cert);
      writeFileSync(join(second, 'tls.key'), renewed.key);
      symlinkSync('..2026_02_01', join(volume, '..data_tmp'));
      renameSync(join(volume, '..data_tmp'), join(volume, '..data')); // atomic, as the kubelet's AtomicWriter does
      await eventually(() => handshake(server.port), (h) => h.fingerprint === fingerprintOf(renewed.cert), 'the swapped certificate');
    } finally {
      await server.shutdown();
      certs.remove();
    }
  });
});

describe('graceful shutdown (in process)', () => {
  it('stops being ready, finishes the review in progress, then closes', async () => {
    const certs = await certificateDirectory();
    const { server } = await start(certs.paths.cert, certs.paths.key);
    const { answer, sendRest } = partialReview({ port: server.port, ca: certs.certificates.caCert, uid: 'in-flight', firstBytes: 100 });
    // The rest is sent only after shutdown began.
    await eventually(async () => server.inFlight(), (count) => count === 1, 'the review to start');
    const shutdown = server.shutdown();
    expect(server.isReady()).toBe(false);
    sendRest();
    void shutdown.then(() => certs.remove());
    expect(await answer).toEqual({ status: 200, uid: 'in-flight' });
    await expect(handshake(server.port)).rejects.toThrow(/ECONNREFUSED/);
  });
});
