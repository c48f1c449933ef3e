// `pidguard audit`: what would the policy reject or change among the objects
// that already run? One shot for people and CI, or --watch for Prometheus.

import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { runAudit, type AuditRun } from '../audit/run-audit.js';
import type { AuditFinding, AuditReport, NamespaceReport } from '../audit/findings.js';
import { observedPodsFromReports } from '../audit/pids-enforcement.js';
import { KubeRequestError } from '../kube/paged-list.js';
import { createJsonLogger } from '../log.js';
import { durationFlag, flagOrEnv, integerFlag, parseFlags } from './args.js';
import { clusterFromFlags } from './cluster.js';
import { loadConfig } from './config-file.js';
import { InputBudget, readInputText } from '../input/yaml-input.js';
import { CliError, type CliIO, type Command } from './io.js';
import { formatTable } from './table.js';

export const FINDINGS_EXIT = 1;
export const AUDIT_ERROR_EXIT = 2;

const HELP = `Usage: pidguard audit [flags]

Lists every Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job and CronJob in the cluster (paginated), judges each
with the same policy engine as the webhook, and reports what enforce mode would
reject or change, grouped by namespace and owner (a Deployment's 40 pods are one
finding). Each namespace is shown with its mode (pidguard.io/mode label or the
configured default); findings in exempt namespaces (system namespaces, mode off)
are shown but do not count.

Flags:
  -n, --namespace <ns>     only this namespace (default: all)
      --json               print the report as JSON
      --config <file>      policy configuration YAML [PIDGUARD_CONFIG] (default: built-in)
      --kubeconfig <file>  [KUBECONFIG] (default: in-cluster, then ~/.kube/config)
      --page-size <n>      objects per list call, 1-5000 (default 500)
      --timeout <dur>      per API call (default 30s)
      --watch              audit every --interval and serve gauges on --metrics-port
      --interval <dur>     with --watch (default 5m)
      --metrics-port <n>   with --watch: GET /metrics, GET /healthz [PIDGUARD_AUDIT_METRICS_PORT] (default 9092)
      --node-report <file> output of \`pidguard node --json\` from a node; repeatable. Pods whose
                           pidguard.io/pids-limit (as the agent resolves it: at most the ceiling,
                           an invalid value replaced) is not in their cgroup's pids.max become findings;
                           pods the policy would change that have none show their actual pids.max
  -h, --help               this help

Exit codes: 0 no findings, 1 findings, 2 error (unreachable API server, missing
permission: the message names the verb and resource refused, timeout, bad flags).
`;

export const auditCommand: Command = {
  name: 'audit',
  summary: 'Report what already runs in the cluster against the policy',
  help: HELP,
  async run(argv, io) {
    const { values } = parseFlags(argv, {
      namespace: { type: 'string', short: 'n' },
      json: { type: 'boolean', default: false },
      config: { type: 'string' },
      kubeconfig: { type: 'string' },
      'page-size': { type: 'string', default: '500' },
      timeout: { type: 'string', default: '30s' },
      watch: { type: 'boolean', default: false },
      interval: { type: 'string', default: '5m' },
      'metrics-port': { type: 'string' },
      'node-report': { type: 'string', multiple: true },
    });
    const options = {
      config: await loadConfig(flagOrEnv(values.config, io.env, 'PIDGUARD_CONFIG')),
      ...(values.namespace ? { namespace: values.namespace } : {}),
      pageSize: integerFlag(values['page-size'], '--page-size', 1, 5000),
      timeoutMs: durationFlag(values.timeout, '--timeout', 1000),
      ...(values['node-report'] ? { observedPods: await readNodeReports(values['node-report']) } : {}),
    };
    const kubeConfig = clusterFromFlags(values.kubeconfig, io.env, AUDIT_ERROR_EXIT);
    if (!kubeConfig) throw new CliError('no cluster: pass --kubeconfig, set KUBECONFIG, or run in a pod', AUDIT_ERROR_EXIT);
    const audit = async (): Promise<AuditRun> => {
      try {
        return await runAudit(kubeConfig, options);
      } catch (error) {
        if (error instanceof KubeRequestError) throw new CliError(error.message, AUDIT_ERROR_EXIT);
        throw error;
      }
    };

    if (values.watch) {
      const port = integerFlag(flagOrEnv(values['metrics-port'], io.env, 'PIDGUARD_AUDIT_METRICS_PORT', '9092'), '--metrics-port', 0, 65535);
      return watch(audit, durationFlag(values.interval, '--interval', 1000), port, io);
    }
    const started = process.hrtime.bigint();
    const run = await audit();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    io.stdout.write(values.json ? `${JSON.stringify({ ...run.report, podsEvaluated: run.pods, seconds }, null, 2)}\n` : renderReport(run.report));
    return run.report.summary.findings > 0 ? FINDINGS_EXIT : 0;
  },
};

/** All --node-report files together: a node report is a few MiB even with every pod of a full node. */
export const MAX_NODE_REPORTS_BYTES = 256 * 1024 * 1024;

async function readNodeReports(files: string[]) {
  const reports = [];
  const budget = new InputBudget(MAX_NODE_REPORTS_BYTES, files.length, 'audit fewer nodes at once');
  for (const file of files) {
    const text = await readInputText(file, undefined, budget, `node report ${file}`);
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw new CliError(`cannot read node report ${file}: ${(error as Error).message}`, AUDIT_ERROR_EXIT);
    }
    reports.push({ source: file, document });
  }
  try {
    return observedPodsFromReports(reports);
  } catch (error) {
    throw new CliError((error as Error).message, AUDIT_ERROR_EXIT);
  }
}

function renderReport(report: AuditReport): string {
  const namespaceRows = report.namespaces.map((ns) => [
    ns.name,
    modeOf(ns),
    String(ns.objectsEvaluated),
    String(ns.findings.length),
  ]);
  const findings = report.namespaces.flatMap((ns) => ns.findings.map((f) => ({ ns, f })));
  const parts = [formatTable(['namespace', 'mode', 'objects', 'findings'], namespaceRows)];
  if (findings.length > 0) {
    const rows = findings.map(({ ns, f }) => [
      ns.name + (ns.exemptBecause ? ' (exempt)' : ''),
      `${f.owner.kind}/${f.owner.name}`,
      f.ruleId,
      objectsOf(f),
      f.reason,
    ]);
    parts.push(formatTable(['namespace', 'owner', 'rule', 'objects', 'reason'], rows));
    parts.push(findings.map(({ ns, f }) => `${ns.name} ${f.owner.kind}/${f.owner.name} ${f.ruleId}: ${f.detail}\n`).join(''));
  }
  for (const ns of report.namespaces) if (ns.warning) parts.push(`warning: ${ns.warning}\n`);
  const { summary } = report;
  const exempt = summary.exemptFindings > 0 ? ` (${summary.exemptFindings} more in exempt namespaces)` : '';
  parts.push(`${summary.findings} finding${summary.findings === 1 ? '' : 's'}${exempt}; ${summary.objectsEvaluated} objects in ${summary.namespaces} namespaces evaluated\n`);
  return parts.join('\n');
}

function modeOf(ns: NamespaceReport): string {
  const source = ns.exemptBecause ? `exempt: ${ns.exemptBecause}` : ns.modeSource;
  return `${ns.mode} (${source})`;
}

function objectsOf(finding: AuditFinding): string {
  return Object.entries(finding.objects)
    .map(([kind, count]) => `${count} ${kind}`)
    .join(', ');
}

/** Audits every interval until SIGTERM/SIGINT, exposing the findings as gauges. */
async function watch(audit: () => Promise<AuditRun>, intervalMs: number, port: number, io: CliIO): Promise<number> {
  const registry = new Registry();
  const findings = new Gauge({ name: 'pidguard_audit_findings', help: 'Audit findings by namespace, rule and namespace mode', labelNames: ['namespace', 'rule', 'mode', 'exempt'], registers: [registry] });
  const objects = new Gauge({ name: 'pidguard_audit_objects_evaluated', help: 'Objects evaluated by the last audit', registers: [registry] });
  const lastSuccess = new Gauge({ name: 'pidguard_audit_last_success_timestamp_seconds', help: 'When the last audit succeeded', registers: [registry] });
  const duration = new Gauge({ name: 'pidguard_audit_duration_seconds', help: 'How long the last audit took', registers: [registry] });
  const runs = new Counter({ name: 'pidguard_audit_runs_total', help: 'Audits run, by result', labelNames: ['result'], registers: [registry] });
  const logger = createJsonLogger(io.stderr, { fields: { component: 'audit' } });

  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
    } else if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, resolve));
  logger.info('audit watch started', { port: (server.address() as { port: number }).port, intervalMs });

  let stopping = false;
  let wake: () => void = () => {};
  const stop = () => {
    stopping = true;
    wake();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  while (!stopping) {
    const started = process.hrtime.bigint();
    try {
      const { report } = await audit();
      findings.reset();
      for (const ns of report.namespaces) {
        const byRule = new Map<string, number>();
        for (const f of ns.findings) byRule.set(f.ruleId, (byRule.get(f.ruleId) ?? 0) + 1);
        for (const [rule, count] of byRule) findings.set({ namespace: ns.name, rule, mode: ns.mode, exempt: String(Boolean(ns.exemptBecause)) }, count);
      }
      objects.set(report.summary.objectsEvaluated);
      lastSuccess.set(Date.now() / 1000);
      runs.inc({ result: 'success' });
      logger.info('audit finished', { findings: report.summary.findings, exemptFindings: report.summary.exemptFindings, objects: report.summary.objectsEvaluated });
    } catch (error) {
      runs.inc({ result: 'error' });
      logger.error('audit failed', { error: (error as Error).message });
    }
    duration.set(Number(process.hrtime.bigint() - started) / 1e9);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, intervalMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
  logger.info('audit watch stopped');
  return 0;
}
