// Starts the webhook: HTTPS (TLS 1.2+, forward-secret AEAD suites only) for the
// API server, plain HTTP for Prometheus, certificate rotation, readiness,
// graceful shutdown, and the limits that keep a hostile client from taking the
// replica's memory or connections: a body budget, a connection cap, and
// handshake, header and request timeouts enforced within a second.

import { once } from 'node:events';
import { createServer as createHttpServer, STATUS_CODES, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { NamespaceLabelSource } from '../kube/namespace-labels.js';
import type { PolicyConfig } from '../policy/config.js';
import { createAdmissionHandler } from './admission-handler.js';
import { DEFAULT_BODY_LIMIT_BYTES } from './admission-endpoint.js';
import { createWebhookRouter } from './router.js';
import type { Logger } from '../log.js';
import { metricsRequestListener } from '../metrics-server.js';
import { createBodyBudget } from './body-budget.js';
import { createDecisionLog, type AllowedLogging } from './decision-log.js';
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from './limits.js';
import { WebhookError } from './errors.js';
import { createWebhookMetrics, type RejectionReason, type WebhookMetrics } from './metrics.js';
import { errored, reviewJson } from './response.js';
import { watchServingCertificate, type KeyPair } from './serving-certificate.js';

export interface WebhookServerOptions {
  /** The config, or where to get the one in use (LiveConfig.current): read once per review. */
  config: PolicyConfig | (() => PolicyConfig);
  namespaceLabels: NamespaceLabelSource;
  /** KEP-6063 discovery (pod-pid-limit-probe.ts); never served when absent. */
  podPidLimitServed?: () => boolean;
  logger: Logger;
  /** Plain allows (and skipped reviews) logged at info: none (debug only, the default), every Nth, or all. */
  logAllowed?: AllowedLogging;
  certPath: string;
  keyPath: string;
  port: number;
  metricsPort: number;
  /** Interface to listen on; all interfaces when undefined. */
  host?: string;
  certificatePollIntervalMs?: number;
  bodyLimitBytes?: number;
  /** DEFAULT_SERVER_LIMITS for what is not given. */
  limits?: Partial<ServerLimits>;
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
  /** Request body bytes held right now (against limits.bodyBytesInFlight). */
  bodyBytesInFlight(): number;
  /** Reads the certificate files now, as a change to them would (SIGHUP). */
  reloadCertificate(): Promise<'reloaded' | 'unchanged' | 'failed'>;
  /** Stops being ready, stops accepting connections, finishes reviews in progress, closes everything. */
  shutdown(): Promise<void>;
}

const DEFAULT_CERTIFICATE_POLL_MS = 10_000;
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 20_000;
/** Longer than the API server's idle-connection timeout (90 s), so the server is never the side that closes a connection the client is about to reuse. */
const KEEP_ALIVE_TIMEOUT_MS = 95_000;
/** How often node:http checks header and request timeouts (its default, 30 s, would let a stalled body live 40 s). */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
const VALIDITY_CHECK_INTERVAL_MS = 60_000;
/** At most one warn line per rejection reason per interval; the metric counts every one. */
const REJECTION_LOG_INTERVAL_MS = 10_000;
/**
 * TLS 1.2: ECDHE key exchange (forward secrecy) with AEAD ciphers only, what Go's crypto/tls (the
 * API server's client) offers first. TLS 1.3 suites are all of that kind and keep Node's defaults.
 */
const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export async function startWebhookServer(options: WebhookServerOptions): Promise<RunningWebhookServer> {
  const { logger, namespaceLabels } = options;
  const now = options.now ?? Date.now;
  const limits: ServerLimits = Object.assign({}, DEFAULT_SERVER_LIMITS, options.limits);
  const bodyLimitBytes = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  if (limits.bodyBytesInFlight < bodyLimitBytes) throw new Error(`the body budget (${limits.bodyBytesInFlight} bytes) must hold at least one body of the limit (${bodyLimitBytes} bytes)`);
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) throw new Error(`the headers timeout (${limits.headersTimeoutMs} ms) must not exceed the request timeout (${limits.requestTimeoutMs} ms)`);
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
      checkValidity(pair, true);
    },
    onReloadFailure(error) {
      metrics.certificateReloads.inc({ result: 'failure' });
      logger.warn('serving certificate files changed but cannot be used yet; keeping the previous pair', { error: error.message });
    },
  });
  const metrics = createWebhookMetrics({
    namespaceLabels,
    certificateExpirySeconds: () => (certificate.current().notAfter.getTime() - now()) / 1000,
    certificateValid: () => validityProblem(certificate.current(), now()) === undefined,
  });
  // Served anyway: refusing to start would not make the API server's calls succeed, and a renewed pair is picked up without a restart.
  let reportedInvalid = false;
  function checkValidity(pair: KeyPair, always: boolean) {
    const problem = validityProblem(pair, now());
    if (problem !== undefined && (always || !reportedInvalid)) {
      logger.error(`serving certificate ${problem}: the API server refuses the TLS handshake, so its calls fail until the certificate is renewed`, certificateFields(pair));
    }
    reportedInvalid = problem !== undefined;
  }
  checkValidity(certificate.current(), true);
  const validityTimer = setInterval(() => checkValidity(certificate.current(), false), VALIDITY_CHECK_INTERVAL_MS).unref();
  const reject = rejectionRecorder(metrics, logger, now);
  const bodyBudget = createBodyBudget(limits.bodyBytesInFlight);

  const router = createWebhookRouter({
    handle: createAdmissionHandler({ config: options.config, namespaceLabels, ...(options.podPidLimitServed ? { podPidLimitServed: options.podPidLimitServed } : {}) }),
    logger,
    decisionLog: createDecisionLog(logger, options.logAllowed ?? { kind: 'none' }),
    metrics,
    bodyLimitBytes,
    bodyBudget,
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

  const httpOptions = {
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
  };
  https = createHttpsServer({ ...tlsOptions(certificate.current()), ...httpOptions, handshakeTimeout: limits.handshakeTimeoutMs }, router);
  https.on('tlsClientError', (error: NodeJS.ErrnoException, socket) => {
    reject(error.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'handshake-timeout' : 'tls-handshake', { error: error.code ?? error.message, remote: socket.remoteAddress });
  });
  const metricsServer = createHttpServer(httpOptions, metricsRequestListener({ registry: metrics.registry, logger }));
  for (const server of [https, metricsServer]) {
    server.maxConnections = limits.maxConnections;
    server.on('drop', (data) => reject('connections', { remote: data?.remoteAddress, maxConnections: limits.maxConnections }));
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerClientError(error, socket, reject));
  }

  try {
    await listen(https, options.port, options.host);
    await listen(metricsServer, options.metricsPort, options.host);
  } catch (error) {
    certificate.stop();
    clearInterval(validityTimer);
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
    bodyBytesInFlight: () => bodyBudget.inUse(),
    reloadCertificate: () => certificate.reload(),
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
      clearInterval(validityTimer);
      await namespaceLabels.stop();
      logger.info('shut down', { unfinished: inFlight });
    },
  };
}

function tlsOptions(pair: KeyPair) {
  return { cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' as const, ciphers: TLS12_CIPHERS };
}

function validityProblem(pair: KeyPair, nowMs: number): string | undefined {
  if (nowMs > pair.notAfter.getTime()) return `expired at ${pair.notAfter.toISOString()}`;
  if (nowMs < pair.notBefore.getTime()) return `is not valid before ${pair.notBefore.toISOString()}`;
  return undefined;
}

type Reject = (reason: RejectionReason, fields: Record<string, unknown>) => void;

/** Counts every rejection; logs at most one warn line per reason per interval, with how many went unlogged. */
function rejectionRecorder(metrics: WebhookMetrics, logger: Logger, now: () => number): Reject {
  const lastLogged = new Map<RejectionReason, number>();
  const unlogged = new Map<RejectionReason, number>();
  return (reason, fields) => {
    metrics.rejected.inc({ reason });
    const at = now();
    if (at - (lastLogged.get(reason) ?? -Infinity) < REJECTION_LOG_INTERVAL_MS) {
      unlogged.set(reason, (unlogged.get(reason) ?? 0) + 1);
      return;
    }
    logger.warn('connection rejected', { reason, ...fields, unloggedSinceLast: unlogged.get(reason) ?? 0 });
    lastLogged.set(reason, at);
    unlogged.set(reason, 0);
  };
}

/**
 * node:http's clientError (malformed request, header or request timeout): what Node would do by
 * default (answer if it can, then destroy the socket), with an AdmissionReview body from the
 * error table, and counted.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex, reject: Reject): void {
  // The client hung up (mid-request, or before sending one): nothing to answer, nothing to count.
  if (error.code === 'ECONNRESET' || error.code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
    socket.destroy();
    return;
  }
  const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  reject(timedOut ? 'request-timeout' : 'bad-http', { error: error.code ?? error.message, remote: (socket as Socket).remoteAddress });
  const failure = timedOut ? new WebhookError('REQUEST_TIMEOUT') : new WebhookError('BAD_HTTP', error.code);
  const body = reviewJson(undefined, errored(failure.status, failure.message));
  socket.write(`HTTP/1.1 ${failure.status} ${STATUS_CODES[failure.status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  socket.destroy();
}

function certificateFields(pair: KeyPair) {
  return { certificateNotAfter: pair.notAfter.toISOString(), certificateSha256: pair.fingerprint };
}

async function listen(server: HttpServer | HttpsServer, port: number, host: string | undefined): Promise<void> {
  server.listen(port, host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([error]) => Promise.reject(error))]);
}
