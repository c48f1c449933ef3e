// Benchmark: the agent in a private cgroup namespace (containerd on cgroup v2).
// A v2 fixture node of 250 pods (systemd driver, 3 containers each, 1,000
// processes, ~1,300 cgroup directories with their cgroup.procs) is scanned
//   - baseline: every path real (the agent in the host's cgroup namespace);
//   - first scan in a private namespace: every path reads `/../..`, so the
//     namespace root is searched breadth-first (every cgroup.procs read once);
//   - later scans: the root is only re-checked (one cgroup.procs read).
// Ratios against the baseline measured in the same run.
// Targets: first scan <= 5x the baseline; later scans <= 1.3x.

import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CgroupNamespace } from '../dist/node/cgroup-namespace.js';
import { scanNode } from '../dist/node/scan.js';
import { writeSyntheticNode } from '../test/fixtures/node/synthetic-node.mjs';

const PODS = 250;
const CONTAINERS = 3;
const RUNS = 30;
const AGENT_PID = 90_000;

function uid(index) {
  return `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`;
}

/** The tree; `relative` makes every process path relative to the agent's container cgroup. */
function writeNode(root, relative) {
  const slice = '/kubepods.slice/kubepods-burstable.slice';
  const agent = `${slice}/kubepods-burstable-pod${uid(PODS).replace(/-/g, '_')}.slice/cri-containerd-${'f'.repeat(64)}.scope`;
  const show = (path) => (relative ? posix.relative(agent, path).replace(/^/, '/') : path);
  const processes = [{ pid: AGENT_PID, name: 'node', threads: 11, argv: ['node', 'agent'], cgroup: relative ? '/' : agent }];
  const cgroups = [{ path: agent, current: 11, max: 'max' }];
  const procs = [[agent, AGENT_PID]];
  for (let pod = 0; pod < PODS; pod += 1) {
    const podPath = `${slice}/kubepods-burstable-pod${uid(pod).replace(/-/g, '_')}.slice`;
    cgroups.push({ path: podPath, current: 40, max: 'max' });
    for (let container = 0; container < CONTAINERS; container += 1) {
      const path = `${podPath}/cri-containerd-${(pod * CONTAINERS + container).toString(16).padStart(64, '0')}.scope`;
      const pid = 1000 + pod * 4 + container;
      cgroups.push({ path, current: 10, max: 'max' });
      processes.push({ pid, name: 'app', threads: 10, argv: ['/app'], cgroup: show(path) });
      procs.push([path, pid]);
    }
    processes.push({ pid: 1000 + pod * 4 + 3, name: 'pause', threads: 1, argv: ['/pause'], cgroup: show(`${podPath}/cri-containerd-${'e'.repeat(64)}.scope`) });
  }
  const { proc, cgroupRoot } = writeSyntheticNode(root, { pidMax: 4194304, threadsMax: 255596, tasks: 12_000, cgroupVersion: 'v2', processes, cgroups });
  for (const [path, pid] of procs) writeFileSync(join(cgroupRoot, path, 'cgroup.procs'), `${pid}\n`);
  symlinkSync(String(AGENT_PID), join(proc, 'self'));
  return { proc, cgroupRoot };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function time(run) {
  const started = performance.now();
  const result = run();
  return { ms: performance.now() - started, result };
}

const roots = [mkdtempSync(join(tmpdir(), 'pidguard-bench-host-')), mkdtempSync(join(tmpdir(), 'pidguard-bench-cgns-'))];
try {
  const host = writeNode(roots[0], false);
  const privateNs = writeNode(roots[1], true);
  const scan = (node, cgroupNamespace) => scanNode({ procRoot: node.proc, cgroupRoot: node.cgroupRoot, pods: [], top: 10, cgroupNamespace });

  const baseline = [];
  const first = [];
  const later = [];
  for (let run = 0; run < RUNS; run += 1) {
    baseline.push(time(() => scan(host, new CgroupNamespace(host.proc, host.cgroupRoot))).ms);
    const namespace = new CgroupNamespace(privateNs.proc, privateNs.cgroupRoot);
    const { ms, result } = time(() => scan(privateNs, namespace));
    first.push(ms);
    if (result.pods.filter((pod) => pod.cgroup).length !== PODS + 1) throw new Error(`the private-namespace scan placed ${result.pods.filter((pod) => pod.cgroup).length} of ${PODS + 1} pods`);
    namespace.refresh();
    later.push(time(() => scan(privateNs, namespace)).ms);
  }
  const base = median(baseline);
  const firstRatio = median(first) / base;
  const laterRatio = median(later) / base;
  console.log(`node: ${PODS} pods x ${CONTAINERS} containers, ${PODS * 4 + 1} processes, cgroup v2 systemd; median of ${RUNS}`);
  console.log(`scan, host cgroup namespace (baseline)       ${base.toFixed(2)} ms`);
  console.log(`scan, private namespace, first (search)      ${median(first).toFixed(2)} ms  ${firstRatio.toFixed(2)}x   target <= 5x`);
  console.log(`scan, private namespace, later (one check)   ${median(later).toFixed(2)} ms  ${laterRatio.toFixed(2)}x   target <= 1.3x`);
  process.exitCode = firstRatio <= 5 && laterRatio <= 1.3 ? 0 : 1;
} finally {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
}
