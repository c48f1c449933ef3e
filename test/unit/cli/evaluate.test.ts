import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { runCli } from './run-cli.js';

const fixtures = 'test/fixtures/manifests';
const incident = `${fixtures}/incident-dotnet-deployment.yaml`;

const scratch = mkdtempSync(join(tmpdir(), 'pidguard-eval-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let files = 0;

/** A file named `name` in a directory of its own (error messages show the path). */
function tempFile(name: string, content: string): string {
  files += 1;
  const directory = join(scratch, String(files));
  mkdirSync(directory);
  const path = join(directory, name);
  writeFileSync(path, content);
  return path;
}

describe('pidguard evaluate', () => {
  it("admits the incident's .NET Deployment and shows what its pods will get", async () => {
    const { code, stdout } = await runCli(['evaluate', '-f', incident]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/Deployment\/orders-api\s+shop\s+enforce\s+mutated\s+Burstable\s+dotnet-guard/);
    expect(stdout).toContain('dotnet-guard will set on each pod: container "api": cpu request 100m, cpu limit 1, memory request 256Mi, memory limit 1Gi, env DOTNET_ThreadPool_ForceMaxWorkerThreads=0x100');
  });

  it('prints the Pod as the cluster would store it with -o yaml (Deployment unchanged)', async () => {
    const { code, stdout } = await runCli(['evaluate', '-f', incident, '-o', 'yaml']);
    expect(code).toBe(0);
    const [deployment, pod] = parseAllDocuments(stdout).map((d) => d.toJS());
    expect(deployment.spec.template.spec.containers[0].resources).toBeUndefined();
    expect(pod.metadata.annotations['pidguard.io/pids-limit']).toBe('1024');
    expect(pod.spec.containers[0].env).toEqual([
      { name: 'ASPNETCORE_URLS', value: 'http://+:8080' },
      { name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0x100' },
      { name: 'DOTNET_ThreadPool_MaxThreads', value: '256' },
    ]);
  });

  it('prints a List with -o json for several objects', async () => {
    const { stdout } = await runCli(['evaluate', '-f', incident, '-o', 'json']);
    const list = JSON.parse(stdout);
    expect(list.kind).toBe('List');
    expect(list.items.map((i: { kind: string }) => i.kind)).toEqual(['Deployment', 'Pod']);
    expect(list.items[1].spec.containers[0].resources.limits).toEqual({ cpu: '1', memory: '1Gi' });
  });

  it('exits 1 when anything would be denied, and honours Namespace labels from the same input', async () => {
    const { code, stdout } = await runCli(['evaluate', '-f', `${fixtures}/mixed-namespaces.yaml`]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/Deployment\/cache\s+legacy\s+audit\s+would-deny\s+BestEffort/);
    expect(stdout).toMatch(/CronJob\/report\s+default\s+enforce\s+denied\s+BestEffort/);
    expect(stdout).toMatch(/StatefulSet\/db\s+default\s+enforce\s+allowed\s+Burstable/);
    expect(stdout).not.toContain('ConfigMap');
  });

  it('--mode overrides every namespace', async () => {
    expect((await runCli(['evaluate', '-f', `${fixtures}/mixed-namespaces.yaml`, '--mode', 'audit'])).code).toBe(0);
    const off = await runCli(['evaluate', '-f', `${fixtures}/mixed-namespaces.yaml`, '--mode', 'off']);
    expect(off.stdout).toMatch(/CronJob\/report\s+default\s+off\s+skipped/);
  });

  it('gives scripts the engine evaluations with -o report', async () => {
    const { stdout } = await runCli(['evaluate', '-f', fixtures, '-o', 'report']);
    const report = JSON.parse(stdout) as Array<{ source: string; document: number; kind: string; allowed: boolean; violations: unknown[] }>;
    expect(report.map((r) => `${r.kind}:${r.allowed}`)).toEqual(['Deployment:true', 'Pod:true', 'Deployment:true', 'CronJob:false', 'StatefulSet:true']);
    expect(report[3]).toMatchObject({ source: `${fixtures}/mixed-namespaces.yaml`, document: 3 });
  });

  it('reads stdin, JSON and kind: List', async () => {
    const list = { apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a' }, spec: { containers: [{ name: 'c', image: 'x' }] } }] };
    const { code, stdout } = await runCli(['evaluate', '-f', '-'], { stdin: JSON.stringify(list) });
    expect(code).toBe(1);
    expect(stdout).toMatch(/Pod\/a\s+default\s+enforce\s+denied/);
  });

  it('uses the config file', async () => {
    const config = tempFile('config.yaml', 'defaultMode: audit\ndotnet:\n  maxWorkerThreads: 100\n');
    const { code, stdout } = await runCli(['evaluate', '-f', incident, '--config', config, '-o', 'yaml']);
    expect(code).toBe(0);
    const pod = parseAllDocuments(stdout)[1]!.toJS();
    expect(pod.spec.containers[0].env).toHaveLength(1); // audit mode: nothing applied
    const enforced = await runCli(['evaluate', '-f', incident, '--config', config, '--mode', 'enforce', '-o', 'yaml']);
    expect(parseAllDocuments(enforced.stdout)[1]!.toJS().spec.containers[0].env[1]).toEqual({ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0x64' });
  });

  describe('bad input exits 2 with the file and document index', () => {
    it.each([
      ['broken YAML in the second document', 'kind: Pod\nmetadata: {name: a}\nspec: {containers: []}\n---\nkind: Pod\n  bad: [indent\n', /broken\.yaml: document 1: /],
      ['a scalar document', 'just text\n', /broken\.yaml: document 0: is not a Kubernetes object/],
      ['a document without kind', 'metadata: {name: a}\n', /broken\.yaml: document 0: has no kind/],
    ])('%s', async (_name, content, message) => {
      const path = tempFile('broken.yaml', content);
      const { code, stderr, stdout } = await runCli(['evaluate', '-f', path]);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(message);
      expect(stderr).toMatch(/^pidguard evaluate: /);
    });

    it('a pod of a shape no API server accepts', async () => {
      const path = tempFile('malformed.yaml', 'kind: Pod\nmetadata: {name: ok}\nspec: {containers: [{name: a, image: x, resources: {limits: {memory: 1Gi}}}]}\n---\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {containers: [{name: a, env: "x"}]}}}\n');
      const { code, stderr, stdout } = await runCli(['evaluate', '-f', path]);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toBe(`pidguard evaluate: the API server would reject this object as malformed:\n  ${path}: document 1: Deployment "web": spec.template.spec.containers[0].env is not a list\n`);
    });

    it('a missing file', async () => {
      const { code, stderr } = await runCli(['evaluate', '-f', '/nonexistent/x.yaml']);
      expect(code).toBe(2);
      expect(stderr).toBe('pidguard evaluate: cannot read /nonexistent/x.yaml: ENOENT\n');
    });

    it('a broken config names the field', async () => {
      const config = tempFile('config.yaml', 'dotnet:\n  pidsLimit: lots\n');
      const { code, stderr } = await runCli(['evaluate', '-f', incident, '--config', config]);
      expect(code).toBe(2);
      expect(stderr).toContain('config: dotnet.pidsLimit: must be a whole number from 16 to 4194304, got string "lots"');
    });

    it.each([
      [['evaluate'], '-f/--filename is required'],
      [['evaluate', '-f', incident, '-o', 'xml'], '-o must be one of table, json, yaml, report'],
      [['evaluate', '-f', incident, '--mode', 'warn'], '--mode must be one of enforce, audit, off'],
      [['evaluate', '-f', incident, '--bogus'], "Unknown option '--bogus'"],
    ])('usage error %j', async (argv, message) => {
      const { code, stderr } = await runCli(argv);
      expect(code).toBe(2);
      expect(stderr).toContain(message);
    });
  });

  it('has help', async () => {
    const { code, stdout } = await runCli(['evaluate', '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: pidguard evaluate -f <file|dir|->');
    expect(stdout).toContain('Exit codes: 0 everything would be admitted; 1 something would be denied');
  });

  it('works as the installed binary', () => {
    const out = execFileSync(process.execPath, ['bin/pidguard.js', 'evaluate', '-f', incident, '-o', 'json'], { encoding: 'utf8' });
    expect(parse(out).items[1].metadata.annotations['pidguard.io/pids-limit']).toBe('1024');
  });
});

describe('pidguard', () => {
  it('lists the commands and exits 2 without one', async () => {
    const { code, stdout } = await runCli([]);
    expect(code).toBe(2);
    for (const command of ['evaluate', 'serve', 'node', 'agent', 'audit', 'certs']) expect(stdout).toContain(`  ${command}`);
    expect(stdout).not.toContain('replay'); // a repository script (npm run replay), not a product command
  });

  it('rejects an unknown command', async () => {
    const { code, stderr } = await runCli(['frobnicate']);
    expect(code).toBe(2);
    expect(stderr).toContain('unknown command "frobnicate"');
  });

  it('prints its version', async () => {
    expect((await runCli(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
