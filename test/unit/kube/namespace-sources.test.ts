// Namespace label sources: the static file, the list+watch cache against a
// small fake API server on loopback over TLS (list, watch, direct read), and
// failing closed when the API server is unreachable.

import { jest } from '@jest/globals';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { createServer as createTcpServer } from 'node:net';
import { startNamespaceCache } from '../../../src/kube/namespace-cache.js';
import { loadNamespacesFile, parseNamespaceLabels } from '../../../src/kube/namespace-file.js';
import type { NamespaceLabelSource } from '../../../src/kube/namespace-labels.js';
import { KubeTransport } from '../../../src/kube/transport.js';
import { generateDevCertificates } from '../../../src/webhook/dev-certificates.js';
import { bestEffortPod, review, testApp } from '../webhook/support.js';

jest.setTimeout(20_000);

const work = mkdtempSync(join(tmpdir(), 'pidguard-ns-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const certs = generateDevCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 1 });

function transportFor(server: string): KubeTransport {
  return new KubeTransport({ server: new URL(server), ca: Buffer.from(certs.caCert), authHeaders: () => ({ authorization: 'Bearer test-token' }), insecureSkipTlsVerify: false, source: 'test' });
}

describe('namespaces file', () => {
  it('reads a mapping of namespace names to labels', async () => {
    const path = join(work, 'mapping.yaml');
    writeFileSync(path, 'team-a:\n  pidguard.io/mode: audit\nteam-b: {}\nteam-c:\n');
    const source = await loadNamespacesFile(path);
    expect(await source.labelsOf('team-a')).toEqual({ found: true, labels: { 'pidguard.io/mode': 'audit' }, from: 'file' });
    expect(await source.labelsOf('team-c')).toEqual({ found: true, labels: {}, from: 'file' });
    expect(await source.labelsOf('team-z')).toEqual({ found: false, reason: 'namespace "team-z" is not in the namespaces file' });
    expect([source.isReady(), source.state(), source.size()]).toEqual([true, 'static', 3]);
  });

  it('reads `kubectl get namespaces -o yaml` output (List or NamespaceList)', () => {
    for (const kind of ['List', 'NamespaceList']) {
      const parsed = parseNamespaceLabels({ apiVersion: 'v1', kind, items: [{ metadata: { name: 'x', labels: { 'pidguard.io/mode': 'off' } } }, { metadata: { name: 'y' } }] });
      expect([...parsed.entries()]).toEqual([['x', { 'pidguard.io/mode': 'off' }], ['y', {}]]);
    }
  });

  it('rejects bad files with a message naming the place', async () => {
    expect(() => parseNamespaceLabels(['x'])).toThrow(/must be a mapping/);
    expect(() => parseNamespaceLabels({ 'team-a': { 'pidguard.io/mode': 1 } })).toThrow(/team-a: label "pidguard.io\/mode" must be a string, got number/);
    expect(() => parseNamespaceLabels({ kind: 'List', items: [{}] })).toThrow(/items\[0\] has no metadata.name/);
    await expect(loadNamespacesFile(join(work, 'missing.yaml'))).rejects.toThrow(/cannot read namespaces file .*missing.yaml: ENOENT/);
    writeFileSync(join(work, 'broken.yaml'), 'a: [\n');
    await expect(loadNamespacesFile(join(work, 'broken.yaml'))).rejects.toThrow(/namespaces file .*broken.yaml: document 0: .* at line 2/);
  });

  it('treats __proto__ keys as plain data: no prototype is set, nothing is polluted', async () => {
    const nested = join(work, 'hostile-nested.yaml');
    writeFileSync(nested, 'team-a:\n  __proto__:\n    pidguard.io/mode: "off"\n');
    await expect(loadNamespacesFile(nested)).rejects.toThrow(/team-a: label "__proto__" must be a string, got object/);
    const flat = join(work, 'hostile-flat.yaml');
    writeFileSync(flat, '__proto__:\n  pidguard.io/mode: "off"\nteam-a:\n  __proto__: "x"\n');
    const source = await loadNamespacesFile(flat);
    const teamA = await source.labelsOf('team-a');
    expect(teamA.found && Object.getPrototypeOf(teamA.labels)).toBe(Object.prototype);
    expect(teamA.found && teamA.labels['pidguard.io/mode']).toBeUndefined();
    expect(await source.labelsOf('other')).toMatchObject({ found: false });
    expect(Object.prototype).not.toHaveProperty('pidguard.io/mode');
  });
});

describe('namespace cache, API server unreachable', () => {
  let closedPort: number;
  beforeAll(async () => {
    const probe = createTcpServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    closedPort = (probe.address() as AddressInfo).port;
    probe.close();
    await once(probe, 'close');
  });

  it('is not ready, reports failing, and answers every lookup as unavailable', async () => {
    const failures: string[] = [];
    const source = startNamespaceCache(transportFor(`https://127.0.0.1:${closedPort}`), {
      retryDelayMs: () => 50,
      onEvent: (event) => event.kind === 'failure' && failures.push(event.message),
    });
    try {
      const lookup = await source.labelsOf('exempt');
      expect(lookup).toEqual({ found: false, reason: expect.stringMatching(/API server 127\.0\.0\.1:\d+ unreachable \(ECONNREFUSED\) while trying to read namespace "exempt"/) });
      await eventually(() => failures.length >= 2, 'retried list/watch failures');
      expect(failures[0]).toMatch(/unreachable \(ECONNREFUSED\) while trying to list and watch namespaces/);
      expect(source.isReady()).toBe(false);
      expect(source.state()).toBe('failing');
    } finally {
      await source.stop();
    }
  });

  it('fails closed through the webhook: the default mode applies, with a warning, and /readyz is 503', async () => {
    const source = startNamespaceCache(transportFor(`https://127.0.0.1:${closedPort}`), { retryDelayMs: () => 50 });
    try {
      const { app } = testApp({ namespaceLabels: source });
      const res = await request(app).post('/validate').set('content-type', 'application/json').send(review({ namespace: 'exempt', object: bestEffortPod() }));
      expect(res.body.response.status.code).toBe(403);
      expect(res.body.response.warnings[0]).toMatch(/could not read the labels of namespace "exempt" \(API server 127\.0\.0\.1:\d+ unreachable.*\); applying the cluster default mode enforce \(fail closed\)/);
      expect((await request(app).get('/readyz')).status).toBe(503);
    } finally {
      await source.stop();
    }
  });
});

/** Just enough of the API server for a namespace informer: list, watch, get. */
class FakeApiServer {
  readonly namespaces = new Map<string, Record<string, string>>();
  readonly directReads: string[] = [];
  private watchers: ServerResponse[] = [];
  private version = 10;
  private server: Server = createServer({ cert: certs.cert, key: certs.key }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/api/v1/namespaces' && url.searchParams.get('watch') === '1') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      this.watchers.push(res);
      return;
    }
    if (url.pathname === '/api/v1/namespaces') {
      json(200, { apiVersion: 'v1', kind: 'NamespaceList', metadata: { resourceVersion: String(this.version) }, items: [...this.namespaces.keys()].map((name) => this.object(name)) });
      return;
    }
    const name = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(url.pathname)?.[1];
    if (name) {
      this.directReads.push(name);
      if (this.namespaces.has(name)) json(200, this.object(name));
      else json(404, { apiVersion: 'v1', kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: `namespaces "${name}" not found` });
      return;
    }
    json(404, {});
  });

  async start(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Changes a namespace and tells the watchers, as the API server would. */
  modify(name: string, labels: Record<string, string>): void {
    const type = this.namespaces.has(name) ? 'MODIFIED' : 'ADDED';
    this.namespaces.set(name, labels);
    this.version += 1;
    for (const watcher of this.watchers) watcher.write(`${JSON.stringify({ type, object: this.object(name) })}\n`);
  }

  async stop(): Promise<void> {
    for (const watcher of this.watchers) watcher.end();
    this.server.closeAllConnections();
    this.server.close();
  }

  private object(name: string) {
    return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, resourceVersion: String(this.version), labels: this.namespaces.get(name) } };
  }
}

describe('namespace cache against a fake API server', () => {
  const api = new FakeApiServer();
  let source: NamespaceLabelSource;
  beforeAll(async () => {
    api.namespaces.set('team-a', { 'pidguard.io/mode': 'audit' });
    api.namespaces.set('default', {});
    source = startNamespaceCache(transportFor(await api.start()), { retryDelayMs: () => 50 });
    // isReady() turns true once the list is cached, 'synced' once the watch is open too: the
    // tests below need the watch (on a loaded machine it opens well after the list).
    await eventually(() => source.isReady() && source.state() === 'synced', 'the cache to sync and its watch to open');
  });
  afterAll(async () => {
    await source.stop();
    await api.stop();
  });

  it('syncs and answers from the cache without calling the API', async () => {
    expect(source.state()).toBe('synced');
    expect(source.size()).toBe(2);
    expect(await source.labelsOf('team-a')).toEqual({ found: true, labels: { 'pidguard.io/mode': 'audit' }, from: 'cache' });
    expect(api.directReads).toEqual([]);
  });

  it('follows watch events', async () => {
    api.modify('team-a', { 'pidguard.io/mode': 'off' });
    api.modify('fresh', { team: 'x' });
    await eventually(() => source.size() === 3, 'the watch events');
    expect(await source.labelsOf('team-a')).toMatchObject({ found: true, labels: { 'pidguard.io/mode': 'off' } });
  });

  it('reads a namespace the cache does not hold yet directly, once for concurrent lookups', async () => {
    api.namespaces.set('brand-new', { 'pidguard.io/mode': 'audit' }); // created, but no watch event yet
    const lookups = await Promise.all([source.labelsOf('brand-new'), source.labelsOf('brand-new'), source.labelsOf('brand-new')]);
    for (const lookup of lookups) expect(lookup).toEqual({ found: true, labels: { 'pidguard.io/mode': 'audit' }, from: 'api' });
    expect(api.directReads).toEqual(['brand-new']);
    expect(await source.labelsOf('nowhere')).toEqual({ found: false, reason: 'namespace "nowhere" not found' });
  });
});
