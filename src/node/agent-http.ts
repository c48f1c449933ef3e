// The agent's plain-HTTP endpoint: GET /metrics (Prometheus) and GET /healthz.
// node:http only: nothing here starts a thread or a process.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeAgent } from './agent.js';

export async function startAgentHttp(agent: NodeAgent, port: number, host: string, healthyWithinMs: number): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET') {
      response.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      agent.metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': agent.metrics.registry.contentType }).end(text),
        (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      const healthy = agent.healthy(healthyWithinMs);
      response.writeHead(healthy ? 200 : 503, { 'content-type': 'text/plain' }).end(healthy ? 'ok\n' : 'no successful scan recently\n');
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
