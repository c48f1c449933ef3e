// The seed incident, replayed in real pods on the real node. The top kubepods
// cgroup's pids.max (the kubelet's: pid_max minus systemReserved.pid, 2,500
// here) stands for the incident node's pid_max: everything the pods take comes
// out of it. A .NET pod (by image name, through the webhook, so it gets
// pidguard.io/pids-limit=1024) starts threads without end, as the leaking
// services did.
//   - with the agent enforcing: the bomb stops at its limit, the rest of the node
//     keeps working, the agent names the pod; a second bomb of single-threaded
//     processes brings the pods near their real ceiling: PIDPressureRisk, and
//     `pidguard node` names both pods; the bomb container killed and restarted
//     by the kubelet stops at the same limit;
//   - the control run, agent stopped: the same bomb takes the pods' whole
//     ceiling and a new pod cannot start, as on the incident node.
// The figures (threads taken, headroom left, time to name the pod) are printed.

import { jest } from '@jest/globals';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { apis, createNamespace, kubectlOk, waitFor } from './harness.js';
import {
  SMALL, assertPodsCapped, cgroupValue, containerId, deletePods, execIn, hostPid, kubepods, node, nodePod, nodeReady, pidguardNode,
  podCgroup, podLog, refusedForks, runningPod, startAgent, type AgentProcess, type NodeReport,
} from './node.js';

/** Threads (or processes) per second: a fast leak, but one the agent's 1 s scans can follow. */
const RATE = '500';
const DOTNET_LIMIT = 1024;
const SLEEP = ['/bin/sleep', '3600'];

jest.setTimeout(240_000);

interface Figures {
  run: string;
  threadsTaken: number;
  podsCeiling: number;
  headroomLeft: number;
  newPodStarted: boolean;
  secondsToNameThePod?: number;
  namedBy?: string;
}
const figures: Figures[] = [];

let namespace: string;

beforeAll(async () => {
  assertPodsCapped();
  namespace = await createNamespace('incident');
});

afterAll(() => {
  // The numbers of the replay, for docs/E2E.md and the README's replay table.
  process.stdout.write(`\nincident replay on the real node:\n${figures.map((f) => JSON.stringify(f)).join('\n')}\n`);
});

/** Room for 1,300 processes' kernel and page-table memory (64Mi gets the process bomb OOM-killed). */
const PROCESS_BOMB_RESOURCES = { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '512Mi' } };

function bombPod(name: string, mode: 'threads' | 'procs', extra: { dotnet?: boolean; annotations?: Record<string, string> } = {}) {
  return nodePod(name, namespace, {
    ...(extra.dotnet ? { image: node().images.dotnet } : { resources: PROCESS_BOMB_RESOURCES }),
    command: ['/bomb', mode, RATE],
    ...(extra.annotations ? { annotations: extra.annotations } : {}),
  });
}

async function podEvents(name: string): Promise<CoreV1Event[]> {
  return (await apis().core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=Pod,involvedObject.name=${name}` })).items;
}

async function eventFor(name: string, reason: string, timeoutMs = 60_000): Promise<CoreV1Event> {
  return waitFor(`a ${reason} Event on pod ${name}`, async () => (await podEvents(name)).find((event) => event.reason === reason), timeoutMs);
}

/** Waits until the pids controller refuses the container's forks: the bomb is at a limit. */
async function bombAtLimit(pod: V1Pod): Promise<string> {
  const dir = `${podCgroup(pod)}/${containerId(pod, 'app')}`;
  await waitFor(`${pod.metadata?.name}'s forks to be refused`, async () => refusedForks(dir) > 0, 60_000);
  return dir;
}

async function riskCondition() {
  const read = await apis().core.readNode({ name: node().name });
  return read.status?.conditions?.find((condition) => condition.type === 'PIDPressureRisk');
}

function named(report: NodeReport, name: string) {
  return report.top.find((process) => process.pod?.namespace === namespace && process.pod.name === name);
}

describe('with the agent enforcing', () => {
  let agent: AgentProcess;
  let orders: V1Pod;
  let created: number;

  beforeAll(async () => {
    agent = await startAgent({ intervalMs: 1000 });
  });
  afterAll(async () => {
    await agent.stop();
    await deletePods(namespace, ['orders-api', 'billing-worker', 'probe']);
  });

  it('stops the .NET thread bomb at its pids-limit and names the pod in an Event', async () => {
    created = Date.now();
    await kubectlOk(['create', '-f', '-'], { input: bombPod('orders-api', 'threads', { dotnet: true }) });
    orders = await runningPod(namespace, 'orders-api');
    expect(orders.metadata?.annotations?.['pidguard.io/pids-limit']).toBe(String(DOTNET_LIMIT));
    const container = await bombAtLimit(orders);
    const reached = await eventFor('orders-api', 'PidsLimitReached');
    const secondsToName = (Date.now() - created) / 1000;
    expect(reached).toMatchObject({ type: 'Warning', source: expect.objectContaining({ component: 'pidguard-agent' }) });

    expect(cgroupValue(podCgroup(orders), 'pids.max')).toBe(String(DOTNET_LIMIT));
    const taken = Number(cgroupValue(podCgroup(orders), 'pids.current'));
    expect(taken).toBeLessThanOrEqual(DOTNET_LIMIT);
    expect(refusedForks(container)).toBeGreaterThan(0);
    // Inside the pod the limit is the incident's error: thread creation fails and is retried (the kubelet's log file of the container).
    await waitFor('the bomb to log refusals', async () => /bomb: \d+ created, [1-9]\d* refused/.test(podLog(orders, 'app')));
    const pods = kubepods();
    figures.push({ run: 'agent enforcing', threadsTaken: taken, podsCeiling: pods.max, headroomLeft: pods.max - pods.current, newPodStarted: false, secondsToNameThePod: secondsToName, namedBy: 'agent Event PidsLimitReached' });
  });

  it('during the bomb, a new pod starts, a command runs in it, and the node stays Ready', async () => {
    await kubectlOk(['create', '-f', '-'], { input: nodePod('probe', namespace, { command: SLEEP, resources: SMALL }) });
    const probe = await runningPod(namespace, 'probe');
    expect(await execIn(containerId(probe, 'app'), ['echo', 'still forking'])).toMatchObject({ code: 0, stdout: 'still forking\n' });
    expect(await nodeReady()).toBe('True');
    figures[figures.length - 1]!.newPodStarted = true;
  });

  it('a process bomb near the pods\' real ceiling: PIDPressureRisk, and `pidguard node` names both pods and their task counts', async () => {
    // 1,024 + 1,300 of the 2,500: above 90% of the pods' ceiling, far below pid_max.
    await kubectlOk(['create', '-f', '-'], { input: bombPod('billing-worker', 'procs', { annotations: { 'pidguard.io/pids-limit': '1300' } }) });
    const billing = await runningPod(namespace, 'billing-worker');
    await bombAtLimit(billing);
    expect(cgroupValue(podCgroup(billing), 'pids.max')).toBe('1300');
    expect(kubepods().current).toBeGreaterThanOrEqual(0.9 * node().podsPidCeiling);

    const condition = await waitFor('PIDPressureRisk=True', async () => {
      const risk = await riskCondition();
      return risk?.status === 'True' ? risk : undefined;
    });
    expect(condition.message).toContain(`of ${node().podsPidCeiling.toLocaleString('en-US')}`);

    const { report } = await pidguardNode();
    // Judged against the pods' real ceiling (kubepods pids.max), not pid_max.
    expect(report.verdict.summary).toContain(`of ${node().podsPidCeiling.toLocaleString('en-US')} `);
    expect(report.verdict.level).not.toBe('ok');
    expect(named(report, 'orders-api')?.threads).toBeGreaterThanOrEqual(DOTNET_LIMIT - 10);
    // Which kind of leak: 256 of the bomb's real thread names, read through the host's /proc/<pid>/task. The C bomb
    // names none, so they all carry the process's name: unnamed threads of an unknown runtime, which names cannot judge.
    expect(named(report, 'orders-api')?.threadNames).toMatchObject({
      read: 256, sampled: true, groups: [{ name: 'bomb', kind: 'unnamed', count: 256 }], diagnosis: { kind: 'unknown' },
    });
    // The process bomb is as prominent as the thread bomb: named in the verdict, not only in the pods table.
    const steps = report.verdict.nextSteps.join('\n');
    expect(steps).toContain(`${namespace}/orders-api`);
    expect(steps).toContain(`${namespace}/billing-worker`);
    expect(await nodeReady()).toBe('True');
  });

  it('the bomb container killed and restarted by the kubelet stops at the same limit', async () => {
    const before = await apis().core.readNamespacedPod({ namespace, name: 'orders-api' });
    const firstContainer = containerId(before, 'app');
    await deletePods(namespace, ['billing-worker']);
    // SIGKILL the bomb (the container's init process) from the host: the kubelet restarts the container in the same pod cgroup.
    process.kill(await hostPid(firstContainer), 'SIGKILL');
    const restarted = await waitFor('orders-api restarted', async () => {
      const pod = await apis().core.readNamespacedPod({ namespace, name: 'orders-api' });
      const status = pod.status?.containerStatuses?.[0];
      return (status?.restartCount ?? 0) >= 1 && status?.state?.running && containerId(pod, 'app') !== firstContainer ? pod : undefined;
    }, 120_000);
    const container = await bombAtLimit(restarted);
    expect(cgroupValue(podCgroup(restarted), 'pids.max')).toBe(String(DOTNET_LIMIT));
    expect(Number(cgroupValue(podCgroup(restarted), 'pids.current'))).toBeLessThanOrEqual(DOTNET_LIMIT);
    expect(refusedForks(container)).toBeGreaterThan(0);
  });
});

describe('control run: the same bomb with the agent stopped', () => {
  afterAll(async () => {
    await deletePods(namespace, ['orders-api-control', 'probe-control']);
  });

  it('takes the pods\' whole ceiling; a new pod cannot start; only a manual `pidguard node` names the pod', async () => {
    assertPodsCapped();
    await kubectlOk(['create', '-f', '-'], { input: bombPod('orders-api-control', 'threads', { dotnet: true }) });
    const control = await runningPod(namespace, 'orders-api-control');
    expect(control.metadata?.annotations?.['pidguard.io/pids-limit']).toBe(String(DOTNET_LIMIT));
    await bombAtLimit(control);
    // Nobody wrote the annotation into the pod cgroup: the kubepods ceiling stopped it.
    expect(cgroupValue(podCgroup(control), 'pids.max')).toBe('max');
    const taken = Number(cgroupValue(podCgroup(control), 'pids.current'));
    expect(taken).toBeGreaterThan(DOTNET_LIMIT);
    const pods = kubepods();
    expect(pods.current).toBeGreaterThanOrEqual(pods.max - 5);

    // The incident's symptom: no new sandbox can be created.
    await kubectlOk(['create', '-f', '-'], { input: nodePod('probe-control', namespace, { command: SLEEP, resources: SMALL }) });
    const failed = await eventFor('probe-control', 'FailedCreatePodSandBox', 120_000);
    expect(failed.message).toMatch(/resource temporarily unavailable|fork|pipe/i);

    // Nothing names the pod unless someone runs `pidguard node` on the node.
    const triage = Date.now();
    const { report } = await pidguardNode();
    figures.push({ run: 'agent stopped (control)', threadsTaken: taken, podsCeiling: pods.max, headroomLeft: pods.max - pods.current, newPodStarted: false, namedBy: `nobody; a manual \`pidguard node\` names it in ${(Date.now() - triage) / 1000} s` });
    expect(named(report, 'orders-api-control')?.threads).toBeGreaterThan(DOTNET_LIMIT);
    // The pods are at their real ceiling (kubepods), far below pid_max: that is critical.
    expect(report.verdict.summary).toContain(`of ${node().podsPidCeiling.toLocaleString('en-US')} `);
    expect(report.verdict.level).toBe('critical');
  });
});
