// `pidguard audit` failing clearly without a usable API server; the real-cluster
// behaviour is in test/e2e/audit.e2e.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'pidguard-audit-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let kubeconfigs = 0;

function kubeconfigFor(server: string): string {
  kubeconfigs += 1;
  const path = join(scratch, `kubeconfig-${kubeconfigs}`);
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  return path;
}

describe('pidguard audit errors', () => {
  it('says so when the API server is unreachable', async () => {
    const { code, stderr } = await runCli(['audit', '--kubeconfig', kubeconfigFor('https://127.0.0.1:1')]);
    expect(code).toBe(2);
    expect(stderr).toBe('pidguard audit: API server 127.0.0.1:1 unreachable (ECONNREFUSED) while trying to list namespaces at the cluster scope\n');
  });

  describe('with a server that accepts connections and never answers', () => {
    let server: Server;
    const sockets: Socket[] = [];
    beforeAll(async () => {
      server = createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(async () => {
      sockets.forEach((s) => s.destroy());
      await new Promise((resolve) => server.close(resolve));
    });

    it('times out with the call named', async () => {
      const port = (server.address() as { port: number }).port;
      const { code, stderr } = await runCli(['audit', '--timeout', '1s', '--kubeconfig', kubeconfigFor(`https://127.0.0.1:${port}`)]);
      expect(code).toBe(2);
      expect(stderr).toBe('pidguard audit: the API server did not answer within 1s to list namespaces at the cluster scope\n');
    });
  });

  it.each(['a,metadata.name!=b', 'Shop', '', 'x'.repeat(64), '-shop'])('refuses -n %j: not a namespace name (it goes into a field selector)', async (namespace) => {
    const { code, stderr } = await runCli(['audit', `--namespace=${namespace}`, '--kubeconfig', kubeconfigFor('https://127.0.0.1:1')]);
    expect(code).toBe(2);
    expect(stderr).toContain('--namespace must be a namespace name');
  });

  it('names the one namespace it lists with -n when the API server is unreachable', async () => {
    const { code, stderr } = await runCli(['audit', '-n', 'shop', '--kubeconfig', kubeconfigFor('https://127.0.0.1:1')]);
    expect(code).toBe(2);
    expect(stderr).toBe('pidguard audit: API server 127.0.0.1:1 unreachable (ECONNREFUSED) while trying to list namespace shop\n');
  });

  it('needs a cluster', async () => {
    const { code, stderr } = await runCli(['audit'], { env: {} });
    expect(code).toBe(2);
    expect(stderr).toContain('no cluster: pass --kubeconfig, set KUBECONFIG, or run in a pod');
  });

  it('rejects a missing kubeconfig file', async () => {
    const { code, stderr } = await runCli(['audit', '--kubeconfig', '/nonexistent/kubeconfig']);
    expect(code).toBe(2);
    expect(stderr).toContain('kubeconfig /nonexistent/kubeconfig does not exist');
  });

  it.each([
    [['--page-size', '0'], '--page-size must be a whole number from 1 to 5000'],
    [['--timeout', 'soon'], '--timeout must be a duration'],
  ])('rejects bad flags %j', async (flags, message) => {
    const { code, stderr } = await runCli(['audit', ...flags]);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
  });
});

describe('pidguard audit --node-report', () => {
  test('a report past the cap fails before it is parsed, exit 2 naming it', async () => {
    const { truncateSync } = await import('node:fs');
    const { MAX_NODE_REPORTS_BYTES } = await import('../../../src/cli/audit.js');
    const path = join(scratch, 'huge-report.json');
    writeFileSync(path, '{"pods": []}');
    truncateSync(path, MAX_NODE_REPORTS_BYTES + 1);
    const run = await runCli(['audit', '--node-report', path, '--kubeconfig', kubeconfigFor('https://127.0.0.1:1')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`node report ${path}: the input exceeds ${MAX_NODE_REPORTS_BYTES} bytes`);
  });
});
