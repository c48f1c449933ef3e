// One measured audit in its own process (bench/audit-scale.bench.mjs): prints
// {pods, seconds, maxRss}. With --list-only it pages through the same LIST calls
// without evaluating anything: the baseline.
import { runAudit } from '../dist/audit/run-audit.js';
import { endpointFor } from '../dist/kube/kubeconfig.js';
import { KubeTransport, listObjects } from '../dist/kube/transport.js';
import { defaultConfig } from '../dist/policy/config.js';

const [kubeconfigPath, pageSize, mode] = process.argv.slice(2);
const transport = new KubeTransport(endpointFor({ kind: 'kubeconfig', path: kubeconfigPath, from: '--kubeconfig' }), { timeoutMs: 60_000 });
const started = process.hrtime.bigint();
let pods = 0;
if (mode === '--list-only') {
  const target = { resource: 'pods', groupVersionPath: '/api/v1', kind: 'Pod', apiVersion: 'v1' };
  for await (const page of listObjects(transport, target, { pageSize: Number(pageSize) })) pods += page.length;
} else {
  ({ pods } = await runAudit(transport, { config: defaultConfig(), pageSize: Number(pageSize), timeoutMs: 60_000 }));
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
// maxRSS is in KiB. heapAfterGc is what the run still holds: it must not grow with the pod count.
global.gc();
process.stdout.write(JSON.stringify({ pods, seconds, maxRss: process.resourceUsage().maxRSS * 1024, heapAfterGc: process.memoryUsage().heapUsed }));
