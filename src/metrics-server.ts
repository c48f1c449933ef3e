// The one plain-HTTP metrics endpoint, for the webhook's metrics port, the node
// agent and `audit --watch`: GET /metrics (Prometheus text) and GET /healthz.
// node:http only: nothing here starts a thread or a process. A registry that
// cannot collect answers 500 and says so in the log, never a hung request.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './log.js';

export interface MetricsEndpointOptions {
  registry: Pick<Registry, 'metrics' | 'contentType'>;
  logger: Pick<Logger, 'error'>;
  /** Why the process is not healthy (503 on /healthz), or undefined; always healthy without it. */
  unhealthy?: () => string | undefined;
}

export type RequestListener = (request: IncomingMessage, response: ServerResponse) => void;

const NOT_FOUND = 'not found: this port serves GET /metrics and GET /healthz\n';

export function metricsRequestListener(options: MetricsEndpointOptions): RequestListener {
  return (request, response) => {
    const send = (status: number, body: string, contentType = 'text/plain; charset=utf-8', extra: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...extra });
      response.end(request.method === 'HEAD' ? undefined : body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(405, 'only GET and HEAD\n', undefined, { allow: 'GET, HEAD' });
      return;
    }
    const url = request.url ?? '/';
    const path = url.includes('?') ? url.slice(0, url.indexOf('?')) : url;
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => send(200, text, options.registry.contentType),
        (error: Error) => {
          options.logger.error('cannot collect metrics', { error: error.message });
          send(500, 'cannot collect metrics\n');
        },
      );
    } else if (path === '/healthz') {
      const problem = options.unhealthy?.();
      send(problem === undefined ? 200 : 503, problem === undefined ? 'ok\n' : `${problem}\n`);
    } else {
      send(404, NOT_FOUND);
    }
  };
}

export interface RunningMetricsServer {
  server: Server;
  /** The port listened on (the one asked for, or the one chosen for port 0). */
  port: number;
  close(): Promise<void>;
}

/** A node:http server with metricsRequestListener, listening on `port` (0 = any free port). */
export async function startMetricsServer(options: MetricsEndpointOptions & { port: number; host?: string }): Promise<RunningMetricsServer> {
  const server = createServer(metricsRequestListener(options));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
