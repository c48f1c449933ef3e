// @kubernetes/client-node, for one thing only: `pidguard audit` run by a person
// whose kubeconfig authenticates through an exec or auth-provider plugin (cloud
// CLIs), basic auth or impersonation. client-node computes the headers; the
// requests themselves go through kube/transport.ts like every other call.
// Loaded on demand: it costs ~75 MiB of resident memory.

import { KubeConfig } from '@kubernetes/client-node';
import type { Kubeconfig } from './kubeconfig.js';

/** The authentication headers client-node sends for the kubeconfig's current user, got anew per request (plugins cache and refresh their tokens). */
export function clientNodeAuthHeaders(kubeconfig: Kubeconfig): () => Promise<Record<string, string>> {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfig.path);
  return async () => {
    const options: { headers: Record<string, string>; auth?: string; cert?: unknown } = { headers: {} };
    await config.applyToHTTPSOptions(options);
    // An exec credential may carry a client certificate instead of a token: the transport's TLS settings are fixed, so say so.
    if (options.cert && !kubeconfig.cert) throw new Error(`the ${kubeconfig.needsClientNode ?? 'plugin'} of user "${kubeconfig.userName}" returned a client certificate; pidguard only uses the tokens such plugins return`);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(options.headers)) if (typeof value === 'string') headers[name.toLowerCase()] = value;
    if (options.auth) headers.authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;
    return headers;
  };
}
