// Starts the webhook: HTTPS (TLS 1.2+) for the API server, plain HTTP for
// Prometheus, certificate rotation, readiness, and graceful shutdown.

import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { NamespaceLabelSource } from '../kube/namespace-labels.js';
import type { PolicyConfig } from '../policy/config.js';
import { createAdmissionHandler } from './admission-handler.js';
import { DEFAULT_BODY_LIMIT_BYTES, type RequestListener } from './admission-endpoint.js';
import express from 'express';
import { createWebhookApp, sendText } from './app.js';
import type { Logger } from '../log.js';
import { createWebhookMetrics, type WebhookMetrics } from './metrics.js';
import { watchServingCertificate, type KeyPair } from './serving-certificate.js';

export interface WebhookServerOptions {
  config: PolicyConfig;
  namespaceLabels: NamespaceLabelSource;
  logger: Logger;
  certPath: string;
  keyPath: string;
  port: number;
  metricsPort: number;
  /** Interface to listen on; all interfaces when undefined. */
  host?: string;
  certificatePollIntervalMs?: number;
  bodyLimitBytes?: number;
  /**
   * How long shutdown keeps accepting connections while /readyz answers 503, so the
   * endpoint removal reaches the API server before the listener closes.
   */
  shutdownDelayMs?: number;
  /** Longest shutdown waits for reviews in progress before closing their connections. */
  shutdownTimeoutMs?: number;
  /** Milliseconds since the epoch; injectable for the certificate-expiry gauge. */
  now?: () => number;
}

export interface RunningWebhookServer {
  port: number;
  metricsPort: number;
  metrics: WebhookMetrics;
  isReady(): boolean;
  /** Reviews being read or answered right now. */
  inFlight(): number;
  /** Stops being ready, stops accepting connections, finishes reviews in progress, closes everything. */
  shutdown(): Promise<void>;
}

const DEFAULT_CERTIFICATE_POLL_MS = 10_000;
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 20_000;
/** Longer than the API server's idle-connection timeout (90 s), so the server is never the side that closes a connection the client is about to reuse. */
const KEEP_ALIVE_TIMEOUT_MS = 95_000;

export async function startWebhookServer(options: WebhookServerOptions): Promise<RunningWebhookServer> {
  const { logger, namespaceLabels } = options;
  const now = options.now ?? Date.now;
  let https: HttpsServer | undefined;
  let draining = false;
  let inFlight = 0;
  let idle: (() => void) | undefined;

  const certificate = await watchServingCertificate({
    certPath: options.certPath,
    keyPath: options.keyPath,
    pollIntervalMs: options.certificatePollIntervalMs ?? DEFAULT_CERTIFICATE_POLL_MS,
    onReload(pair) {
      https?.setSecureContext(tlsOptions(pair));
      metrics.certificateReloads.inc({ result: 'success' });
      logger.info('serving certificate reloaded', certificateFields(pair));
    },
    onReloadFailure(error) {
      metrics.certificateReloads.inc({ result: 'failure' });
      logger.warn('serving certificate files changed but cannot be used yet; keeping the previous pair', { error: error.message });
    },
  });
  const metrics = createWebhookMetrics({
    namespaceLabels,
    certificateExpirySeconds: () => (certificate.current().notAfter.getTime() - now()) / 1000,
  });

  const app = createWebhookApp({
    handle: createAdmissionHandler({ config: options.config, namespaceLabels }),
    logger,
    metrics,
    bodyLimitBytes: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    draining: () => draining,
    inFlight: {
      add: () => void (inFlight += 1),
      done: () => {
        inFlight -= 1;
        if (inFlight === 0) idle?.();
      },
    },
    readiness: [
      { name: 'shutdown', problem: () => (draining ? 'shutting down' : undefined) },
      { name: 'namespace-labels', problem: () => (namespaceLabels.isReady() ? undefined : `${namespaceLabels.kind} ${namespaceLabels.state()}`) },
    ],
  });

  https = createHttpsServer({ ...tlsOptions(certificate.current()), keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, requestTimeout: 30_000, headersTimeout: 10_000 }, app);
  https.on('tlsClientError', (error) => logger.debug('TLS handshake failed', { error: error.message }));
  const metricsServer = createHttpServer(metricsApp(metrics, logger));

  try {
    await listen(https, options.port, options.host);
    await listen(metricsServer, options.metricsPort, options.host);
  } catch (error) {
    certificate.stop();
    https.close();
    metricsServer.close();
    throw error;
  }
  const port = (https.address() as AddressInfo).port;
  const metricsPort = (metricsServer.address() as AddressInfo).port;
  logger.info('listening', { port, metricsPort, host: options.host ?? '(all interfaces)', namespaceLabels: namespaceLabels.kind, ...certificateFields(certificate.current()) });

  return {
    port,
    metricsPort,
    metrics,
    // The certificate is loaded before the server exists, so it is ready as soon as labels are.
    isReady: () => !draining && namespaceLabels.isReady(),
    inFlight: () => inFlight,
    async shutdown() {
      if (draining) return;
      draining = true;
      const delayMs = options.shutdownDelayMs ?? 0;
      logger.info('shutting down: not ready; closing the listener after the shutdown delay', { inFlight, delayMs });
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      const closed = once(https!, 'close');
      https!.close(); // no new connections; idle keep-alive connections close now
      if (inFlight > 0) {
        const finished = new Promise<void>((resolve) => (idle = resolve));
        const timeout = new Promise<void>((resolve) => setTimeout(resolve, options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS).unref());
        await Promise.race([finished, timeout]);
      }
      https!.closeAllConnections();
      await closed;
      metricsServer.closeAllConnections();
      await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
      certificate.stop();
      await namespaceLabels.stop();
      logger.info('shut down', { unfinished: inFlight });
    },
  };
}

function tlsOptions(pair: KeyPair) {
  return { cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' as const };
}

function certificateFields(pair: KeyPair) {
  return { certificateNotAfter: pair.notAfter.toISOString(), certificateSha256: pair.fingerprint };
}

function metricsApp(metrics: WebhookMetrics, logger: Logger): RequestListener {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => sendText(res, 200, 'ok\n'));
  app.get('/metrics', (_req, res) => {
    metrics.registry.metrics().then(
      (text) => sendText(res, 200, text, metrics.registry.contentType),
      (error: Error) => {
        logger.error('cannot collect metrics', { error: error.message });
        sendText(res, 500, 'cannot collect metrics\n');
      },
    );
  });
  app.use((_req, res) => sendText(res, 404, 'not found: the metrics port serves GET /metrics and GET /healthz\n'));
  return app;
}

async function listen(server: HttpServer | HttpsServer, port: number, host: string | undefined): Promise<void> {
  server.listen(port, host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([error]) => Promise.reject(error))]);
}
