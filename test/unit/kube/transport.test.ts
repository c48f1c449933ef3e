// The transport against a real local HTTPS server (real TLS, the CA verified):
// paging, watches (bookmarks, relist on 410), error mapping, timeouts and size
// bounds on everything it reads.

import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createServer as createTcpServer } from 'node:net';
import { ListWatch } from '../../../src/kube/list-watch.js';
import { KubeApiError, KubeTransport, listObjects, type TransportLimits } from '../../../src/kube/transport.js';
import { generateDevCertificates } from '../../../src/webhook/dev-certificates.js';

const certs = generateDevCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 1 });
let server: Server;
let port: number;
let handler: (request: IncomingMessage, response: ServerResponse) => void;
const seen: Array<{ url: string; auth?: string }> = [];
const open = new Set<ServerResponse>();

beforeAll(async () => {
  server = createServer({ cert: certs.cert, key: certs.key }, (request, response) => {
    seen.push({ url: request.url ?? '', auth: request.headers.authorization });
    open.add(response);
    response.on('close', () => open.delete(response));
    handler(request, response);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  server.close();
});
beforeEach(() => {
  seen.length = 0;
});
afterEach(() => {
  for (const response of open) response.destroy();
});

function transport(limits: Partial<TransportLimits> = {}): KubeTransport {
  return new KubeTransport({ server: new URL(`https://127.0.0.1:${port}`), ca: Buffer.from(certs.caCert), authHeaders: () => ({ authorization: 'Bearer t0ken' }), insecureSkipTlsVerify: false, source: 'test' }, limits);
}

const json = (response: ServerResponse, status: number, body: unknown) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function failure(promise: Promise<unknown>): Promise<KubeApiError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  if (!(error instanceof KubeApiError)) throw new Error(`expected a KubeApiError, got ${String(error)}`);
  return error;
}

test('paged lists follow continue tokens with the page size, over verified TLS with the bearer token', async () => {
  handler = (request, response) => {
    const url = new URL(request.url ?? '/', 'https://x');
    const page = Number(url.searchParams.get('continue') ?? 0);
    json(response, 200, { metadata: { resourceVersion: '7', ...(page < 2 ? { continue: String(page + 1) } : {}) }, items: [{ metadata: { name: `p${page}` } }] });
  };
  const api = transport();
  const pages: string[][] = [];
  try {
    for await (const items of listObjects<{ kind?: string; metadata: { name: string } }>(api, { resource: 'pods', groupVersionPath: '/api/v1', kind: 'Pod', apiVersion: 'v1' }, { namespace: 'shop', pageSize: 1 })) {
      expect(items.every((item) => item.kind === 'Pod')).toBe(true);
      pages.push(items.map((item) => item.metadata.name));
    }
  } finally {
    api.close();
  }
  expect(pages).toEqual([['p0'], ['p1'], ['p2']]);
  expect(seen.map((request) => request.url)).toEqual(['/api/v1/namespaces/shop/pods?limit=1', '/api/v1/namespaces/shop/pods?limit=1&continue=1', '/api/v1/namespaces/shop/pods?limit=1&continue=2']);
  expect(seen.every((request) => request.auth === 'Bearer t0ken')).toBe(true);
});

test('a list+watch follows events and bookmarks, watches again from the last version, and relists on 410 Gone', async () => {
  let lists = 0;
  const watchVersions: string[] = [];
  handler = (request, response) => {
    const url = new URL(request.url ?? '/', 'https://x');
    if (url.searchParams.get('watch') !== '1') {
      lists += 1;
      json(response, 200, { metadata: { resourceVersion: lists === 1 ? '10' : '50' }, items: lists === 1 ? [{ metadata: { name: 'a' } }] : [{ metadata: { name: 'after-relist' } }] });
      return;
    }
    watchVersions.push(url.searchParams.get('resourceVersion') ?? '');
    expect(url.searchParams.get('allowWatchBookmarks')).toBe('true');
    response.writeHead(200, { 'content-type': 'application/json' });
    if (watchVersions.length === 1) {
      response.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'b', resourceVersion: '11' } } })}\n`);
      response.end(`${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '15' } } })}\n`);
    } else if (watchVersions.length === 2) {
      response.write(`${JSON.stringify({ type: 'DELETED', object: { metadata: { name: 'a', resourceVersion: '16' } } })}\n`);
      response.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 15 (40)' } })}\n`);
    } else {
      response.write(`${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '51' } } })}\n`);
    }
  };
  const api = transport();
  const errors: KubeApiError[] = [];
  const cache = new ListWatch<{ metadata?: { name?: string; resourceVersion?: string } }, string>(api, {
    path: '/api/v1/namespaces',
    attempted: 'list and watch namespaces',
    keyOf: (object) => object.metadata?.name,
    valueOf: (object) => object.metadata?.name,
    retryDelayMs: () => 10,
    onError: (error) => errors.push(error),
  });
  try {
    await cache.start();
    expect(cache.values()).toEqual(['a']);
    await eventually(() => watchVersions.length >= 3, 'the watch after the relist');
  } finally {
    cache.stop();
    api.close();
  }
  expect(watchVersions).toEqual(['10', '15', '50']);
  expect(lists).toBe(2);
  expect(cache.values()).toEqual(['after-relist']);
  expect(errors.map((error) => [error.status, error.reason])).toEqual([[410, 'Expired']]);
  expect(errors[0]!.message).toMatch(/^the resource version expired \(410\) while trying to list and watch namespaces.*too old resource version/);
});

test('a watch the server ends at once is not opened again in a tight loop', async () => {
  let watches = 0;
  handler = (request, response) => {
    if (new URL(request.url ?? '/', 'https://x').searchParams.get('watch') !== '1') return json(response, 200, { metadata: { resourceVersion: '3' }, items: [] });
    watches += 1;
    response.writeHead(200, { 'content-type': 'application/json' }).end();
  };
  const api = transport();
  const delays: number[] = [];
  const cache = new ListWatch<{ metadata?: { name?: string; resourceVersion?: string } }, string>(api, {
    path: '/api/v1/namespaces',
    attempted: 'list and watch namespaces',
    keyOf: (object) => object.metadata?.name,
    valueOf: (object) => object.metadata?.name,
    retryDelayMs: (failures) => (delays.push(failures), 60_000),
  });
  try {
    await cache.start();
    await eventually(() => delays.length === 1, 'the delay before watching again');
    expect(watches).toBe(1);
  } finally {
    cache.stop();
    api.close();
  }
});

describe('errors', () => {
  test('a Status answer becomes status, reason and a message naming the call', async () => {
    handler = (_request, response) => json(response, 403, { kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message: 'nodes "w" is forbidden: User "x" cannot patch resource "nodes/status"' });
    const api = transport();
    const error = await failure(api.call('PATCH', '/api/v1/nodes/w/status', 'patch node w', { body: {} }));
    api.close();
    expect([error.status, error.reason]).toEqual([403, 'Forbidden']);
    expect(error.message).toBe('forbidden (403) to patch node w: nodes "w" is forbidden: User "x" cannot patch resource "nodes/status"');
  });

  test('a body that is not a Status: its start is quoted; a 2xx that is not JSON says so', async () => {
    handler = (request, response) => (request.url === '/bad' ? response.writeHead(502).end('<html>bad gateway</html>') : response.writeHead(200).end('{"items": ['));
    const api = transport();
    const gateway = await failure(api.call('GET', '/bad', 'read x'));
    const invalid = await failure(api.call('GET', '/truncated', 'read y'));
    api.close();
    expect([gateway.status, gateway.reason, gateway.message]).toEqual([502, '', 'the API server answered 502 to read x: <html>bad gateway</html>']);
    expect([invalid.status, invalid.message]).toEqual([200, 'the API server sent invalid JSON to read y']);
  });

  test('no server: no status, the host and the error code named', async () => {
    const probe = createTcpServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const closed = (probe.address() as AddressInfo).port;
    probe.close();
    const api = new KubeTransport({ server: new URL(`https://127.0.0.1:${closed}`), insecureSkipTlsVerify: false, source: 'test' });
    const error = await failure(api.call('GET', '/api/v1/namespaces', 'list namespaces'));
    api.close();
    expect([error.status, error.message]).toEqual([undefined, `API server 127.0.0.1:${closed} unreachable (ECONNREFUSED) while trying to list namespaces`]);
  });

  test('a server whose certificate the CA did not sign is refused', async () => {
    const other = generateDevCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 1 });
    const api = new KubeTransport({ server: new URL(`https://127.0.0.1:${port}`), ca: Buffer.from(other.caCert), insecureSkipTlsVerify: false, source: 'test' });
    handler = (_request, response) => json(response, 200, {});
    const error = await failure(api.call('GET', '/api', 'read the API'));
    api.close();
    expect(error.message).toMatch(/failed to read the API: .*certificate/);
    expect(seen).toEqual([]);
  });
});

describe('bounds', () => {
  test('a call whose answer does not come within the timeout fails naming it', async () => {
    handler = () => undefined; // never answers
    const api = transport({ timeoutMs: 300 });
    const error = await failure(api.call('GET', '/api/v1/namespaces/x', 'read namespace x'));
    api.close();
    expect([error.status, error.reason, error.message]).toEqual([undefined, 'Timeout', 'the API server did not answer within 0.3s to read namespace x']);
  });

  test('the timeout covers a body that trickles', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"items": [');
    };
    const api = transport({ timeoutMs: 300 });
    const error = await failure(api.call('GET', '/slow', 'list slowly'));
    api.close();
    expect(error.message).toBe('the API server did not answer within 0.3s to list slowly');
  });

  test('an answer larger than the body bound is dropped, not buffered', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(`{"items": ["${'x'.repeat(256 * 1024)}"]}`);
    };
    const api = transport({ maxBodyBytes: 64 * 1024 });
    const error = await failure(api.call('GET', '/big', 'list big things'));
    api.close();
    expect(error.message).toBe("the API server's answer to list big things is larger than 0.06 MiB; nothing of it was used");
  });

  test('a watch event larger than the event bound ends the watch', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write(`{"type":"ADDED","object":{"metadata":{"name":"${'x'.repeat(128 * 1024)}`);
    };
    const api = transport({ maxEventBytes: 32 * 1024 });
    const watch = api.watch('/api/v1/namespaces', '1', 'watch namespaces', () => undefined);
    const error = await failure(watch.done);
    api.close();
    expect(error.message).toBe('a watch event larger than 0.03 MiB on the watch to watch namespaces');
  });

  test('a watch the server goes silent on is ended after the idle bound; the server is asked to end it itself', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.flushHeaders();
    };
    const api = transport({ watchIdleMs: 300 });
    let opened = false;
    const watch = api.watch('/api/v1/namespaces', '5', 'watch namespaces', () => undefined, () => (opened = true));
    const error = await failure(watch.done);
    api.close();
    expect(opened).toBe(true);
    expect(error.message).toBe('the API server sent nothing for 0.3s on the watch to watch namespaces');
    expect(new URL(seen[0]!.url, 'https://x').searchParams.get('timeoutSeconds')).toBe('300');
  });

  test('abort() before the server answered closes the request at once', async () => {
    handler = () => undefined; // never answers
    const api = transport({ timeoutMs: 60_000 });
    const watch = api.watch('/api/v1/namespaces', '1', 'watch namespaces', () => undefined);
    await eventually(() => seen.length === 1, 'the watch request');
    const [request] = [...open];
    watch.abort();
    await expect(watch.done).resolves.toBeUndefined();
    await eventually(() => request!.destroyed || request!.socket === null || request!.socket.destroyed, 'the server to see the connection close');
    api.close();
  });

  test('abort() ends a watch quietly', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } })}\n`);
    };
    const api = transport();
    const names: string[] = [];
    const watch = api.watch<{ metadata: { name: string } }>('/api/v1/namespaces', '1', 'watch namespaces', (event) => names.push(event.object.metadata.name));
    await eventually(() => names.length === 1, 'the first event');
    watch.abort();
    await expect(watch.done).resolves.toBeUndefined();
    api.close();
  });
});
