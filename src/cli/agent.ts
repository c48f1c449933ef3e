// `pidguard agent`: the DaemonSet process. Warms the libuv pool, then scans
// every --interval, enforces pidguard.io/pids-limit in pod cgroups (unless
// --no-enforce), serves /metrics and /healthz, and with a cluster records
// Events and the PIDPressureRisk node condition. --once scans a single time.

import { createJsonLogger } from '../log.js';
import { startMetricsServer } from '../metrics-server.js';
import { NodeAgent, warmThreadPool, type AgentLog, type AgentNamespaceLabels, type ClusterReporter } from '../node/agent.js';
import { NamespaceLabelsCache } from '../node/agent-namespaces.js';
import { NodePodWatch } from '../node/agent-pod-watch.js';
import { KubeNodeReporter } from '../node/agent-reporter.js';
import { NodePolicyReports } from '../node/agent-policy-reports.js';
import { readPodsFile, type NodePod } from '../node/pods.js';
import { ProcUnreadableError } from '../node/procfs.js';
import { CONFIG_CHECK_INTERVAL_FLAG, LiveConfig } from './config-file.js';
import { durationFlag, integerFlag, logLevelFlag } from './args.js';
import { EXIT, VERDICT_EXIT } from './exit-codes.js';
import { commandHelp, parseCommandFlags, type FlagSpecs } from './flags.js';
import { CliError, type CliIO, type Command } from './io.js';
import { untilTerminated } from './signals.js';
import { connectApi, NODE_SOURCE_FLAGS, resolveNodeSources } from './node-sources.js';

const FLAGS = {
  ...NODE_SOURCE_FLAGS,
  interval: { type: 'string', value: 'DURATION', help: 'time between scans: 10s, 500ms, 1m', default: '10s' },
  'metrics-port': { type: 'string', value: 'PORT', help: 'GET /metrics and /healthz; 0 = any free port', env: 'PIDGUARD_AGENT_METRICS_PORT', default: '9091' },
  'metrics-host': { type: 'string', value: 'ADDR', help: 'address to listen on', default: '0.0.0.0' },
  'no-enforce': { type: 'boolean', help: 'detect and report only; never write pids.max' },
  config: { type: 'string', value: 'FILE', help: "the policy config (YAML), the webhook's: pids.ceiling and dotnet.pidsLimit decide what is written", env: 'PIDGUARD_CONFIG', defaultText: 'built-in' },
  'config-check-interval': CONFIG_CHECK_INTERVAL_FLAG,
  'unenforced-grace': { type: 'string', value: 'DURATION', help: 'a pod whose cgroup is not found is reported only after this long', default: '30s' },
  kubeconfig: { type: 'string', value: 'FILE', help: 'API server for the pod watch, Events and the node condition (else in-cluster, else ~/.kube/config; without any the agent runs offline)', env: 'KUBECONFIG' },
  'policy-reports': { type: 'boolean', help: "keep one openreports.io Report pidguard-node-<node> per namespace with pods whose pids-limit is not enforced here" },
  top: { type: 'string', value: 'N', help: 'processes exported as metrics', default: '10' },
  once: { type: 'boolean', help: "scan once, report, and exit with the verdict's code" },
  'log-level': { type: 'string', value: 'LEVEL', help: 'debug, info, warn, error', default: 'info' },
} as const satisfies FlagSpecs;

const HELP = commandHelp({
  name: 'agent',
  usage: 'Usage: pidguard agent [flags]',
  about: "pidguard agent: node agent (run as a DaemonSet with hostPID and the host's /proc and cgroup mounts)",
  flags: FLAGS,
  notes: `Writes min(pidguard.io/pids-limit, ceiling) into each pod cgroup's pids.max, only ever lowering
it; the ceiling is the namespace's pidguard.io/pids-limit-ceiling label (read with GET, cached
60s) or pids.ceiling; an invalid annotation means min(dotnet.pidsLimit, ceiling). A pod whose
limit is adjusted or cannot be applied is logged (warn), counted, given an Event, and the
latter sets the PIDPressureRisk node condition (reason PidsLimitNotEnforced).
Finds pod cgroups from its own cgroup namespace too (unshare -C, containerd on cgroup v2).
The --config file is checked every --config-check-interval; a valid change applies from the
next scan, an invalid one is logged as an error and counted, and the config in use stays.
Never forks or execs, and creates no thread after start-up.`,
});

export const agentCommand: Command = {
  name: 'agent',
  summary: 'Node agent: measure PIDs, enforce pids-limit in cgroups, export metrics',
  flags: FLAGS,
  help: HELP,
  async run(argv: string[], io: CliIO): Promise<number> {
    const values = parseCommandFlags(argv, FLAGS, io.env);
    const sources = resolveNodeSources(values);
    const intervalMs = durationFlag(values.interval, '--interval');
    const metricsPort = integerFlag(values['metrics-port'], '--metrics-port', 0, 65535);
    const top = integerFlag(values.top, '--top', 1, 1000);
    const unenforcedGraceMs = durationFlag(values['unenforced-grace'], '--unenforced-grace', 0);
    const configCheckMs = durationFlag(values['config-check-interval'], '--config-check-interval', 0, 3_600_000);
    const logLevel = logLevelFlag(values['log-level']);
    const logger = createJsonLogger(io.stderr, { minimum: logLevel, fields: { component: 'agent' } });
    const config = await LiveConfig.load(values.config, logger);
    const log: AgentLog = (level, message, fields) => logger[level](message, fields);

    // First, while the node may still have PIDs: every libuv pool thread this process will ever use.
    const poolSize = integerFlag(io.env.UV_THREADPOOL_SIZE ?? '4', 'UV_THREADPOOL_SIZE', 1, 1024);
    await warmThreadPool(poolSize);

    let pods: () => readonly NodePod[] = () => [];
    let reporter: ClusterReporter | undefined;
    let namespaceLabels: AgentNamespaceLabels | undefined;
    let stopWatch: (() => Promise<void>) | undefined;
    if (sources.podsFile) {
      const fromFile = readPodsFile(sources.podsFile);
      pods = () => fromFile;
    } else {
      let api;
      try {
        api = connectApi(sources, io.env);
      } catch (error) {
        throw new CliError((error as Error).message, EXIT.usage);
      }
      if (api) {
        const connected = api;
        const watch = new NodePodWatch(connected, sources.nodeName, { onError: (message: string) => log('warn', 'pod watch failed; retrying', { error: message }) });
        await watch.start().catch((error: Error) => log('warn', 'pod list failed; the watch keeps retrying', { error: error.message }));
        pods = () => watch.pods();
        stopWatch = async () => {
          await watch.stop();
          connected.close();
        };
        reporter = new KubeNodeReporter(connected, sources.nodeName, undefined, values['policy-reports'] ? new NodePolicyReports(connected, sources.nodeName) : undefined);
        namespaceLabels = new NamespaceLabelsCache(connected);
      } else {
        log('warn', 'no kubeconfig and not in a cluster: pods are known by UID only, no annotations to enforce, no Events', {});
      }
    }

    if (values['policy-reports'] && !reporter) log('warn', '--policy-reports needs the API server (not --pods-file, not offline): no Reports are written', {});
    const agent = new NodeAgent({
      procRoot: sources.procRoot,
      cgroupRoot: sources.cgroupRoot,
      nodeName: sources.nodeName,
      thresholds: sources.thresholds,
      top,
      enforce: !values['no-enforce'],
      pods,
      config: () => config.current(),
      unenforcedGraceMs,
      ...(namespaceLabels ? { namespaceLabels } : {}),
      ...(reporter ? { reporter } : {}),
      log,
    });
    if (!namespaceLabels) log('info', 'no API server: namespace pids-limit-ceiling labels are not read; pids.ceiling applies to every pod', { ceiling: config.current().pids.ceiling });

    if (values.once) {
      try {
        const result = await agent.scanOnce();
        log('info', 'scan complete', {
          verdict: result.verdict.level,
          summary: result.verdict.summary,
          enforcement: result.enforcement.map((action) => ({ pod: action.pod, outcome: action.outcome, limit: action.limit, reason: action.reason, ...(action.adjustment ? { adjustment: action.adjustment } : {}) })),
        });
        return VERDICT_EXIT[result.verdict.level];
      } catch (error) {
        if (error instanceof ProcUnreadableError) throw new CliError(error.message, EXIT.unreadable);
        throw error;
      } finally {
        await stopWatch?.();
      }
    }

    const metricsHost = values['metrics-host'];
    const healthyWithinMs = intervalMs * 3 + 5000;
    const http = await startMetricsServer({
      registry: agent.metrics.registry,
      logger,
      unhealthy: () => (agent.healthy(healthyWithinMs) ? undefined : 'no successful scan recently'),
      port: metricsPort,
      host: metricsHost,
    }).catch(async (error: Error) => {
      await stopWatch?.();
      throw new CliError(`cannot start: metrics port ${metricsHost}:${metricsPort}: ${error.message}`, EXIT.cannotStart);
    });
    log('info', 'agent started', {
      node: sources.nodeName,
      proc: sources.procRoot,
      cgroupRoot: sources.cgroupRoot,
      enforce: !values['no-enforce'],
      ceiling: config.current().pids.ceiling,
      intervalMs,
      metricsPort: http.port,
      pods: sources.podsFile ? `file ${sources.podsFile}` : reporter ? 'API server watch' : 'none',
    });
    config.register(agent.metrics.registry);
    config.start(configCheckMs);
    agent.start(intervalMs);
    await untilTerminated();
    log('info', 'agent stopping', {});
    config.stop();
    await agent.stop();
    await stopWatch?.();
    await http.close();
    return EXIT.ok;
  },
};
