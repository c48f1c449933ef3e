// `pidguard serve`: the admission webhook. Reads flags and environment here
// (and only here), builds the namespace label source, and runs the server
// until SIGTERM/SIGINT (SIGHUP reloads the certificate).

import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadNamespacesFile } from '../kube/namespace-file.js';
import { noNamespaceLabels, type NamespaceLabelSource } from '../kube/namespace-labels.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../webhook/admission-endpoint.js';
import { createJsonLogger, type Logger } from '../log.js';
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from '../webhook/limits.js';
import { startWebhookServer } from '../webhook/server.js';
import { durationFlag, flagOrEnv, integerFlag, logLevelFlag, parseFlags } from './args.js';
import { loadConfig } from './config-file.js';
import { EXIT } from './exit-codes.js';
import { CliError, type Command } from './io.js';
import { untilTerminated } from './signals.js';

const HELP = `pidguard serve: run the admission webhook server

Usage: pidguard serve [flags]

HTTPS endpoints: POST /mutate, POST /validate, GET /healthz, GET /readyz.
Metrics: GET /metrics (plain HTTP) on the metrics port.

Flags (environment variable in brackets):
  --port N               HTTPS port [PIDGUARD_PORT] (default 8443)
  --metrics-port N       metrics port [PIDGUARD_METRICS_PORT] (default 9090)
  --address ADDR         interface to listen on [PIDGUARD_ADDRESS] (default: all)
  --tls-cert PATH        serving certificate (PEM, may hold a chain) [PIDGUARD_TLS_CERT] (default certs/tls.crt)
  --tls-key PATH         its private key (PEM) [PIDGUARD_TLS_KEY] (default certs/tls.key)
  --generate-dev-cert    if the certificate and key are both missing, create a development CA
                         (ca.crt, ca.key) and a certificate for localhost next to them
  --config PATH          policy configuration (YAML) [PIDGUARD_CONFIG] (default: built-in)
  --namespaces-file PATH static namespace labels (YAML: name -> labels, or a NamespaceList)
                         [PIDGUARD_NAMESPACES_FILE]; wins over a cluster
  --kubeconfig PATH      cluster to watch namespaces in [KUBECONFIG]; in a pod the
                         in-cluster configuration is used when neither is given
  --shutdown-delay D     after SIGTERM, keep serving this long with /readyz answering 503
                         [PIDGUARD_SHUTDOWN_DELAY] (default 0s; e.g. 5s in a cluster)
  --body-budget-mib N    request body MiB held at once, all requests together; beyond it the
                         largest bodies still arriving get 503 [PIDGUARD_BODY_BUDGET_MIB] (default 64, min 7)
  --max-connections N    open connections per port; more are closed at once [PIDGUARD_MAX_CONNECTIONS] (default 512)
  --handshake-timeout D  TLS handshake [PIDGUARD_HANDSHAKE_TIMEOUT] (default 5s)
  --headers-timeout D    a request's headers [PIDGUARD_HEADERS_TIMEOUT] (default 5s)
  --request-timeout D    a request's headers and body [PIDGUARD_REQUEST_TIMEOUT] (default 10s)
  --log-level LEVEL      debug, info, warn or error [PIDGUARD_LOG_LEVEL] (default info)

Without --namespaces-file or a cluster every namespace gets the default mode from the
config, with a warning (fail closed). The certificate and key are reloaded when their
files change. SIGTERM or SIGINT: /readyz turns 503, the listener closes after --shutdown-delay,
reviews in progress finish, the process exits 0.
`;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Run the admission webhook server (HTTPS)',
  help: HELP,
  async run(argv, io) {
    const { values } = parseFlags(argv, {
      port: { type: 'string' },
      'metrics-port': { type: 'string' },
      address: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'generate-dev-cert': { type: 'boolean' },
      config: { type: 'string' },
      'namespaces-file': { type: 'string' },
      kubeconfig: { type: 'string' },
      'log-level': { type: 'string' },
      'shutdown-delay': { type: 'string' },
      'body-budget-mib': { type: 'string' },
      'max-connections': { type: 'string' },
      'handshake-timeout': { type: 'string' },
      'headers-timeout': { type: 'string' },
      'request-timeout': { type: 'string' },
    });
    const env = io.env;
    const port = integerFlag(flagOrEnv(values.port, env, 'PIDGUARD_PORT', '8443'), '--port', 0, 65535);
    const metricsPort = integerFlag(flagOrEnv(values['metrics-port'], env, 'PIDGUARD_METRICS_PORT', '9090'), '--metrics-port', 0, 65535);
    const certPath = flagOrEnv(values['tls-cert'], env, 'PIDGUARD_TLS_CERT', 'certs/tls.crt');
    const keyPath = flagOrEnv(values['tls-key'], env, 'PIDGUARD_TLS_KEY', 'certs/tls.key');
    const shutdownDelayMs = durationFlag(flagOrEnv(values['shutdown-delay'], env, 'PIDGUARD_SHUTDOWN_DELAY', '0s'), '--shutdown-delay', 0, 60_000);
    const limits = limitFlags(values, env);
    const logLevel = logLevelFlag(flagOrEnv(values['log-level'], env, 'PIDGUARD_LOG_LEVEL', 'info'));
    const logger = createJsonLogger(io.stderr, { minimum: logLevel, batch: true });

    const config = await loadConfig(flagOrEnv(values.config, env, 'PIDGUARD_CONFIG'));
    if (values['generate-dev-cert']) await generateDevCertificateIfAbsent(certPath, keyPath, logger);
    const namespaceLabels = await namespaceLabelSource(
      flagOrEnv(values['namespaces-file'], env, 'PIDGUARD_NAMESPACES_FILE'),
      flagOrEnv(values.kubeconfig, env, 'KUBECONFIG'),
      env,
      logger,
    );

    let server;
    try {
      server = await startWebhookServer({
        config, namespaceLabels, logger, certPath, keyPath, port, metricsPort,
        host: flagOrEnv(values.address, env, 'PIDGUARD_ADDRESS'),
        bodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES,
        limits,
        shutdownDelayMs,
      });
    } catch (error) {
      await namespaceLabels.stop();
      throw new CliError(`cannot start: ${(error as Error).message}`, EXIT.cannotStart);
    }
    const running = server;
    await untilTerminated({
      onHangup() {
        logger.info('SIGHUP: reading the serving certificate files again');
        void running.reloadCertificate().then((result) => {
          if (result === 'unchanged') logger.info('SIGHUP: the serving certificate files are unchanged');
        });
      },
    });
    await server.shutdown();
    return EXIT.ok;
  },
};

const MIB = 1024 * 1024;

function limitFlags(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): ServerLimits {
  const flag = (name: string, variable: string, fallback: string) => flagOrEnv(values[name] as string | undefined, env, variable, fallback);
  const seconds = (ms: number) => `${ms / 1000}s`;
  const limits: ServerLimits = {
    bodyBytesInFlight: MIB * integerFlag(flag('body-budget-mib', 'PIDGUARD_BODY_BUDGET_MIB', String(DEFAULT_SERVER_LIMITS.bodyBytesInFlight / MIB)), '--body-budget-mib', Math.ceil(DEFAULT_BODY_LIMIT_BYTES / MIB), 4096),
    maxConnections: integerFlag(flag('max-connections', 'PIDGUARD_MAX_CONNECTIONS', String(DEFAULT_SERVER_LIMITS.maxConnections)), '--max-connections', 1, 65_535),
    handshakeTimeoutMs: durationFlag(flag('handshake-timeout', 'PIDGUARD_HANDSHAKE_TIMEOUT', seconds(DEFAULT_SERVER_LIMITS.handshakeTimeoutMs)), '--handshake-timeout', 100, 120_000),
    headersTimeoutMs: durationFlag(flag('headers-timeout', 'PIDGUARD_HEADERS_TIMEOUT', seconds(DEFAULT_SERVER_LIMITS.headersTimeoutMs)), '--headers-timeout', 100, 120_000),
    requestTimeoutMs: durationFlag(flag('request-timeout', 'PIDGUARD_REQUEST_TIMEOUT', seconds(DEFAULT_SERVER_LIMITS.requestTimeoutMs)), '--request-timeout', 100, 120_000),
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

async function namespaceLabelSource(file: string | undefined, kubeconfig: string | undefined, env: NodeJS.ProcessEnv, logger: Logger): Promise<NamespaceLabelSource> {
  if (file !== undefined) return loadNamespacesFile(file);
  // ~/.kube/config is deliberately not used: a server must not pick up whatever cluster a developer last used.
  const inCluster = env.KUBERNETES_SERVICE_HOST !== undefined;
  if (kubeconfig === undefined && !inCluster) {
    logger.warn('no cluster and no --namespaces-file: every namespace gets the default mode (fail closed)');
    return noNamespaceLabels();
  }
  // Loaded only when a cluster is configured: @kubernetes/client-node alone adds ~70 MiB of RSS.
  const [{ loadKubeConfig }, { startNamespaceCache }] = await Promise.all([import('../kube/client.js'), import('../kube/namespace-cache.js')]);
  let kubeConfig;
  try {
    kubeConfig = loadKubeConfig({ kubeconfig, inCluster });
  } catch (error) {
    throw new CliError(`cannot load the cluster configuration: ${(error as Error).message}`, EXIT.usage);
  }
  if (!kubeConfig) throw new CliError('no cluster configuration found', EXIT.usage);
  logger.info('watching namespaces', { server: kubeConfig.getCurrentCluster()?.server });
  return startNamespaceCache(kubeConfig, {
    onEvent(event) {
      if (event.kind === 'synced') logger.info('namespace cache synced', { namespaces: event.namespaces });
      else logger.warn('namespace list/watch failed; lookups fall back to direct reads', { error: event.message, retryInMs: event.retryInMs });
    },
  });
}
