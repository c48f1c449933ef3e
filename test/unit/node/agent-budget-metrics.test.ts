// Each pod's peak tasks against its budget: the series a team sizes a
// pidguard.io/pids-limit from. The peak only rises while the pod is on the
// node (a scan's pids.current, or the kernel's pids.peak where cgroup v2 keeps
// one), the budget is the limit the agent enforces, and a pod's series go when
// the pod goes.

import { cpSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeAgent } from '../../../src/node/agent.js';
import { readPodsFile, type NodePod } from '../../../src/node/pods.js';

const fixture = fileURLToPath(new URL('../../fixtures/node/incident', import.meta.url));
const ORDERS = '3f1c9a52-8d4e-4b1a-9c67-0e2d5f8a1b01';
const ordersDir = (root: string) => join(root, 'sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice', `kubepods-burstable-pod${ORDERS.replace(/-/g, '_')}.slice`);
const ORDERS_LABELS = `namespace="shop",pod="orders-api-7f9c6d5b8-2xkqp",uid="${ORDERS}"`;

let root: string;
let pods: NodePod[];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'pidguard-budget-'));
  cpSync(fixture, root, { recursive: true });
  pods = readPodsFile(join(root, 'pods.yaml'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function agent() {
  return new NodeAgent({
    procRoot: join(root, 'proc'),
    cgroupRoot: join(root, 'sys/fs/cgroup'),
    nodeName: 'worker-7',
    thresholds: { warningRatio: 0.7, criticalRatio: 0.9 },
    top: 5,
    enforce: false,
    pods: () => pods,
    log: () => undefined,
  });
}

const lines = async (nodeAgent: NodeAgent, name: string) =>
  (await nodeAgent.metrics.registry.metrics()).split('\n').filter((line) => line.startsWith(`${name}{`));

test('the peak is the highest pids.current seen; it does not fall with the pod\'s tasks', async () => {
  const nodeAgent = agent();
  await nodeAgent.scanOnce();
  expect(await lines(nodeAgent, 'pidguard_pod_pids_peak')).toContain(`pidguard_pod_pids_peak{${ORDERS_LABELS}} 21318`);
  writeFileSync(join(ordersDir(root), 'pids.current'), '120\n');
  await nodeAgent.scanOnce();
  expect(await lines(nodeAgent, 'pidguard_pod_pids_current')).toContain(`pidguard_pod_pids_current{${ORDERS_LABELS}} 120`);
  expect(await lines(nodeAgent, 'pidguard_pod_pids_peak')).toContain(`pidguard_pod_pids_peak{${ORDERS_LABELS}} 21318`);
});

test('the kernel\'s pids.peak (cgroup v2) raises it: a spike between two scans counts', async () => {
  writeFileSync(join(ordersDir(root), 'pids.peak'), '25000\n');
  const nodeAgent = agent();
  await nodeAgent.scanOnce();
  expect(await lines(nodeAgent, 'pidguard_pod_pids_peak')).toContain(`pidguard_pod_pids_peak{${ORDERS_LABELS}} 25000`);
});

test('the budget is the limit the agent enforces for the annotation (at most the ceiling); a pod without one has no budget series', async () => {
  pods = pods.map((pod) => (pod.uid === ORDERS ? { ...pod, annotations: { ...pod.annotations, 'pidguard.io/pids-limit': '99999' } } : pod));
  const nodeAgent = agent();
  await nodeAgent.scanOnce();
  const budgets = await lines(nodeAgent, 'pidguard_pod_pids_budget');
  expect(budgets).toHaveLength(2);
  expect(budgets).toEqual(expect.arrayContaining([
    `pidguard_pod_pids_budget{${ORDERS_LABELS}} 4096`,
    expect.stringMatching(/^pidguard_pod_pids_budget\{namespace="analytics",pod="report-svc-0",uid="0a1b2c3d[^"]+"\} 2048$/),
  ]));
});

test('threads per pod are exported, and every series of a pod goes when the pod leaves the node', async () => {
  const nodeAgent = agent();
  await nodeAgent.scanOnce();
  expect(await lines(nodeAgent, 'pidguard_pod_threads')).toContain(`pidguard_pod_threads{${ORDERS_LABELS}} 21318`);
  // The pod is deleted: gone from the pod list, its processes and its cgroup gone from the node.
  const saved = mkdtempSync(join(tmpdir(), 'pidguard-budget-saved-'));
  for (const pid of ['2000', '30855']) renameSync(join(root, 'proc', pid), join(saved, pid));
  renameSync(ordersDir(root), join(saved, 'cgroup'));
  pods = pods.filter((pod) => pod.uid !== ORDERS);
  await nodeAgent.scanOnce();
  for (const name of ['pidguard_pod_threads', 'pidguard_pod_pids_peak', 'pidguard_pod_pids_budget']) {
    expect((await lines(nodeAgent, name)).filter((line) => line.includes(ORDERS))).toEqual([]);
  }
  // Back on the node (a new scheduling would have a new UID; this proves the peak was forgotten).
  for (const pid of ['2000', '30855']) renameSync(join(saved, pid), join(root, 'proc', pid));
  renameSync(join(saved, 'cgroup'), ordersDir(root));
  rmSync(saved, { recursive: true });
  writeFileSync(join(ordersDir(root), 'pids.current'), '40\n');
  pods = readPodsFile(join(root, 'pods.yaml'));
  await nodeAgent.scanOnce();
  expect(await lines(nodeAgent, 'pidguard_pod_pids_peak')).toContain(`pidguard_pod_pids_peak{${ORDERS_LABELS}} 40`);
});
