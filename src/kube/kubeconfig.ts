// Where every command finds its cluster, and the one kubeconfig parser.
// Precedence: --kubeconfig > KUBECONFIG > the pod's service account >
// ~/.kube/config (when it exists); none of them means no cluster (offline use).
// The caller (src/cli) passes the flag and its environment variables: nothing
// here reads the environment itself.
//
// A kubeconfig is read once, into what the transport needs: the server, its CA
// (data or file), insecure-skip-tls-verify, tls-server-name, the client
// certificate and key (data or file), a token or tokenFile. Relative file paths
// are relative to the kubeconfig, as kubectl has them. Exec and auth-provider
// plugins start processes or need a vendor SDK: they are only run through
// client-node, by `audit` (see kube/client.ts); everything else refuses
// them with a message saying so.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { forEachYamlDocument, InputBudget, InputError, readInputTextSync } from '../input/yaml-input.js';
import { isRecord } from '../policy/json-value.js';
import type { ApiEndpoint } from './transport.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A kubeconfig with certificates embedded for dozens of clusters fits many times over. */
export const MAX_KUBECONFIG_BYTES = 4 * 1024 * 1024;

/** The environment variables the resolution reads (passed in by src/cli). */
export interface ClusterEnv {
  KUBECONFIG?: string | undefined;
  KUBERNETES_SERVICE_HOST?: string | undefined;
  KUBERNETES_SERVICE_PORT?: string | undefined;
  HOME?: string | undefined;
}

export type ClusterLocation =
  | { kind: 'kubeconfig'; path: string; from: '--kubeconfig' | 'KUBECONFIG' | '~/.kube/config' }
  | { kind: 'in-cluster'; host: string; port: string; serviceAccountDir: string };

export class KubeconfigError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'KubeconfigError';
  }
}

/** Where the cluster is, or undefined when there is none. A kubeconfig named by flag or KUBECONFIG must exist; ~/.kube/config is skipped when absent. */
export function locateCluster(flag: string | undefined, env: ClusterEnv, serviceAccountDir = SERVICE_ACCOUNT_DIR): ClusterLocation | undefined {
  if (flag) return { kind: 'kubeconfig', path: flag, from: '--kubeconfig' };
  if (env.KUBECONFIG) return { kind: 'kubeconfig', path: env.KUBECONFIG, from: 'KUBECONFIG' };
  if (env.KUBERNETES_SERVICE_HOST) return { kind: 'in-cluster', host: env.KUBERNETES_SERVICE_HOST, port: env.KUBERNETES_SERVICE_PORT ?? '443', serviceAccountDir };
  if (env.HOME) {
    const home = join(env.HOME, '.kube', 'config');
    if (existsSync(home)) return { kind: 'kubeconfig', path: home, from: '~/.kube/config' };
  }
  return undefined;
}

/** What a kubeconfig's current context says, files not yet read. */
export interface Kubeconfig {
  path: string;
  currentContext: string;
  namespace?: string;
  clusterName: string;
  server: string;
  ca?: { data: string } | { file: string };
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  userName: string;
  cert?: { data: string } | { file: string };
  key?: { data: string } | { file: string };
  token?: { value: string } | { file: string };
  /** Set when the user authenticates in a way only client-node can (a plugin, basic auth, impersonation). */
  needsClientNode?: string;
}

export function readKubeconfig(path: string): Kubeconfig {
  const label = `kubeconfig ${path}`;
  let document: unknown = null;
  try {
    const budget = new InputBudget(MAX_KUBECONFIG_BYTES, 1, 'a kubeconfig is one small YAML document');
    forEachYamlDocument(readInputTextSync(path, budget, label), label, budget, (value) => {
      document = value;
    });
  } catch (error) {
    if (error instanceof InputError && error.code === 'ENOENT') throw new KubeconfigError(`kubeconfig ${path} does not exist`, 'ENOENT');
    throw new KubeconfigError((error as Error).message);
  }
  const config = isRecord(document) ? document : {};
  const named = (list: unknown, name: unknown, field: string): Record<string, unknown> | undefined => {
    if (!Array.isArray(list)) return undefined;
    const entry: unknown = list.find((candidate: unknown) => isRecord(candidate) && candidate.name === name);
    return isRecord(entry) && isRecord(entry[field]) ? entry[field] : undefined;
  };
  const contextName = config['current-context'];
  const context = named(config.contexts, contextName, 'context');
  if (!context) throw new KubeconfigError(`kubeconfig ${path}: current-context "${String(contextName ?? '')}" is not among its contexts`);
  const cluster = named(config.clusters, context.cluster, 'cluster');
  const user = named(config.users, context.user, 'user') ?? {};
  if (!cluster || typeof cluster.server !== 'string') throw new KubeconfigError(`kubeconfig ${path}: cluster "${String(context.cluster)}" has no server`);
  if (!URL.canParse(cluster.server)) throw new KubeconfigError(`kubeconfig ${path}: cluster "${String(context.cluster)}" server "${cluster.server}" is not a URL`);
  if (new URL(cluster.server).protocol !== 'https:') throw new KubeconfigError(`kubeconfig ${path}: cluster "${String(context.cluster)}" server "${cluster.server}" is not https; pidguard only talks to the API server over TLS`);
  // Said rather than ignored: requests would otherwise go around the proxy the kubeconfig names.
  if (cluster['proxy-url']) throw new KubeconfigError(`kubeconfig ${path}: cluster "${String(context.cluster)}" has a proxy-url; pidguard does not connect through proxies`);
  const base = dirname(path);
  const source = (data: unknown, file: unknown) => {
    if (typeof data === 'string' && data !== '') return { data };
    if (typeof file === 'string' && file !== '') return { file: isAbsolute(file) ? file : join(base, file) };
    return undefined;
  };
  const parsed: Kubeconfig = {
    path,
    currentContext: String(contextName),
    clusterName: String(context.cluster),
    server: cluster.server,
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    userName: String(context.user ?? ''),
  };
  if (typeof context.namespace === 'string' && context.namespace !== '') parsed.namespace = context.namespace;
  if (typeof cluster['tls-server-name'] === 'string' && cluster['tls-server-name'] !== '') parsed.tlsServerName = cluster['tls-server-name'];
  const ca = source(cluster['certificate-authority-data'], cluster['certificate-authority']);
  const cert = source(user['client-certificate-data'], user['client-certificate']);
  const key = source(user['client-key-data'], user['client-key']);
  if (ca) parsed.ca = ca;
  if (cert) parsed.cert = cert;
  if (key) parsed.key = key;
  if (typeof user.token === 'string' && user.token !== '') parsed.token = { value: user.token };
  else if (typeof user.tokenFile === 'string' && user.tokenFile !== '') parsed.token = { file: isAbsolute(user.tokenFile) ? user.tokenFile : join(base, user.tokenFile) };
  const needs = user.exec ? 'an exec plugin' : user['auth-provider'] ? 'an auth-provider plugin' : user.username ? 'a username and password' : user.as ? 'impersonation (as)' : undefined;
  if (needs) parsed.needsClientNode = needs;
  return parsed;
}

/**
 * The endpoint of a located cluster. A kubeconfig user that needs client-node
 * (see Kubeconfig.needsClientNode) is refused unless `clientNodeAuth` supplies
 * its headers (only `audit` does, with kube/client.ts).
 */
export function endpointFor(location: ClusterLocation, clientNodeAuth?: (kubeconfig: Kubeconfig) => ApiEndpoint['authHeaders']): ApiEndpoint {
  if (location.kind === 'in-cluster') {
    const host = location.host.includes(':') ? `[${location.host}]` : location.host;
    const tokenFile = join(location.serviceAccountDir, 'token');
    return {
      server: new URL(`https://${host}:${location.port}`),
      ca: readPem(join(location.serviceAccountDir, 'ca.crt'), 'in-cluster service account'),
      authHeaders: () => bearer(readFileSync(tokenFile, 'utf8')),
      insecureSkipTlsVerify: false,
      source: 'in-cluster service account',
    };
  }
  const kubeconfig = readKubeconfig(location.path);
  const label = `kubeconfig ${kubeconfig.path}`;
  const bytes = (value: { data: string } | { file: string }) => ('data' in value ? Buffer.from(value.data, 'base64') : readPem(value.file, label));
  const endpoint: ApiEndpoint = { server: new URL(kubeconfig.server), insecureSkipTlsVerify: kubeconfig.insecureSkipTlsVerify, source: label };
  if (kubeconfig.tlsServerName) endpoint.tlsServerName = kubeconfig.tlsServerName;
  if (kubeconfig.ca) endpoint.ca = bytes(kubeconfig.ca);
  if (kubeconfig.cert) endpoint.cert = bytes(kubeconfig.cert);
  if (kubeconfig.key) endpoint.key = bytes(kubeconfig.key);
  if (kubeconfig.needsClientNode) {
    if (!clientNodeAuth) {
      throw new KubeconfigError(`${label}: user "${kubeconfig.userName}" authenticates through ${kubeconfig.needsClientNode}; only \`pidguard audit\` supports that (the webhook and the node tools never start processes): use a token or client certificates`);
    }
    const headers = clientNodeAuth(kubeconfig);
    if (headers) endpoint.authHeaders = headers;
  } else if (kubeconfig.token && 'value' in kubeconfig.token) {
    const headers = bearer(kubeconfig.token.value);
    endpoint.authHeaders = () => headers;
  } else if (kubeconfig.token) {
    const tokenFile = kubeconfig.token.file;
    // Read on every request: projected tokens rotate.
    endpoint.authHeaders = () => bearer(readFileSync(tokenFile, 'utf8'));
  }
  return endpoint;
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token.trim()}` };
}

function readPem(path: string, label: string): Buffer {
  try {
    return Buffer.from(readInputTextSync(path, new InputBudget(MAX_KUBECONFIG_BYTES, 1, 'a PEM file is a few KiB'), `${label}: ${path}`));
  } catch (error) {
    throw new KubeconfigError((error as Error).message);
  }
}
