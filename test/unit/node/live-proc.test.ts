// On this machine's real /proc: a process that starts a known number of
// threads is found by the scan with exactly that many more threads than the
// same process had idle (its baseline, measured before it started any).

import { jest } from '@jest/globals';
import { ThreadBomb } from '../../../lab/thread-bomb.js';
import { scanNode } from '../../../src/node/scan.js';

jest.setTimeout(60_000);

const THREADS = 64;

function threadsOf(pid: number): number | undefined {
  // top large enough that the process is ranked whatever else runs on the machine.
  const scan = scanNode({ procRoot: '/proc', cgroupRoot: '/sys/fs/cgroup', pods: [], top: 100_000 });
  return scan.top.find((process) => process.pid === pid)?.threads;
}

test(`a process holding ${THREADS} extra threads is found with that count`, async () => {
  let baseline: number | undefined;
  const bomb = await ThreadBomb.start({
    target: THREADS,
    retry: false,
    place: (pid) => {
      baseline = threadsOf(pid);
    },
  });
  try {
    await bomb.waitFor((progress) => progress.holding, 30_000, `${THREADS} threads`);
    expect(bomb.progress).toMatchObject({ started: THREADS, refused: 0 });
    expect(baseline).toBeDefined();
    expect(threadsOf(bomb.pid)).toBe((baseline as number) + THREADS);
  } finally {
    await bomb.kill();
  }
  expect(threadsOf(bomb.pid)).toBeUndefined();
});

test('the node-wide task count moves with the threads (loadavg, as the kubelet reads it)', async () => {
  const before = scanNode({ procRoot: '/proc', cgroupRoot: '/sys/fs/cgroup', pods: [], top: 1 }).tasks;
  const bomb = await ThreadBomb.start({ target: 500, retry: false });
  try {
    await bomb.waitFor((progress) => progress.holding, 30_000, '500 threads');
    const during = scanNode({ procRoot: '/proc', cgroupRoot: '/sys/fs/cgroup', pods: [], top: 1 }).tasks;
    // Other work on the machine adds or ends tasks meanwhile; 500 threads dominate that noise.
    expect(during.tasks - before.tasks).toBeGreaterThan(400);
    expect(during.ceiling).toBe(Math.min(during.pidMax, during.threadsMax));
  } finally {
    await bomb.kill();
  }
});
