// `pidguard serve`: the admission webhook. Reads flags and environment here
// (and only here), builds the namespace label source, and runs the server
// until SIGTERM/SIGINT (SIGHUP reloads the certificate).

import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { startNamespaceCache } from '../kube/namespace-cache.js';
import { loadNamespacesFile } from '../kube/namespace-file.js';
import { noNamespaceLabels, type NamespaceLabelSource } from '../kube/namespace-labels.js';
import { PodPidLimitDiscovery, probePodPidLimit } from '../kube/pod-pid-limit-probe.js';
import { KubeTransport, type ApiEndpoint } from '../kube/transport.js';
import type { PolicyConfig } from '../policy/config.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../webhook/admission-endpoint.js';
import { createJsonLogger, type Logger } from '../log.js';
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from '../webhook/limits.js';
import { ALLOWED_LOGGING_SYNTAX, parseAllowedLogging } from '../webhook/decision-log.js';
import { startWebhookServer } from '../webhook/server.js';
import { byteSizeFlag, durationFlag, integerFlag, logLevelFlag } from './args.js';
import { clusterFromFlags } from './cluster.js';
import { CONFIG_CHECK_INTERVAL_FLAG, LiveConfig } from './config-file.js';
import { EXIT } from './exit-codes.js';
import { commandHelp, parseCommandFlags, type FlagSpecs, type FlagValues } from './flags.js';
import { CliError, type Command } from './io.js';
import { untilTerminated } from './signals.js';

const MIB = 1024 * 1024;

const FLAGS = {
  port: { type: 'string', value: 'N', help: 'HTTPS port', env: 'PIDGUARD_PORT', default: '8443' },
  'metrics-port': { type: 'string', value: 'N', help: 'metrics port', env: 'PIDGUARD_METRICS_PORT', default: '9090' },
  address: { type: 'string', value: 'ADDR', help: 'interface to listen on', env: 'PIDGUARD_ADDRESS', defaultText: 'all' },
  'tls-cert': { type: 'string', value: 'PATH', help: 'serving certificate (PEM, may hold a chain)', env: 'PIDGUARD_TLS_CERT', default: 'certs/tls.crt' },
  'tls-key': { type: 'string', value: 'PATH', help: 'its private key (PEM)', env: 'PIDGUARD_TLS_KEY', default: 'certs/tls.key' },
  'generate-dev-cert': { type: 'boolean', help: 'if the certificate and key are both missing, create a development CA (ca.crt, ca.key) and a certificate for localhost next to them' },
  config: { type: 'string', value: 'PATH', help: 'policy configuration (YAML)', env: 'PIDGUARD_CONFIG', defaultText: 'built-in' },
  'config-check-interval': CONFIG_CHECK_INTERVAL_FLAG,
  'namespaces-file': { type: 'string', value: 'PATH', help: 'static namespace labels (YAML: name -> labels, or a NamespaceList); wins over a cluster', env: 'PIDGUARD_NAMESPACES_FILE' },
  kubeconfig: { type: 'string', value: 'PATH', help: 'cluster to watch namespaces in; else in a pod the in-cluster configuration, else ~/.kube/config', env: 'KUBECONFIG' },
  'shutdown-delay': { type: 'string', value: 'D', help: 'after SIGTERM, keep serving this long with /readyz answering 503 (e.g. 5s in a cluster)', env: 'PIDGUARD_SHUTDOWN_DELAY', default: '0s' },
  'body-budget': { type: 'string', value: 'SIZE', help: `request body bytes held at once, all requests together (Ki, Mi, Gi suffixes; at least ${DEFAULT_BODY_LIMIT_BYTES / MIB}Mi); beyond it the largest bodies still arriving get 503`, env: 'PIDGUARD_BODY_BUDGET', default: `${DEFAULT_SERVER_LIMITS.bodyBytesInFlight / MIB}Mi` },
  'max-connections': { type: 'string', value: 'N', help: 'open connections per port; more are closed at once', env: 'PIDGUARD_MAX_CONNECTIONS', default: String(DEFAULT_SERVER_LIMITS.maxConnections) },
  'handshake-timeout': { type: 'string', value: 'D', help: 'TLS handshake', env: 'PIDGUARD_HANDSHAKE_TIMEOUT', default: `${DEFAULT_SERVER_LIMITS.handshakeTimeoutMs / 1000}s` },
  'headers-timeout': { type: 'string', value: 'D', help: "a request's headers", env: 'PIDGUARD_HEADERS_TIMEOUT', default: `${DEFAULT_SERVER_LIMITS.headersTimeoutMs / 1000}s` },
  'request-timeout': { type: 'string', value: 'D', help: "a request's headers and body", env: 'PIDGUARD_REQUEST_TIMEOUT', default: `${DEFAULT_SERVER_LIMITS.requestTimeoutMs / 1000}s` },
  'log-level': { type: 'string', value: 'LEVEL', help: 'debug, info, warn or error', env: 'PIDGUARD_LOG_LEVEL', default: 'info' },
  'log-allowed': { type: 'string', value: 'WHICH', help: 'decision lines for plain allows at info: none (debug only), sampled:N (one in N) or all; denials, patches and warnings are always at info', env: 'PIDGUARD_LOG_ALLOWED', default: 'none' },
} as const satisfies FlagSpecs;

const HELP = commandHelp({
  name: 'serve',
  usage: 'Usage: pidguard serve [flags]',
  about: `pidguard serve: run the admission webhook server.

HTTPS endpoints: POST /mutate, POST /validate, GET /healthz, GET /readyz.
Metrics: GET /metrics (plain HTTP) on the metrics port.`,
  flags: FLAGS,
  notes: `Without --namespaces-file or a cluster every namespace gets the default mode from the
config, with a warning (fail closed). The certificate and key are reloaded when their
files change, and on SIGHUP. The --config file is checked every --config-check-interval:
a valid change is used from the next review on, an invalid one is logged as an error and
counted (pidguard_config_reload_failures_total), and the config in use stays. SIGTERM or SIGINT: /readyz turns 503, the listener closes after
--shutdown-delay, reviews in progress finish, the process exits 0.`,
});

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Run the admission webhook server (HTTPS)',
  flags: FLAGS,
  help: HELP,
  async run(argv, io) {
    const values = parseCommandFlags(argv, FLAGS, io.env);
    const env = io.env;
    const port = integerFlag(values.port, '--port', 0, 65535);
    const metricsPort = integerFlag(values['metrics-port'], '--metrics-port', 0, 65535);
    const certPath = values['tls-cert'];
    const keyPath = values['tls-key'];
    const shutdownDelayMs = durationFlag(values['shutdown-delay'], '--shutdown-delay', 0, 60_000);
    const limits = limitFlags(values);
    const logLevel = logLevelFlag(values['log-level']);
    const logAllowed = parseAllowedLogging(values['log-allowed']);
    if (!logAllowed) throw new CliError(`--log-allowed must be ${ALLOWED_LOGGING_SYNTAX}, got ${JSON.stringify(values['log-allowed'])}`, EXIT.usage);
    const logger = createJsonLogger(io.stderr, { minimum: logLevel, batch: true });

    const configCheckMs = durationFlag(values['config-check-interval'], '--config-check-interval', 0, 3_600_000);
    const config = await LiveConfig.load(values.config, logger);
    if (values['generate-dev-cert']) await generateDevCertificateIfAbsent(certPath, keyPath, logger);
    const cluster = clusterOnDemand(values.kubeconfig, env);
    const namespaceLabels = await namespaceLabelSource(values['namespaces-file'], cluster, logger);
    const podPidLimit = podPidLimitDiscovery(config.current(), cluster, env, logger);

    let server;
    try {
      server = await startWebhookServer({
        config: () => config.current(), namespaceLabels, logger, logAllowed, podPidLimitServed: () => podPidLimit?.served() ?? false, certPath, keyPath, port, metricsPort,
        host: values.address,
        bodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES,
        limits,
        shutdownDelayMs,
      });
    } catch (error) {
      await namespaceLabels.stop();
      throw new CliError(`cannot start: ${(error as Error).message}`, EXIT.cannotStart);
    }
    const running = server;
    config.register(server.metrics.registry);
    config.start(configCheckMs);
    // Probed once the server listens: the dry-run pod passes through this very webhook.
    void podPidLimit?.start(POD_PID_LIMIT_PROBE_EVERY_MS);
    await untilTerminated({
      onHangup() {
        logger.info('SIGHUP: reading the serving certificate files again');
        void running.reloadCertificate().then((result) => {
          if (result === 'unchanged') logger.info('SIGHUP: the serving certificate files are unchanged');
        });
      },
    });
    config.stop();
    podPidLimit?.stop();
    await server.shutdown();
    return EXIT.ok;
  },
};

function limitFlags(values: FlagValues<typeof FLAGS>): ServerLimits {
  const limits: ServerLimits = {
    bodyBytesInFlight: byteSizeFlag(values['body-budget'], '--body-budget', DEFAULT_BODY_LIMIT_BYTES, 4 * 1024 ** 3),
    maxConnections: integerFlag(values['max-connections'], '--max-connections', 1, 65_535),
    handshakeTimeoutMs: durationFlag(values['handshake-timeout'], '--handshake-timeout', 100, 120_000),
    headersTimeoutMs: durationFlag(values['headers-timeout'], '--headers-timeout', 100, 120_000),
    requestTimeoutMs: durationFlag(values['request-timeout'], '--request-timeout', 100, 120_000),
  };
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) throw new CliError('--headers-timeout must not be longer than --request-timeout (which includes the headers)', EXIT.usage);
  return limits;
}

async function generateDevCertificateIfAbsent(certPath: string, keyPath: string, logger: Logger): Promise<void> {
  const certExists = existsSync(certPath);
  const keyExists = existsSync(keyPath);
  if (certExists && keyExists) return;
  if (certExists !== keyExists) {
    throw new CliError(`--generate-dev-cert: ${certExists ? certPath : keyPath} exists but ${certExists ? keyPath : certPath} does not; refusing to replace half a pair`, EXIT.cannotStart);
  }
  // Loaded only here: node-forge is not needed to serve.
  const { DEFAULT_DEV_DNS_NAMES, DEFAULT_DEV_IP_ADDRESSES, devCertificatePaths, generateDevCertificates, writeDevCertificates } = await import('../webhook/dev-certificates.js');
  // The CA goes next to the certificate; the certificate and key go where the flags say.
  const paths = { ...devCertificatePaths(dirname(certPath)), cert: certPath, key: keyPath };
  await writeDevCertificates(generateDevCertificates({ dnsNames: DEFAULT_DEV_DNS_NAMES, ipAddresses: DEFAULT_DEV_IP_ADDRESSES, days: 365 }), paths);
  logger.info('generated a development certificate', { ...paths, dnsNames: DEFAULT_DEV_DNS_NAMES, ipAddresses: DEFAULT_DEV_IP_ADDRESSES });
}

/** How often serve asks again whether the API server accepts spec.resources.limits.pid. */
const POD_PID_LIMIT_PROBE_EVERY_MS = 10 * 60_000;

/**
 * KEP-6063 discovery, only when podPidLimit.enabled and there is a cluster: a dry-run pod in
 * POD_NAMESPACE (default "default"). Decided at start: a reloaded config that turns the switch on
 * or off takes effect at the next restart (docs/NODE.md).
 */
function podPidLimitDiscovery(config: PolicyConfig, cluster: ClusterOnDemand, env: NodeJS.ProcessEnv, logger: Logger): PodPidLimitDiscovery | undefined {
  if (!config.podPidLimit.enabled) return undefined;
  const found = cluster();
  if (!found) {
    logger.warn('podPidLimit.enabled but no cluster: spec.resources.limits.pid is never written');
    return undefined;
  }
  const { transport } = found;
  const namespace = env.POD_NAMESPACE ?? 'default';
  return new PodPidLimitDiscovery(
    () => probePodPidLimit(transport, namespace),
    (answer) => {
      if (answer.served === true) logger.info('writing spec.resources.limits.pid (KEP-6063)', { detail: answer.detail });
      else logger.warn('not writing spec.resources.limits.pid (KEP-6063)', { detail: answer.detail });
    },
  );
}

/** The cluster and its one transport, resolved at the first use and then kept; undefined without one. */
type ClusterOnDemand = () => { endpoint: ApiEndpoint; transport: KubeTransport } | undefined;

/** Resolved only when something needs a cluster: `--namespaces-file` alone never reads a kubeconfig. */
function clusterOnDemand(kubeconfigFlag: string | undefined, env: NodeJS.ProcessEnv): ClusterOnDemand {
  let resolved: { cluster: ReturnType<ClusterOnDemand> } | undefined;
  return () => {
    if (!resolved) {
      const endpoint = clusterFromFlags(kubeconfigFlag, env);
      resolved = { cluster: endpoint && { endpoint, transport: new KubeTransport(endpoint) } };
    }
    return resolved.cluster;
  };
}

async function namespaceLabelSource(file: string | undefined, cluster: ClusterOnDemand, logger: Logger): Promise<NamespaceLabelSource> {
  if (file !== undefined) {
    return loadNamespacesFile(file);
  }
  const found = cluster();
  if (!found) {
    logger.warn('no cluster and no --namespaces-file: every namespace gets the default mode (fail closed)');
    return noNamespaceLabels();
  }
  const { endpoint, transport } = found;
  logger.info('watching namespaces', { server: endpoint.server.origin, from: endpoint.source });
  return startNamespaceCache(transport, {
    onEvent(event) {
      if (event.kind === 'synced') logger.info('namespace cache synced', { namespaces: event.namespaces });
      else logger.warn('namespace list/watch failed; lookups fall back to direct reads', { error: event.message, retryInMs: event.retryInMs });
    },
  });
}
