// The admission policies `pidguard policies` compiles, on the real API server:
//   parity   every case of policy-cases.ts through the engine and through the
//            API server with only the policies installed (server-side dry
//            runs): same allowed/denied, same message, same resulting pod;
//   outage   the webhook configured but stopped, the policies installed:
//            BestEffort denied (enforce) or warned (audit), .NET pods capped,
//            the namespace guard still refuses an unprivileged user;
//   cost     the latency a pod creation gains with policies only, webhook only
//            and both, against neither, measured in the same run (reported,
//            never asserted).
// The webhook configurations are taken away for the policy-only parts and put
// back (and the policies removed) at the end, so the other files see the
// shipped setup.
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { compileAdmissionPolicies } from '../../src/policy/admission-policies/index.js';
import { defaultConfig, parseConfig } from '../../src/policy/config.js';
import { RESOURCE_LEVELS } from '../../src/policy/rules/require-resources.js';
import { evaluate, warningList, type Evaluation } from '../../src/policy/engine.js';
import { applyPatch } from '../../src/policy/json-patch.js';
import { parseQuantity } from '../../src/policy/quantity.js';
import type { Container, KubeObject, Mode } from '../../src/policy/types.js';
import { podTemplateOf } from '../../src/policy/workloads.js';
import { cluster, createNamespace, kubectl, kubectlOk, kubeconfigPath, startWebhook, stopWebhook, waitFor, webhookRequestCount, webhookRunning, type Identity } from './harness.js';
import { POLICY_CASES, type PolicyCase } from './policy-cases.js';

const MODE = 'pidguard.io/mode';
const CEILING = 'pidguard.io/pids-limit-ceiling';
const PIDS_DEFAULT = 'pidguard.io/pids-limit-default';
const LEVEL = 'pidguard.io/require-resources';
const WARN_LEVEL = 'pidguard.io/require-resources-warn';
/** The namespaces the cases run in, by the labels that change what pidguard does there. */
const NAMESPACE_LABELS: Record<string, Record<string, string>> = {
  enforce: { [MODE]: 'enforce' },
  audit: { [MODE]: 'audit' },
  off: { [MODE]: 'off' },
  unlabelled: {},
  ceiling: { [MODE]: 'enforce', [CEILING]: '2000' },
  // pids-default: the label's budget; the label above the ceiling; an invalid label (left to the webhook).
  pidsDefault: { [MODE]: 'enforce', [PIDS_DEFAULT]: '500' },
  pidsDefaultAboveCeiling: { [MODE]: 'enforce', [PIDS_DEFAULT]: '3000', [CEILING]: '2000' },
  pidsDefaultInvalid: { [MODE]: 'enforce', [PIDS_DEFAULT]: 'lots' },
  // require-resources per namespace: the mode's level, a warn level, both, invalid values, with each mode.
  levelStrict: { [MODE]: 'enforce', [LEVEL]: 'requests-and-limits' },
  levelWarn: { [MODE]: 'enforce', [WARN_LEVEL]: 'requests-and-limits' },
  levelBoth: { [MODE]: 'enforce', [LEVEL]: 'requests', [WARN_LEVEL]: 'requests-and-limits' },
  levelLowest: { [MODE]: 'enforce', [LEVEL]: 'not-besteffort', [WARN_LEVEL]: 'requests' },
  levelInvalid: { [MODE]: 'enforce', [LEVEL]: 'strict', [WARN_LEVEL]: 'lots' },
  levelWarnByDefault: { [WARN_LEVEL]: 'requests' },
  levelAudit: { [MODE]: 'audit', [LEVEL]: 'requests', [WARN_LEVEL]: 'requests-and-limits' },
  levelOff: { [MODE]: 'off', [LEVEL]: 'requests-and-limits', [WARN_LEVEL]: 'requests-and-limits' },
};
let config = defaultConfig();
const POLICY_KINDS = ['mutatingadmissionpolicybindings', 'mutatingadmissionpolicies', 'validatingadmissionpolicybindings', 'validatingadmissionpolicies'];
/** Cases whose mutation the policy leaves to the webhook (docs/ADMISSION-POLICIES.md): it must change nothing there. */
const WEBHOOK_ONLY = new Set(['dotnet-own-cap', 'dotnet-min-above-cap', 'pids-limit-quoted']);

/** Whether the policy leaves the case to the webhook: a case above, or a pod the engine warns about an invalid pids-limit-default label for. */
function leftToWebhook(testCase: PolicyCase, expected: Evaluation): boolean {
  return WEBHOOK_ONLY.has(testCase.name) || expected.ruleWarnings.some((warning) => warning.ruleId === 'pids-default');
}

interface Answer {
  status: number;
  body: KubeObject & { message?: string };
  warnings: string[];
}

/** One API call as `who`, in-process (no kubectl per request: the cost figures must be the API server's). */
function api(method: string, path: string, body: unknown, who: Identity = 'admin'): Promise<Answer> {
  const kubeconfig = parse(readFileSync(kubeconfigPath(who), 'utf8')) as {
    users: Array<{ user: { 'client-certificate': string; 'client-key': string } }>;
  };
  const { user } = kubeconfig.users[0]!;
  const url = new URL(path, cluster().server);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, {
      method,
      ca: readFileSync(cluster().caFile),
      cert: readFileSync(user['client-certificate']),
      key: readFileSync(user['client-key']),
      headers: { 'content-type': 'application/json' },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        // headersDistinct: res.headers joins several Warning headers into one string.
        const warnings = (res.headersDistinct.warning ?? []).map((w) => w.replace(/^299 - "(.*)"$/s, '$1').replace(/\\(["\\])/g, '$1'));
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || '{}'), warnings });
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const PATHS: Record<string, string> = {
  Pod: 'api/v1/namespaces/NS/pods', ReplicationController: 'api/v1/namespaces/NS/replicationcontrollers',
  Deployment: 'apis/apps/v1/namespaces/NS/deployments', StatefulSet: 'apis/apps/v1/namespaces/NS/statefulsets',
  DaemonSet: 'apis/apps/v1/namespaces/NS/daemonsets', ReplicaSet: 'apis/apps/v1/namespaces/NS/replicasets',
  Job: 'apis/batch/v1/namespaces/NS/jobs', CronJob: 'apis/batch/v1/namespaces/NS/cronjobs',
};

function dryRunCreate(object: KubeObject, namespace: string): Promise<Answer> {
  return api('POST', `/${PATHS[object.kind!]!.replace('NS', namespace)}?dryRun=All`, object);
}

function named(testCase: PolicyCase, namespace: string): KubeObject {
  const object = structuredClone(testCase.object);
  object.metadata = { ...object.metadata, name: testCase.name, namespace };
  return object;
}

/** What the policy denied with, without the API server's prefix; undefined when not denied by a pidguard policy. */
function policyDenial(answer: Answer): string | undefined {
  const match = /ValidatingAdmissionPolicy '[^']+' with binding '[^']+' denied request: (.*)$/s.exec(answer.body.message ?? '');
  return answer.status === 403 && match ? match[1] : undefined;
}

/** The warning of the mode's require-resources binding (audit mode's would-deny). */
function policyWarning(answer: Answer): string | undefined {
  return answer.warnings.find((w) => w.includes("ValidatingAdmissionPolicy 'pidguard-require-resources' with binding"));
}

/** The warn policy's warnings, without the API server's prefix. */
function levelWarnings(answer: Answer): string[] {
  return answer.warnings.flatMap((w) => /ValidatingAdmissionPolicy 'pidguard-require-resources-warn' with binding '[^']+': (.*)$/s.exec(w)?.[1] ?? []);
}

/** The engine's require-resources warnings, as the webhook words them. */
function engineLevelWarnings(expected: Evaluation): string[] {
  return warningList(expected.ruleWarnings.filter((warning) => warning.ruleId === 'require-resources'));
}

/** Where the warnings of the warn policy and of the engine differ. */
function warningsDiffer(testCase: PolicyCase, expected: Evaluation, answer: Answer): string[] {
  const want = engineLevelWarnings(expected);
  const got = levelWarnings(answer);
  return JSON.stringify(got) === JSON.stringify(want) ? [] : [`${testCase.name}: warnings differ:\n  engine:   ${JSON.stringify(want)}\n  policies: ${JSON.stringify(got)}`];
}

/** The parts of a pod pidguard sets, as the API server stores them (requests defaulted from limits, quantities canonical). */
function pidguardView(pod: KubeObject): unknown {
  const template = podTemplateOf(pod)!;
  const annotations = Object.entries(template.metadata?.annotations ?? {}).filter(([key]) => key.startsWith('pidguard.io/')).sort();
  const canonical = (list: Record<string, string | number> | undefined) =>
    Object.fromEntries(Object.entries(list ?? {}).map(([k, v]) => {
      const q = parseQuantity(v)!;
      return [k, `${q.numerator * 1_000_000_000n / q.denominator}n`];
    }).sort());
  const view = (container: Container) => ({
    name: container.name,
    env: container.env ?? [],
    requests: canonical({ ...(container.resources?.limits ?? {}), ...(container.resources?.requests ?? {}) }),
    limits: canonical(container.resources?.limits),
  });
  return { annotations, containers: template.spec.containers.map(view), initContainers: (template.spec.initContainers ?? []).map(view) };
}

async function setWebhookConfigurations(present: boolean): Promise<void> {
  if (present) {
    await kubectlOk(['apply', '-f', join(cluster().workDir, 'webhooks.yaml')]);
  } else {
    await kubectl(['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', 'pidguard', '--ignore-not-found']);
  }
}

async function setPolicies(present: boolean): Promise<void> {
  if (present) await kubectlOk(['apply', '-f', '-'], { input: compileAdmissionPolicies(config) });
  else await kubectl(['delete', POLICY_KINDS.join(','), '-l', 'app.kubernetes.io/part-of=pidguard', '--ignore-not-found']);
}

const besteffort = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'app', image: 'nginx' }] } });
const burstable = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'app', image: 'nginx', resources: { requests: { cpu: '1m' } } }] } });
const dotnetPod = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'app', image: 'mcr.microsoft.com/dotnet/aspnet:8.0' }] } });

/** Waits until the API server judges with what is installed now (it picks configurations up asynchronously). */
async function waitUntilLive(namespace: string, expect: { policies: boolean; webhook: boolean }): Promise<void> {
  await waitFor(`policies ${expect.policies ? 'on' : 'off'}, webhook ${expect.webhook ? 'on' : 'off'}`, async () => {
    const denied = await dryRunCreate(besteffort('probe'), namespace);
    const mutated = await dryRunCreate(dotnetPod('probe-dotnet'), namespace);
    const byPolicy = policyDenial(denied) !== undefined;
    const byWebhook = (denied.body.message ?? '').includes('admission webhook "validate.pidguard.io"');
    const capped = mutated.status === 201 && podTemplateOf(mutated.body)?.metadata?.annotations?.['pidguard.io/pids-limit'] !== undefined;
    if (expect.policies && !expect.webhook) {
      // Every policy live, the uncapped warning too: a .NET pod the mutating policy leaves to the webhook.
      const ownCap = dotnetPod('probe-own-cap');
      podTemplateOf(ownCap)!.spec.containers[0]!.env = [{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0x40' }];
      const warned = (await dryRunCreate(ownCap, namespace)).warnings.some((w) => w.includes('pidguard-dotnet-uncapped'));
      return byPolicy && capped && warned;
    }
    if (expect.policies) return byPolicy && capped;
    if (expect.webhook) return byWebhook && capped;
    return denied.status === 201 && !capped;
  }, 60_000);
}

describe('admission policies on the real API server', () => {
  const namespaces: Record<string, string> = {};

  beforeAll(async () => {
    for (const [which, labels] of Object.entries(NAMESPACE_LABELS)) namespaces[which] = await createNamespace(`vap-${which.toLowerCase()}`, labels);
    await setWebhookConfigurations(false);
    await setPolicies(true);
    await waitUntilLive(namespaces.enforce!, { policies: true, webhook: false });
    await waitFor('the warn policy', async () => levelWarnings(await dryRunCreate(burstable('probe-warn'), namespaces.levelWarn!)).length > 0, 60_000);
  });

  afterAll(async () => {
    if (!webhookRunning()) await startWebhook();
    await setPolicies(false);
    await setWebhookConfigurations(true);
    await waitUntilLive(namespaces.enforce!, { policies: false, webhook: true });
  });

  it('are accepted by the API server (CEL compiles within its limits) with no type-checking warnings', async () => {
    const out = JSON.parse(await kubectlOk(['get', 'validatingadmissionpolicies,mutatingadmissionpolicies', '-l', 'app.kubernetes.io/part-of=pidguard', '-o', 'json'])) as {
      items: Array<{ metadata: { name: string }; status?: { typeChecking?: { expressionWarnings?: unknown[] } } }>;
    };
    expect(out.items.map((item) => item.metadata.name).sort()).toEqual(['pidguard-dotnet-uncapped', 'pidguard-mutate-pods', 'pidguard-namespace-labels', 'pidguard-require-resources', 'pidguard-require-resources-warn']);
    for (const item of out.items) expect(item.status?.typeChecking?.expressionWarnings ?? []).toEqual([]);
  });

  function engine(object: KubeObject, namespace: string): Evaluation {
    const which = Object.keys(namespaces).find((key) => namespaces[key] === namespace)!;
    const labels = NAMESPACE_LABELS[which]!;
    const mode = (labels[MODE] ?? config.defaultMode) as Mode;
    return evaluate({ object, operation: 'CREATE', mode, config, namespaceLabels: labels });
  }

  /** Every case through the engine and the API server: what disagrees. `policiesOnly`: cases left to the webhook must stay unchanged. */
  async function disagreements(namespace: string, policiesOnly: boolean): Promise<string[]> {
    const problems: string[] = [];
    for (const testCase of POLICY_CASES) {
      const object = named(testCase, namespace);
      const expected = engine(object, namespace);
      const answer = await dryRunCreate(object, namespace);
      const denial = policyDenial(answer);
      if (answer.status !== 201 && denial === undefined) {
        problems.push(`${testCase.name}: the API server answered ${answer.status}: ${answer.body.message}`);
        continue;
      }
      // Policies only: the warn policy gives the engine's require-resources warnings, no more, no fewer.
      if (policiesOnly) problems.push(...warningsDiffer(testCase, expected, answer));
      // A .NET pod is never admitted uncapped unless the case is left to the (here absent) webhook.
      const uncapped = answer.warnings.some((w) => w.includes('pidguard-dotnet-uncapped'));
      if (uncapped !== (policiesOnly && WEBHOOK_ONLY.has(testCase.name) && testCase.name !== 'pids-limit-quoted')) problems.push(`${testCase.name}: uncapped warning ${uncapped}`);
      if (expected.allowed !== (answer.status === 201)) {
        problems.push(`${testCase.name}: engine ${expected.allowed ? 'allows' : `denies (${expected.message})`}, policies ${denial ? `deny (${denial})` : 'allow'}`);
        continue;
      }
      if (!expected.allowed) {
        if (denial !== expected.message) problems.push(`${testCase.name}: messages differ:\n  engine:   ${expected.message}\n  policies: ${denial}`);
        continue;
      }
      if (object.kind !== 'Pod') continue;
      const want = pidguardView(applyPatch(object, expected.patch));
      const got = pidguardView(answer.body);
      if (policiesOnly && leftToWebhook(testCase, expected)) {
        if (JSON.stringify(got) !== JSON.stringify(pidguardView(object))) problems.push(`${testCase.name}: left to the webhook, yet the policy changed it: ${JSON.stringify(got)}`);
        continue;
      }
      if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${testCase.name}: resulting pods differ:\n  engine:   ${JSON.stringify(want)}\n  API server: ${JSON.stringify(got)}`);
    }
    return problems;
  }

  it.each([
    'enforce', 'unlabelled', 'ceiling', 'pidsDefault', 'pidsDefaultAboveCeiling', 'pidsDefaultInvalid',
    'levelStrict', 'levelWarn', 'levelBoth', 'levelLowest', 'levelInvalid', 'levelWarnByDefault',
  ])(
    'agree with the engine on every case, namespace %s (allowed/denied, message, resulting pod)',
    async (which) => {
      expect(await disagreements(namespaces[which]!, true)).toEqual([]);
    },
  );

  it('agree with the engine with pidsDefault enabled: the config default, under a ceiling below it, beside the label', async () => {
    config = parseConfig({ pidsDefault: { enabled: true } });
    const plain: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'probe-default' }, spec: { containers: [{ name: 'app', image: 'nginx', resources: { requests: { cpu: '1m' } } }] } };
    const budget = async () => podTemplateOf((await dryRunCreate(plain, namespaces.enforce!)).body)?.metadata?.annotations?.['pidguard.io/pids-limit'];
    try {
      await setPolicies(true);
      await waitFor('the pidsDefault policy', async () => (await budget()) === String(config.pidsDefault.limit));
      const problems: string[] = [];
      for (const which of ['enforce', 'ceiling', 'pidsDefault', 'pidsDefaultInvalid']) problems.push(...(await disagreements(namespaces[which]!, true)).map((p) => `${which}: ${p}`));
      expect(problems).toEqual([]);
    } finally {
      config = defaultConfig();
      await setPolicies(true);
      await waitFor('the default policy', async () => (await budget()) === undefined);
    }
  });

  it.each(RESOURCE_LEVELS.filter((level) => level !== 'not-besteffort'))('agree with the engine at requireResources.level %s', async (level) => {
    config = parseConfig({ requireResources: { level } });
    try {
      await setPolicies(true);
      const burstable: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'probe-level' }, spec: { containers: [{ name: 'app', image: 'nginx', resources: { requests: { cpu: '1m' } } }] } };
      await waitFor(`the ${level} policy`, async () => policyDenial(await dryRunCreate(burstable, namespaces.enforce!))?.includes(`without cpu and memory ${level.replaceAll('-', ' ')}`));
      // A namespace labelled below (levelLowest) or at another level than the config's, invalid labels: the config level only as the fallback.
      const problems: string[] = [];
      for (const which of ['enforce', 'levelLowest', 'levelBoth', 'levelInvalid', 'levelWarnByDefault']) problems.push(...(await disagreements(namespaces[which]!, true)).map((p) => `${which}: ${p}`));
      expect(problems).toEqual([]);
    } finally {
      config = defaultConfig();
      await setPolicies(true);
      await waitFor('the default policy', async () => (await dryRunCreate({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'probe-level' }, spec: { containers: [{ name: 'app', image: 'nginx', resources: { requests: { cpu: '1m' } } }] } }, namespaces.enforce!)).status === 201);
    }
  });

  it.each(['audit', 'levelAudit'])('agree with the engine in an audit namespace (%s): admitted unchanged, warned where enforce would deny', async (which) => {
    const namespace = namespaces[which]!;
    const problems: string[] = [];
    for (const testCase of POLICY_CASES) {
      const object = named(testCase, namespace);
      const expected = engine(object, namespace);
      const answer = await dryRunCreate(object, namespace);
      if (answer.status !== 201) {
        problems.push(`${testCase.name}: the API server answered ${answer.status}: ${answer.body.message}`);
        continue;
      }
      problems.push(...warningsDiffer(testCase, expected, answer));
      const wouldDeny = expected.auditAnnotations['would-deny'];
      const warning = policyWarning(answer);
      if ((wouldDeny === undefined) !== (warning === undefined) || (wouldDeny !== undefined && !warning!.endsWith(wouldDeny))) {
        problems.push(`${testCase.name}: engine would-deny ${JSON.stringify(wouldDeny)}, policy warning ${JSON.stringify(warning)}`);
      }
      if (object.kind === 'Pod' && JSON.stringify(pidguardView(answer.body)) !== JSON.stringify(pidguardView(object))) {
        problems.push(`${testCase.name}: changed in audit mode`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('leave namespaces in mode off alone', async () => {
    const answer = await dryRunCreate(besteffort('off-besteffort'), namespaces.off!);
    expect(answer.status).toBe(201);
    expect(answer.warnings).toEqual([]);
    // Levels do not bring a mode-off namespace back.
    const levelled = await dryRunCreate(besteffort('off-levelled'), namespaces.levelOff!);
    expect(levelled.status).toBe(201);
    expect(levelled.warnings).toEqual([]);
    const dotnet = await dryRunCreate(dotnetPod('off-dotnet'), namespaces.off!);
    expect(podTemplateOf(dotnet.body)?.metadata?.annotations?.['pidguard.io/pids-limit']).toBeUndefined();
  });

  describe('with the webhook configured but stopped (an outage)', () => {
    beforeAll(async () => {
      await setWebhookConfigurations(true);
      await stopWebhook();
      await waitUntilLive(namespaces.enforce!, { policies: true, webhook: false });
    });

    it('denies a BestEffort pod in an enforce namespace, with the webhook\'s message', async () => {
      const answer = await dryRunCreate(besteffort('outage-be'), namespaces.enforce!);
      expect(answer.status).toBe(403);
      expect(policyDenial(answer)).toBe(engine(named({ name: 'outage-be', object: besteffort('outage-be') }, namespaces.enforce!), namespaces.enforce!).message);
    });

    it('admits it with a warning in an audit namespace', async () => {
      const answer = await dryRunCreate(besteffort('outage-be'), namespaces.audit!);
      expect(answer.status).toBe(201);
      expect(policyWarning(answer)).toContain('BestEffort pod');
    });

    it('still caps a .NET pod: thread pool, resources, pids-limit', async () => {
      const answer = await dryRunCreate(dotnetPod('outage-dotnet'), namespaces.enforce!);
      expect(answer.status).toBe(201);
      const pod = podTemplateOf(answer.body)!;
      expect(pod.metadata?.annotations?.['pidguard.io/pids-limit']).toBe('1024');
      expect(pod.spec.containers[0]!.env).toEqual([
        { name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0x100' },
        { name: 'DOTNET_ThreadPool_MaxThreads', value: '256' },
      ]);
      expect(pod.spec.containers[0]!.resources?.limits).toEqual({ cpu: '1', memory: '1Gi' });
    });

    it('warns when a .NET pod is admitted without its caps (a pod left to the webhook)', async () => {
      const ownCap = POLICY_CASES.find((testCase) => testCase.name === 'dotnet-own-cap')!;
      const answer = await dryRunCreate(named(ownCap, namespaces.enforce!), namespaces.enforce!);
      expect(answer.status).toBe(201);
      expect(answer.warnings.find((w) => w.includes("ValidatingAdmissionPolicy 'pidguard-dotnet-uncapped'"))).toContain('has .NET containers but no pidguard.io/pids-limit');
    });

    it('refuses an unprivileged user a pidguard.io/* label, by the policy', async () => {
      const denied = await kubectl(['label', 'namespace', namespaces.unlabelled!, `${MODE}=off`], { as: 'user' });
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toContain("ValidatingAdmissionPolicy 'pidguard-namespace-labels'");
      expect(denied.stderr).toContain(`user "${cluster().userName}" may not add ${MODE}=off`);
      await kubectlOk(['label', 'namespace', namespaces.unlabelled!, 'team=payments'], { as: 'user' });
    });

    afterAll(async () => {
      await startWebhook();
    });
  });


  describe('with the webhook running and the policies installed (both)', () => {
    beforeAll(async () => {
      if (!webhookRunning()) await startWebhook();
      await setWebhookConfigurations(true);
      await waitUntilLive(namespaces.enforce!, { policies: true, webhook: true });
    });

    it('give the engine\'s result on every case, the cases left to the webhook included: the two never fight', async () => {
      const before = await webhookRequestCount();
      expect(await disagreements(namespaces.enforce!, false)).toEqual([]);
      // pids-default: set by the policy (the webhook finds it set), or left to the webhook (an invalid label) and set by it.
      expect(await disagreements(namespaces.pidsDefault!, false)).toEqual([]);
      expect(await disagreements(namespaces.pidsDefaultInvalid!, false)).toEqual([]);
      // Namespace levels: the policy and the webhook judge at the same level (no fight).
      for (const which of ['levelStrict', 'levelBoth', 'levelLowest', 'levelInvalid']) expect(await disagreements(namespaces[which]!, false)).toEqual([]);
      // The webhook was asked (and, where the policy had already done everything, changed nothing).
      expect(await webhookRequestCount()).toBeGreaterThan(before);
    });
  });

  it('cost: added latency per pod creation (server-side dry run), policies only vs webhook only vs both', async () => {
    const namespace = namespaces.enforce!;
    const samples = 200;
    const median = async (label: string): Promise<number> => {
      const times: number[] = [];
      for (let index = 0; index < samples; index += 1) {
        const started = process.hrtime.bigint();
        const answer = await dryRunCreate(dotnetPod(`cost-${index}`), namespace);
        times.push(Number(process.hrtime.bigint() - started) / 1e6);
        if (answer.status !== 201) throw new Error(`${label}: ${answer.status} ${answer.body.message}`);
      }
      times.sort((a, b) => a - b);
      return times[Math.floor(times.length / 2)]!;
    };
    const figures: Record<string, number> = {};
    for (const [label, setup] of [
      ['policies', { policies: true, webhook: false }],
      ['neither', { policies: false, webhook: false }],
      ['webhook', { policies: false, webhook: true }],
      ['both', { policies: true, webhook: true }],
    ] as const) {
      await setPolicies(setup.policies);
      await setWebhookConfigurations(setup.webhook);
      await waitUntilLive(namespace, setup);
      await median(`${label} warm-up`);
      figures[label] = await median(label);
    }
    const added = (label: string) => `${(figures[label]! - figures.neither!).toFixed(2)} ms`;
    process.stdout.write(
      `admission-policies cost (median of ${samples} server-side dry runs of a .NET pod, enforce namespace): ` +
      `neither ${figures.neither!.toFixed(2)} ms; added: policies ${added('policies')}, webhook ${added('webhook')}, both ${added('both')}\n`,
    );
    expect(Object.keys(figures)).toHaveLength(4);
  });
});
