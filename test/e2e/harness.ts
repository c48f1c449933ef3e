// The end-to-end harness: what `bash test/e2e/run.sh` started (a real etcd,
// kube-apiserver and pidguard webhook on 127.0.0.1), seen from a test.
//
//   cluster()                 the running cluster (cluster.json in $PIDGUARD_E2E_DIR)
//   kubeConfigFor(who)        a @kubernetes/client-node KubeConfig for 'admin' or 'user'
//   kubectl(args, {as, input}) the kubectl built with the API server, resolving {code, stdout, stderr}
//   createNamespace(...)      a fresh namespace (with its `default` ServiceAccount)
//   stopWebhook() / startWebhook()  take pidguard's webhook process down and bring it back
//   webhookRequestCount()     pidguard_admission_requests_total summed over its labels
//
// Run outside run.sh, every entry point fails saying so: e2e tests never skip.

import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { AppsV1Api, BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';

// Every test here talks to real processes; jest's 5 s default is for unit tests.
jest.setTimeout(120_000);

export interface Cluster {
  /** https://127.0.0.1:<port> of kube-apiserver. */
  server: string;
  /** Client certificate O=system:masters. */
  adminKubeconfig: string;
  /** Client certificate CN=alice, bound only to ClusterRole pidguard-e2e-user (namespaces, pods, workloads). */
  userKubeconfig: string;
  /** The user name in userKubeconfig ("alice"). */
  userName: string;
  /** CA of the API server and of the client certificates. */
  caFile: string;
  /** The API server's audit log (JSON lines, level Metadata) for pods, workloads and namespaces. */
  auditLog: string;
  /** kubectl, kube-apiserver and etcd, built at the pinned Kubernetes version. */
  binDir: string;
  /** Temporary directory of this run: pki/, logs/, pids/, kubeconfigs; deleted at the end. */
  workDir: string;
  /** The repository under test. */
  repoDir: string;
  webhook: {
    /** `bash <script> start|stop <workDir>` starts or stops `pidguard serve`. */
    script: string;
    url: string;
    metricsUrl: string;
    caFile: string;
    pidFile: string;
    logFile: string;
  };
  /** The one node (kubelet + containerd + runc, set up by cluster/node-up.sh); helpers in node.ts. */
  node: {
    name: string;
    /** NoSchedule taint key (value "true") of the node: only pods that tolerate it run there. */
    taint: string;
    /** containerd's CRI/ctr socket (namespace k8s.io holds the pods' containers and the images). */
    containerdSocket: string;
    /** The kubelet's podLogsDir: <ns>_<pod>_<uid>/<container>/<restart>.log. */
    podLogsDir: string;
    kubeletLog: string;
    /** The kubelet's pids.max of the top kubepods cgroup: the pods' PID ceiling (pid_max - systemReserved.pid). */
    podsPidCeiling: number;
    /** Local images (imagePullPolicy: Never): tools = busybox + /bomb; dotnet = the same under a .NET image name. */
    images: { pause: string; tools: string; dotnet: string };
  };
  /** cert-manager and Prometheus Operator CRD files from their Go modules, or why they are missing. */
  thirdPartyCrds: { files: string[]; error?: string };
}

export type Identity = 'admin' | 'user';

const NOT_RUNNING =
  'no e2e cluster: run the end-to-end tests via `npm run test:e2e` (bash test/e2e/run.sh), ' +
  'which builds and starts etcd, kube-apiserver and the pidguard webhook and sets PIDGUARD_E2E_DIR';

let current: Cluster | undefined;

/** The cluster run.sh started; throws (failing the test) when there is none. */
export function cluster(): Cluster {
  if (current) return current;
  const dir = process.env.PIDGUARD_E2E_DIR;
  if (!dir) throw new Error(`PIDGUARD_E2E_DIR is not set: ${NOT_RUNNING}`);
  const file = join(dir, 'cluster.json');
  if (!existsSync(file)) throw new Error(`${file} does not exist: ${NOT_RUNNING}`);
  current = JSON.parse(readFileSync(file, 'utf8')) as Cluster;
  return current;
}

export function kubeconfigPath(who: Identity): string {
  const c = cluster();
  return who === 'admin' ? c.adminKubeconfig : c.userKubeconfig;
}

/** A client-node KubeConfig for the admin (system:masters) or the unprivileged user. */
export function kubeConfigFor(who: Identity): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath(who));
  return config;
}

export interface Apis {
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
}

/** Typed API clients acting as `who`. */
export function apis(who: Identity = 'admin'): Apis {
  const config = kubeConfigFor(who);
  return { core: config.makeApiClient(CoreV1Api), apps: config.makeApiClient(AppsV1Api), batch: config.makeApiClient(BatchV1Api) };
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  /** Whose credentials: 'admin' (default) or 'user'. */
  as?: Identity;
  /** stdin: a string, or objects (written as JSON documents: YAML 1.2 writers leave `off` unquoted, which kubectl reads as a boolean). */
  input?: string | object | object[];
  /** Kills kubectl after this long (default 60 s) and resolves with what it printed so far. */
  timeoutMs?: number;
}

/** Runs the kubectl built with the API server; never throws on a non-zero exit. */
export function kubectl(args: string[], options: KubectlOptions = {}): Promise<KubectlResult> {
  const c = cluster();
  const fullArgs = ['--kubeconfig', kubeconfigPath(options.as ?? 'admin'), '--cache-dir', join(c.workDir, 'kubectl-cache'), ...args];
  return runCommand(join(c.binDir, 'kubectl'), fullArgs, toInput(options.input), options.timeoutMs ?? 60_000);
}

/** kubectl that must succeed: returns stdout, throws with stderr otherwise. */
export async function kubectlOk(args: string[], options: KubectlOptions = {}): Promise<string> {
  const result = await kubectl(args, options);
  if (result.code !== 0) {
    throw new Error(`kubectl ${args.join(' ')} exited ${result.code}:\n${result.stderr}${result.stdout}`);
  }
  return result.stdout;
}

function toInput(input: KubectlOptions['input']): string | undefined {
  if (input === undefined || typeof input === 'string') return input;
  const objects = Array.isArray(input) ? input : [input];
  return objects.map((object) => JSON.stringify(object)).join('\n---\n');
}

/** Runs a command; resolves {code, stdout, stderr} (never throws on a non-zero exit), killed after timeoutMs. */
export function runCommand(command: string, args: string[], input: string | undefined, timeoutMs: number): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.KUBECONFIG;
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString() + (signal ? `\n(killed by ${signal} after ${timeoutMs} ms)` : '');
      resolve({ code: code ?? 128, stdout: Buffer.concat(out).toString(), stderr });
    });
    // kubectl may exit (an error, a command that reads no input) before it reads
    // all of stdin; the broken pipe is not the test's failure, the exit code is.
    child.stdin.on('error', () => undefined);
    if (input === undefined) child.stdin.end();
    else child.stdin.end(input);
  });
}

let sequence = 0;

/** A DNS-1123 name no other test (or earlier run against the same cluster) uses. */
export function uniqueName(prefix: string): string {
  sequence += 1;
  return `${prefix}-${process.pid.toString(36)}-${Date.now().toString(36)}-${sequence}`.slice(0, 63).replace(/-+$/, '');
}

/**
 * Creates a namespace as the admin, with the given labels from the start (so
 * the webhook's namespace cache never sees an older version), and its
 * `default` ServiceAccount, which the ServiceAccount admission plugin requires
 * for pods (no controller-manager runs here to create it).
 */
export async function createNamespace(prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const name = uniqueName(prefix);
  await kubectlOk(['create', '-f', '-'], {
    input: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: name } },
    ],
  });
  return name;
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function webhookScript(action: 'start' | 'stop'): Promise<void> {
  const c = cluster();
  return new Promise((resolve, reject) => {
    execFile('bash', [c.webhook.script, action, c.workDir], { timeout: 90_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`webhook.sh ${action} failed: ${stderr || error.message}`));
      else resolve();
    });
  });
}

/** Stops `pidguard serve` (SIGTERM) and waits until its ports are closed. */
export function stopWebhook(): Promise<void> {
  return webhookScript('stop');
}

/** Starts `pidguard serve` again with run.sh's flags and waits for its /readyz. */
export function startWebhook(): Promise<void> {
  return webhookScript('start');
}

/** True while the webhook process run.sh (or startWebhook) started is alive. */
export function webhookRunning(): boolean {
  const { pidFile } = cluster().webhook;
  if (!existsSync(pidFile)) return false;
  try {
    process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:<port>. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The webhook's Prometheus text exposition. */
export async function webhookMetrics(): Promise<string> {
  const response = await fetch(cluster().webhook.metricsUrl);
  if (!response.ok) throw new Error(`GET ${cluster().webhook.metricsUrl} answered ${response.status}`);
  return response.text();
}

/** Sum of every sample of a counter (all label combinations), 0 when it has none yet. */
export function sumSamples(exposition: string, metric: string): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match && match[1] === metric) sum += Number(match[3]);
  }
  return sum;
}

/** How many admission requests the webhook has answered (pidguard_admission_requests_total). */
export async function webhookRequestCount(): Promise<number> {
  const text = await webhookMetrics();
  if (!text.includes('pidguard_admission_requests_total')) {
    throw new Error('the webhook does not export pidguard_admission_requests_total');
  }
  return sumSamples(text, 'pidguard_admission_requests_total');
}

export interface AuditEvent {
  stage: string;
  verb: string;
  objectRef?: { resource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
  annotations?: Record<string, string>;
}

/** The API server's audit events (stage ResponseComplete) about one object. */
export function auditEventsFor(resource: string, namespace: string, name: string): AuditEvent[] {
  const { auditLog } = cluster();
  if (!existsSync(auditLog)) return [];
  return readFileSync(auditLog, 'utf8')
    .split('\n')
    .filter((line) => line.includes(name))
    .map((line) => JSON.parse(line) as AuditEvent)
    .filter((event) => event.stage === 'ResponseComplete' && event.objectRef?.resource === resource
      && event.objectRef.namespace === namespace && event.objectRef.name === name);
}

/** The webhook's log so far (one JSON object per line), for assertions and failure messages. */
export function webhookLog(): string {
  const { logFile } = cluster().webhook;
  return existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
}

/** The cert-manager and Prometheus Operator CRDs (fetched by cluster/crds.sh), installed and established; fails saying why without them. */
export async function installThirdPartyCrds(): Promise<void> {
  const { files, error } = cluster().thirdPartyCrds;
  if (error || files.length === 0) {
    throw new Error(
      'cannot verify the cert-manager and Prometheus Operator objects: their CRDs could not be fetched from the Go module proxy ' +
        `(test/e2e/cluster/crds.sh): ${error ?? 'no files'}`,
    );
  }
  for (const file of files) await kubectlOk(['apply', '--server-side', '-f', file]);
  await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd/issuers.cert-manager.io', 'crd/certificates.cert-manager.io',
    'crd/servicemonitors.monitoring.coreos.com', 'crd/podmonitors.monitoring.coreos.com', 'crd/prometheusrules.monitoring.coreos.com']);
}
