// The incident of FACTS.md, replayed from the checked-in fixture tree: the
// scan, the verdict and both `pidguard node` outputs.

import { fileURLToPath } from 'node:url';
import { readPodsFile } from '../../../src/node/pods.js';
import { scanNode } from '../../../src/node/scan.js';
import { judgeNode } from '../../../src/node/verdict.js';
import { runCli } from '../cli/run-cli.js';

const fixture = fileURLToPath(new URL('../../fixtures/node/incident', import.meta.url));
const proc = `${fixture}/proc`;
const cgroupRoot = `${fixture}/sys/fs/cgroup`;
const podsFile = `${fixture}/pods.yaml`;
const nodeArgs = ['node', '--proc', proc, '--cgroup-root', cgroupRoot, '--pods-file', podsFile];

describe('the incident node (pid_max 32768, 31,635 tasks)', () => {
  const scan = scanNode({ procRoot: proc, cgroupRoot, pods: readPodsFile(podsFile), top: 10 });

  test('ceiling, tasks and headroom are the kubelet\'s numbers', () => {
    expect(scan.tasks).toEqual({ pidMax: 32768, threadsMax: 255596, ceiling: 32768, ceilingSource: 'kernel.pid_max', tasks: 31635 });
    expect(scan.nodeBudget).toMatchObject({ used: 31635, ceiling: 32768, ceilingSource: 'kernel.pid_max', headroom: 1133 });
    expect(scan.nodeBudget.usageRatio).toBeCloseTo(31635 / 32768, 6);
    expect(scan.binding).toBe(scan.nodeBudget);
  });

  test('PID 30855 (21,317 threads) and PID 15466 (7,853) rank first and second, with their pods', () => {
    expect(scan.top.slice(0, 2)).toEqual([
      expect.objectContaining({ pid: 30855, threads: 21317, runtime: '.NET', command: 'dotnet Orders.Api.dll', containerRuntime: 'containerd', pod: { uid: '3f1c9a52-8d4e-4b1a-9c67-0e2d5f8a1b01', namespace: 'shop', name: 'orders-api-7f9c6d5b8-2xkqp' } }),
      expect.objectContaining({ pid: 15466, threads: 7853, runtime: '.NET', pod: { uid: '7b2e4d11-5a3c-4f8e-b1d2-6c9e0a7f3d22', namespace: 'shop', name: 'billing-worker-5c7d8f9b6-kq7zt' } }),
    ]);
    expect(scan.top[0]?.containerId).toBe('1'.repeat(64));
  });

  test('verdict critical; the two .NET pods are the offenders and the next steps name them', () => {
    const verdict = judgeNode(scan);
    expect(verdict.level).toBe('critical');
    expect(verdict.offenders.map((holder) => [holder.pod?.name, holder.tasks, holder.biggest.pid])).toEqual([
      ['orders-api-7f9c6d5b8-2xkqp', 21318, 30855],
      ['billing-worker-5c7d8f9b6-kq7zt', 7854, 15466],
    ]);
    const steps = verdict.nextSteps.join('\n');
    expect(steps).toContain('kubectl -n shop delete pod orders-api-7f9c6d5b8-2xkqp');
    expect(steps).toContain('kubectl -n shop delete pod billing-worker-5c7d8f9b6-kq7zt');
    expect(steps).toContain('podPidsLimit');
    expect(steps).toContain('kernel.pid_max (now 32768)');
    expect(steps).not.toMatch(/kill -9 (?:30855|15466)/);
  });

  test('per pod: pids.current, pids.max, refused forks and the pids-limit annotation', () => {
    const orders = scan.pods.find((pod) => pod.name === 'orders-api-7f9c6d5b8-2xkqp');
    expect(orders).toMatchObject({ qos: 'Burstable', threads: 21318, processes: 2, pids: { current: 21318, max: 'max', refusedForks: 0 }, limitSetBy: 'none' });
    const report = scan.pods.find((pod) => pod.name === 'report-svc-0');
    expect(report).toMatchObject({ qos: 'Guaranteed', pidsLimit: 2048, pids: { max: 2048, refusedForks: 3 }, limitSetBy: 'pidguard' });
    expect(scan.podPidsLimit).toMatchObject({ state: 'unlimited' });
  });

  test('thresholds are configurable: with critical at 0.99 the same node is a warning', () => {
    expect(judgeNode(scan, { warningRatio: 0.5, criticalRatio: 0.99 }).level).toBe('warning');
    expect(judgeNode(scan, { warningRatio: 0.97, criticalRatio: 0.99 }).level).toBe('ok');
  });
});

describe('pidguard node on the incident fixture', () => {
  test('table: exit 2, the offenders with their pods, next steps', async () => {
    const run = await runCli(nodeArgs);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(/^CRITICAL: node: 31,635 of 32,768 PIDs in use \(96\.5%, 1,133 free; kernel\.pid_max\)\n/);
    expect(run.stdout).toMatch(/30855\s+21,317\s+65\.1%\s+\.NET\s+shop\/orders-api-7f9c6d5b8-2xkqp/);
    expect(run.stdout).toMatch(/15466\s+7,853\s+24\.0%\s+\.NET\s+shop\/billing-worker-5c7d8f9b6-kq7zt/);
    expect(run.stdout).toContain('NEXT STEPS');
  });

  test('--json carries the same facts for scripts', async () => {
    const run = await runCli([...nodeArgs, '--json', '--top', '2']);
    expect(run.code).toBe(2);
    const report = JSON.parse(run.stdout);
    expect(report.verdict.level).toBe('critical');
    expect(report.node).toMatchObject({ pidMax: 32768, tasks: 31635, ceiling: 32768, headroom: 1133 });
    expect(report.top.map((process: { pid: number; threads: number }) => [process.pid, process.threads])).toEqual([[30855, 21317], [15466, 7853]]);
    expect(report.pods).toHaveLength(8);
  });

  test('without pods the processes still map to pod UIDs', async () => {
    const run = await runCli(['node', '--proc', proc, '--cgroup-root', cgroupRoot, '--json'], { env: {} });
    const report = JSON.parse(run.stdout);
    expect(report.top[0].pod).toEqual({ uid: '3f1c9a52-8d4e-4b1a-9c67-0e2d5f8a1b01' });
    expect(report.podsSource).toMatch(/^none/);
  });

  test('exit 3 when the node\'s files cannot be read', async () => {
    const run = await runCli(['node', '--proc', `${fixture}/no-such-proc`, '--cgroup-root', cgroupRoot]);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/pidguard node: cannot read kernel\.pid_max/);
  });

  test('bad flags are usage errors (exit 2) with a message, not a crash', async () => {
    const ratio = await runCli([...nodeArgs, '--warning-ratio', '0.95', '--critical-ratio', '0.9']);
    expect(ratio.code).toBe(2);
    expect(ratio.stderr).toContain('must not exceed the critical ratio');
    const pods = await runCli(['node', '--proc', proc, '--pods-file', `${fixture}/proc/loadavg`]);
    expect(pods.code).toBe(2);
    expect(pods.stderr).toMatch(/is not a Pod/);
  });
});
