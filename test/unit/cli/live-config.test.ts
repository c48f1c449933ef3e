// Live config: serve and agent follow their --config file as a mounted
// ConfigMap changes it. The kubelet writes each version into a new
// `..<timestamp>` directory and swaps the `..data` symlink to it by rename;
// the file the process reads is `config.yaml -> ..data/config.yaml`. These
// tests do exactly that, with real files, and the built CLI as child processes.

import { jest } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Registry } from 'prom-client';
import { LiveConfig } from '../../../src/cli/config-file.js';
import { bestEffortPod, logCapture, review } from '../webhook/support.js';

jest.setTimeout(60_000);

const repo = new URL('../../../', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'pidguard-live-config-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A ConfigMap mount as the kubelet lays it out; `write` publishes a new version the way it does. */
function configMapMount(name: string, first: string) {
  const directory = join(work, name);
  mkdirSync(directory);
  let version = 0;
  const write = (text: string) => {
    version += 1;
    const data = `..2026_12_02_05_00_00.${version}`;
    mkdirSync(join(directory, data));
    writeFileSync(join(directory, data, 'config.yaml'), text);
    symlinkSync(data, join(directory, '..data_tmp'));
    renameSync(join(directory, '..data_tmp'), join(directory, '..data'));
  };
  write(first);
  symlinkSync('..data/config.yaml', join(directory, 'config.yaml'));
  return { path: join(directory, 'config.yaml'), write };
}

async function metricValue(registry: Registry, name: string): Promise<Array<{ labels: Record<string, unknown>; value: number }>> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  if (!metric) throw new Error(`${name} is not registered`);
  return metric.values.map(({ labels, value }) => ({ labels: labels as Record<string, unknown>, value }));
}

describe('LiveConfig', () => {
  it('swaps in a valid change, keeps the config in use on an invalid one (loudly, counted once), and recovers', async () => {
    const mount = configMapMount('unit', 'defaultMode: enforce\n');
    const { lines, logger } = logCapture();
    const live = await LiveConfig.load(mount.path, logger);
    const registry = new Registry();
    live.register(registry);
    const first = (await metricValue(registry, 'pidguard_config_info'))[0]!.labels.hash;
    expect(first).toMatch(/^[0-9a-f]{16}$/);
    expect(await metricValue(registry, 'pidguard_config_generation')).toEqual([{ labels: {}, value: 1 }]);
    expect(await live.check()).toBe('unchanged');

    mount.write('defaultMode: audit\npids:\n  ceiling: 2048\n');
    expect(await live.check()).toBe('reloaded');
    expect(live.current()).toMatchObject({ defaultMode: 'audit', pids: { ceiling: 2048 } });
    const second = (await metricValue(registry, 'pidguard_config_info'))[0]!.labels.hash;
    expect(second).not.toBe(first);
    expect(await metricValue(registry, 'pidguard_config_info')).toHaveLength(1);
    expect(await metricValue(registry, 'pidguard_config_generation')).toEqual([{ labels: {}, value: 2 }]);
    expect(lines.at(-1)).toMatchObject({ level: 'info', msg: 'config reloaded', hash: second, previousHash: first, generation: 2 });

    const inUse = live.current();
    mount.write('defaultMode: strict\n');
    expect(await live.check()).toBe('failed');
    expect(await live.check()).toBe('failed');
    expect(live.current()).toBe(inUse);
    expect(await metricValue(registry, 'pidguard_config_reload_failures_total')).toEqual([{ labels: {}, value: 1 }]);
    expect(await metricValue(registry, 'pidguard_config_reload_failing')).toEqual([{ labels: {}, value: 1 }]);
    const errors = lines.filter((line) => line.level === 'error');
    expect(errors).toEqual([expect.objectContaining({ msg: 'config reload failed: keeping the config in use', inUse: second, generation: 2, error: expect.stringContaining('defaultMode') })]);

    mount.write('defaultMode: off\n');
    expect(await live.check()).toBe('reloaded');
    expect(live.current().defaultMode).toBe('off');
    expect(await metricValue(registry, 'pidguard_config_reload_failing')).toEqual([{ labels: {}, value: 0 }]);
    expect(await metricValue(registry, 'pidguard_config_generation')).toEqual([{ labels: {}, value: 3 }]);
  });

  it('counts a file that disappears as a failure and keeps the config', async () => {
    const mount = configMapMount('gone', 'defaultMode: audit\n');
    const { lines, logger } = logCapture();
    const live = await LiveConfig.load(mount.path, logger);
    rmSync(mount.path);
    expect(await live.check()).toBe('failed');
    expect(live.current().defaultMode).toBe('audit');
    expect(lines.at(-1)).toMatchObject({ level: 'error', error: expect.stringContaining('ENOENT') });
  });

  it('refuses an invalid file at start, as before', async () => {
    const mount = configMapMount('bad-start', 'defaultMode: strict\n');
    await expect(LiveConfig.load(mount.path, logCapture().logger)).rejects.toThrow(/defaultMode/);
  });

  it('its metrics are documented for the webhook and the agent', async () => {
    const registry = new Registry();
    (await LiveConfig.load(undefined, logCapture().logger)).register(registry);
    const names = (await registry.getMetricsAsJSON()).map((metric) => metric.name);
    expect(names).toHaveLength(4);
    for (const doc of ['docs/WEBHOOK.md', 'docs/NODE.md']) {
      const text = readFileSync(join(repo, doc), 'utf8');
      for (const name of names) expect(`${doc}: ${text.includes(`\`${name}\``) ? name : 'missing'}`).toBe(`${doc}: ${name}`);
    }
  });

  it('has nothing to watch without a file: the built-in config', async () => {
    const live = await LiveConfig.load(undefined, logCapture().logger);
    const registry = new Registry();
    live.register(registry);
    expect(await metricValue(registry, 'pidguard_config_info')).toEqual([{ labels: { hash: 'built-in' }, value: 1 }]);
    expect(await live.check()).toBe('unchanged');
  });
});

/** Runs the built CLI, collecting its JSON log lines; resolves when a line matches `ready`. */
function startChild(args: string[], ready: (line: Record<string, unknown>) => boolean) {
  const main = join(repo, 'dist/cli/main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first (npm run test:unit does)`);
  const child = spawn(process.execPath, [join(repo, 'bin/pidguard.js'), ...args], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: work, NODE_NAME: 'worker-7' } });
  const lines: Array<Record<string, unknown>> = [];
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}: ${JSON.stringify(lines)}`)));
    createInterface({ input: child.stderr! }).on('line', (text) => {
      const line = JSON.parse(text) as Record<string, unknown>;
      lines.push(line);
      if (ready(line)) resolve(line);
    });
  });
  return { child, lines, started };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sample = (text: string, name: string) => new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[0];

describe('serve and agent follow the file', () => {
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('serve: a BestEffort pod is denied, then admitted once the file says audit; an invalid file changes nothing', async () => {
    const mount = configMapMount('serve', 'defaultMode: enforce\n');
    const certs = join(work, 'serve-certs');
    const run = startChild(
      ['serve', '--generate-dev-cert', '--tls-cert', join(certs, 'tls.crt'), '--tls-key', join(certs, 'tls.key'), '--address', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--config', mount.path, '--config-check-interval', '100ms'],
      (line) => line.msg === 'listening',
    );
    child = run.child;
    const { port, metricsPort } = (await run.started) as { port: number; metricsPort: number };
    const ca = readFileSync(join(certs, 'ca.crt'));
    const validate = () =>
      new Promise<{ allowed: boolean }>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port, path: '/validate', method: 'POST', ca, servername: 'localhost', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { response: { allowed: boolean } }).response));
        });
        req.on('error', reject);
        req.end(JSON.stringify(review({ object: bestEffortPod() })));
      });
    const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();

    expect((await validate()).allowed).toBe(false);
    expect(sample(await metrics(), 'pidguard_config_generation')).toBe('pidguard_config_generation 1');
    mount.write('defaultMode: audit\n');
    await until('the audit config', async () => ((await validate()).allowed ? true : undefined));
    const text = await metrics();
    expect(sample(text, 'pidguard_config_generation')).toBe('pidguard_config_generation 2');
    const reloaded = run.lines.find((line) => line.msg === 'config reloaded')!;
    expect(sample(text, 'pidguard_config_info')).toBe(`pidguard_config_info{hash="${reloaded.hash as string}"} 1`);

    mount.write('defaultMode: [enforce\n');
    await until('the reload failure', async () => (sample(await metrics(), 'pidguard_config_reload_failures_total') === 'pidguard_config_reload_failures_total 1' ? true : undefined));
    expect((await validate()).allowed).toBe(true);
    expect(run.lines.filter((line) => line.level === 'error').map((line) => line.msg)).toEqual(['config reload failed: keeping the config in use']);
  });

  it('agent: a new pids.ceiling is used from the next scan, with its hash and generation', async () => {
    const root = join(work, 'agent-node');
    cpSync(join(repo, 'test/fixtures/node/incident'), root, { recursive: true });
    const mount = configMapMount('agent', 'pids:\n  ceiling: 4096\n');
    const run = startChild(
      ['agent', '--proc', join(root, 'proc'), '--cgroup-root', join(root, 'sys/fs/cgroup'), '--pods-file', join(root, 'pods.yaml'), '--interval', '100ms', '--metrics-port', '0', '--metrics-host', '127.0.0.1', '--config', mount.path, '--config-check-interval', '100ms'],
      (line) => line.msg === 'agent started',
    );
    child = run.child;
    const { metricsPort } = (await run.started) as { metricsPort: number };
    const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    // The fixture's pod asks for pidguard.io/pids-limit 2048: within the first ceiling, above the second.
    await until('a scan', async () => (sample(await metrics(), 'pidguard_scans_total') !== undefined && !(await metrics()).includes('pidguard_scans_total 0') ? true : undefined));
    expect(sample(await metrics(), 'pidguard_config_generation')).toBe('pidguard_config_generation 1');
    expect(sample(await metrics(), 'pidguard_agent_pids_limit_adjustments_total')).toBe('pidguard_agent_pids_limit_adjustments_total 0');
    mount.write('pids:\n  ceiling: 1024\n');
    await until('generation 2', async () => (sample(await metrics(), 'pidguard_config_generation') === 'pidguard_config_generation 2' ? true : undefined));
    expect(run.lines.find((line) => line.msg === 'config reloaded')).toMatchObject({ component: 'agent', generation: 2 });
    await until('the pod lowered to the new ceiling', async () => (sample(await metrics(), 'pidguard_agent_pids_limit_adjustments_total') === 'pidguard_agent_pids_limit_adjustments_total 1' ? true : undefined));
  });
});
