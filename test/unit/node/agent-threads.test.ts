// The agent must keep working on a node that is out of PIDs, so after
// start-up it may create no thread: the built `pidguard agent` runs many scans
// (with enforcement and /metrics scrapes in between) and its thread count,
// read from outside in /proc/<pid>/status and by the agent from
// /proc/self/status, stays the same. It also never starts a child process.

import { jest } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

jest.setTimeout(120_000);

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const fixture = join(repo, 'test/fixtures/node/incident');

let root: string;
let agent: ChildProcess | undefined;

afterEach(async () => {
  if (agent && agent.exitCode === null) {
    const exited = new Promise((resolve) => agent?.once('exit', resolve));
    agent.kill('SIGTERM');
    await exited;
  }
  rmSync(root, { recursive: true, force: true });
});

function threadsOf(pid: number): number {
  const match = /^Threads:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1]);
}

function childrenOf(pid: number): number[] {
  // /proc/<pid>/task/<tid>/children lists each thread's child processes.
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
    readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
  );
}

function metric(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!match) throw new Error(`metric ${name} missing from /metrics`);
  return Number(match[1]);
}

async function scrapeUntil(port: number, scans: number): Promise<string> {
  for (;;) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    if (metric(text, 'pidguard_scans_total') >= scans) return text;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('the agent\'s thread count does not grow across scans, and it starts no process', async () => {
  const main = join(repo, 'dist/cli/main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first (npm run test:unit does)`);
  root = mkdtempSync(join(tmpdir(), 'pidguard-agent-threads-'));
  cpSync(fixture, root, { recursive: true });
  const pods = readFileSync(join(root, 'pods.yaml'), 'utf8').replace('      uid: 3f1c9a52', '      annotations:\n        pidguard.io/pids-limit: "4096"\n      uid: 3f1c9a52');
  writeFileSync(join(root, 'pods.yaml'), pods);

  agent = spawn(process.execPath, [join(repo, 'bin/pidguard.js'), 'agent', '--proc', join(root, 'proc'), '--cgroup-root', join(root, 'sys/fs/cgroup'), '--pods-file', join(root, 'pods.yaml'), '--interval', '100ms', '--metrics-port', '0', '--metrics-host', '127.0.0.1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH ?? '', NODE_NAME: 'worker-7' },
  });
  const logs: Array<Record<string, unknown>> = [];
  const started = new Promise<number>((resolve, reject) => {
    agent?.once('exit', (code) => reject(new Error(`agent exited with ${code}: ${JSON.stringify(logs)}`)));
    createInterface({ input: agent!.stderr! }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (entry.msg === 'agent started') resolve(entry.metricsPort as number);
    });
  });
  const port = await started;
  const pid = agent.pid as number;

  const early = await scrapeUntil(port, 3);
  const threadsAfterStartup = threadsOf(pid);
  expect(metric(early, 'pidguard_agent_threads')).toBe(threadsAfterStartup);

  const late = await scrapeUntil(port, 30);
  expect(threadsOf(pid)).toBe(threadsAfterStartup);
  expect(metric(late, 'pidguard_agent_threads')).toBe(threadsAfterStartup);
  expect(childrenOf(pid)).toEqual([]);

  // It did real work meanwhile: enforcement once, the incident judged critical every scan.
  expect(readFileSync(join(root, 'sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3f1c9a52_8d4e_4b1a_9c67_0e2d5f8a1b01.slice/pids.max'), 'utf8').trim()).toBe('4096');
  expect(late).toContain('pidguard_node_verdict{level="critical"} 1');
  expect(late).toContain('pidguard_enforcements_total{outcome="lowered"} 1');
  expect(logs.filter((entry) => entry.msg === 'pids-limit lowered')).toHaveLength(1);
  expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
});
