// Pods on the real node (kubelet + containerd + runc): admission decides what
// runs, the mutated environment and limits reach the container, and the agent
// (a host process here, as in the DaemonSet: host /proc and cgroups) writes a
// pod's pidguard.io/pids-limit into its pod cgroup, also from a private cgroup
// namespace.

import { readFileSync, readlinkSync } from 'node:fs';
import { apis, createNamespace, kubectl, kubectlOk, runCommand } from './harness.js';
import {
  SMALL, agentScans, cgroupValue, containerId, deletePods, execIn, hostPid, node, nodePod, podCgroup, runningPod, startAgent,
  type AgentProcess,
} from './node.js';

const SLEEP = ['/bin/sleep', '3600'];

describe('admission decides what runs on the node', () => {
  let namespace: string;
  beforeAll(async () => {
    namespace = await createNamespace('node-admit');
  });
  afterAll(async () => {
    await deletePods(namespace, ['runs']);
  });

  it('denies a BestEffort pod: it never reaches the node', async () => {
    const result = await kubectl(['create', '-f', '-'], { input: nodePod('best-effort', namespace, { command: SLEEP }), as: 'user' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('pidguard denied');
    const pods = await apis().core.listNamespacedPod({ namespace });
    expect(pods.items.map((pod) => pod.metadata?.name)).not.toContain('best-effort');
  });

  it('runs a Burstable pod on the node, and a command runs inside it', async () => {
    await kubectlOk(['create', '-f', '-'], { input: nodePod('runs', namespace, { command: SLEEP, resources: SMALL }), as: 'user' });
    const pod = await runningPod(namespace, 'runs');
    expect(pod.spec?.nodeName).toBe(node().name);
    expect(pod.status?.qosClass).toBe('Burstable');
    const hello = await execIn(containerId(pod, 'app'), ['echo', 'hello from the node']);
    expect(hello).toMatchObject({ code: 0, stdout: 'hello from the node\n' });
  });
});

describe('a .NET pod created through the webhook, on the node', () => {
  let namespace: string;
  let agent: AgentProcess;
  beforeAll(async () => {
    namespace = await createNamespace('node-dotnet');
    agent = await startAgent({ intervalMs: 1000 });
  });
  afterAll(async () => {
    expect(await agent.stop()).toBe(0);
    await deletePods(namespace, ['orders-api']);
  });

  it('runs with the hex thread-pool cap in its environment, the injected memory limit in its cgroup, and its pids-limit in its pod cgroup', async () => {
    await kubectlOk(['create', '-f', '-'], { input: nodePod('orders-api', namespace, { image: node().images.dotnet, command: SLEEP }), as: 'user' });
    const pod = await runningPod(namespace, 'orders-api');
    const limit = pod.metadata?.annotations?.['pidguard.io/pids-limit'];
    expect(limit).toBe('1024');
    expect(pod.spec?.containers[0]?.resources?.limits?.memory).toBe('1Gi');

    const id = containerId(pod, 'app');
    const environ = readFileSync(`/proc/${await hostPid(id)}/environ`, 'utf8').split('\0');
    expect(environ).toContain('DOTNET_ThreadPool_ForceMaxWorkerThreads=0x100');
    expect(cgroupValue(`${podCgroup(pod, 'memory')}/${id}`, 'memory.limit_in_bytes')).toBe(String(1024 ** 3));

    // Within two agent intervals of the pod running (counted in scans, not seconds).
    await agentScans(agent, 2);
    expect(cgroupValue(podCgroup(pod), 'pids.max')).toBe(limit);
    expect(agent.log()).not.toContain('"level":"error"');
  });
});

describe('the agent in a private cgroup namespace (as a container on cgroup v2)', () => {
  let namespace: string;
  let agent: AgentProcess;
  beforeAll(async () => {
    namespace = await createNamespace('node-cgroupns');
    agent = await startAgent({ intervalMs: 1000, privateCgroupNamespace: true });
  });
  afterAll(async () => {
    expect(await agent.stop()).toBe(0);
    await deletePods(namespace, ['capped']);
  });

  it('runs in its own cgroup namespace, rooted below the host root', async () => {
    expect(readlinkSync(`/proc/${agent.pid}/ns/cgroup`)).not.toBe(readlinkSync('/proc/self/ns/cgroup'));
    // From inside its namespace, its own cgroup is the root and the kubelet's pods are outside it: /../kubepods/...
    const inside = await runCommand('nsenter', ['--cgroup', '-t', String(agent.pid), 'cat', `/proc/${agent.pid}/cgroup`, `/proc/${process.pid}/cgroup`], undefined, 10_000);
    expect(inside.stdout).toMatch(/^\d+:pids:\/$/m);
    expect(inside.stdout).toMatch(/^\d+:pids:\/\.\.$/m);
  });

  it('still writes a pod\'s pids-limit into the pod cgroup', async () => {
    await kubectlOk(['create', '-f', '-'], {
      input: nodePod('capped', namespace, { command: SLEEP, resources: SMALL, annotations: { 'pidguard.io/pids-limit': '64' } }),
    });
    const pod = await runningPod(namespace, 'capped');
    await agentScans(agent, 2);
    expect(cgroupValue(podCgroup(pod), 'pids.max')).toBe('64');
    expect(agent.log()).not.toContain('"level":"error"');
  });
});
