// On this machine's real cgroup v1 pids hierarchy: `pidguard agent` started in
// a private cgroup namespace (`unshare -C`, as containerd does on cgroup v2)
// from a cgroup of its own, with a pod-shaped cgroup tree beside it. The agent
// then reads the pod's process as `/../kubepods/...` and must still write the
// pod's pids-limit into the pod cgroup. The test starts the agent with
// unshare; the agent itself forks nothing.

import { jest } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CgroupSandbox } from '../../../lab/cgroup-sandbox.js';

jest.setTimeout(60_000);

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const LIMIT = 100;
const podUid = randomUUID();
const containerId = randomUUID().replace(/-/g, '').repeat(2);
const podPath = `kubepods/burstable/pod${podUid}`;
const containerPath = `${podPath}/${containerId}`;

let sandbox: CgroupSandbox | undefined;
let sleeper: ChildProcess | undefined;
let work: string | undefined;

beforeAll(() => {
  try {
    sandbox = CgroupSandbox.create('pidguard-cgns');
  } catch (error) {
    throw new Error(`this test needs a writable pids cgroup hierarchy (FACTS.md: /sys/fs/cgroup/pids as root): ${(error as Error).message}`);
  }
  if (spawnSync('unshare', ['--help']).error) throw new Error('this test needs unshare(1) (util-linux) to start the agent in a private cgroup namespace');
  // Everything the test starts stays under one cap.
  sandbox.setMax('', 200);
  sandbox.mkdir('agent');
  sandbox.mkdir(containerPath);
  work = mkdtempSync(join(tmpdir(), 'pidguard-cgns-'));
});

afterAll(async () => {
  sleeper?.kill('SIGKILL');
  if (work) rmSync(work, { recursive: true, force: true });
  const problems = (await sandbox?.remove()) ?? [];
  expect(problems).toEqual([]);
});

/** Runs `command` in a fresh cgroup namespace rooted at the sandbox's `agent` cgroup. */
function inPrivateNamespace(command: string[]): { status: number | null; stdout: string; stderr: string } {
  const box = sandbox as CgroupSandbox;
  const script = 'echo $$ > "$1" && shift && exec unshare -C "$@"';
  const result = spawnSync('sh', ['-c', script, 'sh', join(box.dir('agent'), 'cgroup.procs'), ...command], { encoding: 'utf8', timeout: 45_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test(`pidguard agent under unshare -C writes pids-limit ${LIMIT} into the pod cgroup of the real v1 hierarchy`, async () => {
  const box = sandbox as CgroupSandbox;
  sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  const pid = sleeper.pid as number;
  box.attach(containerPath, pid);

  // The premise: from inside that namespace the pod's process is outside the namespace root.
  const seen = inPrivateNamespace(['cat', `/proc/${pid}/cgroup`]);
  expect(seen.stdout).toMatch(new RegExp(`^\\d+:pids:/\\.\\./kubepods/burstable/pod${podUid}/${containerId}$`, 'm'));

  const podsFile = join(work as string, 'pods.yaml');
  writeFileSync(podsFile, JSON.stringify({ kind: 'Pod', metadata: { uid: podUid, namespace: 'shop', name: 'orders-api-0', annotations: { 'pidguard.io/pids-limit': String(LIMIT) } } }));
  expect(box.usage(podPath).max).toBe('max');
  const run = inPrivateNamespace([process.execPath, join(repo, 'bin/pidguard.js'), 'agent', '--once', '--pods-file', podsFile, '--cgroup-root', box.cgroupRoot]);
  const complete = run.stderr.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { msg: string; enforcement?: unknown[] }).find((line) => line.msg === 'scan complete');
  expect({ status: run.status, enforcement: complete?.enforcement }).toEqual({
    status: expect.any(Number),
    enforcement: [expect.objectContaining({ pod: expect.objectContaining({ uid: podUid }), outcome: 'lowered' })],
  });
  expect(box.usage(podPath).max).toBe(LIMIT);
});
