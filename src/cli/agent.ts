// `pidguard agent`: the DaemonSet process. Warms the libuv pool, then scans
// every --interval, enforces pidguard.io/pids-limit in pod cgroups (unless
// --no-enforce), serves /metrics and /healthz, and with a cluster records
// Events and the PIDPressureRisk node condition. --once scans a single time.

import { NamespaceLabelsCache } from '../kube/node-agent-namespaces.js';
import { NodePodWatch } from '../kube/node-agent-pods.js';
import { KubeNodeReporter } from '../kube/node-agent-reporter.js';
import { createJsonLogger } from '../log.js';
import { startMetricsServer } from '../metrics-server.js';
import { NodeAgent, warmThreadPool, type AgentLog, type AgentNamespaceLabels, type ClusterReporter } from '../node/agent.js';
import { readPodsFile, type NodePod } from '../node/pods.js';
import { ProcUnreadableError } from '../node/procfs.js';
import { loadConfig } from './config-file.js';
import { durationFlag, flagOrEnv, integerFlag, logLevelFlag, parseFlags } from './args.js';
import { EXIT, VERDICT_EXIT } from './exit-codes.js';
import { CliError, type CliIO, type Command } from './io.js';
import { untilTerminated } from './signals.js';
import { connectApi, NODE_SOURCE_FLAGS, resolveNodeSources } from './node-sources.js';

const HELP = `pidguard agent: node agent (run as a DaemonSet with hostPID and the host's /proc and cgroup mounts)

Usage: pidguard agent [flags]

Flags:
  --proc DIR              procfs root (default /proc)
  --cgroup-root DIR       cgroup mount root (default /sys/fs/cgroup)
  --node-name NAME        [NODE_NAME] this node (default: the host name)
  --interval DURATION     time between scans: 10s, 500ms, 1m (default 10s)
  --metrics-port PORT     [PIDGUARD_AGENT_METRICS_PORT] GET /metrics and /healthz (default 9091; 0 = any free port)
  --metrics-host ADDR     address to listen on (default 0.0.0.0)
  --no-enforce            detect and report only; never write pids.max
  --config FILE           [PIDGUARD_CONFIG] the policy config (YAML), the webhook's: pids.ceiling and
                          dotnet.pidsLimit decide what is written (default: built-in)
  --unenforced-grace DURATION
                          a pod whose cgroup is not found is reported only after this long (default 30s)
  --pods-file FILE        the node's pods as a JSON/YAML PodList instead of the API server
  --kubeconfig FILE       [KUBECONFIG] API server for the pod watch, Events and the node condition
                          (else in-cluster; without either the agent runs offline)
  --top N                 processes exported as metrics (default 10)
  --warning-ratio R       tasks/ceiling for a warning (default 0.7)
  --critical-ratio R      tasks/ceiling for critical (default 0.9)
  --once                  scan once, report, and exit with the verdict's code (0 ok, 1 warning, 2 critical, 3 unreadable)
  --log-level LEVEL       debug, info, warn, error (default info)

Writes min(pidguard.io/pids-limit, ceiling) into each pod cgroup's pids.max, only ever lowering
it; the ceiling is the namespace's pidguard.io/pids-limit-ceiling label (read with GET, cached
60s) or pids.ceiling; an invalid annotation means min(dotnet.pidsLimit, ceiling). A pod whose
limit is adjusted or cannot be applied is logged (warn), counted, given an Event, and the
latter sets the PIDPressureRisk node condition (reason PidsLimitNotEnforced).
Finds pod cgroups from its own cgroup namespace too (unshare -C, containerd on cgroup v2).
Never forks or execs, and creates no thread after start-up.
`;

export const agentCommand: Command = {
  name: 'agent',
  summary: 'Node agent: measure PIDs, enforce pids-limit in cgroups, export metrics',
  help: HELP,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values } = parseFlags(argv, {
      ...NODE_SOURCE_FLAGS,
      interval: { type: 'string' },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string' },
      'no-enforce': { type: 'boolean' },
      'unenforced-grace': { type: 'string' },
      top: { type: 'string' },
      once: { type: 'boolean' },
      'log-level': { type: 'string' },
    });
    const sources = resolveNodeSources(values, io.env);
    const intervalMs = durationFlag(values.interval ?? '10s', '--interval');
    const metricsPort = integerFlag(flagOrEnv(values['metrics-port'], io.env, 'PIDGUARD_AGENT_METRICS_PORT', '9091'), '--metrics-port', 0, 65535);
    const top = integerFlag(values.top ?? '10', '--top', 1, 1000);
    const unenforcedGraceMs = durationFlag(values['unenforced-grace'] ?? '30s', '--unenforced-grace', 0);
    const config = await loadConfig(flagOrEnv(values.config, io.env, 'PIDGUARD_CONFIG'));
    const logLevel = logLevelFlag(values['log-level'] ?? 'info');
    const logger = createJsonLogger(io.stderr, { minimum: logLevel, fields: { component: 'agent' } });
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
        api = connectApi(sources, io.env, false);
      } catch (error) {
        throw new CliError((error as Error).message, EXIT.usage);
      }
      if (api) {
        const connected = api;
        const watch = new NodePodWatch(connected, sources.nodeName, { onError: (message) => log('warn', 'pod watch failed; retrying', { error: message }) });
        await watch.start().catch((error: Error) => log('warn', 'pod list failed; the watch keeps retrying', { error: error.message }));
        pods = () => watch.pods();
        stopWatch = async () => {
          await watch.stop();
          connected.close();
        };
        reporter = new KubeNodeReporter(connected, sources.nodeName);
        namespaceLabels = new NamespaceLabelsCache(connected);
      } else {
        log('warn', 'no kubeconfig and not in a cluster: pods are known by UID only, no annotations to enforce, no Events', {});
      }
    }

    const agent = new NodeAgent({
      procRoot: sources.procRoot,
      cgroupRoot: sources.cgroupRoot,
      nodeName: sources.nodeName,
      thresholds: sources.thresholds,
      top,
      enforce: !values['no-enforce'],
      pods,
      config,
      unenforcedGraceMs,
      ...(namespaceLabels ? { namespaceLabels } : {}),
      ...(reporter ? { reporter } : {}),
      log,
    });
    if (!namespaceLabels) log('info', 'no API server: namespace pids-limit-ceiling labels are not read; pids.ceiling applies to every pod', { ceiling: config.pids.ceiling });

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

    const metricsHost = values['metrics-host'] ?? '0.0.0.0';
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
      ceiling: config.pids.ceiling,
      intervalMs,
      metricsPort: http.port,
      pods: sources.podsFile ? `file ${sources.podsFile}` : reporter ? 'API server watch' : 'none',
    });
    agent.start(intervalMs);
    await untilTerminated();
    log('info', 'agent stopping', {});
    await agent.stop();
    await stopWatch?.();
    await http.close();
    return EXIT.ok;
  },
};
