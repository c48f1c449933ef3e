// On the real kernel: a pod-shaped cgroup tree under a unique test root in
// this machine's pids hierarchy, a process in the pod's container cgroup that
// starts threads without end, and the agent enforcing the pod's
// pidguard.io/pids-limit. The kernel must then refuse threads past the limit
// (pids.events), and the thread count must stay at the limit.
// The test creates cgroups and moves the process in (setup only); the agent
// only reads files and writes pids.max.

import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { NodeAgent, type AgentScanResult } from '../../../src/node/agent.js';
import { CgroupSandbox } from '../../../lab/cgroup-sandbox.js';
import { ThreadBomb } from '../../../lab/thread-bomb.js';
import type { NodePod } from '../../../src/node/pods.js';

jest.setTimeout(120_000);

const LIMIT = 120;
const podUid = randomUUID();
const containerId = randomUUID().replace(/-/g, '').repeat(2);
const podPath = `kubepods/burstable/pod${podUid}`;
const containerPath = `${podPath}/${containerId}`;
const pod: NodePod = { uid: podUid, namespace: 'shop', name: 'orders-api-0', annotations: { 'pidguard.io/pids-limit': String(LIMIT) } };

let sandbox: CgroupSandbox | undefined;
let bomb: ThreadBomb | undefined;

/** The agent as the DaemonSet runs it, on the real /proc and this test's cgroup root. */
function agentFor(pods: NodePod[]): NodeAgent {
  return new NodeAgent({
    procRoot: '/proc',
    cgroupRoot: (sandbox as CgroupSandbox).cgroupRoot,
    nodeName: 'test-node',
    thresholds: { warningRatio: 0.7, criticalRatio: 0.9 },
    // Every process ranked, so the test can find its own whatever else runs on the machine.
    top: 100_000,
    enforce: true,
    pods: () => pods,
    log: () => undefined,
  });
}

beforeAll(() => {
  try {
    sandbox = CgroupSandbox.create('pidguard-test');
  } catch (error) {
    throw new Error(`the live enforcement test needs a writable pids cgroup hierarchy (FACTS.md: /sys/fs/cgroup/pids as root): ${(error as Error).message}`);
  }
  sandbox.mkdir(containerPath);
});

afterAll(async () => {
  await bomb?.kill();
  const problems = (await sandbox?.remove()) ?? [];
  expect(problems).toEqual([]);
});

test(`the agent writes pids-limit ${LIMIT} into the pod cgroup and the kernel refuses threads past it`, async () => {
  const box = sandbox as CgroupSandbox;
  expect(box.usage(podPath).max).toBe('max');

  const agent = agentFor([pod]);
  // The pod's process is in its container cgroup and the agent scans before it
  // starts its threads, as when the agent sees a pod starting.
  let first: AgentScanResult | undefined;
  let pid = 0;
  bomb = await ThreadBomb.start({
    target: 0,
    retry: true,
    place: async (started) => {
      pid = started;
      box.attach(containerPath, pid);
      first = await agent.scanOnce();
    },
  });
  if (!first) throw new Error('the agent did not scan');
  const action = first.enforcement.find((candidate) => candidate.pod.uid === podUid);
  expect(action).toMatchObject({ outcome: 'lowered', before: 'max', after: LIMIT, cgroupDir: box.dir(podPath) });
  expect(box.usage(podPath).max).toBe(LIMIT);
  // The agent found the pod from the process's own /proc/<pid>/cgroup line, under the test root.
  expect(first.scan.top.find((process) => process.pid === pid)).toMatchObject({ containerId, pod: { uid: podUid, namespace: 'shop', name: 'orders-api-0' } });

  // The kernel now refuses every thread past the limit; the bomb keeps trying.
  await bomb.waitFor((progress) => progress.refused >= 5, 60_000, 'refused threads');
  const usage = box.usage(podPath);
  expect(usage.current).toBe(LIMIT);
  expect(usage.refusedForks).toBeGreaterThanOrEqual(5);
  // The bomb itself counts LIMIT - 1 started threads plus its main thread.
  expect(bomb.progress.started + 1).toBe(LIMIT);

  const second = await agent.scanOnce();
  expect(second.scan.top.find((process) => process.pid === pid)?.threads).toBe(LIMIT);
  expect(second.findings.newlyRefusing.map((candidate) => candidate.uid)).toEqual([podUid]);
  expect(second.scan.pods.find((candidate) => candidate.uid === podUid)).toMatchObject({ limitSetBy: 'pidguard', pids: { max: LIMIT, current: LIMIT } });
  // Enforcement happens once; afterwards the limit is already in place.
  expect(second.enforcement.find((candidate) => candidate.pod.uid === podUid)?.outcome).toBe('unchanged');
});

test('a pids-limit above the current pids.max never raises it', async () => {
  const box = sandbox as CgroupSandbox;
  const looser: NodePod = { ...pod, annotations: { 'pidguard.io/pids-limit': String(LIMIT * 10) } };
  const agent = agentFor([looser]);
  const result = await agent.scanOnce();
  expect(result.enforcement.find((candidate) => candidate.pod.uid === podUid)?.outcome).toBe('unchanged');
  expect(box.usage(podPath).max).toBe(LIMIT);
});

test('a pod already past its limit when the agent acts keeps its threads but cannot start more', async () => {
  const box = sandbox as CgroupSandbox;
  const latePath = `kubepods/besteffort/pod${randomUUID()}`;
  const lateUid = latePath.slice(latePath.lastIndexOf('pod') + 3);
  box.mkdir(`${latePath}/${containerId}`);
  const late = await ThreadBomb.start({ target: 0, retry: true, place: (pid) => box.attach(`${latePath}/${containerId}`, pid) });
  try {
    await late.waitFor((progress) => progress.started >= 200, 30_000, '200 threads');
    const agent = agentFor([{ uid: lateUid, namespace: 'shop', name: 'late-0', annotations: { 'pidguard.io/pids-limit': '50' } }]);
    const result = await agent.scanOnce();
    expect(result.enforcement[0]).toMatchObject({ outcome: 'lowered', after: 50 });
    await late.waitFor((progress) => progress.refused >= 3, 30_000, 'refused threads');
    const held = box.usage(latePath).current as number;
    expect(held).toBeGreaterThan(50);
    expect(held).toBe(late.progress.started + 1);
    await late.waitFor((progress) => progress.refused >= 10, 30_000, 'more refused threads');
    expect(box.usage(latePath).current).toBe(held);
  } finally {
    await late.kill();
  }
});
