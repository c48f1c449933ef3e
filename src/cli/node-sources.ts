// What `node` and `agent` share: the flags that say where the node's files are
// and where its pods come from, and the API server they reach.

import { hostname } from 'node:os';
import { join } from 'node:path';
import { AgentApiClient } from '../node/agent-api.js';
import { thresholdsError, type Thresholds } from '../node/verdict.js';
import { ratioFlag } from './args.js';
import { clusterEndpoint } from './cluster.js';
import { EXIT } from './exit-codes.js';
import type { FlagSpecs, FlagValues } from './flags.js';
import { CliError } from './io.js';

/** Flags `node` and `agent` share: where the node's files are and where its pods come from. */
export const NODE_SOURCE_FLAGS = {
  proc: { type: 'string', value: 'DIR', help: 'procfs root', default: '/proc' },
  'cgroup-root': { type: 'string', value: 'DIR', help: 'cgroup mount root', defaultText: '/sys/fs/cgroup' },
  sys: { type: 'string', value: 'DIR', help: 'sysfs root; the cgroup root is DIR/fs/cgroup (instead of --cgroup-root)' },
  'pods-file': { type: 'string', value: 'FILE', help: "the node's pods as a JSON/YAML PodList instead of the API server" },
  'node-name': { type: 'string', value: 'NAME', help: 'this node, whose pods to list', env: 'NODE_NAME', defaultText: 'the host name' },
  'warning-ratio': { type: 'string', value: 'R', help: 'tasks/ceiling for a warning', default: '0.7' },
  'critical-ratio': { type: 'string', value: 'R', help: 'tasks/ceiling for critical', default: '0.9' },
} as const satisfies FlagSpecs;

export interface NodeSources {
  procRoot: string;
  cgroupRoot: string;
  podsFile?: string;
  kubeconfig?: string;
  nodeName: string;
  thresholds: Thresholds;
}

type SourceValues = FlagValues<typeof NODE_SOURCE_FLAGS> & { kubeconfig?: string | undefined };

export function resolveNodeSources(values: SourceValues): NodeSources {
  if (values.sys !== undefined && values['cgroup-root'] !== undefined) {
    throw new CliError('give --sys or --cgroup-root, not both', EXIT.usage);
  }
  const thresholds: Thresholds = {
    warningRatio: ratioFlag(values['warning-ratio'], '--warning-ratio'),
    criticalRatio: ratioFlag(values['critical-ratio'], '--critical-ratio'),
  };
  const problem = thresholdsError(thresholds);
  if (problem) throw new CliError(`--warning-ratio/--critical-ratio: ${problem}`, EXIT.usage);
  const nodeName = values['node-name'] ?? hostname();
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(nodeName)) throw new CliError(`--node-name/NODE_NAME "${nodeName}" is not a valid node name`, EXIT.usage);
  const sources: NodeSources = {
    procRoot: values.proc,
    cgroupRoot: values['cgroup-root'] ?? (values.sys !== undefined ? join(values.sys, 'fs/cgroup') : '/sys/fs/cgroup'),
    nodeName,
    thresholds,
  };
  if (values['pods-file'] !== undefined) sources.podsFile = values['pods-file'];
  if (values.kubeconfig) sources.kubeconfig = values.kubeconfig;
  return sources;
}

/** The API server from --kubeconfig/KUBECONFIG, else in-cluster, else ~/.kube/config. */
export function connectApi(sources: NodeSources, env: NodeJS.ProcessEnv): AgentApiClient | undefined {
  const endpoint = clusterEndpoint(sources.kubeconfig, env);
  return endpoint ? new AgentApiClient(endpoint) : undefined;
}

