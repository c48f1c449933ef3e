// The agent's API client over real TLS, against a stand-in API server that
// checks what it is sent (the end-to-end test runs it against a real
// kube-apiserver): the field-selected list and watch of the node's pods (with
// relist on 410), and the reporter's PATCH and Events.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { endpointFor, locateCluster } from '../../../src/kube/kubeconfig.js';
import { AgentApiClient } from '../../../src/node/agent-api.js';
import { NamespaceLabelsCache } from '../../../src/node/agent-namespaces.js';
import { listNodePods, NodePodWatch } from '../../../src/node/agent-pod-watch.js';
import { KubeNodeReporter } from '../../../src/node/agent-reporter.js';
import { NodeAgent } from '../../../src/node/agent.js';
import { generateDevCertificates } from '../../../src/webhook/dev-certificates.js';

const certs = generateDevCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 1 });
let dir: string;
let server: Server;
let port: number;
let handler: (request: IncomingMessage, body: string, response: ServerResponse) => void;
const seen: Array<{ method: string; url: string; auth?: string; contentType?: string; body: string }> = [];

beforeAll(async () => {
  server = createServer({ cert: certs.cert, key: certs.key }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: request.method ?? '', url: request.url ?? '', auth: request.headers.authorization, contentType: request.headers['content-type'], body });
      handler(request, body, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pidguard-kube-api-'));
  seen.length = 0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(user: Record<string, unknown>): string {
  writeFileSync(join(dir, 'ca.crt'), certs.caCert);
  const path = join(dir, 'config');
  writeFileSync(path, stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
    clusters: [{ name: 'k', cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority': 'ca.crt' } }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
  }));
  return path;
}

const pod = (name: string, uid: string, resourceVersion: string) => ({ metadata: { name, namespace: 'shop', uid, resourceVersion, annotations: { 'pidguard.io/pids-limit': '300' } }, spec: { nodeName: 'worker-7' } });

describe('the agent\'s cluster', () => {
  test('exec plugins are refused: the agent never starts processes', () => {
    expect(() => endpointFor({ kind: 'kubeconfig', path: kubeconfig({ exec: { command: 'aws' } }), from: '--kubeconfig' })).toThrow(/never start processes/);
  });

  test('a missing ~/.kube/config means offline', () => {
    expect(locateCluster(undefined, { HOME: dir })).toBeUndefined();
  });
});

function agentApi(user: Record<string, unknown>): AgentApiClient {
  return new AgentApiClient(endpointFor({ kind: 'kubeconfig', path: kubeconfig(user), from: '--kubeconfig' }));
}

test('the node\'s pods are listed with the spec.nodeName field selector and a bearer token, over verified TLS', async () => {
  handler = (_request, _body, response) => response.end(JSON.stringify({ metadata: { resourceVersion: '5' }, items: [pod('a', 'U1', '4')] }));
  const api = agentApi({ token: 't' });
  try {
    expect(await listNodePods(api, 'worker-7')).toEqual([{ uid: 'u1', namespace: 'shop', name: 'a', nodeName: 'worker-7', annotations: { 'pidguard.io/pids-limit': '300' } }]);
  } finally {
    api.close();
  }
  expect(seen[0]).toMatchObject({ method: 'GET', url: '/api/v1/pods?fieldSelector=spec.nodeName%3Dworker-7', auth: 'Bearer t' });
});

test('the watch follows adds and deletes, and relists when the server answers 410 Gone', async () => {
  let lists = 0;
  let watches = 0;
  handler = (request, _body, response) => {
    const url = new URL(request.url ?? '/', 'https://x');
    if (url.searchParams.get('watch') !== '1') {
      lists += 1;
      response.end(JSON.stringify({ metadata: { resourceVersion: lists === 1 ? '10' : '50' }, items: lists === 1 ? [pod('a', 'u1', '9')] : [pod('c', 'u3', '49')] }));
      return;
    }
    watches += 1;
    if (watches === 1) {
      expect(url.searchParams.get('resourceVersion')).toBe('10');
      response.write(`${JSON.stringify({ type: 'ADDED', object: pod('b', 'u2', '11') })}\n`);
      response.write(`${JSON.stringify({ type: 'DELETED', object: pod('a', 'u1', '12') })}\n`);
      response.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old resource version' } })}\n`);
      return;
    }
    // After the relist: hold the watch open until the client stops.
    response.write(`${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '51' } } })}\n`);
  };
  const api = agentApi({ token: 't' });
  const errors: string[] = [];
  const watch = new NodePodWatch(api, 'worker-7', { onError: (message) => errors.push(message) }, 10);
  await watch.start();
  expect(watch.pods().map((p) => p.name)).toEqual(['a']);
  const deadline = Date.now() + 10_000;
  while (watches < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  await watch.stop();
  api.close();
  expect(lists).toBe(2);
  expect(watch.pods().map((p) => p.name)).toEqual(['c']);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toContain('too old resource version');
});

test('the reporter patches the condition with a strategic merge patch and creates Events; API errors name the call', async () => {
  const answers: Record<string, [number, unknown]> = {
    'GET /api/v1/nodes/worker-7': [200, { metadata: { uid: 'node-uid' }, status: { conditions: [] } }],
    'PATCH /api/v1/nodes/worker-7/status': [200, {}],
    'POST /api/v1/namespaces/default/events': [201, {}],
    'POST /api/v1/namespaces/shop/events': [403, { kind: 'Status', message: 'events is forbidden: User "system:serviceaccount:x" cannot create resource "events"' }],
  };
  handler = (request, _body, response) => {
    const [status, body] = answers[`${request.method} ${request.url}`] ?? [404, { message: 'not found' }];
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const api = agentApi({ token: 't' });
  const agent = new NodeAgent({
    procRoot: new URL('../../fixtures/node/incident/proc', import.meta.url).pathname,
    cgroupRoot: new URL('../../fixtures/node/incident/sys/fs/cgroup', import.meta.url).pathname,
    nodeName: 'worker-7',
    thresholds: { warningRatio: 0.7, criticalRatio: 0.9 },
    top: 5,
    enforce: false,
    pods: () => [{ uid: '3f1c9a52-8d4e-4b1a-9c67-0e2d5f8a1b01', namespace: 'shop', name: 'orders-api-0', annotations: {} }],
    log: () => undefined,
  });
  const result = await agent.scanOnce();
  const reporter = new KubeNodeReporter(api, 'worker-7', () => new Date('2026-11-27T08:00:00Z'));
  await expect(reporter.report(result)).rejects.toThrow(/forbidden \(403\) to create a ThreadHog Event on Pod orders-api-0: events is forbidden/);
  api.close();
  const patch = seen.find((request) => request.method === 'PATCH');
  expect(patch?.contentType).toBe('application/strategic-merge-patch+json');
  expect(JSON.parse(patch?.body ?? '{}')).toEqual({
    status: { conditions: [{ type: 'PIDPressureRisk', status: 'True', reason: 'PIDUsageCritical', message: 'pidguard: node: 31,635 of 32,768 PIDs in use (96.5%, 1,133 free; kernel.pid_max)', lastHeartbeatTime: '2026-11-27T08:00:00.000Z', lastTransitionTime: '2026-11-27T08:00:00.000Z' }] },
  });
  const nodeEvent = JSON.parse(seen.find((request) => request.url === '/api/v1/namespaces/default/events')?.body ?? '{}');
  expect(nodeEvent).toMatchObject({ kind: 'Event', reason: 'PIDPressureRisk', type: 'Warning', involvedObject: { kind: 'Node', name: 'worker-7', uid: 'node-uid' }, source: { component: 'pidguard-agent', host: 'worker-7' } });
});

test('the agent\'s watch drops pods that finished: they have no cgroup left to limit', async () => {
  let watches = 0;
  handler = (request, _body, response) => {
    const url = new URL(request.url ?? '/', 'https://x');
    if (url.searchParams.get('watch') !== '1') {
      response.end(JSON.stringify({ metadata: { resourceVersion: '10' }, items: [pod('running', 'u1', '9'), { ...pod('done', 'u2', '9'), status: { phase: 'Succeeded' } }] }));
      return;
    }
    watches += 1;
    response.write(`${JSON.stringify({ type: 'MODIFIED', object: { ...pod('running', 'u1', '11'), status: { phase: 'Failed' } } })}\n`);
    response.write(`${JSON.stringify({ type: 'ADDED', object: { ...pod('new', 'u3', '12'), status: { phase: 'Pending' } } })}\n`);
  };
  const api = agentApi({ token: 't' });
  const watch = new NodePodWatch(api, 'worker-7', { onError: () => undefined }, 10);
  await watch.start();
  expect(watch.pods().map((p) => p.name)).toEqual(['running']);
  const deadline = Date.now() + 10_000;
  while (watch.pods().some((p) => p.name === 'running') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  await watch.stop();
  api.close();
  expect(watches).toBeGreaterThanOrEqual(1);
  expect(watch.pods().map((p) => p.name)).toEqual(['new']);
});

test('namespace labels: one GET per namespace, cached for the TTL; a failed read keeps the last labels, a namespace never read says why', async () => {
  let now = 0;
  const answers: Record<string, [number, unknown]> = {
    '/api/v1/namespaces/shop': [200, { metadata: { name: 'shop', labels: { 'pidguard.io/pids-limit-ceiling': '10000' } } }],
    '/api/v1/namespaces/locked': [403, { kind: 'Status', message: 'namespaces "locked" is forbidden' }],
    '/api/v1/namespaces/gone': [404, { kind: 'Status', message: 'not found' }],
  };
  handler = (request, _body, response) => {
    const [status, body] = answers[request.url ?? ''] ?? [500, {}];
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const api = agentApi({ token: 't' });
  const cache = new NamespaceLabelsCache(api, { ttlMs: 60_000, now: () => now });
  try {
    await cache.refresh(['shop', 'locked', 'gone']);
    expect(cache.labelsOf('shop')).toEqual({ labels: { 'pidguard.io/pids-limit-ceiling': '10000' } });
    expect(cache.labelsOf('locked')).toEqual({ problem: expect.stringMatching(/cannot read the labels of namespace locked: .*forbidden \(403\)/) });
    expect(cache.labelsOf('gone')).toEqual({ labels: {} });
    expect(seen.map((request) => `${request.method} ${request.url}`).sort()).toEqual(['GET /api/v1/namespaces/gone', 'GET /api/v1/namespaces/locked', 'GET /api/v1/namespaces/shop']);

    now = 30_000;
    await cache.refresh(['shop']);
    expect(seen).toHaveLength(3);

    now = 61_000;
    answers['/api/v1/namespaces/shop'] = [503, { kind: 'Status', message: 'unavailable' }];
    await cache.refresh(['shop']);
    expect(seen).toHaveLength(4);
    expect(cache.labelsOf('shop')).toEqual({ labels: { 'pidguard.io/pids-limit-ceiling': '10000' } });
    // Namespaces of pods no longer on the node are forgotten.
    expect(cache.labelsOf('gone')).toEqual({ problem: expect.stringContaining('not been read yet') });
  } finally {
    api.close();
  }
});

test('the reporter: an unenforced pod sets PIDPressureRisk (PidsLimitNotEnforced) and gets an Event; an adjusted one a PidsLimitAdjusted Event', async () => {
  handler = (request, _body, response) => {
    const body = request.url === '/api/v1/nodes/worker-7' ? { metadata: { uid: 'node-uid' }, status: { conditions: [] } } : {};
    response.writeHead(request.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const api = agentApi({ token: 't' });
  const root = mkdtempSync(join(tmpdir(), 'pidguard-reporter-'));
  writeFileSync(join(root, 'loadavg'), '0.1 0.1 0.1 1/500 99\n');
  mkdirSync(join(root, 'sys/kernel'), { recursive: true });
  writeFileSync(join(root, 'sys/kernel/pid_max'), '32768\n');
  writeFileSync(join(root, 'sys/kernel/threads-max'), '255596\n');
  const pods = [
    { uid: '11111111-1111-4111-8111-111111111111', namespace: 'shop', name: 'not-started', annotations: { 'pidguard.io/pids-limit': '300' } },
  ];
  const agent = new NodeAgent({
    procRoot: root,
    cgroupRoot: join(root, 'cgroup'),
    nodeName: 'worker-7',
    thresholds: { warningRatio: 0.7, criticalRatio: 0.9 },
    top: 5,
    enforce: true,
    unenforcedGraceMs: 0,
    pods: () => pods,
    log: () => undefined,
  });
  const reporter = new KubeNodeReporter(api, 'worker-7', () => new Date('2026-11-27T08:00:00Z'));
  try {
    await reporter.report(await agent.scanOnce());
    const patch = JSON.parse(seen.find((request) => request.method === 'PATCH')?.body ?? '{}');
    expect(patch.status.conditions).toEqual([expect.objectContaining({
      type: 'PIDPressureRisk',
      status: 'True',
      reason: 'PidsLimitNotEnforced',
      message: expect.stringContaining('pids-limit not enforced for 1 pod: shop/not-started (cgroup-not-found)'),
    })]);
    const events = seen.filter((request) => request.url === '/api/v1/namespaces/shop/events').map((request) => JSON.parse(request.body));
    expect(events).toEqual([expect.objectContaining({ reason: 'PidsLimitEnforcementFailed', type: 'Warning', involvedObject: expect.objectContaining({ kind: 'Pod', name: 'not-started' }) })]);

    // The same state again: nothing new to send.
    seen.length = 0;
    await reporter.report(await agent.scanOnce());
    expect(seen.filter((request) => request.method !== 'GET')).toEqual([]);

    // The annotation now above the ceiling: an adjustment Event; still no cgroup, so the condition stays.
    pods[0]!.annotations['pidguard.io/pids-limit'] = '4194304';
    await reporter.report(await agent.scanOnce());
    const adjusted = seen.filter((request) => request.url === '/api/v1/namespaces/shop/events').map((request) => JSON.parse(request.body));
    expect(adjusted).toEqual([expect.objectContaining({ reason: 'PidsLimitAdjusted', type: 'Warning', message: expect.stringContaining('above the ceiling 4096; lowered to 4096') })]);
  } finally {
    api.close();
    rmSync(root, { recursive: true, force: true });
  }
});
