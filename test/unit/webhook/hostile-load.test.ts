// The real HTTPS server under hostile load, with its default limits: stalled
// big bodies, connections that never finish a handshake, headers or a body,
// and a flood of connections. Each is refused and counted while a legitimate
// review is still answered. (RSS under the attack: bench/webhook-attack.bench.mjs.)

import { jest } from '@jest/globals';
import { get as httpGet } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { request as httpsRequest } from 'node:https';
import { staticNamespaceLabels } from '../../../src/kube/namespace-file.js';
import { defaultConfig } from '../../../src/policy/config.js';
import { DEFAULT_SERVER_LIMITS } from '../../../src/webhook/limits.js';
import { startWebhookServer, type RunningWebhookServer } from '../../../src/webhook/server.js';
import { bestEffortPod, certificateDirectory, logCapture, review } from './support.js';

jest.setTimeout(60_000);
const DEADLINE_MS = 25_000;

let certs: Awaited<ReturnType<typeof certificateDirectory>>;
let server: RunningWebhookServer;
let logs: Array<Record<string, unknown>>;

beforeAll(async () => {
  certs = await certificateDirectory();
  const capture = logCapture();
  logs = capture.lines;
  server = await startWebhookServer({
    config: defaultConfig(),
    namespaceLabels: staticNamespaceLabels(new Map([['team-a', {}]])),
    logger: capture.logger,
    certPath: certs.paths.cert,
    keyPath: certs.paths.key,
    port: 0,
    metricsPort: 0,
    host: '127.0.0.1',
  });
});
afterAll(async () => {
  await server.shutdown();
  certs.remove();
});

function metricsText(): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port: server.metricsPort, path: '/metrics' }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

function rejected(text: string, reason: string): number {
  const match = new RegExp(`^pidguard_webhook_rejected_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

async function eventually<T>(probe: () => Promise<T> | T, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}; last value: ${typeof value === 'string' ? value.slice(0, 2000) : JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function legitimateReview(uid: string): Promise<{ status: number; uid: string; code: number }> {
  const body = JSON.stringify(review({ uid, object: bestEffortPod() }));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: server.port, path: '/validate', method: 'POST', ca: certs.certificates.caCert, servername: 'localhost', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () => {
          const parsed = JSON.parse(text);
          resolve({ status: res.statusCode!, uid: parsed.response.uid, code: parsed.response.status?.code });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function tlsSocket(): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: server.port, ca: certs.certificates.caCert, servername: 'localhost' }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Declares a 7 MiB body, sends `sent` bytes of it, and stalls; collects what the server answers. */
async function stalledBody(sent: number) {
  const socket = await tlsSocket();
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('utf8')));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(`POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${7 * 1024 * 1024}\r\n\r\n{"padding":"`);
  socket.write(Buffer.alloc(sent, 0x61));
  return { socket, closed, answer: () => answer };
}

describe('under a stalled-body attack (40 connections, 2 MiB each of a declared 7 MiB, then silence)', () => {
  it('sheds the largest bodies with 503 and counts them, while a legitimate review is answered', async () => {
    const attackers = await Promise.all(Array.from({ length: 40 }, () => stalledBody(2 * 1024 * 1024)));
    try {
      const text = await eventually(metricsText, (value) => rejected(value, 'body-budget') > 0, 'bodies refused for the budget');
      expect(text).toMatch(/^pidguard_admission_invalid_requests_total\{webhook="validate",code="OVERLOADED"\} [1-9]/m);
      expect(server.bodyBytesInFlight()).toBeLessThanOrEqual(DEFAULT_SERVER_LIMITS.bodyBytesInFlight);
      expect(await legitimateReview('during-attack')).toEqual({ status: 200, uid: 'during-attack', code: 403 });
      const refused = await eventually(() => attackers.filter((attacker) => attacker.answer().startsWith('HTTP/1.1 503')), (list) => list.length > 0, 'a 503 to an attacker');
      expect(refused[0]!.answer()).toContain('more request bodies than its memory budget allows');
      expect(refused[0]!.answer()).toMatch(/connection: close/i);
      expect(logs.some((line) => line.msg === 'admission request refused' && line.code === 'OVERLOADED')).toBe(true);
    } finally {
      for (const attacker of attackers) attacker.socket.destroy();
    }
    await eventually(() => server.bodyBytesInFlight(), (bytes) => bytes === 0, 'the budget to be released');
  });
});

describe('timeouts (defaults: handshake 5 s, headers 5 s, request 10 s, checked every second)', () => {
  it('closes connections that stall in the handshake, the headers or the body, and counts them', async () => {
    const silent: Socket = netConnect(server.port, '127.0.0.1'); // TCP only: never sends a ClientHello
    silent.on('error', () => {});
    silent.resume();
    const headers = await tlsSocket();
    headers.on('error', () => {});
    headers.resume(); // read, so the server's close is seen
    headers.write('POST /validate HTTP/1.1\r\nHost: localhost\r\n');
    const body = await stalledBody(1000);
    const closed = (socket: Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
    await eventually(async () => [silent, headers, body.socket].map((socket) => socket.destroyed), (states) => states.every(Boolean), 'all three to be closed by the server');
    await Promise.all([closed(silent), closed(headers), body.closed]);
    const text = await metricsText();
    expect(rejected(text, 'handshake-timeout')).toBeGreaterThanOrEqual(1);
    expect(rejected(text, 'request-timeout')).toBeGreaterThanOrEqual(2);
    expect(body.answer()).toMatch(/^HTTP\/1.1 408 /);
    expect(body.answer()).toContain('request headers or body not received in time');
    expect(await legitimateReview('after-timeouts')).toEqual({ status: 200, uid: 'after-timeouts', code: 403 });
  });
});

describe('a connection flood', () => {
  it('closes connections beyond the cap at once, counts them, and serves again once they are gone', async () => {
    const extra = 20;
    const sockets = await Promise.all(
      Array.from({ length: DEFAULT_SERVER_LIMITS.maxConnections + extra }, () => new Promise<Socket>((resolve) => {
        const socket = netConnect(server.port, '127.0.0.1', () => resolve(socket));
        socket.on('error', () => {});
      })),
    );
    try {
      const text = await eventually(metricsText, (value) => rejected(value, 'connections') >= extra, 'connections beyond the cap to be dropped');
      expect(rejected(text, 'connections')).toBeLessThanOrEqual(extra + 5);
      expect(logs.some((line) => line.msg === 'connection rejected' && line.reason === 'connections' && line.maxConnections === DEFAULT_SERVER_LIMITS.maxConnections)).toBe(true);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    expect(await eventually(() => legitimateReview('after-flood').catch(() => undefined), (answer) => answer !== undefined, 'a review after the flood')).toEqual({ status: 200, uid: 'after-flood', code: 403 });
  });
});
