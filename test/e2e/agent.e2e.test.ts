// The node agent against the real API server: a Node object and Pods bound to
// it by spec.nodeName (no kubelet needed), a procfs/cgroup tree of that node
// with the incident's numbers and the pods' real UIDs in its cgroup paths, and
// `pidguard agent --once` watching the node's pods. It must record Events on
// the Node and on the offending Pod, enforce the annotated pod's pids-limit,
// and set the PIDPressureRisk node condition; a healthy scan clears it.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { writeSyntheticNode } from '../fixtures/node/synthetic-node.mjs';
import { apis, cluster, createNamespace, kubeconfigPath, kubectl, kubectlOk, uniqueName, waitFor } from './harness.js';

const core = () => apis('admin').core;

let nodeName: string;
let namespace: string;
let root: string;
let orders: V1Pod;
let billing: V1Pod;

function pod(name: string, annotations: Record<string, string> = {}, podNamespace = namespace) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: podNamespace, annotations },
    spec: {
      nodeName,
      containers: [{ name: 'app', image: 'registry.example.com/shop/app:1.0', resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } } }],
    },
  };
}

function podCgroup(uid: string): string {
  return `/kubepods/burstable/pod${uid}`;
}

/** The incident node: 31,635 of 32,768 tasks, orders holding 21,317 threads and billing 7,853 (+ extra pods' processes). */
function writeNode(tasks: number, extra: V1Pod[] = []): { proc: string; cgroupRoot: string } {
  const ordersUid = orders.metadata?.uid as string;
  const billingUid = billing.metadata?.uid as string;
  return writeSyntheticNode(root, {
    pidMax: 32768,
    threadsMax: 255596,
    tasks,
    cgroupVersion: 'v1',
    processes: [
      { pid: 1, name: 'systemd', threads: 1, argv: ['/sbin/init'] },
      { pid: 30855, name: 'dotnet', threads: 21317, argv: ['dotnet', 'Orders.Api.dll'], cgroup: `${podCgroup(ordersUid)}/${'1'.repeat(64)}` },
      { pid: 15466, name: 'dotnet', threads: 7853, argv: ['dotnet', 'Billing.Worker.dll'], cgroup: `${podCgroup(billingUid)}/${'2'.repeat(64)}` },
      ...extra.map((pod, index) => ({ pid: 40000 + index, name: 'worker', threads: 20, argv: ['/app/worker'], cgroup: `${podCgroup(pod.metadata?.uid as string)}/${'3'.repeat(64)}` })),
    ],
    cgroups: [
      { path: podCgroup(ordersUid), current: 21317, max: 'max' },
      { path: podCgroup(billingUid), current: 7853, max: 'max' },
      ...extra.map((pod) => ({ path: podCgroup(pod.metadata?.uid as string), current: 20, max: 'max' as const })),
    ],
  });
}

function agentArgs(): string[] {
  const c = cluster();
  return [join(c.repoDir, 'bin/pidguard.js'), 'agent', '--kubeconfig', kubeconfigPath('admin'), '--node-name', nodeName, '--proc', join(root, 'proc'), '--cgroup-root', join(root, 'sys/fs/cgroup')];
}

function runAgentOnce(extra: string[] = []): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...agentArgs(), '--once', ...extra], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
    const err: Buffer[] = [];
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 128, stderr: Buffer.concat(err).toString() }));
  });
}

async function eventsFor(kind: string, name: string, eventNamespace: string): Promise<CoreV1Event[]> {
  const list = await core().listNamespacedEvent({ namespace: eventNamespace, fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}` });
  return list.items;
}

async function riskCondition() {
  const node = await core().readNode({ name: nodeName });
  return node.status?.conditions?.find((condition) => condition.type === 'PIDPressureRisk');
}

beforeAll(async () => {
  nodeName = uniqueName('worker');
  await kubectlOk(['create', '-f', '-'], { input: { apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName } } });
  // Mode off: this test is about the agent, not about what admission would change in these pods.
  namespace = await createNamespace('agent', { 'pidguard.io/mode': 'off' });
  orders = await core().createNamespacedPod({ namespace, body: pod('orders-api-0') });
  billing = await core().createNamespacedPod({ namespace, body: pod('billing-worker-0', { 'pidguard.io/pids-limit': '4096' }) });
  root = mkdtempSync(join(tmpdir(), 'pidguard-agent-e2e-'));
});

afterAll(async () => {
  rmSync(root, { recursive: true, force: true });
  await kubectlOk(['delete', 'namespace', namespace, '--wait=false']);
  await kubectlOk(['delete', 'node', nodeName, '--wait=false']);
});

test('a critical scan records Events on the Node and the Pods, enforces pids-limit and sets PIDPressureRisk', async () => {
  writeNode(31635);
  const run = await runAgentOnce();
  expect(run.stderr).not.toContain('"level":"error"');
  expect(run.stderr).not.toContain('could not report');
  expect(run.code).toBe(2);

  const nodeEvents = await eventsFor('Node', nodeName, 'default');
  expect(nodeEvents).toContainEqual(
    expect.objectContaining({
      reason: 'PIDPressureRisk',
      type: 'Warning',
      message: expect.stringContaining('31,635 of 32,768 PIDs in use'),
      source: expect.objectContaining({ component: 'pidguard-agent', host: nodeName }),
    }),
  );
  expect(nodeEvents[0]?.message).toContain(`pod ${namespace}/orders-api-0 holds`);

  const ordersEvents = await eventsFor('Pod', 'orders-api-0', namespace);
  expect(ordersEvents).toContainEqual(
    expect.objectContaining({ reason: 'ThreadHog', type: 'Warning', message: expect.stringContaining('biggest: PID 30855 dotnet, .NET, 21,317 threads'), involvedObject: expect.objectContaining({ uid: orders.metadata?.uid }) }),
  );
  const billingEvents = await eventsFor('Pod', 'billing-worker-0', namespace);
  expect(billingEvents.map((event) => event.reason).sort()).toEqual(['PidsLimitEnforced', 'ThreadHog']);
  expect(readFileSync(join(root, 'sys/fs/cgroup/pids', podCgroup(billing.metadata?.uid as string), 'pids.max'), 'utf8').trim()).toBe('4096');

  expect(await riskCondition()).toMatchObject({ status: 'True', reason: 'PIDUsageCritical', message: expect.stringContaining('31,635 of 32,768') });
});

test('a healthy scan clears PIDPressureRisk', async () => {
  writeFileSync(join(root, 'proc/loadavg'), '0.50 0.40 0.30 1/2100 30855\n');
  const run = await runAgentOnce();
  expect(run.stderr).not.toContain('could not report');
  expect(run.code).toBe(0);
  const condition = await riskCondition();
  expect(condition).toMatchObject({ status: 'False', reason: 'PIDUsageOK' });
  expect(condition?.lastTransitionTime).toBeDefined();
});

test('the running agent sees a pod created after it started (watch by spec.nodeName) and enforces its pids-limit', async () => {
  writeNode(2100);
  const agent = spawn(process.execPath, [...agentArgs(), '--interval', '200ms', '--metrics-port', '0', '--metrics-host', '127.0.0.1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH ?? '' },
  });
  const stderr: Buffer[] = [];
  agent.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  try {
    await waitFor('the agent to start', async () => Buffer.concat(stderr).toString().includes('"agent started"'));
    const late = await core().createNamespacedPod({ namespace, body: pod('late-worker-0', { 'pidguard.io/pids-limit': '64' }) });
    // A pod on another node must not reach this agent.
    const elsewhere = await core().createNamespacedPod({ namespace, body: { ...pod('elsewhere-0', { 'pidguard.io/pids-limit': '8' }), spec: { ...pod('x').spec, nodeName: `${nodeName}-other` } } });
    writeNode(2100, [late, elsewhere]);
    const pidsMax = join(root, 'sys/fs/cgroup/pids', podCgroup(late.metadata?.uid as string), 'pids.max');
    await waitFor('pids.max of the late pod to be 64', async () => readFileSync(pidsMax, 'utf8').trim() === '64');
    const events = await waitFor('the PidsLimitEnforced Event', async () => (await eventsFor('Pod', 'late-worker-0', namespace)).find((event) => event.reason === 'PidsLimitEnforced'));
    expect(events.message).toContain('set pids.max of the pod cgroup to 64 (was max)');
    expect(readFileSync(join(root, 'sys/fs/cgroup/pids', podCgroup(elsewhere.metadata?.uid as string), 'pids.max'), 'utf8').trim()).toBe('max');
  } finally {
    const exited = new Promise((resolve) => agent.once('exit', resolve));
    agent.kill('SIGTERM');
    await exited;
  }
  expect(Buffer.concat(stderr).toString()).not.toContain('"level":"error"');
});

test('the namespace ceiling label is read from the API server; a pod above it is clamped, one without a cgroup is reported on the pod and the node', async () => {
  const ceilingNamespace = await createNamespace('agent-ceiling', { 'pidguard.io/mode': 'off', 'pidguard.io/pids-limit-ceiling': '2000' });
  try {
    const greedy = await core().createNamespacedPod({ namespace: ceilingNamespace, body: pod('greedy-0', { 'pidguard.io/pids-limit': '3000' }, ceilingNamespace) });
    await core().createNamespacedPod({ namespace: ceilingNamespace, body: pod('no-cgroup-0', { 'pidguard.io/pids-limit': '100' }, ceilingNamespace) });
    writeNode(2100, [greedy]);
    const { stderr } = await runAgentOnce(['--unenforced-grace', '0s']);
    expect(stderr).toContain('"msg":"pids-limit adjusted"');
    expect(stderr).toContain('"msg":"pids-limit not enforced"');
    expect(readFileSync(join(root, 'sys/fs/cgroup/pids', podCgroup(greedy.metadata?.uid as string), 'pids.max'), 'utf8').trim()).toBe('2000');
    const adjusted = await waitFor('the PidsLimitAdjusted Event', async () => (await eventsFor('Pod', 'greedy-0', ceilingNamespace)).find((event) => event.reason === 'PidsLimitAdjusted'));
    expect(adjusted.message).toContain('above the ceiling 2000; lowered to 2000');
    const failed = await waitFor('the PidsLimitEnforcementFailed Event', async () => (await eventsFor('Pod', 'no-cgroup-0', ceilingNamespace)).find((event) => event.reason === 'PidsLimitEnforcementFailed'));
    expect(failed.message).toContain('pod cgroup not found');
    expect(await riskCondition()).toMatchObject({ status: 'True', reason: 'PidsLimitNotEnforced', message: expect.stringContaining(`${ceilingNamespace}/no-cgroup-0 (cgroup-not-found)`) });
  } finally {
    await kubectlOk(['delete', 'namespace', ceilingNamespace, '--wait=false']);
  }
});

test('with --policy-reports, a pod whose limit is not enforced is a result of the Report pidguard-node-<node> of its namespace, which goes when the pod does', async () => {
  await kubectlOk(['apply', '--server-side', '-f', join(cluster().repoDir, 'manifests/components/policy-reports/openreports.io_reports.yaml')]);
  await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd/reports.openreports.io']);
  await waitFor('reports.openreports.io to be served', async () => (await kubectl(['get', 'reports.openreports.io', '-A'])).code === 0);
  const reportsNamespace = await createNamespace('agent-reports', { 'pidguard.io/mode': 'off' });
  const reportName = `pidguard-node-${nodeName}`;
  const readReport = async () => {
    const result = await kubectl(['get', 'reports.openreports.io', reportName, '-n', reportsNamespace, '-o', 'json']);
    return result.code === 0 ? JSON.parse(result.stdout) as { metadata: { uid: string }; summary: { fail: number }; results: Array<{ rule: string; severity: string; message: string; resources: Array<{ kind: string; name: string }> }> } : undefined;
  };
  try {
    await core().createNamespacedPod({ namespace: reportsNamespace, body: pod('lost-0', { 'pidguard.io/pids-limit': '100' }, reportsNamespace) });
    writeNode(2100);
    // Earlier tests' pods stay on this kubelet-less node in terminating namespaces, where writes are refused (and logged): only this namespace's matter.
    const first = await runAgentOnce(['--unenforced-grace', '0s', '--policy-reports']);
    expect(first.stderr).not.toContain(`in namespace ${reportsNamespace}`);
    const report = await readReport();
    expect(report?.summary.fail).toBe(1);
    expect(report?.results[0]).toMatchObject({ rule: 'pids-limit-enforcement', severity: 'high', resources: [{ kind: 'Pod', name: 'lost-0' }] });
    expect(report?.results[0]?.message).toMatch(/pids-limit 100 not enforced on node .* \(cgroup-not-found\).*Fix: /);
    // A later agent (restarted: --once) with the pod gone deletes the report it finds.
    await core().deleteNamespacedPod({ name: 'lost-0', namespace: reportsNamespace, gracePeriodSeconds: 0 });
    await waitFor('the pod to be gone', async () => (await kubectl(['get', 'pod', 'lost-0', '-n', reportsNamespace])).code !== 0);
    const second = await runAgentOnce(['--unenforced-grace', '0s', '--policy-reports']);
    expect(second.stderr).not.toContain(`in namespace ${reportsNamespace}`);
    expect(await readReport()).toBeUndefined();
  } finally {
    await kubectlOk(['delete', 'namespace', reportsNamespace, '--wait=false']);
  }
});
