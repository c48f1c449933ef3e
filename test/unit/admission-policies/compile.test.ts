// The compiler of admission policies, without an API server (the e2e test
// admission-policies.e2e.test.ts runs them on a real one): the globs' regex
// translation against glob.ts itself, the mode -> binding mapping, the CLI, and
// the kustomize component kept in step with the default config.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { renderPolicies } from '../../../src/cli/policies.js';
import { commandPatternsRegex, imagePatternRegex } from '../../../src/policy/admission-policies/cel.js';
import { compileAdmissionPolicies } from '../../../src/policy/admission-policies/index.js';
import { REPOSITORY, WITH_DOMAIN } from '../../../src/policy/admission-policies/pod-cel.js';
import { defaultConfig, parseConfig } from '../../../src/policy/config.js';
import { commandMatches, compileCommandPattern, compileImagePattern, imageMatches, type ImagePattern } from '../../../src/policy/glob.js';
import { SYSTEM_NAMESPACES } from '../../../src/policy/keys.js';
import { runCli } from '../cli/run-cli.js';
import { REPO_ROOT } from '../manifests/render.js';

type Binding = { kind: string; metadata: { name: string }; spec: { policyName: string; validationActions?: string[]; matchResources: { namespaceSelector: { matchExpressions: Array<{ key: string; operator: string; values: string[] }> } } } };

function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x80000000;
  };
}

/** What the policies' CEL does with an image (pod-cel.ts), in JavaScript regexes: the same regex texts. */
function policyImageMatches(patterns: readonly ImagePattern[], image: string): boolean {
  const repository = new RegExp(REPOSITORY).exec(image)![0];
  const withDomain = new RegExp(WITH_DOMAIN).test(repository);
  const path = withDomain ? repository.slice(repository.indexOf('/') + 1) : repository;
  const domainPath = withDomain ? repository : `docker.io/${repository}`;
  return patterns.some((pattern) => new RegExp(`^(?:${imagePatternRegex(pattern)})$`).test(`/${pattern.withDomain ? domainPath : path}`));
}

describe('glob translation', () => {
  const imagePatterns = ['mcr.microsoft.com/dotnet/**', '**/*dotnet*', '**/*aspnet*', 'corp/**/api-*', 'localhost:5000/*/x*y*z', 'a/*/b', 'docker.io/library/*net*'];
  const imageParts = ['dotnet', 'aspnet', 'mcr.microsoft.com', 'corp', 'api-', 'x', 'y', 'z', 'a', 'b', '/', '/', ':', '@', '.', 'A', 'localhost', ':5000', 'docker.io', 'library', 'net', '-', '*'];

  it('matches images exactly as glob.ts does (generated images)', () => {
    const next = random(14);
    const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
    const compiled = imagePatterns.map(compileImagePattern);
    const mismatches: string[] = [];
    let matched = 0;
    for (let index = 0; index < 20_000; index += 1) {
      const image = Array.from({ length: 1 + Math.floor(next() * 8) }, () => pick(imageParts)).join('');
      const patterns = next() < 0.5 ? compiled : [pick(compiled)];
      const expected = imageMatches(patterns, image);
      if (expected) matched += 1;
      if (policyImageMatches(patterns, image) !== expected) mismatches.push(`${image} (${patterns.map((p) => p.source).join(' ')}): glob ${expected}`);
    }
    expect(mismatches.slice(0, 10)).toEqual([]);
    expect(matched).toBeGreaterThan(1000); // the generator reaches both outcomes
  });

  it('matches command and args entries exactly as glob.ts does (generated entries)', () => {
    const commandPatterns = [['dotnet', '*.dll'], ['bin/*.api'], ['a*b*c', '/usr/*/dotnet'], ['%x~', 'w+=@,']];
    const parts = ['dotnet', '.dll', 'App', '/', 'bin', '.api', 'a', 'b', 'c', '/usr', ' ', ' ', '"', "'", ';', '&', '|', '(', ')', '<', '>', '`', '\t', '\n', 'x', '%', '~', 'w+=@,', '-'];
    const next = random(7);
    const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
    const mismatches: string[] = [];
    let matched = 0;
    for (let index = 0; index < 20_000; index += 1) {
      const patterns = pick(commandPatterns).map(compileCommandPattern);
      const entry = Array.from({ length: 1 + Math.floor(next() * 8) }, () => pick(parts)).join('');
      const expected = commandMatches(patterns, [entry]);
      if (expected) matched += 1;
      if (new RegExp(commandPatternsRegex(patterns)).test(entry) !== expected) mismatches.push(`${JSON.stringify(entry)} (${patterns.map((p) => p.source).join(' ')}): glob ${expected}`);
    }
    expect(mismatches.slice(0, 10)).toEqual([]);
    expect(matched).toBeGreaterThan(1000);
  });
});

describe('modes as bindings', () => {
  const bindings = (defaultMode: string) =>
    (compileAdmissionPolicies(parseConfig({ defaultMode })) as Binding[]).filter((object) => object.kind.endsWith('Binding'));

  it.each(['enforce', 'audit', 'off'])('defaultMode %s: Deny where enforce, Audit+Warn where audit, nothing where off, never the system namespaces', (defaultMode) => {
    const all = bindings(defaultMode);
    for (const binding of all) {
      expect(binding.spec.matchResources.namespaceSelector.matchExpressions).toContainEqual({ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...SYSTEM_NAMESPACES] });
    }
    const summary = all.map((b) => {
      const mode = b.spec.matchResources.namespaceSelector.matchExpressions.find((e) => e.key === 'pidguard.io/mode');
      return `${b.spec.policyName} ${mode ? `${mode.operator} ${mode.values.join(',')}` : 'all'} ${b.spec.validationActions?.join('+') ?? 'mutate'}`;
    });
    const byDefault = (policy: string, actions: string) => (defaultMode === 'off' ? [] : [`${policy} NotIn enforce,audit,off ${actions}`]);
    const actions = defaultMode === 'enforce' ? 'Deny' : 'Audit+Warn';
    expect(summary.sort()).toEqual([
      'pidguard-require-resources In enforce Deny',
      'pidguard-require-resources In audit Audit+Warn',
      ...byDefault('pidguard-require-resources', actions),
      'pidguard-require-resources-warn In enforce Warn+Audit',
      'pidguard-require-resources-warn In audit Warn+Audit',
      ...byDefault('pidguard-require-resources-warn', 'Warn+Audit'),
      'pidguard-mutate-pods In enforce mutate',
      ...(defaultMode === 'enforce' ? ['pidguard-mutate-pods NotIn enforce,audit,off mutate'] : []),
      ...(defaultMode === 'off' ? [] : [`pidguard-namespace-labels all ${actions}`]),
      'pidguard-dotnet-uncapped In enforce Warn+Audit',
      ...(defaultMode === 'enforce' ? ['pidguard-dotnet-uncapped NotIn enforce,audit,off Warn+Audit'] : []),
    ].sort());
  });

  it('picks the require-resources level per namespace in CEL, the config level only as the fallback', () => {
    type Policy = { metadata: { name: string }; spec: { variables: Array<{ name: string; expression: string }>; validations: Array<{ expression: string }> } };
    const policies = compileAdmissionPolicies(parseConfig({ requireResources: { level: 'requests' } })) as Policy[];
    for (const name of ['pidguard-require-resources', 'pidguard-require-resources-warn']) {
      const policy = policies.find((p) => p.metadata.name === name)!;
      const level = policy.spec.variables.find((v) => v.name === 'level')!.expression;
      expect(level).toContain("namespaceObject.metadata.labels[\"pidguard.io/require-resources\"]");
      expect(level).toMatch(/ : "requests"$/);
      // Every level's check is there, whatever the config's level.
      expect(policy.spec.variables.map((v) => v.name)).toEqual(expect.arrayContaining(['bestEffort', 'missingRequests', 'missingAll']));
    }
    const warn = policies.find((p) => p.metadata.name === 'pidguard-require-resources-warn')!;
    expect(warn.spec.validations).toHaveLength(3);
    // No double report: each warning passes when the mode's level already fails.
    for (const validation of warn.spec.validations.slice(1)) expect(validation.expression.startsWith("(variables.level == 'not-besteffort' ? variables.bestEffort")).toBe(true);
  });

  it('writes the configured values into the CEL (cap in hex, budget, guardians)', () => {
    const text = JSON.stringify(compileAdmissionPolicies(parseConfig({ dotnet: { maxWorkerThreads: 100, pidsLimit: 777 }, namespaceGuard: { users: ['flux'], groups: [] } })));
    expect(text).toContain('0x64');
    expect(text).toContain('777');
    expect(text).toContain('[\\"flux\\"]');
    expect(text).toContain('ask a member of user \\\\\\"flux\\\\\\"');
  });
});

describe('pidguard policies', () => {
  it('prints the default config compiled, as YAML kubectl reads back to the same objects', async () => {
    const run = await runCli(['policies']);
    expect(run.code).toBe(0);
    expect(parseAllDocuments(run.stdout).map((doc) => doc.toJS())).toEqual(JSON.parse(JSON.stringify(compileAdmissionPolicies(defaultConfig()))));
    expect(run.stdout).toContain('- "off"'); // quoted: kubectl reads YAML 1.1, where a bare off is false
  });

  it('reads --config and fails with exit 2 on a bad one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pidguard-policies-'));
    try {
      writeFileSync(join(dir, 'good.yaml'), 'defaultMode: audit\n');
      writeFileSync(join(dir, 'bad.yaml'), 'defaultMode: sometimes\n');
      const good = await runCli(['policies', '--config', join(dir, 'good.yaml')]);
      expect(good.code).toBe(0);
      expect(good.stdout).toContain('pidguard-require-resources-audit-by-default');
      const bad = await runCli(['policies', '--config', join(dir, 'bad.yaml')]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('defaultMode');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('manifests/components/admission-policies', () => {
  const file = join(REPO_ROOT, 'manifests/components/admission-policies/policies.yaml');

  it('holds `pidguard policies` of the default config (regenerate: see its kustomization.yaml)', () => {
    const body = readFileSync(file, 'utf8').replace(/^#.*\n/, '');
    expect(body).toBe(renderPolicies(compileAdmissionPolicies(defaultConfig())));
  });

  it('renders with kustomize as a component of an overlay', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pidguard-component-'));
    try {
      writeFileSync(join(dir, 'kustomization.yaml'), `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ncomponents:\n  - ${relative(dir, join(REPO_ROOT, 'manifests/components/admission-policies'))}\n`);
      const output = execFileSync('kubectl', ['kustomize', '--load-restrictor', 'LoadRestrictionsNone', dir], { encoding: 'utf8' });
      const names = parseAllDocuments(output).map((doc) => (doc.toJS() as Binding).metadata.name).sort();
      expect(names).toEqual((compileAdmissionPolicies(defaultConfig()) as Binding[]).map((object) => object.metadata.name).sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
