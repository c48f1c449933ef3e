// The HTTPS request listener: /mutate and /validate go straight to the lean
// admission endpoint; everything else (health, readiness, 404) goes through a
// small express app, where per-request overhead does not matter.

import express from 'express';
import { admissionEndpoint, type AdmissionEndpointOptions, type RequestListener } from './admission-endpoint.js';
import { WebhookError } from './errors.js';
import { errored, reviewOf } from './response.js';

export interface ReadinessCheck {
  /** Name shown in the /readyz body. */
  name: string;
  /** Undefined when fine, else why not ready. */
  problem: () => string | undefined;
}

export interface WebhookAppOptions extends AdmissionEndpointOptions {
  readiness: readonly ReadinessCheck[];
}

export function createWebhookApp(options: WebhookAppOptions): RequestListener {
  const mutate = admissionEndpoint('mutate', options);
  const validate = admissionEndpoint('validate', options);
  const rest = healthApp(options.readiness);
  return (req, res) => {
    // The API server calls e.g. /validate?timeout=10s.
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (path === '/mutate') mutate(req, res);
    else if (path === '/validate') validate(req, res);
    else rest(req, res);
  };
}

function healthApp(readiness: readonly ReadinessCheck[]): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/readyz', (_req, res) => {
    const problems = readiness.flatMap((check) => {
      const problem = check.problem();
      return problem === undefined ? [] : [`${check.name}: ${problem}`];
    });
    if (problems.length === 0) res.type('text/plain').send('ok\n');
    else res.status(503).type('text/plain').send(`not ready\n${problems.join('\n')}\n`);
  });
  app.use((req, res) => {
    const failure = new WebhookError('NOT_FOUND', `${req.method} ${req.path}`);
    res.status(failure.status).json(reviewOf(undefined, errored(failure.status, failure.message)));
  });
  return app;
}
