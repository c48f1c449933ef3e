// One measured audit in its own process (bench/audit-scale.bench.mjs): prints
// {pods, seconds, maxRss}. With --list-only it pages through the same LIST calls
// without evaluating anything: the baseline.
import { KubeConfig } from '@kubernetes/client-node';
import { runAudit } from '../dist/audit/run-audit.js';
import { listPages } from '../dist/kube/paged-list.js';
import { defaultConfig } from '../dist/policy/config.js';

const [kubeconfigPath, pageSize, mode] = process.argv.slice(2);
const config = new KubeConfig();
config.loadFromFile(kubeconfigPath);
const started = process.hrtime.bigint();
let pods = 0;
if (mode === '--list-only') {
  const target = { resource: 'pods', groupVersionPath: '/api/v1', kind: 'Pod', apiVersion: 'v1' };
  for await (const page of listPages(config, target, { pageSize: Number(pageSize), timeoutMs: 60_000 })) pods += page.length;
} else {
  ({ pods } = await runAudit(config, { config: defaultConfig(), pageSize: Number(pageSize), timeoutMs: 60_000 }));
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
// maxRSS is in KiB. heapAfterGc is what the run still holds: it must not grow with the pod count.
global.gc();
process.stdout.write(JSON.stringify({ pods, seconds, maxRss: process.resourceUsage().maxRSS * 1024, heapAfterGc: process.memoryUsage().heapUsed }));
