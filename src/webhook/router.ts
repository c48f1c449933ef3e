// The HTTPS request listener. /mutate and /validate, the hot path, go straight
// from node:https to the admission endpoint (one size-limited body read, one
// JSON.parse): express's per-request work there would cost more than the policy
// itself. Everything else (health, readiness, the 404) goes to a small express app.

import type { ServerResponse } from 'node:http';
import express from 'express';
import { admissionEndpoint, type AdmissionEndpointOptions, type RequestListener } from './admission-endpoint.js';
import { WebhookError } from './errors.js';
import { errored, reviewJson } from './response.js';

export interface ReadinessCheck {
  /** Name shown in the /readyz body. */
  name: string;
  /** Undefined when fine, else why not ready. */
  problem: () => string | undefined;
}

export interface WebhookRouterOptions extends AdmissionEndpointOptions {
  readiness: readonly ReadinessCheck[];
}

export function createWebhookRouter(options: WebhookRouterOptions): RequestListener {
  const mutate = admissionEndpoint('mutate', options);
  const validate = admissionEndpoint('validate', options);
  const rest = express();
  rest.disable('x-powered-by');
  rest.get('/healthz', (_req, res) => sendText(res, 200, 'ok\n'));
  rest.get('/readyz', (_req, res) => sendReadiness(res, options.readiness));
  rest.use((req, res) => {
    const failure = new WebhookError('NOT_FOUND', `${req.method} ${pathOf(req.url)}`);
    sendJson(res, failure.status, reviewJson(undefined, errored(failure.status, failure.message)));
  });
  return (req, res) => {
    // The API server calls e.g. /validate?timeout=10s.
    const path = pathOf(req.url);
    if (path === '/mutate') mutate(req, res);
    else if (path === '/validate') validate(req, res);
    else rest(req, res);
  };
}

function sendReadiness(res: ServerResponse, readiness: readonly ReadinessCheck[]): void {
  const problems = readiness.flatMap((check) => {
    const problem = check.problem();
    return problem === undefined ? [] : [`${check.name}: ${problem}`];
  });
  if (problems.length === 0) sendText(res, 200, 'ok\n');
  else sendText(res, 503, `not ready\n${problems.join('\n')}\n`);
}

export function pathOf(url: string | undefined): string {
  const value = url ?? '/';
  const query = value.indexOf('?');
  return query === -1 ? value : value.slice(0, query);
}

export function sendText(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: string): void {
  sendText(res, status, body, 'application/json');
}
