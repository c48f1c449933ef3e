// The agent on a copy of the incident tree: enforcement only lowers, findings
// are reported once, metrics carry the pods, and a reporter sees each change.

import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LogLevel } from '../../../src/log.js';
import { NodeAgent, type AgentScanResult } from '../../../src/node/agent.js';
import { enforcePidsLimits } from '../../../src/node/enforce.js';
import { readPodsFile, type NodePod } from '../../../src/node/pods.js';
import { scanNode } from '../../../src/node/scan.js';

const fixture = fileURLToPath(new URL('../../fixtures/node/incident', import.meta.url));
const ORDERS = '3f1c9a52-8d4e-4b1a-9c67-0e2d5f8a1b01';
const BILLING = '7b2e4d11-5a3c-4f8e-b1d2-6c9e0a7f3d22';
const ordersDir = (root: string) => join(root, 'sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice', `kubepods-burstable-pod${ORDERS.replace(/-/g, '_')}.slice`);
const billingDir = (root: string) => join(root, 'sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice', `kubepods-burstable-pod${BILLING.replace(/-/g, '_')}.slice`);

let root: string;
let pods: NodePod[];
let logs: Array<{ level: LogLevel; message: string }>;

function agent(options: { enforce?: boolean; reports?: AgentScanResult[] } = {}) {
  return new NodeAgent({
    procRoot: join(root, 'proc'),
    cgroupRoot: join(root, 'sys/fs/cgroup'),
    nodeName: 'worker-7',
    thresholds: { warningRatio: 0.7, criticalRatio: 0.9 },
    top: 5,
    enforce: options.enforce ?? true,
    pods: () => pods,
    log: (level, message) => logs.push({ level, message }),
    ...(options.reports ? { reporter: { report: async (result: AgentScanResult) => void options.reports?.push(result) } } : {}),
  });
}

function annotate(uid: string, limit: string) {
  pods = pods.map((pod) => (pod.uid === uid ? { ...pod, annotations: { ...pod.annotations, 'pidguard.io/pids-limit': limit } } : pod));
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'pidguard-agent-'));
  cpSync(fixture, root, { recursive: true });
  pods = readPodsFile(join(root, 'pods.yaml'));
  logs = [];
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('enforcement', () => {
  test('writes the annotation into pids.max when it lowers it, and says so', async () => {
    annotate(ORDERS, '4096');
    const result = await agent().scanOnce();
    expect(readFileSync(join(ordersDir(root), 'pids.max'), 'utf8').trim()).toBe('4096');
    expect(result.enforcement).toContainEqual(expect.objectContaining({ pod: { uid: ORDERS, namespace: 'shop', name: 'orders-api-7f9c6d5b8-2xkqp' }, outcome: 'lowered', before: 'max', after: 4096 }));
    expect(result.findings.enforcementChanges).toHaveLength(1);
    expect(logs).toContainEqual({ level: 'info', message: 'pids-limit lowered' });
  });

  test('never raises: an annotation above the current pids.max leaves it alone', async () => {
    writeFileSync(join(ordersDir(root), 'pids.max'), '1000\n');
    annotate(ORDERS, '5000');
    const result = await agent().scanOnce();
    expect(readFileSync(join(ordersDir(root), 'pids.max'), 'utf8').trim()).toBe('1000');
    expect(result.enforcement).toContainEqual(expect.objectContaining({ outcome: 'unchanged', before: 1000 }));
  });

  test('--no-enforce writes nothing', async () => {
    annotate(ORDERS, '4096');
    const result = await agent({ enforce: false }).scanOnce();
    expect(readFileSync(join(ordersDir(root), 'pids.max'), 'utf8').trim()).toBe('max');
    expect(result.enforcement).toEqual([]);
  });

  test('an invalid annotation is skipped with the reason; a pod without a cgroup is skipped', async () => {
    annotate(BILLING, 'lots');
    pods.push({ uid: '99999999-9999-4999-8999-999999999999', namespace: 'shop', name: 'pending', annotations: { 'pidguard.io/pids-limit': '100' } });
    const result = await agent().scanOnce();
    expect(readFileSync(join(billingDir(root), 'pids.max'), 'utf8').trim()).toBe('max');
    expect(result.enforcement).toContainEqual(expect.objectContaining({ pod: expect.objectContaining({ uid: BILLING }), outcome: 'skipped', reason: expect.stringContaining('got "lots"') }));
    expect(result.enforcement).toContainEqual(expect.objectContaining({ pod: expect.objectContaining({ name: 'pending' }), outcome: 'skipped', reason: expect.stringContaining('pod cgroup not found') }));
  });

  test('a write the kernel refuses is reported as failed, not thrown', () => {
    annotate(ORDERS, '4096');
    const scan = scanNode({ procRoot: join(root, 'proc'), cgroupRoot: join(root, 'sys/fs/cgroup'), pods, top: 5 });
    const actions = enforcePidsLimits(scan, () => {
      throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    });
    expect(actions).toContainEqual(expect.objectContaining({ pod: expect.objectContaining({ uid: ORDERS }), outcome: 'failed', reason: expect.stringContaining('EACCES') }));
  });
});

describe('findings and reporting', () => {
  test('the first scan reports the critical level and both offenders once; a steady second scan reports nothing new', async () => {
    const reports: AgentScanResult[] = [];
    const nodeAgent = agent({ reports });
    await nodeAgent.scanOnce();
    await nodeAgent.scanOnce();
    expect(reports).toHaveLength(2);
    expect(reports[0]?.findings).toMatchObject({ previousLevel: undefined, levelChanged: true });
    expect(reports[0]?.findings.newOffenders.map((holder) => holder.biggest.pid)).toEqual([30855, 15466]);
    expect(reports[0]?.findings.newlyRefusing.map((pod) => pod.name)).toEqual(['report-svc-0']);
    expect(reports[1]?.findings).toMatchObject({ previousLevel: 'critical', levelChanged: false, newOffenders: [], newlyRefusing: [], enforcementChanges: [] });
  });

  test('a pod that keeps hitting its limit is reported once, not every scan', async () => {
    const reports: AgentScanResult[] = [];
    const nodeAgent = agent({ reports });
    const events = join(root, 'sys/fs/cgroup/kubepods.slice', 'kubepods-pod0a1b2c3d_4444_4555_b666_777788889999.slice', 'pids.events');
    await nodeAgent.scanOnce();
    writeFileSync(events, 'max 10\n');
    await nodeAgent.scanOnce();
    expect(reports.map((report) => report.findings.newlyRefusing.map((pod) => pod.name))).toEqual([['report-svc-0'], []]);
    expect(reports[1]?.scan.pods.find((pod) => pod.name === 'report-svc-0')?.pids.refusedForks).toBe(10);
  });

  test('usage dropping below the warning ratio is a level change back to ok', async () => {
    const reports: AgentScanResult[] = [];
    const nodeAgent = agent({ reports });
    await nodeAgent.scanOnce();
    writeFileSync(join(root, 'proc/loadavg'), '1.00 1.00 1.00 2/9000 30855\n');
    await nodeAgent.scanOnce();
    expect(reports[1]?.verdict.level).toBe('ok');
    expect(reports[1]?.findings).toMatchObject({ previousLevel: 'critical', levelChanged: true });
  });

  test('a reporter that fails is logged; the scan result stands', async () => {
    const nodeAgent = new NodeAgent({
      procRoot: join(root, 'proc'),
      cgroupRoot: join(root, 'sys/fs/cgroup'),
      nodeName: 'worker-7',
      thresholds: { warningRatio: 0.7, criticalRatio: 0.9 },
      top: 5,
      enforce: false,
      pods: () => pods,
      log: (level, message) => logs.push({ level, message }),
      reporter: { report: async () => Promise.reject(new Error('API server unreachable (ECONNREFUSED)')) },
    });
    const result = await nodeAgent.scanOnce();
    expect(result.verdict.level).toBe('critical');
    expect(logs).toContainEqual({ level: 'warn', message: 'could not report to the API server' });
  });

  test('metrics: node gauges, top processes with pod labels, per-pod pids', async () => {
    const nodeAgent = agent();
    await nodeAgent.scanOnce();
    const text = await nodeAgent.metrics.registry.metrics();
    expect(text).toContain('pidguard_node_tasks 31635');
    expect(text).toContain('pidguard_node_pid_ceiling 32768');
    expect(text).toContain('pidguard_node_verdict{level="critical"} 1');
    expect(text).toMatch(/pidguard_process_threads\{pid="30855",command="dotnet",runtime="\.NET",namespace="shop",pod="orders-api-7f9c6d5b8-2xkqp",container="1111111111111"\} 21317/);
    expect(text).toMatch(/pidguard_pod_pids_current\{namespace="shop",pod="orders-api-7f9c6d5b8-2xkqp",uid="3f1c9a52[^"]+"\} 21318/);
    expect(text).toMatch(/pidguard_pod_pids_max\{namespace="analytics",pod="report-svc-0",uid="[^"]+"\} 2048/);
    expect(text).toMatch(/pidguard_pod_pids_refused_forks\{namespace="analytics",pod="report-svc-0",uid="[^"]+"\} 3/);
    expect(text).toContain('pidguard_scan_duration_seconds_count 1');
    expect(text).toMatch(/pidguard_agent_threads \d+/);
  });
});
