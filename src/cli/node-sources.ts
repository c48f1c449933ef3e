// What `node` and `agent` share: the flags that say where the node's files are
// and where its pods come from, and the API server they reach.

import { hostname } from 'node:os';
import { join } from 'node:path';
import { KubeApi, loadApiEndpoint } from '../kube/node-agent-api.js';
import { thresholdsError, type Thresholds } from '../node/verdict.js';
import { flagOrEnv, ratioFlag } from './args.js';
import { EXIT } from './exit-codes.js';
import { CliError } from './io.js';

/** Flags `node` and `agent` share: where the node's files are and where its pods come from. */
export const NODE_SOURCE_FLAGS = {
  proc: { type: 'string' },
  'cgroup-root': { type: 'string' },
  sys: { type: 'string' },
  'pods-file': { type: 'string' },
  config: { type: 'string' },
  kubeconfig: { type: 'string' },
  'node-name': { type: 'string' },
  'warning-ratio': { type: 'string' },
  'critical-ratio': { type: 'string' },
} as const;

export interface NodeSources {
  procRoot: string;
  cgroupRoot: string;
  podsFile?: string;
  kubeconfig?: string;
  nodeName: string;
  thresholds: Thresholds;
}

type SourceValues = { [K in keyof typeof NODE_SOURCE_FLAGS]?: string };

export function resolveNodeSources(values: SourceValues, env: NodeJS.ProcessEnv): NodeSources {
  if (values.sys !== undefined && values['cgroup-root'] !== undefined) {
    throw new CliError('give --sys or --cgroup-root, not both', EXIT.usage);
  }
  const thresholds: Thresholds = {
    warningRatio: ratioFlag(values['warning-ratio'] ?? '0.7', '--warning-ratio'),
    criticalRatio: ratioFlag(values['critical-ratio'] ?? '0.9', '--critical-ratio'),
  };
  const problem = thresholdsError(thresholds);
  if (problem) throw new CliError(`--warning-ratio/--critical-ratio: ${problem}`, EXIT.usage);
  const nodeName = flagOrEnv(values['node-name'], env, 'NODE_NAME', hostname());
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(nodeName)) throw new CliError(`--node-name/NODE_NAME "${nodeName}" is not a valid node name`, EXIT.usage);
  const sources: NodeSources = {
    procRoot: values.proc ?? '/proc',
    cgroupRoot: values['cgroup-root'] ?? (values.sys !== undefined ? join(values.sys, 'fs/cgroup') : '/sys/fs/cgroup'),
    nodeName,
    thresholds,
  };
  if (values['pods-file'] !== undefined) sources.podsFile = values['pods-file'];
  const kubeconfig = flagOrEnv(values.kubeconfig, env, 'KUBECONFIG');
  if (kubeconfig) sources.kubeconfig = kubeconfig;
  return sources;
}

/** The API server from --kubeconfig/KUBECONFIG, else in-cluster, else (for `node`) ~/.kube/config. */
export function connectApi(sources: NodeSources, env: NodeJS.ProcessEnv, tryHome: boolean): KubeApi | undefined {
  const endpoint = loadApiEndpoint({
    ...(sources.kubeconfig ? { kubeconfig: sources.kubeconfig } : {}),
    ...(env.KUBERNETES_SERVICE_HOST ? { inCluster: { host: env.KUBERNETES_SERVICE_HOST, port: env.KUBERNETES_SERVICE_PORT ?? '443' } } : {}),
    ...(tryHome && env.HOME ? { homeKubeconfig: join(env.HOME, '.kube/config') } : {}),
  });
  return endpoint ? new KubeApi(endpoint, 5000) : undefined;
}

