// The agent on a copy of the incident tree: enforcement only lowers, findings
// are reported once, metrics carry the pods, and a reporter sees each change.

import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LogLevel } from '../../../src/log.js';
import { NodeAgent, type AgentNamespaceLabels, type AgentScanResult, type ClusterReporter } from '../../../src/node/agent.js';
import { parseConfig } from '../../../src/policy/config.js';
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
let logs: Array<{ level: LogLevel; message: string; fields?: Record<string, unknown> }>;

interface AgentTestOptions {
  enforce?: boolean;
  /** Collects every scan result, as a reporter that always succeeds. */
  reports?: AgentScanResult[];
  /** A reporter of the test's own (instead of `reports`). */
  reporter?: ClusterReporter;
  namespaceLabels?: AgentNamespaceLabels;
  unenforcedGraceMs?: number;
  ceiling?: number;
}

function agent(options: AgentTestOptions = {}) {
  return new NodeAgent({
    procRoot: join(root, 'proc'),
    cgroupRoot: join(root, 'sys/fs/cgroup'),
    nodeName: 'worker-7',
    thresholds: { warningRatio: 0.7, criticalRatio: 0.9 },
    top: 5,
    enforce: options.enforce ?? true,
    pods: () => pods,
    log: (level, message, fields) => logs.push({ level, message, ...(fields ? { fields } : {}) }),
    ...(options.ceiling !== undefined ? { config: parseConfig({ pids: { ceiling: options.ceiling }, dotnet: { pidsLimit: Math.min(1024, options.ceiling) } }) } : {}),
    ...(options.namespaceLabels ? { namespaceLabels: options.namespaceLabels } : {}),
    ...(options.unenforcedGraceMs !== undefined ? { unenforcedGraceMs: options.unenforcedGraceMs } : {}),
    ...(options.reports ? { reporter: { report: async (result: AgentScanResult) => void options.reports?.push(result) } } : {}),
    ...(options.reporter ? { reporter: options.reporter } : {}),
  });
}

/** Namespace labels as the agent's cache would answer them, recording what it was asked to refresh. */
function namespaceLabels(answers: Record<string, Record<string, string> | string>, refreshed: string[][] = []): AgentNamespaceLabels {
  return {
    refresh: async (namespaces) => void refreshed.push([...namespaces]),
    labelsOf: (namespace) => {
      const answer = answers[namespace];
      if (answer === undefined) return { labels: {} };
      return typeof answer === 'string' ? { problem: answer } : { labels: answer };
    },
  };
}

const pidsMax = (dir: string) => readFileSync(join(dir, 'pids.max'), 'utf8').trim();
const metricLine = async (nodeAgent: NodeAgent, name: string) => (await nodeAgent.metrics.registry.metrics()).split('\n').filter((line) => line.startsWith(name));

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
    expect(logs).toContainEqual(expect.objectContaining({ level: 'info', message: 'pids-limit lowered' }));
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

  test('a write the kernel refuses is reported as failed, not thrown', () => {
    annotate(ORDERS, '4096');
    const scan = scanNode({ procRoot: join(root, 'proc'), cgroupRoot: join(root, 'sys/fs/cgroup'), pods, top: 5 });
    const actions = enforcePidsLimits(scan, {
      write: () => {
        throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      },
    });
    expect(actions.filter((action) => action.pod.uid === ORDERS)).toEqual([
      expect.objectContaining({ outcome: 'failed', failure: 'write-refused', reason: expect.stringContaining('EACCES') }),
    ]);
  });
});

describe('the pids-limit ceiling (policy config and namespace label)', () => {
  test('an annotation above the ceiling is written as the ceiling, loudly and once', async () => {
    annotate(ORDERS, '4194304');
    const nodeAgent = agent();
    const first = await nodeAgent.scanOnce();
    expect(pidsMax(ordersDir(root))).toBe('4096');
    expect(first.enforcement).toContainEqual(expect.objectContaining({ outcome: 'lowered', limit: 4096, after: 4096, adjustment: expect.stringContaining('above the ceiling 4096') }));
    expect(first.findings.newAdjustments).toHaveLength(1);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', message: 'pids-limit adjusted' }));
    expect(await metricLine(nodeAgent, 'pidguard_agent_pids_limit_adjustments_total')).toEqual(['pidguard_agent_pids_limit_adjustments_total 1']);
    const second = await nodeAgent.scanOnce();
    expect(second.findings.newAdjustments).toEqual([]);
    expect(await metricLine(nodeAgent, 'pidguard_agent_pids_limit_adjustments_total')).toEqual(['pidguard_agent_pids_limit_adjustments_total 1']);
  });

  test('an invalid annotation is replaced by min(dotnet.pidsLimit, ceiling), never "no limit"', async () => {
    annotate(BILLING, 'lots');
    const result = await agent({ ceiling: 512 }).scanOnce();
    expect(pidsMax(billingDir(root))).toBe('512');
    expect(result.enforcement).toContainEqual(expect.objectContaining({ pod: expect.objectContaining({ uid: BILLING }), outcome: 'lowered', limit: 512, adjustment: expect.stringContaining('"lots" is not a whole number') }));
  });

  test('the namespace label raises the ceiling for its pods; only the namespaces of annotated pods are read', async () => {
    annotate(ORDERS, '8000');
    const refreshed: string[][] = [];
    const result = await agent({ namespaceLabels: namespaceLabels({ shop: { 'pidguard.io/pids-limit-ceiling': '10000' } }, refreshed) }).scanOnce();
    expect(pidsMax(ordersDir(root))).toBe('8000');
    expect(result.enforcement.find((action) => action.pod.uid === ORDERS)).toMatchObject({ outcome: 'lowered', limit: 8000 });
    expect(result.enforcement.find((action) => action.pod.uid === ORDERS)?.adjustment).toBeUndefined();
    expect(refreshed.map((names) => [...names].sort())).toEqual([['analytics', 'shop']]);
  });

  test('an invalid namespace label or unreadable labels mean the config ceiling, with a warning', async () => {
    annotate(ORDERS, '8000');
    await agent({ namespaceLabels: namespaceLabels({ shop: { 'pidguard.io/pids-limit-ceiling': 'huge' } }) }).scanOnce();
    expect(pidsMax(ordersDir(root))).toBe('4096');
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', message: 'namespace pids-limit ceiling unknown or invalid', fields: { namespace: 'shop', warning: expect.stringContaining('"huge"') } }));
    writeFileSync(join(ordersDir(root), 'pids.max'), 'max\n');
    logs = [];
    await agent({ namespaceLabels: namespaceLabels({ shop: 'cannot read the labels of namespace shop: forbidden (403)' }) }).scanOnce();
    expect(pidsMax(ordersDir(root))).toBe('4096');
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', fields: { namespace: 'shop', warning: expect.stringContaining('forbidden (403); the config ceiling 4096 applies') } }));
  });

  test('never raises: a clamped value above the current pids.max leaves it alone', async () => {
    writeFileSync(join(ordersDir(root), 'pids.max'), '1000\n');
    annotate(ORDERS, '99999');
    const result = await agent().scanOnce();
    expect(pidsMax(ordersDir(root))).toBe('1000');
    expect(result.enforcement).toContainEqual(expect.objectContaining({ outcome: 'unchanged', limit: 4096, before: 1000 }));
  });
});

describe('a limit that cannot be applied is loud', () => {
  const pending = { uid: '99999999-9999-4999-8999-999999999999', namespace: 'shop', name: 'pending', annotations: { 'pidguard.io/pids-limit': '100' } };

  test('a pod without a cgroup: failed with the reason; after the grace period a warning, a metric and an unenforced pod, once', async () => {
    pods.push(pending);
    const nodeAgent = agent({ unenforcedGraceMs: 0 });
    const first = await nodeAgent.scanOnce();
    expect(first.enforcement).toContainEqual(expect.objectContaining({ pod: expect.objectContaining({ name: 'pending' }), outcome: 'failed', failure: 'cgroup-not-found', reason: expect.stringContaining('pod cgroup not found') }));
    expect(first.findings.newFailures).toHaveLength(1);
    expect(first.findings.enforcementChanges).toHaveLength(1);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', message: 'pids-limit not enforced' }));
    expect(await metricLine(nodeAgent, 'pidguard_agent_enforcement_failures_total{reason="cgroup-not-found"}')).toEqual(['pidguard_agent_enforcement_failures_total{reason="cgroup-not-found"} 1']);
    expect(await metricLine(nodeAgent, 'pidguard_agent_pods_unenforced{reason="cgroup-not-found"}')).toEqual(['pidguard_agent_pods_unenforced{reason="cgroup-not-found"} 1']);
    const second = await nodeAgent.scanOnce();
    expect(second.findings).toMatchObject({ newFailures: [], enforcementChanges: [], unenforced: [expect.objectContaining({ failure: 'cgroup-not-found' })] });
    expect(await metricLine(nodeAgent, 'pidguard_agent_enforcement_failures_total{reason="cgroup-not-found"}')).toEqual(['pidguard_agent_enforcement_failures_total{reason="cgroup-not-found"} 1']);
  });

  test('within the grace period a starting pod is not reported', async () => {
    pods.push(pending);
    const result = await agent().scanOnce();
    expect(result.findings).toMatchObject({ newFailures: [], unenforced: [] });
    expect(logs.filter((line) => line.message === 'pids-limit not enforced')).toEqual([]);
  });

  test('a pod cgroup without a readable pids.max is reported once', async () => {
    annotate(ORDERS, '300');
    const nodeAgent = agent();
    // The pids controller not enabled for the pod cgroup (cgroup v2 subtree_control): no pids.max.
    rmSync(join(ordersDir(root), 'pids.max'));
    const first = await nodeAgent.scanOnce();
    expect(first.enforcement).toContainEqual(expect.objectContaining({ outcome: 'failed', failure: 'no-pids-max' }));
    expect(first.findings.newFailures).toHaveLength(1);
    expect((await nodeAgent.scanOnce()).findings.newFailures).toEqual([]);
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

  test('a node at ok raises no ThreadHog, however big its pods: not every scan, not once', async () => {
    const reports: AgentScanResult[] = [];
    const nodeAgent = agent({ reports });
    writeFileSync(join(root, 'proc/loadavg'), '1.00 1.00 1.00 2/9000 30855\n');
    await nodeAgent.scanOnce();
    await nodeAgent.scanOnce();
    expect(reports.map((report) => [report.verdict.level, report.findings.newOffenders.length])).toEqual([['ok', 0], ['ok', 0]]);
  });

  test('a reporter that fails is logged and counted; the scan result stands', async () => {
    const nodeAgent = agent({ enforce: false, reporter: { report: async () => Promise.reject(new Error('API server unreachable (ECONNREFUSED)')) } });
    expect(await nodeAgent.metrics.registry.getSingleMetricAsString('pidguard_agent_report_failures_total')).toContain('pidguard_agent_report_failures_total 0');
    const result = await nodeAgent.scanOnce();
    await nodeAgent.scanOnce();
    expect(result.verdict.level).toBe('critical');
    expect(logs).toContainEqual({ level: 'warn', message: 'could not report to the API server', fields: { error: 'API server unreachable (ECONNREFUSED)' } });
    expect(await nodeAgent.metrics.registry.getSingleMetricAsString('pidguard_agent_report_failures_total')).toContain('pidguard_agent_report_failures_total 2');
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

describe('unreadable processes', () => {
  test('are a warn log once per episode (with the metric), not only a metric', async () => {
    mkdirSync(join(root, 'proc/70/status'), { recursive: true });
    const nodeAgent = agent();
    await nodeAgent.scanOnce();
    const warned = () => logs.filter((entry) => entry.message === 'processes unreadable: their threads are not attributed to pods');
    expect(warned()).toEqual([expect.objectContaining({ level: 'warn', fields: expect.objectContaining({ unreadable: 1, examples: [expect.objectContaining({ pid: 70 })] }) })]);
    expect(await metricLine(nodeAgent, 'pidguard_scan_skipped_processes{reason="unreadable"}')).toEqual(['pidguard_scan_skipped_processes{reason="unreadable"} 1']);
    await nodeAgent.scanOnce();
    expect(warned()).toHaveLength(1);
    rmSync(join(root, 'proc/70'), { recursive: true });
    await nodeAgent.scanOnce();
    mkdirSync(join(root, 'proc/71/status'), { recursive: true });
    await nodeAgent.scanOnce();
    expect(warned()).toHaveLength(2);
  });
});
