// `pidguard certs` in process, and `pidguard serve` as a real child process
// (built dist/, as `npm start` runs it): a development certificate on a fresh
// directory, no cluster, no config; SIGTERM drains and exits 0.

import { jest } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run-cli.js';
import { loggedLine, spawnServe } from './serve-child.js';
import { partialReview } from '../webhook/support.js';

jest.setTimeout(60_000);

const root = new URL('../../../', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'pidguard-serve-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('pidguard certs', () => {
  it('writes a CA and a serving certificate it signs, for the names asked', async () => {
    const out = join(work, 'certs-cmd');
    const run = await runCli(['certs', '--out', out, '--dns', 'pidguard.pidguard-system.svc', '--ip', '127.0.0.1', '--days', '3']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('DNS:pidguard.pidguard-system.svc, IP Address:127.0.0.1');
    const ca = new X509Certificate(readFileSync(join(out, 'ca.crt')));
    const leaf = new X509Certificate(readFileSync(join(out, 'tls.crt')));
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkHost('pidguard.pidguard-system.svc')).toBe('pidguard.pidguard-system.svc');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    const days = (new Date(leaf.validTo).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(2.9);
    expect(days).toBeLessThan(3.1);
    for (const key of ['ca.key', 'tls.key']) expect(statSync(join(out, key)).mode & 0o777).toBe(0o600);
  });

  it('refuses bad arguments with a usage error', async () => {
    expect(await runCli(['certs'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--out DIR is required') });
    expect(await runCli(['certs', '--out', work, '--ip', 'localhost'])).toMatchObject({ code: 2, stderr: expect.stringContaining('"localhost" is not an IP address') });
    expect(await runCli(['certs', '--out', work, '--days', '0'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--days must be a whole number from 1 to 3650') });
  });
});

describe('pidguard serve flags', () => {
  it('refuses bad flags and unusable files before listening', async () => {
    expect(await runCli(['serve', '--port', 'https'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--port must be a whole number') });
    expect(await runCli(['serve', '--log-level', 'chatty'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--log-level must be one of debug, info, warn, error') });
    expect(await runCli(['serve', '--log-allowed', 'sampled:0'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--log-allowed must be none, sampled:N (N from 1 to 1000000) or all, got "sampled:0"') });
    const missing = await runCli(['serve', '--tls-cert', join(work, 'nope.crt'), '--tls-key', join(work, 'nope.key'), '--port', '0', '--metrics-port', '0', '--address', '127.0.0.1']);
    expect(missing).toMatchObject({ code: 1, stderr: expect.stringMatching(/cannot start: cannot read certificate .*nope.crt: ENOENT; cannot read key .*nope.key: ENOENT/) });
    expect(await runCli(['serve', '--body-budget', '6Mi'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--body-budget must be a size in bytes such as 1048576, 512Ki or 32Mi (from 7340032 to 4294967296 bytes') });
    expect(await runCli(['serve', '--headers-timeout', '20s', '--request-timeout', '10s'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--headers-timeout must not be longer than --request-timeout') });
    expect(await runCli(['serve', '--handshake-timeout', 'soon'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--handshake-timeout must be a duration') });
    const badFile = await runCli(['serve', '--namespaces-file', join(work, 'nope.yaml')]);
    expect(badFile).toMatchObject({ code: 2, stderr: expect.stringMatching(/cannot read namespaces file .*nope.yaml: ENOENT/) });
  });

  it('uses ~/.kube/config when there is no --kubeconfig, KUBECONFIG or pod, as every command does', async () => {
    const home = join(work, 'home');
    mkdirSync(join(home, '.kube'), { recursive: true });
    writeFileSync(join(home, '.kube/config'), 'apiVersion: v1\nkind: Config\ncurrent-context: gone\ncontexts: []\n');
    const run = await runCli(['serve', '--tls-cert', join(work, 'nope.crt'), '--tls-key', join(work, 'nope.key')], { env: { HOME: home } });
    expect(run).toMatchObject({ code: 2, stderr: `pidguard serve: cannot load the cluster configuration: kubeconfig ${join(home, '.kube/config')}: current-context "gone" is not among its contexts\n` });
  });
});

describe('pidguard serve (child process)', () => {
  let child: ChildProcess;
  let lines: Array<Record<string, unknown>> = [];
  const directory = join(work, 'fresh');

  beforeAll(async () => {
    const launcher = join(root, 'dist/cli/serve.js');
    if (!existsSync(launcher)) throw new Error(`${launcher} is missing: run \`npm run build\` first (npm run test:unit does)`);
    mkdirSync(directory);
    const env = { PATH: process.env.PATH ?? '', HOME: directory, PIDGUARD_PORT: '0', PIDGUARD_METRICS_PORT: '0' };
    const serve = spawnServe(['--generate-dev-cert', '--address', '127.0.0.1', '--shutdown-delay', '1s'], { cwd: directory, env });
    ({ child, lines } = serve);
    await loggedLine(serve, 'listening');
  });
  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  const port = () => lines.find((line) => line.msg === 'listening')!.port as number;
  const ca = () => readFileSync(join(directory, 'certs/ca.crt'), 'utf8');
  const get = (path: string) =>
    new Promise<number>((resolve, reject) => {
      httpsRequest({ host: '127.0.0.1', port: port(), path, ca: ca(), servername: 'localhost', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject).end();
    });

  it('came up on a fresh directory with a generated certificate and no cluster', async () => {
    for (const file of ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']) expect(existsSync(join(directory, 'certs', file))).toBe(true);
    expect(lines.map((line) => line.msg)).toEqual(expect.arrayContaining(['generated a development certificate', 'no cluster and no --namespaces-file: every namespace gets the default mode (fail closed)']));
    expect(await get('/readyz')).toBe(200);
  });

  it('on SIGHUP: logs, reads the certificate files again, and keeps serving', async () => {
    const before = lines.length;
    child.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    while (!lines.slice(before).some((line) => line.msg === 'SIGHUP: the serving certificate files are unchanged')) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`serve died on SIGHUP (${child.exitCode ?? child.signalCode})`);
      if (Date.now() > deadline) throw new Error(`no SIGHUP log lines: ${JSON.stringify(lines.slice(before))}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(lines.slice(before).map((line) => line.msg)).toContain('SIGHUP: reading the serving certificate files again');
    expect(await get('/readyz')).toBe(200);
  });

  it('on SIGTERM: /readyz turns 503, the review in progress is answered, and the process exits 0', async () => {
    const { answer, sendRest } = partialReview({ port: port(), ca: ca(), uid: 'draining', firstBytes: 64 });
    // Give the server a moment to take the partial request; the 1 s shutdown delay covers a slow start too.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const deadline = Date.now() + 10_000;
    while (!lines.some((line) => typeof line.msg === 'string' && line.msg.startsWith('shutting down'))) {
      if (Date.now() > deadline) throw new Error('no shutdown log line');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await get('/readyz')).toBe(503);
    sendRest();
    expect(await answer).toEqual({ status: 200, uid: 'draining' });
    const [code] = await exited;
    expect(code).toBe(0);
    expect(lines.at(-1)).toMatchObject({ msg: 'shut down', unfinished: 0 });
  });
});
