// Connecting to the Kubernetes API, shared by the webhook, the agent and the
// audit. The caller (src/cli) decides where the kubeconfig comes from.

import { existsSync } from 'node:fs';
import { ApiException, KubeConfig } from '@kubernetes/client-node';

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

/**
 * One line that says what went wrong with an API call, naming the verb and
 * resource for permission errors (`forbidden: cannot list pods at the cluster scope`).
 */
export function describeApiError(error: unknown, attempted: string): string {
  if (error instanceof ApiException) {
    const body = parseBody(error.body);
    const status = body?.message ? `: ${body.message}` : '';
    if (error.code === 401) return `unauthorized (401) to ${attempted}: check the credentials in the kubeconfig${status}`;
    if (error.code === 403) return `forbidden (403) to ${attempted}${status}`;
    return `API server answered ${error.code} to ${attempted}${status}`;
  }
  const err = error as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = err?.code ?? err?.cause?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ECONNRESET') {
    return `API server unreachable (${code}) while trying to ${attempted}`;
  }
  if (code === 'ETIMEDOUT' || err?.name === 'AbortError' || err?.name === 'TimeoutError') {
    return `API server timed out while trying to ${attempted}`;
  }
  return `failed to ${attempted}: ${err?.message ?? String(error)}`;
}

function parseBody(body: unknown): { message?: string } | undefined {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as { message?: string };
    } catch {
      return { message: body };
    }
  }
  return body as { message?: string } | undefined;
}
