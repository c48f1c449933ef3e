// `pidguard audit` at scale against a real kube-apiserver + etcd (the e2e
// control plane): 200 namespaces, 1,000 then 10,000 pods. Reports pods
// evaluated per second and peak RSS for each, and compares them with a baseline
// measured in the same run: the same paginated LIST calls without evaluation.
// Targets: memory stays flat (peak RSS at 10,000 pods <= 1.25x that at 1,000)
// and the policy costs little next to listing (audit >= 50% of list-only speed).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const cluster = join(repo, 'test/e2e/cluster');
const NAMESPACES = 200;
const ROUNDS = [1_000, 10_000];
const PAGE_SIZE = 500;
const HEAP_CAP_MIB = 64;
const ROUNDS_PER_POINT = 3;

function sh(script, args) {
  return execFileSync('bash', [join(cluster, script), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

const bin = sh('build.sh', []).trim().split('\n').pop();
const work = mkdtempSync(join(tmpdir(), 'pidguard-bench-audit-'));
let exitCode = 1;
try {
  sh('up.sh', [bin, work]);
  const kubeconfig = join(work, 'kubeconfig-admin');
  const api = await apiClient(kubeconfig);

  for (let n = 0; n < NAMESPACES; n += 1) {
    await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns(n) } });
    await api.post(`/api/v1/namespaces/${ns(n)}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } });
  }
  let created = 0;
  const results = [];
  for (const target of ROUNDS) {
    await api.createPods(created, target);
    created = target;
    const list = await median(() => measure(['--list-only'], kubeconfig));
    const audit = await median(() => measure([], kubeconfig));
    if (audit.pods !== target) throw new Error(`audit evaluated ${audit.pods} pods, expected ${target}`);
    results.push({ pods: target, audit, list });
  }

  console.log(`median of ${ROUNDS_PER_POINT} runs each; V8 heap capped at ${HEAP_CAP_MIB} MiB`);
  console.log('pods     audit pods/s  list-only pods/s  ratio   audit peak RSS  list peak RSS  audit heap after GC');
  for (const { pods, audit, list } of results) {
    console.log(
      `${String(pods).padEnd(7)}  ${audit.rate.toFixed(0).padStart(12)}  ${list.rate.toFixed(0).padStart(16)}  ${(audit.rate / list.rate).toFixed(2).padStart(5)}   ${mib(audit.maxRss).padStart(14)}  ${mib(list.maxRss).padStart(13)}  ${mib(audit.heapAfterGc).padStart(19)}`,
    );
  }
  const [small, large] = results;
  const growth = large.audit.maxRss / small.audit.maxRss;
  const speed = large.audit.rate / large.list.rate;
  const targets = [
    [`peak RSS 10,000 vs 1,000 pods: ${growth.toFixed(2)}x`, growth <= 1.25, '<= 1.25x (flat)'],
    [`audit speed vs list-only at 10,000 pods: ${(speed * 100).toFixed(0)}%`, speed >= 0.5, '>= 50%'],
  ];
  for (const [what, ok, target] of targets) console.log(`${ok ? 'PASS' : 'MISS'}  ${what} (target ${target})`);
  console.log(JSON.stringify({ bench: 'audit-scale', results, growth, speed }));
  exitCode = targets.every(([, ok]) => ok) ? 0 : 1;
} finally {
  sh('down.sh', [work]);
}
process.exit(exitCode);

function ns(n) {
  return `bench-${String(n).padStart(3, '0')}`;
}

/** Runs `measure` ROUNDS_PER_POINT times; the run with the median rate, with the highest peak RSS seen. */
async function median(measureOnce) {
  const runs = [];
  for (let i = 0; i < ROUNDS_PER_POINT; i += 1) runs.push(await measureOnce());
  runs.sort((a, b) => a.rate - b.rate);
  const middle = runs[Math.floor(runs.length / 2)];
  return { ...middle, maxRss: Math.max(...runs.map((r) => r.maxRss)) };
}

function mib(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** Runs the audit (or only its paginated LIST calls) in a fresh process; returns pods/s and the process's peak RSS. */
function measure(extra, kubeconfig) {
  // The same V8 heap cap as the audit Deployment (NODE_OPTIONS in manifests): a run
  // that held every pod would not fit in it at 10,000 pods.
  const child = spawn(process.execPath, ['--expose-gc', `--max-old-space-size=${HEAP_CAP_MIB}`, join(repo, 'bench/audit-child.mjs'), kubeconfig, String(PAGE_SIZE), ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`audit child exited ${code}`));
      const result = JSON.parse(out);
      resolve({ ...result, rate: result.pods / result.seconds });
    });
  });
}

/** Just enough of an API client to create the objects quickly: keep-alive, 16 requests in flight. */
async function apiClient(kubeconfigPath) {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  const server = new URL(config.getCurrentCluster().server);
  const options = { hostname: server.hostname, port: server.port, headers: {} };
  await config.applyToHTTPSOptions(options);
  const agent = new Agent({ keepAlive: true, maxSockets: 16, ca: options.ca, cert: options.cert, key: options.key });
  const post = (path, body) =>
    new Promise((resolve, reject) => {
      const req = request({ ...options, agent, method: 'POST', path, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`POST ${path}: ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  const images = ['nginx:1.27', 'mcr.microsoft.com/dotnet/aspnet:8.0', 'corp/api:1'];
  return {
    post,
    async createPods(from, to) {
      let next = from;
      const worker = async () => {
        while (next < to) {
          const i = next++;
          const namespace = ns(i % NAMESPACES);
          const resources = i % 3 === 2 ? { requests: { cpu: '10m', memory: '16Mi' } } : undefined;
          await post(`/api/v1/namespaces/${namespace}/pods`, {
            apiVersion: 'v1',
            kind: 'Pod',
            // Like pods in a real cluster, each belongs to one of a few ReplicaSets per namespace.
            metadata: {
              name: `pod-${i}`,
              labels: { app: `app-${i % 7}` },
              ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `app-${i % 7}-5c8d7f`, uid: `00000000-0000-4000-8000-${String(i % 7).padStart(12, '0')}`, controller: true }],
            },
            spec: { containers: [{ name: 'main', image: images[i % images.length], ...(resources ? { resources } : {}) }] },
          });
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
    },
  };
}
