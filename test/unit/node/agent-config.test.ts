// `pidguard agent --config` / PIDGUARD_CONFIG: the built agent reads the
// webhook's policy file and writes min(annotation, pids.ceiling); a broken file
// stops it before it scans (exit 2, naming the field). Needs `npm run build`.

import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const fixture = fileURLToPath(new URL('../../fixtures/node/incident', import.meta.url));
const ORDERS = '3f1c9a52-8d4e-4b1a-9c67-0e2d5f8a1b01';
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'pidguard-agent-config-'));
  cpSync(fixture, root, { recursive: true });
  const pods = parse(readFileSync(join(root, 'pods.yaml'), 'utf8')) as { items: Array<{ metadata: { uid: string; annotations?: Record<string, string> } }> };
  for (const pod of pods.items) if (pod.metadata.uid === ORDERS) pod.metadata.annotations = { ...pod.metadata.annotations, 'pidguard.io/pids-limit': '5000' };
  writeFileSync(join(root, 'pods.yaml'), stringify(pods));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function agentOnce(extra: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [join(repo, 'bin/pidguard.js'), 'agent', '--once', '--proc', join(root, 'proc'), '--cgroup-root', join(root, 'sys/fs/cgroup'), '--pods-file', join(root, 'pods.yaml'), ...extra], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
    timeout: 30_000,
  });
}

const ordersMax = () => readFileSync(join(root, 'sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice', `kubepods-burstable-pod${ORDERS.replace(/-/g, '_')}.slice`, 'pids.max'), 'utf8').trim();

test('--config: an annotation above pids.ceiling is written as the ceiling, with a warning', () => {
  writeFileSync(join(root, 'config.yaml'), 'pids:\n  ceiling: 2000\ndotnet:\n  pidsLimit: 1000\n');
  const run = agentOnce(['--config', join(root, 'config.yaml')]);
  expect(run.stderr).toContain('"msg":"pids-limit adjusted"');
  expect(ordersMax()).toBe('2000');
});

test('PIDGUARD_CONFIG works as --config; without either the built-in ceiling (4096) applies', () => {
  writeFileSync(join(root, 'config.yaml'), 'pids:\n  ceiling: 3000\n');
  agentOnce([], { PIDGUARD_CONFIG: join(root, 'config.yaml') });
  expect(ordersMax()).toBe('3000');
  writeFileSync(join(root, 'sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice', `kubepods-burstable-pod${ORDERS.replace(/-/g, '_')}.slice`, 'pids.max'), 'max\n');
  agentOnce([]);
  expect(ordersMax()).toBe('4096');
});

test('a config error stops the agent before it writes anything: exit 2 naming the field', () => {
  writeFileSync(join(root, 'config.yaml'), 'pids:\n  ceiling: 5\n');
  const run = agentOnce(['--config', join(root, 'config.yaml')]);
  expect(run.status).toBe(2);
  expect(run.stderr).toContain('pids.ceiling');
  expect(ordersMax()).toBe('max');
});

test('a metrics port in use is exit 1 "cannot start", like serve, not an unexpected error (70)', async () => {
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const { port } = blocker.address() as { port: number };
  try {
    const run = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(repo, 'bin/pidguard.js'), 'agent', '--proc', join(root, 'proc'), '--cgroup-root', join(root, 'sys/fs/cgroup'), '--pods-file', join(root, 'pods.yaml'), '--metrics-host', '127.0.0.1', '--metrics-port', String(port)], { env: { PATH: process.env.PATH ?? '' } });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGTERM'), 20_000);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stderr });
      });
    });
    expect(run.stderr).not.toContain('unexpected error');
    expect(run.stderr).toContain(`cannot start: metrics port 127.0.0.1:${port}`);
    expect(run.status).toBe(1);
  } finally {
    blocker.close();
  }
});
