// Where a command finds its cluster: --kubeconfig, else KUBECONFIG, else the
// pod's service account, else ~/.kube/config; undefined when there is none
// (kube/kubeconfig.ts). Only `audit` may authenticate through client-node
// (exec and auth-provider plugins), loaded the first time it is needed.

import { endpointFor, locateCluster, type Kubeconfig } from '../kube/kubeconfig.js';
import type { ApiEndpoint } from '../kube/transport.js';
import { EXIT } from './exit-codes.js';
import { CliError } from './io.js';

export interface ClusterOptions {
  /** Authenticate kubeconfig users that need client-node through it (audit only). */
  clientNodeAuth?: boolean;
}

/** The cluster's endpoint, or undefined when none is configured. Throws KubeconfigError on a broken kubeconfig. */
export function clusterEndpoint(kubeconfigFlag: string | undefined, env: NodeJS.ProcessEnv, options: ClusterOptions = {}): ApiEndpoint | undefined {
  const location = locateCluster(kubeconfigFlag, env);
  return location && endpointFor(location, options.clientNodeAuth ? lazyClientNodeAuth : undefined);
}

/** clusterEndpoint, a broken kubeconfig being a CliError with the command's exit code. */
export function clusterFromFlags(kubeconfigFlag: string | undefined, env: NodeJS.ProcessEnv, exitCode: number = EXIT.usage, options: ClusterOptions = {}): ApiEndpoint | undefined {
  try {
    return clusterEndpoint(kubeconfigFlag, env, options);
  } catch (error) {
    throw new CliError(`cannot load the cluster configuration: ${(error as Error).message}`, exitCode);
  }
}

function lazyClientNodeAuth(kubeconfig: Kubeconfig): () => Promise<Record<string, string>> {
  let headers: (() => Promise<Record<string, string>>) | undefined;
  return async () => {
    headers ??= (await import('../kube/client.js')).clientNodeAuthHeaders(kubeconfig);
    return headers();
  };
}
