// The shipped artifacts, for real: the image built from the Dockerfile (cluster/image.sh), the
// default install applied with `kubectl apply -k` through test/e2e/install (host networking and
// loopback addresses, nothing else), cert-manager's own controller and cainjector issuing and
// injecting its certificates. The webhook Deployment and the agent DaemonSet run as pods on the
// node; admission and enforcement are checked against those pods, and the processes the runtime
// started are checked from the host's /proc for the shipped security context.
// cluster/install.sh puts the install up before and takes it down after (the local webhook's
// configurations are registered again for the other files).
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { parseAllDocuments } from 'yaml';
import { cluster, createNamespace, kubectl, kubectlOk, uniqueName, waitFor } from './harness.js';
import { cgroupValue, containerId, hostPid, nodePod, podCgroup, runningPod, startWorkloadControllers, stopWorkloadControllers } from './node.js';
import { DOTNET_IMAGE, bestEffortContainer, pod } from './objects.js';

const NS = 'pidguard-system';
const IMAGE = 'ghcr.io/pidguard/pidguard:0.1.0';
const WEBHOOK = { host: '127.0.0.1', port: 28443, metrics: 'http://127.0.0.1:29090/metrics' };
const AGENT_METRICS = 'http://127.0.0.1:29091/metrics';
const LOCAL_WEBHOOK_METRICS = 'http://127.0.0.1:19090/metrics';

function installScript(action: 'up' | 'down'): Promise<void> {
  const c = cluster();
  return new Promise((resolve, reject) => {
    execFile('bash', [join(c.repoDir, 'test/e2e/cluster/install.sh'), action, c.workDir], { timeout: 600_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`install.sh ${action} failed: ${stderr || error.message}`));
      else {
        process.stderr.write(stderr); // its steps and timings, like run.sh's
        resolve();
      }
    });
  });
}

async function getJson<T = any>(args: string[]): Promise<T> {
  return JSON.parse(await kubectlOk([...args, '-o', 'json'])) as T;
}

const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');

async function tlsSecret(): Promise<{ ca: string; cert: X509Certificate; raw: string }> {
  const secret = await getJson(['get', 'secret', 'pidguard-webhook-tls', '-n', NS]);
  const raw = decode(secret.data['tls.crt']);
  return { ca: decode(secret.data['ca.crt']), cert: new X509Certificate(raw), raw };
}

/** The certificate pidguard serves on 127.0.0.1:28443, verified against `ca`. */
function servedCertificate(ca: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: WEBHOOK.host, port: WEBHOOK.port, ca, timeout: 5_000 }, () => {
      const peer = socket.getPeerX509Certificate();
      socket.end();
      if (peer) resolve(peer);
      else reject(new Error('no peer certificate'));
    });
    socket.on('error', reject);
    socket.on('timeout', () => socket.destroy(new Error('TLS connect timed out')));
  });
}

async function metrics(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.text();
}

/** Sum of a metric's samples whose label text contains `labels` (all samples when omitted). */
function sample(exposition: string, metric: string, labels = ''): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (line.startsWith(`${metric}{`) || line.startsWith(`${metric} `)) {
      if (line.includes(labels)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

async function pidguardPod(component: 'webhook' | 'node-agent'): Promise<any> {
  const list = await getJson(['get', 'pods', '-n', NS, '-l', `app.kubernetes.io/component=${component}`]);
  expect(list.items).toHaveLength(1);
  return list.items[0];
}

/** The shipped default install's object (rendered from manifests/default). */
let shipped: any[] = [];
function shippedWorkload(kind: string, name: string): any {
  const found = shipped.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`${kind}/${name} not in the default install`);
  return found;
}

interface HostProcess {
  argv: string[];
  status: Record<string, string>;
  rootMountOptions: string;
  cgroup: string;
}

/** The host's view of a pod's container process (its init: the image's ENTRYPOINT). */
async function containerProcess(running: any): Promise<HostProcess> {
  const pid = await hostPid(containerId(running, running.spec.containers[0].name));
  const status = Object.fromEntries(
    readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').filter(Boolean).map((line) => {
      const at = line.indexOf(':');
      return [line.slice(0, at), line.slice(at + 1).trim()];
    }),
  );
  // mountinfo: "<id> <parent> <major:minor> <root> <mount point> <options> ..."; the last "/" wins.
  const root = readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').map((line) => line.split(' ')).filter((f) => f[4] === '/').pop();
  return {
    argv: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean),
    status,
    rootMountOptions: root?.[5] ?? '',
    cgroup: readFileSync(`/proc/${pid}/cgroup`, 'utf8'),
  };
}

beforeAll(async () => {
  const rendered = await kubectlOk(['kustomize', join(cluster().repoDir, 'manifests/default')]);
  shipped = parseAllDocuments(rendered).map((doc) => doc.toJS());
  await startWorkloadControllers();
  await installScript('up');
}, 900_000);

afterAll(async () => {
  try {
    await installScript('down');
  } finally {
    await stopWorkloadControllers();
  }
}, 300_000);

describe('cert-manager, built from the pinned module, against the real API server', () => {
  it('issues the default install\'s Certificates: both Ready, the serving certificate signed by pidguard\'s CA for the Service names and 127.0.0.1', async () => {
    for (const name of ['pidguard-ca', 'pidguard-webhook']) {
      const certificate = await getJson(['get', 'certificate', name, '-n', NS]);
      expect(certificate.status.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Ready', status: 'True' })]));
    }
    const { ca, cert } = await tlsSecret();
    const caCert = new X509Certificate(ca);
    expect(caCert.ca).toBe(true);
    expect(caCert.subject).toContain('CN=pidguard-ca');
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.subjectAltName).toContain('DNS:pidguard-webhook.pidguard-system.svc');
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
  });

  it('cainjector fills caBundle of every webhook in both configurations with the CA of the serving certificate', async () => {
    const { ca } = await tlsSecret();
    for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
      const configuration = await getJson(['get', kind, 'pidguard']);
      expect(configuration.metadata.annotations['cert-manager.io/inject-ca-from']).toBe('pidguard-system/pidguard-webhook');
      expect(configuration.webhooks.length).toBeGreaterThan(0);
      for (const webhook of configuration.webhooks) expect(decode(webhook.clientConfig.caBundle ?? '')).toBe(ca);
    }
  });
});

describe('the image and the default install on a real node', () => {
  it.each([
    ['webhook', 'Deployment', 'pidguard-webhook', 'serve'],
    ['node-agent', 'DaemonSet', 'pidguard-agent', 'agent'],
  ] as const)('%s: a Ready pod from the built image with the shipped security context, mounts and probes', async (component, kind, name, command) => {
    const running = await pidguardPod(component);
    const container = running.spec.containers[0];
    const status = running.status.containerStatuses[0];
    expect(status.ready).toBe(true);
    expect(status.image).toBe(IMAGE);
    const want = shippedWorkload(kind, name).spec.template.spec;
    expect(container.securityContext).toEqual(want.containers[0].securityContext);
    expect(running.spec.securityContext).toEqual(expect.objectContaining(want.securityContext));
    expect(container.volumeMounts).toEqual(expect.arrayContaining(want.containers[0].volumeMounts));
    expect(container.resources).toEqual(want.containers[0].resources);
    for (const probe of ['readinessProbe', 'livenessProbe'] as const) {
      const shippedProbe = want.containers[0][probe];
      if (!shippedProbe) continue;
      const { host, ...rest } = container[probe].httpGet;
      expect(host).toBe('127.0.0.1');
      expect(rest).toEqual(expect.objectContaining({ path: shippedProbe.httpGet.path, port: shippedProbe.httpGet.port }));
      expect(container[probe].httpGet.scheme).toBe(shippedProbe.httpGet.scheme ?? 'HTTP');
    }

    // What the runtime made of it, seen from the host.
    const process = await containerProcess(running);
    expect(process.argv.slice(0, 3)).toEqual(['node', '/app/bin/pidguard.js', command]);
    const uid = component === 'webhook' ? '65532' : '0';
    expect(process.status.Uid!.split(/\s+/)).toEqual([uid, uid, uid, uid]);
    expect(process.status.CapEff).toBe('0000000000000000');
    expect(process.status.CapPrm).toBe('0000000000000000');
    expect(process.status.NoNewPrivs).toBe('1');
    expect(process.status.Seccomp).toBe('2');
    expect(process.rootMountOptions.split(',')).toContain('ro');
    expect(process.cgroup).toContain(`/kubepods/`);
    expect(process.cgroup).toContain(`pod${running.metadata.uid}`);
  });

  it('pidguard serves the certificate cert-manager issued', async () => {
    const { ca, cert } = await tlsSecret();
    const served = await servedCertificate(ca);
    expect(served.raw.equals(cert.raw)).toBe(true);
  });
});

describe('admission and enforcement by the pods', () => {
  let namespace = '';
  beforeAll(async () => {
    namespace = await createNamespace('install', { 'pidguard.io/mode': 'enforce' });
  });

  it('the webhook pod denies a BestEffort pod (the local webhook is not asked)', async () => {
    const before = sample(await metrics(WEBHOOK.metrics), 'pidguard_admission_requests_total');
    const localBefore = sample(await metrics(LOCAL_WEBHOOK_METRICS), 'pidguard_admission_requests_total');
    const name = uniqueName('besteffort');
    const result = await kubectl(['create', '-f', '-'], { input: pod(name, namespace, [bestEffortContainer()]) });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('pidguard denied');
    expect((await kubectl(['get', 'pod', name, '-n', namespace])).code).not.toBe(0);
    expect(sample(await metrics(WEBHOOK.metrics), 'pidguard_admission_requests_total')).toBeGreaterThan(before);
    expect(sample(await metrics(LOCAL_WEBHOOK_METRICS), 'pidguard_admission_requests_total')).toBe(localBefore);
  });

  it('the webhook pod mutates a .NET pod, which runs on the node, and the agent pod writes its pids-limit into the pod cgroup', async () => {
    const name = uniqueName('dotnet');
    await kubectlOk(['create', '-f', '-'], { input: nodePod(name, namespace, { image: DOTNET_IMAGE, command: ['sleep', '3600'] }) });
    const created = await getJson(['get', 'pod', name, '-n', namespace]);
    const env = created.spec.containers[0].env as Array<{ name: string; value: string }>;
    expect(env).toEqual(expect.arrayContaining([{ name: 'DOTNET_ThreadPool_ForceMaxWorkerThreads', value: '0x100' }]));
    expect(created.spec.containers[0].resources.limits).toHaveProperty('memory');
    const limit = Number(created.metadata.annotations['pidguard.io/pids-limit']);
    expect(limit).toBeGreaterThan(0);

    const podCgroupDir = podCgroup(await runningPod(namespace, name, 120_000));
    // The agent scans every 10 s: two intervals and some slack.
    await waitFor(`pids.max ${limit} in ${podCgroupDir}`, async () => cgroupValue(podCgroupDir, 'pids.max') === String(limit), 45_000);
    expect(sample(await metrics(AGENT_METRICS), 'pidguard_enforcements_total', 'outcome="lowered"')).toBeGreaterThanOrEqual(1);
    await kubectl(['delete', 'pod', name, '-n', namespace, '--wait=false']);
  }, 240_000);
});

describe('certificate renewal', () => {
  it('a renewal triggered as `cmctl renew` does is served by the running webhook pod, without a restart', async () => {
    const before = await pidguardPod('webhook');
    const old = await tlsSecret();
    const certificate = await getJson(['get', 'certificate', 'pidguard-webhook', '-n', NS]);
    const conditions = [
      ...(certificate.status.conditions ?? []).filter((c: { type: string }) => c.type !== 'Issuing'),
      {
        type: 'Issuing',
        status: 'True',
        reason: 'ManuallyTriggered',
        message: 'Certificate re-issuance manually triggered (pidguard e2e)',
        lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        observedGeneration: certificate.metadata.generation,
      },
    ];
    await kubectlOk(['patch', 'certificate', 'pidguard-webhook', '-n', NS, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { conditions } })]);
    const renewed = await waitFor('a new serving certificate in the Secret', async () => {
      const now = await tlsSecret();
      return now.raw !== old.raw ? now : undefined;
    }, 120_000);
    expect(renewed.cert.serialNumber).not.toBe(old.cert.serialNumber);
    expect(renewed.cert.publicKey.export({ format: 'der', type: 'spki' }).equals(old.cert.publicKey.export({ format: 'der', type: 'spki' }))).toBe(false);
    await waitFor('the webhook pod to serve the renewed certificate', async () => (await servedCertificate(renewed.ca)).raw.equals(renewed.cert.raw), 180_000);
    const after = await pidguardPod('webhook');
    expect(after.metadata.uid).toBe(before.metadata.uid);
    expect(after.status.containerStatuses[0].containerID).toBe(before.status.containerStatuses[0].containerID);
    expect(after.status.containerStatuses[0].restartCount).toBe(before.status.containerStatuses[0].restartCount);
    expect(sample(await metrics(WEBHOOK.metrics), 'pidguard_tls_certificate_reloads_total', 'result="success"')).toBeGreaterThanOrEqual(1);
  }, 360_000);
});
