// What the webhook benchmarks share: a working directory with development
// certificates and a namespaces file, `pidguard serve` started from this
// checkout's dist/ as a child process (logging to a file, as in production),
// its RSS from /proc, and AdmissionReview bodies as the API server sends them.

import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// PIDGUARD_BENCH_ROOT: another checkout whose built `pidguard serve` to measure with this
// benchmark's load and baseline (a before/after comparison by the same method).
const root = process.env.PIDGUARD_BENCH_ROOT ?? fileURLToPath(new URL('..', import.meta.url));

/** A temporary directory with development certificates (for localhost) and a namespaces file. */
export async function benchWorkDirectory() {
  const work = mkdtempSync(join(tmpdir(), 'pidguard-bench-'));
  const { generateDevCertificates, writeDevCertificates, devCertificatePaths } = await import('../dist/webhook/dev-certificates.js');
  const paths = devCertificatePaths(work);
  await writeDevCertificates(generateDevCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 1 }), paths);
  writeFileSync(join(work, 'namespaces.yaml'), 'team-a: {}\n');
  return { work, paths, ca: readFileSync(paths.caCert) };
}

/** Current resident set of a process. */
export function rssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

/** The webhook's V8 heap limit in the manifests and the chart (NODE_OPTIONS; a unit test keeps them equal): serve runs under it here too. */
export const WEBHOOK_HEAP_CAP_MIB = 192;

/** namespacesFile: false starts it without --namespaces-file (which wins over a cluster). */
export async function startPidguard(work, paths, extraArgs = [], { namespacesFile = true } = {}) {
  const log = openSync(join(work, 'pidguard.log'), 'w');
  // PIDGUARD_BENCH_CPU_PROF: a directory to write the server's CPU profile into (node --cpu-prof) when it exits.
  const profile = process.env.PIDGUARD_BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.PIDGUARD_BENCH_CPU_PROF] : [];
  const child = spawn(process.execPath, [
    ...profile, `--max-old-space-size=${WEBHOOK_HEAP_CAP_MIB}`, join(root, 'bin/pidguard.js'), 'serve', '--port', '0', '--metrics-port', '0', '--address', '127.0.0.1',
    '--tls-cert', paths.cert, '--tls-key', paths.key, ...(namespacesFile ? ['--namespaces-file', join(work, 'namespaces.yaml')] : []), ...extraArgs,
  ], { stdio: ['ignore', 'ignore', log] });
  closeSync(log);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const listening = readFileSync(join(work, 'pidguard.log'), 'utf8').split('\n').find((line) => line.includes('"msg":"listening"'));
    if (listening) return { child, port: JSON.parse(listening).port, log: join(work, 'pidguard.log') };
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill();
  throw new Error(`pidguard serve did not start: ${readFileSync(join(work, 'pidguard.log'), 'utf8')}`);
}

export function peakRssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

export function review(uid, object) {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'team-a',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', uid: 'f2c3', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] },
      object,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  });
}

/** A pod as a Deployment's ReplicaSet creates it: .NET image, probes, volumes, no resources. */
export function dotnetPod() {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'orders-api-7d9f8b6c5d-',
      namespace: 'team-a',
      labels: { app: 'orders-api', 'pod-template-hash': '7d9f8b6c5d', 'app.kubernetes.io/part-of': 'shop' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-20T10:00:00Z', 'prometheus.io/scrape': 'true' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'orders-api-7d9f8b6c5d', uid: '4b1c', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      serviceAccountName: 'orders-api',
      containers: [{
        name: 'api',
        image: 'mcr.microsoft.com/dotnet/aspnet:8.0',
        command: ['dotnet', 'Orders.Api.dll'],
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
        env: [
          { name: 'ASPNETCORE_URLS', value: 'http://+:8080' },
          { name: 'ConnectionStrings__Orders', valueFrom: { secretKeyRef: { name: 'orders-db', key: 'connection' } } },
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        ],
        readinessProbe: { httpGet: { path: '/healthz/ready', port: 'http' }, periodSeconds: 5 },
        livenessProbe: { httpGet: { path: '/healthz/live', port: 'http' }, periodSeconds: 10 },
        volumeMounts: [{ name: 'config', mountPath: '/app/config', readOnly: true }, { name: 'kube-api-access-x1', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
        imagePullPolicy: 'IfNotPresent',
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
      }],
      volumes: [
        { name: 'config', configMap: { name: 'orders-api-config' } },
        { name: 'kube-api-access-x1', projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }] } },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
    },
  };
}

/** The most common review: a pod that already has what the policy asks for (not .NET, resources set). */
export function plainPod() {
  const pod = dotnetPod();
  const container = pod.spec.containers[0];
  container.image = 'registry.example.com/orders/api:2.3.1';
  container.command = ['/app/orders-api'];
  container.env[0] = { name: 'LISTEN_ADDRESS', value: ':8080' };
  container.resources = { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } };
  return pod;
}

export function bestEffortPod() {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'worker', namespace: 'team-a', labels: { app: 'worker' } },
    spec: { containers: [{ name: 'worker', image: 'registry.example.com/worker:1.4.2', args: ['--queue', 'orders'] }], restartPolicy: 'Always' },
  };
}
