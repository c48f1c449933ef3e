// Records real pidguard metrics for the dashboard picture (docs/DASHBOARD.md, "How the picture is
// made"). As root, on this machine, for --seconds (default 240):
// - pods made of real cgroups in a throwaway pids hierarchy (kubepods capped at 2,000 tasks,
//   standing for a node's pid_max) with real processes starting real threads, one of them a
//   thread leak that runs into its pidguard.io/pids-limit (the kernel refuses its threads);
// - `pidguard agent` on the real /proc and that hierarchy, enforcing the pods' limits;
// - `pidguard serve` answering AdmissionReviews over TLS: pods and Deployments in an enforce and
//   an audit namespace, .NET pods to patch, and some malformed requests;
// - Debian's Prometheus scraping both every 2 s.
// Then it asks that Prometheus every dashboard query (query_range, or instant for instant
// targets) and writes the answers to --out (JSON), for render.mjs.
// Usage: npm run build && node tools/dashboard/record.mjs --out /tmp/recorded.json
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CgroupSandbox } from '../../lab/dist/lab/cgroup-sandbox.js';
import { ThreadBomb } from '../../lab/dist/lab/thread-bomb.js';

const repo = new URL('../../', import.meta.url).pathname;
const { values: flags } = parseArgs({ options: { out: { type: 'string' }, seconds: { type: 'string', default: '240' } } });
if (!flags.out) throw new Error('usage: record.mjs --out FILE [--seconds N]');
const seconds = Number(flags.seconds);
const NODE = 'worker-1';
const ports = { webhook: 28643, webhookMetrics: 29190, agentMetrics: 29191, prometheus: 29099 };
const work = mkdtempSync(join(tmpdir(), 'pidguard-dashboard-'));
const children = [];
const bombs = [];
let sandbox;

// name, namespace, threads wanted, start after (s), threads per second, pids-limit annotation
const PODS = [
  { ns: 'shop', name: 'orders-api-7d9f6', threads: 0, startAt: 40, rate: 6, limit: 600 }, // the leak
  { ns: 'shop', name: 'cart-5b7c8', threads: 150, startAt: 0, rate: 30, limit: 1024 },
  { ns: 'batch', name: 'report-28417', threads: 420, startAt: 20, rate: 4 },
  { ns: 'web', name: 'frontend-6c4d2', threads: 90, startAt: 0, rate: 30, limit: 256 },
  { ns: 'ml', name: 'trainer-0', threads: 200, startAt: 60, rate: 3, limit: 4096 },
];
// A pod whose limit cannot be applied: it is on the node's pod list but has no cgroup yet.
const GHOST = { ns: 'shop', name: 'orders-api-7d9f6-canary', limit: 600 };

function spawnLogged(name, command, args) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (chunk) => { log = (log + chunk).slice(-4000); });
  child.on('exit', (code) => { if (code) console.error(`${name} exited ${code}: ${log}`); });
  children.push(child);
  return child;
}

async function waitHttp(url, what) {
  for (let i = 0; i < 100; i++) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch { /* not up yet */ }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what} not answering at ${url}`);
}

const container = (image, resources) => ({ name: 'app', image, ...(resources ? { resources } : {}) });
const review = (kind, namespace, object, operation = 'CREATE') => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: randomUUID(), kind: { group: kind === 'Pod' ? '' : 'apps', version: 'v1', kind },
    resource: { group: kind === 'Pod' ? '' : 'apps', version: 'v1', resource: kind === 'Pod' ? 'pods' : 'deployments' },
    namespace, operation, userInfo: { username: 'alice' }, object,
  },
});
const pod = (name, namespace, containers) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { containers } });
const deployment = (name, namespace, containers) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace }, spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers } } } });
const burstable = { requests: { cpu: '100m', memory: '128Mi' } };

function send(path, body) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: ports.webhook, path, method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', resolve);
    req.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}

/** One second of admission traffic; heavier in the middle of the run, as a deploy would be. */
async function admissionSecond(t) {
  const burst = t > seconds * 0.4 && t < seconds * 0.6 ? 4 : 1;
  const calls = [];
  for (let i = 0; i < burst; i++) {
    calls.push(send('/validate', review('Pod', 'shop', pod(`web-${t}-${i}`, 'shop', [container('nginx:1.27', burstable)]))));
    calls.push(send('/mutate', review('Pod', 'shop', pod(`orders-${t}-${i}`, 'shop', [container('mcr.microsoft.com/dotnet/aspnet:8.0')]))));
    calls.push(send('/mutate', review('Pod', 'batch', pod(`job-${t}-${i}`, 'batch', [container('busybox', burstable)]))));
    calls.push(send('/validate', review('Pod', 'staging', pod(`try-${t}-${i}`, 'staging', [container('busybox')]))));
    if ((t + i) % 3 === 0) calls.push(send('/validate', review('Pod', 'shop', pod(`besteffort-${t}-${i}`, 'shop', [container('busybox')]))));
    if ((t + i) % 5 === 0) calls.push(send('/validate', review('Deployment', 'shop', deployment(`legacy-${t}`, 'shop', [container('busybox')]))));
  }
  if (t % 20 === 7) calls.push(send('/validate', '{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": '));
  await Promise.all(calls);
}

async function main() {
  sandbox = CgroupSandbox.create('pidguard-dashboard');
  sandbox.mkdir('kubepods');
  sandbox.setMax('kubepods', 2000);
  const items = [];
  for (const spec of PODS) {
    const uid = randomUUID();
    spec.path = `kubepods/burstable/pod${uid}/${randomUUID().replace(/-/g, '')}`;
    sandbox.mkdir(spec.path);
    items.push({ apiVersion: 'v1', kind: 'Pod', metadata: { uid, namespace: spec.ns, name: spec.name, annotations: spec.limit ? { 'pidguard.io/pids-limit': String(spec.limit) } : {} }, spec: { nodeName: NODE } });
  }
  items.push({ apiVersion: 'v1', kind: 'Pod', metadata: { uid: randomUUID(), namespace: GHOST.ns, name: GHOST.name, annotations: { 'pidguard.io/pids-limit': String(GHOST.limit) } }, spec: { nodeName: NODE } });
  writeFileSync(join(work, 'pods.json'), JSON.stringify({ apiVersion: 'v1', kind: 'PodList', items }));
  writeFileSync(join(work, 'namespaces.yaml'), 'shop: {pidguard.io/mode: enforce}\nbatch: {}\nstaging: {pidguard.io/mode: audit}\n');

  const pidguard = join(repo, 'bin/pidguard.js');
  spawnLogged('agent', process.execPath, [pidguard, 'agent', '--cgroup-root', sandbox.cgroupRoot, '--pods-file', join(work, 'pods.json'), '--node-name', NODE,
    '--interval', '2s', '--metrics-port', String(ports.agentMetrics), '--metrics-host', '127.0.0.1', '--unenforced-grace', '10s', '--log-level', 'error']);
  spawnLogged('serve', process.execPath, [pidguard, 'serve', '--generate-dev-cert', '--tls-cert', join(work, 'tls/tls.crt'), '--tls-key', join(work, 'tls/tls.key'),
    '--address', '127.0.0.1', '--port', String(ports.webhook), '--metrics-port', String(ports.webhookMetrics), '--namespaces-file', join(work, 'namespaces.yaml'), '--log-level', 'error']);
  writeFileSync(join(work, 'prometheus.yml'), [
    'global: {scrape_interval: 2s, evaluation_interval: 2s}',
    'scrape_configs:',
    `  - job_name: pidguard-webhook\n    static_configs: [{targets: ["127.0.0.1:${ports.webhookMetrics}"]}]`,
    // As the shipped PodMonitor: the agent's own namespace/pod labels kept, its node added.
    `  - job_name: pidguard-agent\n    honor_labels: true\n    static_configs: [{targets: ["127.0.0.1:${ports.agentMetrics}"], labels: {node: ${NODE}}}]`,
    '',
  ].join('\n'));
  spawnLogged('prometheus', 'prometheus', [`--config.file=${join(work, 'prometheus.yml')}`, `--storage.tsdb.path=${join(work, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${ports.prometheus}`, '--log.level=error']);
  await waitHttp(`http://127.0.0.1:${ports.agentMetrics}/metrics`, 'the agent');
  await waitHttp(`http://127.0.0.1:${ports.webhookMetrics}/metrics`, 'the webhook');
  await waitHttp(`http://127.0.0.1:${ports.prometheus}/-/ready`, 'prometheus');

  const start = Date.now() / 1000;
  for (let t = 0; t < seconds; t++) {
    for (const spec of PODS) {
      if (spec.startAt === t) {
        bombs.push(await ThreadBomb.start({ target: spec.threads, retry: spec.threads === 0, ratePerSecond: spec.rate, place: (pid) => sandbox.attach(spec.path, pid) }));
      }
    }
    const tick = Date.now();
    await admissionSecond(t);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 - (Date.now() - tick))));
  }
  const end = Date.now() / 1000;

  const dashboard = JSON.parse(readFileSync(join(repo, 'manifests/overlays/prometheus/dashboards/pidguard.json'), 'utf8'));
  const substitute = (expr) => expr.replaceAll('$__rate_interval', '10s').replaceAll('$node', '.*');
  const results = {};
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) {
      const expr = substitute(target.expr);
      const url = target.instant
        ? `http://127.0.0.1:${ports.prometheus}/api/v1/query?query=${encodeURIComponent(expr)}&time=${end}`
        : `http://127.0.0.1:${ports.prometheus}/api/v1/query_range?query=${encodeURIComponent(expr)}&start=${start}&end=${end}&step=2`;
      const answer = await (await fetch(url)).json();
      if (answer.status !== 'success') throw new Error(`${panel.title}: ${expr}: ${answer.error}`);
      results[`${panel.id}/${target.refId}`] = answer.data;
    }
  }
  writeFileSync(flags.out, JSON.stringify({ recordedAt: new Date(end * 1000).toISOString(), start, end, step: 2, node: NODE, results }));
  console.log(`recorded ${Object.keys(results).length} queries over ${Math.round(end - start)} s into ${flags.out}`);
}

async function cleanup() {
  for (const bomb of bombs) await bomb.kill();
  for (const child of children) child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const problems = (await sandbox?.remove()) ?? [];
  if (problems.length) console.error('cgroups left behind:', problems);
  rmSync(work, { recursive: true, force: true });
}

try {
  await main();
} finally {
  await cleanup();
}
