// The agent in a private cgroup namespace (containerd's default on cgroup v2):
// every other process's /proc/<pid>/cgroup path reads as `/../...` relative to
// the agent's own container cgroup, while the hostPath mount shows the whole
// hierarchy. v2 fixture trees, systemd and cgroupfs layouts, with the agent's
// own process placed in its container's cgroup.procs as the kernel would.

import { mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { NodeAgent } from '../../../src/node/agent.js';
import { CgroupNamespace, holdsProcess } from '../../../src/node/cgroup-namespace.js';
import type { NodePod } from '../../../src/node/pods.js';
import { writeSyntheticNode, type SyntheticNode } from '../../fixtures/node/synthetic-node.mjs';

const AGENT_PID = 4242;
const POD_PID = 5000;
const SERVICE_PID = 6000;
const SERVICE = '/system.slice/containerd.service';
const AGENT_UID = 'aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa';
const POD_UID = 'bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb';
const AGENT_CONTAINER = 'a'.repeat(64);
const POD_CONTAINER = 'b'.repeat(64);

const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

interface Layout {
  /** The agent's container cgroup, from the hierarchy's root. */
  agent: string;
  /** The pod's cgroup and its container's, from the hierarchy's root. */
  pod: string;
  container: string;
  /** What a reader in the agent's namespace sees for the pod's process. */
  shown: string;
}

const underscored = (uid: string) => uid.replace(/-/g, '_');
const LAYOUTS: Record<string, Layout> = {
  // kind's prefix: not among the kubelet's standard paths, so only placing the namespace finds it.
  'systemd (kind prefix)': {
    agent: `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${underscored(AGENT_UID)}.slice/cri-containerd-${AGENT_CONTAINER}.scope`,
    pod: `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${underscored(POD_UID)}.slice`,
    container: `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${underscored(POD_UID)}.slice/cri-containerd-${POD_CONTAINER}.scope`,
    shown: `/../../../kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${underscored(POD_UID)}.slice/cri-containerd-${POD_CONTAINER}.scope`,
  },
  'cgroupfs (sibling pod of the same QoS)': {
    agent: `/kubepods/burstable/pod${AGENT_UID}/${AGENT_CONTAINER}`,
    pod: `/kubepods/burstable/pod${POD_UID}`,
    container: `/kubepods/burstable/pod${POD_UID}/${POD_CONTAINER}`,
    shown: `/../../pod${POD_UID}/${POD_CONTAINER}`,
  },
};

/** A v2 node where this "agent" (pid AGENT_PID, proc/self) sits in its own namespace. */
function privateNamespaceNode(layout: Layout, options: { agentListed?: boolean } = {}): { proc: string; cgroupRoot: string; podDir: string } {
  const root = mkdtempSync(join(tmpdir(), 'pidguard-cgns-'));
  roots.push(root);
  const node: SyntheticNode = {
    pidMax: 32768,
    threadsMax: 255596,
    tasks: 600,
    cgroupVersion: 'v2',
    processes: [
      { pid: AGENT_PID, name: 'node', threads: 11, argv: ['node', 'pidguard', 'agent'], cgroup: '/' },
      { pid: POD_PID, name: 'dotnet', threads: 300, argv: ['dotnet', 'Orders.Api.dll'], cgroup: layout.shown },
      { pid: SERVICE_PID, name: 'containerd', threads: 40, argv: ['/usr/bin/containerd'], cgroup: `/${posix.relative(layout.agent, SERVICE)}` },
    ],
    cgroups: [
      { path: layout.agent, current: 11, max: 'max' },
      { path: layout.pod, current: 301, max: 'max' },
      { path: layout.container, current: 301, max: 'max' },
    ],
  };
  const { proc, cgroupRoot } = writeSyntheticNode(root, node);
  symlinkSync(String(AGENT_PID), join(proc, 'self'));
  writeFileSync(join(cgroupRoot, layout.container, 'cgroup.procs'), `${POD_PID}\n`);
  writeFileSync(join(cgroupRoot, layout.agent, 'cgroup.procs'), options.agentListed === false ? '' : `17\n${AGENT_PID}\n`);
  return { proc, cgroupRoot, podDir: join(cgroupRoot, layout.pod) };
}

const pod: NodePod = { uid: POD_UID, namespace: 'shop', name: 'orders-api-0', annotations: { 'pidguard.io/pids-limit': '512' } };

function agentOn(proc: string, cgroupRoot: string): NodeAgent {
  return new NodeAgent({
    procRoot: proc,
    cgroupRoot,
    nodeName: 'node-1',
    thresholds: { warningRatio: 0.7, criticalRatio: 0.9 },
    top: 10,
    enforce: true,
    pods: () => [pod],
    log: () => undefined,
  });
}

describe.each(Object.entries(LAYOUTS))('the agent in a private cgroup namespace, cgroup v2, %s', (_name, layout) => {
  test('finds the pod cgroup and writes its pids-limit there', async () => {
    const { proc, cgroupRoot, podDir } = privateNamespaceNode(layout);
    const result = await agentOn(proc, cgroupRoot).scanOnce();
    const usage = result.scan.pods.find((candidate) => candidate.uid === POD_UID);
    expect(usage).toMatchObject({ qos: 'Burstable', processes: 1, threads: 300, cgroup: { version: 'v2', path: layout.pod, dir: podDir } });
    expect(result.enforcement).toEqual([expect.objectContaining({ outcome: 'lowered', before: 'max', after: 512, cgroupDir: podDir })]);
    expect(readFileSync(join(podDir, 'pids.max'), 'utf8').trim()).toBe('512');
    // A process outside pods is named by its host cgroup, not by `/../..`.
    expect(result.scan.holders).toContainEqual(expect.objectContaining({ cgroup: SERVICE, tasks: 40 }));
    // The process is shown under its pod in the top list too.
    expect(result.scan.top.find((process) => process.pid === POD_PID)?.pod).toMatchObject({ uid: POD_UID, name: 'orders-api-0' });
  });
});

test('a namespace root that cannot be placed: the pod is named, nothing outside the mount is touched, and the reason is given', async () => {
  const layout = LAYOUTS['systemd (kind prefix)'] as Layout;
  const { proc, cgroupRoot, podDir } = privateNamespaceNode(layout, { agentListed: false });
  const namespace = new CgroupNamespace(proc, cgroupRoot);
  expect(namespace.resolve('v2', layout.shown)).toBeUndefined();
  expect(namespace.problems()).toEqual([expect.stringContaining(`its PID ${AGENT_PID} is in no cgroup.procs there`)]);
  const result = await agentOn(proc, cgroupRoot).scanOnce();
  expect(result.scan.pods.find((candidate) => candidate.uid === POD_UID)).toMatchObject({ name: 'orders-api-0', processes: 1 });
  expect(result.enforcement).toEqual([expect.objectContaining({ outcome: 'failed', failure: 'cgroup-not-found', reason: expect.stringContaining('cgroup namespace') })]);
  expect(readFileSync(join(podDir, 'pids.max'), 'utf8').trim()).toBe('max');
});

test('outside a private namespace one read of the own cgroup.procs places the root', () => {
  const layout = LAYOUTS['cgroupfs (sibling pod of the same QoS)'] as Layout;
  const { proc, cgroupRoot } = privateNamespaceNode(layout);
  writeFileSync(join(proc, String(AGENT_PID), 'cgroup'), `0::${layout.agent}\n`);
  const namespace = new CgroupNamespace(proc, cgroupRoot);
  expect(namespace.resolve('v2', layout.container)).toBe(layout.container);
  expect(namespace.resolve('v2', '/../escape')).toBeUndefined();
  expect(namespace.problems()).toEqual([]);
});

test('holdsProcess streams cgroup.procs: a PID past the first chunk is found, a prefix of it is not', () => {
  const root = mkdtempSync(join(tmpdir(), 'pidguard-procs-'));
  roots.push(root);
  const pids = Array.from({ length: 30_000 }, (_, index) => 100_000 + index);
  writeFileSync(join(root, 'cgroup.procs'), `${pids.join('\n')}\n`);
  expect(holdsProcess(root, 129_999)).toBe(true);
  expect(holdsProcess(root, 12_999)).toBe(false);
  expect(holdsProcess(join(root, 'missing'), 129_999)).toBe(false);
});
