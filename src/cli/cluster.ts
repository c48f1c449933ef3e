// Where a command finds its cluster: --kubeconfig, else KUBECONFIG, else the
// pod's service account, else ~/.kube/config; undefined when there is none.

import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../kube/client.js';
import { flagOrEnv } from './args.js';
import { EXIT } from './exit-codes.js';
import { CliError } from './io.js';

export function clusterFromFlags(kubeconfigFlag: string | undefined, env: NodeJS.ProcessEnv, exitCode: number = EXIT.usage): KubeConfig | undefined {
  const kubeconfig = flagOrEnv(kubeconfigFlag, env, 'KUBECONFIG');
  try {
    return loadKubeConfig({
      ...(kubeconfig ? { kubeconfig } : {}),
      inCluster: env.KUBERNETES_SERVICE_HOST !== undefined,
      ...(env.HOME ? { homeKubeconfig: join(env.HOME, '.kube', 'config') } : {}),
    });
  } catch (error) {
    throw new CliError(`cannot load the cluster configuration: ${(error as Error).message}`, exitCode);
  }
}
