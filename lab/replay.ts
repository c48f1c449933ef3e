// The incident, replayed safely on this machine: a sandbox cgroup stands for
// the node (its pids.max is the node's pid_max), a pod-shaped child holds a
// process that starts threads without end, and a second pod later tries to
// start one thread. Once without pidguard, once with the agent (in this
// process, on its normal code path) enforcing the bomb pod's pids-limit.
// The replay spawns the bomb processes; the agent code it runs never does.

import { randomUUID } from 'node:crypto';
import { NodeAgent, type AgentLog } from '../src/node/agent.js';
import type { NodePod } from '../src/node/pods.js';
import { PIDS_LIMIT_ANNOTATION } from '../src/policy/keys.js';
import { CgroupSandbox } from './cgroup-sandbox.js';
import { ThreadBomb } from './thread-bomb.js';

export interface ReplayOptions {
  /** pids.max of the cgroup standing for the node. */
  nodeBudget: number;
  /** The bomb pod's pidguard.io/pids-limit. */
  podLimit: number;
  /** Threads per second the bomb starts (the incident's services ramped up over time). */
  threadsPerSecond: number;
  agentIntervalMs: number;
  cgroupRoot: string;
  python?: string;
  /** Progress lines for the user. */
  say: (line: string) => void;
}

export interface ScenarioOutcome {
  withPidguard: boolean;
  /** Threads the bomb process holds at the end (its main thread included). */
  bombThreads: number;
  nodeBudget: number;
  nodeHeadroom: number;
  /** Thread creations the kernel refused the bomb pod. */
  refusedForks: number;
  /** Whether a thread could still be started in another pod at the end. */
  otherPodCanStartThread: boolean;
  /** Seconds from the bomb's start until the kernel first refused it a thread. */
  firstRefusalAfterS?: number;
  /** Seconds from the first refused thread until the agent named the pod; undefined = nobody did. */
  detectedAfterS?: number;
  /** What the agent said about the pod (its log lines). */
  agentSaid: string[];
  durationS: number;
}

const BOMB_POD = { namespace: 'shop', name: 'orders-api-7f9c6d5b8-2xkqp' };
const OTHER_POD = { namespace: 'kube-system', name: 'calico-node-8hxq2' };

export async function runScenario(options: ReplayOptions, withPidguard: boolean, durationS?: number): Promise<ScenarioOutcome> {
  const bombUid = randomUUID();
  const otherUid = randomUUID();
  const bombPod = `kubepods/burstable/pod${bombUid}`;
  const otherPod = `kubepods/burstable/pod${otherUid}`;
  const bombContainer = `${bombPod}/${randomUUID().replace(/-/g, '').repeat(2)}`;
  const otherContainer = `${otherPod}/${randomUUID().replace(/-/g, '').repeat(2)}`;
  const sandbox = CgroupSandbox.create('pidguard-replay', options.cgroupRoot);
  const bombs: ThreadBomb[] = [];
  let agent: NodeAgent | undefined;
  try {
    sandbox.mkdir(bombContainer);
    sandbox.mkdir(otherContainer);
    sandbox.setMax('', options.nodeBudget);

    const agentSaid: string[] = [];
    let detectedAt: number | undefined;
    if (withPidguard) {
      const pods: NodePod[] = [
        { uid: bombUid, ...BOMB_POD, annotations: { [PIDS_LIMIT_ANNOTATION]: String(options.podLimit) } },
        { uid: otherUid, ...OTHER_POD, annotations: {} },
      ];
      const log: AgentLog = (_level, message, fields) => {
        const pod = (fields?.pod ?? {}) as { uid?: string };
        if (pod.uid !== bombUid) return;
        agentSaid.push(`${message}: ${BOMB_POD.namespace}/${BOMB_POD.name}${fields?.reason ? ` (${String(fields.reason)})` : ''}`);
        if (message === 'pod reached its pids limit' && detectedAt === undefined) detectedAt = performance.now();
      };
      agent = new NodeAgent({ procRoot: '/proc', cgroupRoot: sandbox.cgroupRoot, nodeName: 'replay-node', thresholds: { warningRatio: 0.7, criticalRatio: 0.9 }, top: 5, enforce: true, pods: () => pods, log });
      agent.start(options.agentIntervalMs);
    }

    const started = performance.now();
    const bomb = await ThreadBomb.start({
      target: 0,
      retry: true,
      ratePerSecond: options.threadsPerSecond,
      ...(options.python ? { python: options.python } : {}),
      place: (pid) => sandbox.attach(bombContainer, pid),
    });
    bombs.push(bomb);
    let firstRefusal: number | undefined;
    const deadline = durationS === undefined ? undefined : started + durationS * 1000;
    // Without a fixed duration: until the node budget is gone (or 60 s); with one: exactly that long.
    for (;;) {
      if (firstRefusal === undefined && bomb.progress.refused > 0) firstRefusal = performance.now();
      const now = performance.now();
      if (deadline !== undefined ? now >= deadline : (firstRefusal !== undefined && now - firstRefusal > 500) || now - started > 60_000) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const elapsed = (performance.now() - started) / 1000;
    options.say(`  ${withPidguard ? 'with' : 'without'} pidguard: bomb ran ${elapsed.toFixed(1)} s, holds ${bomb.progress.started + 1} threads; starting a thread in another pod`);

    // Measured before the probe joins the node: its own main thread would count.
    const node = sandbox.usage('');
    const probe = await ThreadBomb.start({ target: 1, retry: false, ...(options.python ? { python: options.python } : {}), place: (pid) => sandbox.attach(otherContainer, pid) });
    bombs.push(probe);
    const probed = await probe.waitFor((progress) => progress.holding, 10_000, 'the other pod\'s thread');

    await agent?.stop();
    const pod = sandbox.usage(bombPod);
    const outcome: ScenarioOutcome = {
      withPidguard,
      bombThreads: bomb.progress.started + 1,
      nodeBudget: options.nodeBudget,
      nodeHeadroom: options.nodeBudget - (node.current ?? 0),
      refusedForks: pod.refusedForks ?? 0,
      otherPodCanStartThread: probed.started === 1,
      agentSaid,
      durationS: elapsed,
    };
    if (firstRefusal !== undefined) outcome.firstRefusalAfterS = (firstRefusal - started) / 1000;
    // The bomb's stdout reports refusals at most every 50 ms; the agent's log is exact.
    if (detectedAt !== undefined && firstRefusal !== undefined) outcome.detectedAfterS = Math.max(0, (detectedAt - firstRefusal) / 1000);
    return outcome;
  } finally {
    await agent?.stop();
    for (const bomb of bombs) await bomb.kill();
    const problems = await sandbox.remove();
    if (problems.length > 0) options.say(`  could not remove: ${problems.join('; ')}`);
  }
}
