// One wording for every failed Kubernetes API call (kube/transport.ts): what
// was attempted, and what to do about it.

/** An HTTP error status from the API server. `body` is its Status object (text or parsed) when it sent one. */
export function apiStatusMessage(status: number, body: unknown, attempted: string): string {
  const message = statusText(body);
  const detail = message ? `: ${message}` : '';
  if (status === 401) return `unauthorized (401) to ${attempted}: check the kubeconfig's credentials${detail}`;
  if (status === 403) return `forbidden (403) to ${attempted}${detail}`;
  if (status === 410) return `the resource version expired (410) while trying to ${attempted}: the objects changed faster than they could be read; list again${detail}`;
  return `the API server answered ${status} to ${attempted}${detail}`;
}

/** A connection-level failure (no HTTP answer). */
export function networkErrorMessage(error: { code?: string; message?: string; name?: string }, attempted: string, host?: string): string {
  const server = host ? `API server ${host}` : 'API server';
  const code = error.code ?? '';
  if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EAI_AGAIN'].includes(code)) {
    return `${server} unreachable (${code}) while trying to ${attempted}`;
  }
  if (code === 'ETIMEDOUT' || error.name === 'AbortError' || error.name === 'TimeoutError') return `${server} timed out while trying to ${attempted}`;
  return `failed to ${attempted}: ${error.message ?? code}`;
}

/** The `message` of a Status body, the start of a non-JSON body, or ''. */
function statusText(body: unknown): string {
  if (typeof body === 'string') {
    try {
      return statusText(JSON.parse(body));
    } catch {
      return body.slice(0, 300);
    }
  }
  const message = (body as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : '';
}
