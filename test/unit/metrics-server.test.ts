// The one metrics endpoint (webhook metrics port, agent, audit --watch): what it
// answers, and that a registry that cannot collect is a 500 and a log line,
// not a request left hanging (audit --watch's own server never answered).
import { Registry, Gauge } from 'prom-client';
import { startMetricsServer, type RunningMetricsServer } from '../../src/metrics-server.js';

const servers: RunningMetricsServer[] = [];
afterAll(async () => Promise.all(servers.map((server) => server.close())));

async function start(registry: Pick<Registry, 'metrics' | 'contentType'>, unhealthy?: () => string | undefined) {
  const errors: Array<[string, unknown]> = [];
  const server = await startMetricsServer({ registry, logger: { error: (message, fields) => void errors.push([message, fields]) }, port: 0, host: '127.0.0.1', ...(unhealthy ? { unhealthy } : {}) });
  servers.push(server);
  const get = async (path: string, method = 'GET') => {
    const response = await fetch(`http://127.0.0.1:${server.port}${path}`, { method, signal: AbortSignal.timeout(5000) });
    return { status: response.status, text: await response.text(), type: response.headers.get('content-type') };
  };
  return { get, errors };
}

test('GET /metrics is the registry, /healthz ok, the rest 404 and non-GET 405', async () => {
  const registry = new Registry();
  new Gauge({ name: 'probe_value', help: 'a probe', registers: [registry] }).set(7);
  const { get } = await start(registry);
  const metrics = await get('/metrics?x=1');
  expect(metrics).toMatchObject({ status: 200, type: registry.contentType });
  expect(metrics.text).toMatch(/^probe_value 7$/m);
  expect(await get('/healthz')).toMatchObject({ status: 200, text: 'ok\n' });
  expect((await get('/mutate')).status).toBe(404);
  expect((await get('/metrics', 'POST')).status).toBe(405);
  expect(await get('/metrics', 'HEAD')).toMatchObject({ status: 200, text: '' });
});

test('a registry that rejects is a 500 and an error log line', async () => {
  const { get, errors } = await start({ contentType: 'text/plain', metrics: () => Promise.reject(new Error('collector broke')) } as unknown as Registry);
  expect(await get('/metrics')).toMatchObject({ status: 500, text: 'cannot collect metrics\n' });
  expect(errors).toEqual([['cannot collect metrics', { error: 'collector broke' }]]);
});

test('/healthz answers 503 with the reason while unhealthy', async () => {
  let problem: string | undefined = 'no successful scan recently';
  const { get } = await start(new Registry(), () => problem);
  expect(await get('/healthz')).toMatchObject({ status: 503, text: 'no successful scan recently\n' });
  problem = undefined;
  expect((await get('/healthz')).status).toBe(200);
});

test('a port in use is an error from start, not a crash later', async () => {
  const first = await startMetricsServer({ registry: new Registry(), logger: { error: () => {} }, port: 0, host: '127.0.0.1' });
  servers.push(first);
  await expect(startMetricsServer({ registry: new Registry(), logger: { error: () => {} }, port: first.port, host: '127.0.0.1' })).rejects.toThrow(/EADDRINUSE/);
});
