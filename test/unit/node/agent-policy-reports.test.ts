// The node agent's openreports.io Reports (agent --policy-reports) over real TLS,
// against a stand-in API server that keeps the Reports it is sent: one per
// namespace with unenforced pods on the node, written only on change, updated in
// place, deleted when empty, bounded; a restarted agent finds and cleans up its
// old ones; other writers' reports (the audit's, another node's) are never touched.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { AgentApiClient } from '../../../src/node/agent-api.js';
import { NodePolicyReports, nodeReports } from '../../../src/node/agent-policy-reports.js';
import { KubeNodeReporter } from '../../../src/node/agent-reporter.js';
import type { AgentScanResult } from '../../../src/node/agent.js';
import type { EnforcementAction } from '../../../src/node/enforce.js';
import type { Report } from '../../../src/kube/openreports.js';
import { generateDevCertificates } from '../../../src/webhook/dev-certificates.js';

const certs = generateDevCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 1 });
let server: Server;
let port: number;
/** The stand-in's Reports, by namespace/name. */
const stored = new Map<string, Report>();
const calls: string[] = [];
let refuse: string | undefined;

function answer(request: IncomingMessage, body: string, response: ServerResponse): void {
  const url = new URL(request.url ?? '/', 'https://x');
  calls.push(`${request.method} ${url.pathname}`);
  const json = (status: number, value: unknown): void => void response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  if (refuse && url.pathname.includes(refuse)) return json(403, { kind: 'Status', code: 403, reason: 'Forbidden', message: 'reports.openreports.io is forbidden' });
  if (request.method === 'GET' && url.pathname === '/apis/openreports.io/v1alpha1/reports') {
    expect(url.searchParams.get('labelSelector')).toBe('app.kubernetes.io/managed-by=pidguard');
    return json(200, { metadata: {}, items: [...stored.values()] });
  }
  const match = /^\/apis\/openreports\.io\/v1alpha1\/namespaces\/([^/]+)\/reports\/([^/]+)$/.exec(url.pathname);
  if (!match) return json(404, { kind: 'Status', code: 404, message: 'not found' });
  const key = `${match[1]}/${match[2]}`;
  if (request.method === 'PATCH') {
    expect(request.headers['content-type']).toBe('application/apply-patch+yaml');
    expect(url.searchParams.get('fieldManager')).toBe('pidguard');
    stored.set(key, JSON.parse(body) as Report);
    return json(200, stored.get(key));
  }
  if (request.method === 'DELETE') {
    if (!stored.delete(key)) return json(404, { kind: 'Status', code: 404, message: 'not found' });
    return json(200, { kind: 'Status', status: 'Success' });
  }
  json(405, {});
}

beforeAll(async () => {
  server = createServer({ cert: certs.cert, key: certs.key }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => answer(request, Buffer.concat(chunks).toString(), response));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
beforeEach(() => {
  stored.clear();
  calls.length = 0;
  refuse = undefined;
});

const api = () => new AgentApiClient({ server: new URL(`https://127.0.0.1:${port}`), ca: Buffer.from(certs.caCert), insecureSkipTlsVerify: false, source: 'test', authHeaders: () => ({ authorization: 'Bearer t' }) });

function failed(namespace: string | undefined, name: string | undefined, uid: string, failure: EnforcementAction['failure'] = 'write-refused'): EnforcementAction {
  return { pod: { uid, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) }, outcome: 'failed', failure, limit: 300, reason: `writing pids.max: EROFS (${name ?? uid})` };
}

describe('the node reports builder', () => {
  it('one report per namespace, named for the node, each pod a high fail of pids-limit-enforcement with the fix', () => {
    const reports = nodeReports('worker-7', [failed('shop', 'orders-0', 'u1'), failed('shop', 'cart-0', 'u2', 'no-pids-max'), failed('batch', 'etl-0', 'u3'), failed(undefined, undefined, 'u4')], 100, 1000, () => undefined);
    expect([...reports.keys()].sort()).toEqual(['batch', 'shop']);
    const shop = reports.get('shop')!;
    expect(shop.metadata).toEqual({ name: 'pidguard-node-worker-7', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'pidguard' } });
    expect(shop.summary).toEqual({ pass: 0, fail: 2, warn: 0, error: 0, skip: 0 });
    expect(shop.results.map((r) => r.resources[0]!.name)).toEqual(['cart-0', 'orders-0']);
    expect(shop.results[1]).toMatchObject({ policy: 'pidguard', rule: 'pids-limit-enforcement', severity: 'high', result: 'fail', resources: [{ apiVersion: 'v1', kind: 'Pod', name: 'orders-0', namespace: 'shop', uid: 'u1' }], properties: { node: 'worker-7', failure: 'write-refused', limit: '300' }, timestamp: { seconds: 1000, nanos: 0 } });
    expect(shop.results[1]!.message).toMatch(/^pids-limit 300 not enforced on node worker-7 \(write-refused\): writing pids.max: EROFS \(orders-0\)\. Fix: give the agent write access/);
    expect(shop.results[0]!.message).toMatch(/Fix: enable the pids controller/);
  });

  it('is bounded: at most maxResults results, the summary and an annotation count the rest', () => {
    const many = Array.from({ length: 250 }, (_, i) => failed('shop', `p-${String(i).padStart(3, '0')}`, `u${i}`));
    const shop = nodeReports('worker-7', many, 100, 1000, () => undefined).get('shop')!;
    expect(shop.results).toHaveLength(100);
    expect(shop.summary.fail).toBe(250);
    expect(shop.metadata.annotations).toEqual({ 'pidguard.io/results-omitted': '150' });
  });
});

describe('the node reports sync', () => {
  it('applies on change only, updates in place, deletes when a namespace has none left, and never touches other reports', async () => {
    const audit: Report = { ...nodeReports('other', [failed('shop', 'x', 'ux')], 100, 1, () => undefined).get('shop')!, metadata: { name: 'pidguard', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'pidguard' } } };
    const otherNode = nodeReports('worker-8', [failed('shop', 'y', 'uy')], 100, 1, () => undefined).get('shop')!;
    stored.set('shop/pidguard', audit);
    stored.set('shop/pidguard-node-worker-8', otherNode);
    let now = 1_000_000;
    const client = api();
    const sync = new NodePolicyReports(client, 'worker-7', 100, () => new Date(now));
    try {
      await sync.sync([failed('shop', 'orders-0', 'u1'), failed('batch', 'etl-0', 'u3')]);
      expect(calls.sort()).toEqual(['GET /apis/openreports.io/v1alpha1/reports', 'PATCH /apis/openreports.io/v1alpha1/namespaces/batch/reports/pidguard-node-worker-7', 'PATCH /apis/openreports.io/v1alpha1/namespaces/shop/reports/pidguard-node-worker-7']);

      calls.length = 0;
      now += 60_000;
      await sync.sync([failed('shop', 'orders-0', 'u1'), failed('batch', 'etl-0', 'u3')]);
      expect(calls).toEqual([]);

      await sync.sync([failed('shop', 'orders-0', 'u1'), failed('shop', 'cart-0', 'u2')]);
      expect(calls.sort()).toEqual(['DELETE /apis/openreports.io/v1alpha1/namespaces/batch/reports/pidguard-node-worker-7', 'PATCH /apis/openreports.io/v1alpha1/namespaces/shop/reports/pidguard-node-worker-7']);
      const shop = stored.get('shop/pidguard-node-worker-7')!;
      expect(shop.results.map((r) => [r.resources[0]!.name, r.timestamp.seconds])).toEqual([['cart-0', 1060], ['orders-0', 1000]]);

      await sync.sync([]);
      expect([...stored.keys()].sort()).toEqual(['shop/pidguard', 'shop/pidguard-node-worker-8']);
      expect(stored.get('shop/pidguard')).toEqual(audit);
    } finally {
      client.close();
    }
  });

  it('a restarted agent deletes the reports its predecessor left; a refused write is an error naming it and is tried again next scan', async () => {
    stored.set('gone/pidguard-node-worker-7', nodeReports('worker-7', [failed('gone', 'old', 'u0')], 100, 1, () => undefined).get('gone')!);
    const client = api();
    const sync = new NodePolicyReports(client, 'worker-7');
    try {
      refuse = '/namespaces/shop/';
      await expect(sync.sync([failed('shop', 'orders-0', 'u1')])).rejects.toThrow(/apply report pidguard-node-worker-7 in namespace shop.*forbidden/);
      expect(stored.has('gone/pidguard-node-worker-7')).toBe(false);
      refuse = undefined;
      calls.length = 0;
      await sync.sync([failed('shop', 'orders-0', 'u1')]);
      expect(calls).toEqual(['PATCH /apis/openreports.io/v1alpha1/namespaces/shop/reports/pidguard-node-worker-7']);
    } finally {
      client.close();
    }
  });
});

test('the agent\'s reporter writes the reports from each scan\'s unenforced pods, and only with --policy-reports', async () => {
  const unenforced = [failed('shop', 'orders-0', 'u1')];
  const result = {
    scan: {},
    verdict: { level: 'ok', summary: 'node: fine', offenders: [] },
    enforcement: unenforced,
    findings: { levelChanged: false, newOffenders: [], newlyRefusing: [], enforcementChanges: [], newFailures: [], newAdjustments: [], unenforced },
  } as unknown as AgentScanResult;
  const client = api();
  try {
    // The stand-in has no Node: those calls fail, the reports are written all the same.
    await expect(new KubeNodeReporter(client, 'worker-7').report(result)).rejects.toThrow(/read node worker-7/);
    expect(calls.filter((call) => call.includes('openreports'))).toEqual([]);
    await expect(new KubeNodeReporter(client, 'worker-7', undefined, new NodePolicyReports(client, 'worker-7')).report(result)).rejects.toThrow(/read node worker-7/);
    expect([...stored.keys()]).toEqual(['shop/pidguard-node-worker-7']);
  } finally {
    client.close();
  }
});
