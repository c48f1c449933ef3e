// Connecting to the Kubernetes API, shared by the webhook, the agent and the
// audit. The caller (src/cli) decides where the kubeconfig comes from.

import { existsSync } from 'node:fs';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { apiStatusMessage, networkErrorMessage } from './api-errors.js';

export interface ClusterSource {
  /** A kubeconfig file (flag or KUBECONFIG); wins over in-cluster. */
  kubeconfig?: string;
  /** True when running in a pod (KUBERNETES_SERVICE_HOST is set). */
  inCluster?: boolean;
  /** ~/.kube/config, tried last. */
  homeKubeconfig?: string;
}

/** The cluster to talk to, or undefined when there is none (offline use). Throws on a broken kubeconfig. */
export function loadKubeConfig(source: ClusterSource): KubeConfig | undefined {
  const config = new KubeConfig();
  if (source.kubeconfig) {
    if (!existsSync(source.kubeconfig)) throw new Error(`kubeconfig ${source.kubeconfig} does not exist`);
    config.loadFromFile(source.kubeconfig);
    return config;
  }
  if (source.inCluster) {
    config.loadFromCluster();
    return config;
  }
  if (source.homeKubeconfig && existsSync(source.homeKubeconfig)) {
    config.loadFromFile(source.homeKubeconfig);
    return config;
  }
  return undefined;
}

/** One line that says what went wrong with a client-node API call (see api-errors.ts). */
export function describeApiError(error: unknown, attempted: string): string {
  if (error instanceof ApiException) return apiStatusMessage(error.code, error.body, attempted);
  const err = error as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  return networkErrorMessage({ ...err, code: err?.code ?? err?.cause?.code, message: err?.message ?? String(error) }, attempted);
}
