// `pidguard audit`: what would the policy reject or change among the objects
// that already run? One shot for people and CI, or --watch for Prometheus.

import { Counter, Gauge, Registry } from 'prom-client';
import { runAudit, type AuditRun } from '../audit/run-audit.js';
import type { AuditFinding, AuditReport, NamespaceReport } from '../audit/findings.js';
import { observedPodsFromReports } from '../audit/pids-enforcement.js';
import { DEFAULT_MAX_RESULTS, syncPolicyReports, type ReportSync } from '../audit/policy-reports.js';
import { KubeApiError, KubeTransport } from '../kube/transport.js';
import { createJsonLogger } from '../log.js';
import { startMetricsServer } from '../metrics-server.js';
import { durationFlag, integerFlag, namespaceFlag } from './args.js';
import { clusterFromFlags } from './cluster.js';
import { loadConfig } from './config-file.js';
import { EXIT } from './exit-codes.js';
import { commandHelp, parseCommandFlags, type FlagSpecs } from './flags.js';
import { InputBudget, InputError, readInputText } from '../input/yaml-input.js';
import { CliError, type CliIO, type Command } from './io.js';
import { untilTerminated } from './signals.js';
import { formatTable } from './table.js';

const FLAGS = {
  namespace: { type: 'string', short: 'n', value: 'NS', help: 'only this namespace', defaultText: 'all' },
  json: { type: 'boolean', help: 'print the report as JSON' },
  config: { type: 'string', value: 'FILE', help: 'policy configuration YAML', env: 'PIDGUARD_CONFIG', defaultText: 'built-in' },
  kubeconfig: { type: 'string', value: 'FILE', help: 'the cluster', env: 'KUBECONFIG', defaultText: 'in-cluster, then ~/.kube/config' },
  'page-size': { type: 'string', value: 'N', help: 'objects per list call, 1-5000', default: '500' },
  timeout: { type: 'string', value: 'DURATION', help: 'per API call', default: '30s' },
  watch: { type: 'boolean', help: 'audit every --interval and serve gauges on --metrics-port' },
  interval: { type: 'string', value: 'DURATION', help: 'with --watch', default: '5m' },
  'metrics-port': { type: 'string', value: 'N', help: 'with --watch: GET /metrics, GET /healthz', env: 'PIDGUARD_AUDIT_METRICS_PORT', default: '9092' },
  'policy-reports': {
    type: 'boolean',
    help: 'after each audit, keep one openreports.io Report named pidguard per namespace with findings (in place, by server-side apply; deleted when the namespace has none). Needs the Report CRD (manifests/components/policy-reports)',
  },
  'report-max-results': { type: 'string', value: 'N', help: 'with --policy-reports: results per Report, 1-1000, most severe first (the summary counts all)', default: String(DEFAULT_MAX_RESULTS) },
  'node-report': {
    type: 'string',
    multiple: true,
    value: 'FILE',
    help: 'output of `pidguard node --json` from a node; repeatable. Pods whose pidguard.io/pids-limit (as the agent resolves it: at most the ceiling, an invalid value replaced) is not in their cgroup\'s pids.max become findings; pods the policy would change that have none show their actual pids.max',
  },
} as const satisfies FlagSpecs;

const HELP = commandHelp({
  name: 'audit',
  usage: 'Usage: pidguard audit [flags]',
  about: `Lists every Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job and CronJob in the cluster (paginated), judges each
with the same policy engine as the webhook, and reports what enforce mode would
reject or change, grouped by namespace and owner (a Deployment's 40 pods are one
finding). Each namespace is shown with its mode (pidguard.io/mode label or the
configured default); findings in exempt namespaces (system namespaces, mode off)
are shown but do not count.`,
  flags: FLAGS,
});

export const auditCommand: Command = {
  name: 'audit',
  summary: 'Report what already runs in the cluster against the policy',
  flags: FLAGS,
  help: HELP,
  async run(argv, io) {
    const values = parseCommandFlags(argv, FLAGS, io.env);
    const options = {
      config: await loadConfig(values.config),
      ...(values.namespace !== undefined ? { namespace: namespaceFlag(values.namespace, '--namespace') } : {}),
      pageSize: integerFlag(values['page-size'], '--page-size', 1, 5000),
      timeoutMs: durationFlag(values.timeout, '--timeout', 1000),
      ...(values['node-report'] ? { observedPods: await readNodeReports(values['node-report']) } : {}),
    };
    const endpoint = clusterFromFlags(values.kubeconfig, io.env, EXIT.usage, { clientNodeAuth: true });
    if (!endpoint) throw new CliError('no cluster: pass --kubeconfig, set KUBECONFIG, or run in a pod', EXIT.usage);
    const transport = new KubeTransport(endpoint, { timeoutMs: options.timeoutMs });
    const maxResults = integerFlag(values['report-max-results'], '--report-max-results', 1, 1000);
    const audit = async (): Promise<AuditRun> => {
      try {
        return await runAudit(transport, options);
      } catch (error) {
        if (error instanceof KubeApiError) throw new CliError(error.message, EXIT.usage);
        throw error;
      }
    };
    const writeReports = values['policy-reports']
      ? async (report: AuditReport): Promise<ReportSync> => {
        try {
          return await syncPolicyReports(transport, report, { maxResults, namespace: options.namespace, pageSize: options.pageSize, nowSeconds: Math.floor(Date.now() / 1000) });
        } catch (error) {
          if (error instanceof KubeApiError) throw new CliError(`policy reports: ${error.message}${error.status === 404 ? ' (is the openreports.io Report CRD installed? manifests/components/policy-reports)' : ''}`, EXIT.usage);
          throw error;
        }
      }
      : undefined;

    if (values.watch) {
      const port = integerFlag(values['metrics-port'], '--metrics-port', 0, 65535);
      return watch(audit, writeReports, durationFlag(values.interval, '--interval', 1000), port, io);
    }
    const started = process.hrtime.bigint();
    const run = await audit();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    io.stdout.write(values.json ? `${JSON.stringify({ ...run.report, podsEvaluated: run.pods, seconds }, null, 2)}\n` : renderReport(run.report));
    if (writeReports) {
      const sync = await writeReports(run.report);
      io.stderr.write(`policy reports: ${sync.applied} written, ${sync.unchanged} unchanged, ${sync.deleted} deleted\n`);
      if (sync.errors.length > 0) throw new CliError(`policy reports not written:\n  ${sync.errors.join('\n  ')}`, EXIT.usage);
    }
    return run.report.summary.findings > 0 ? EXIT.findings : EXIT.ok;
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
      throw new InputError(`cannot read node report ${file}: ${(error as Error).message}`);
    }
    reports.push({ source: file, document });
  }
  try {
    return observedPodsFromReports(reports);
  } catch (error) {
    throw new InputError((error as Error).message);
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

/** One round of --policy-reports in --watch: a failure is logged and counted, and the next round tries again. */
async function syncReports(writeReports: (report: AuditReport) => Promise<ReportSync>, report: AuditReport, writes: Counter<'operation' | 'result'>, logger: ReturnType<typeof createJsonLogger>): Promise<void> {
  try {
    const sync = await writeReports(report);
    writes.inc({ operation: 'apply', result: 'success' }, sync.applied);
    writes.inc({ operation: 'delete', result: 'success' }, sync.deleted);
    if (sync.errors.length > 0) writes.inc({ operation: 'write', result: 'error' }, sync.errors.length);
    for (const error of sync.errors) logger.error('policy report not written', { error });
    logger.info('policy reports', { applied: sync.applied, unchanged: sync.unchanged, deleted: sync.deleted, errors: sync.errors.length });
  } catch (error) {
    writes.inc({ operation: 'list', result: 'error' });
    logger.error('policy reports not written', { error: (error as Error).message });
  }
}

/** Audits every interval until SIGTERM/SIGINT, exposing the findings as gauges. */
async function watch(audit: () => Promise<AuditRun>, writeReports: ((report: AuditReport) => Promise<ReportSync>) | undefined, intervalMs: number, port: number, io: CliIO): Promise<number> {
  const registry = new Registry();
  const findings = new Gauge({ name: 'pidguard_audit_findings', help: 'Audit findings by namespace, rule and namespace mode', labelNames: ['namespace', 'rule', 'mode', 'exempt'], registers: [registry] });
  const objects = new Gauge({ name: 'pidguard_audit_objects_evaluated', help: 'Objects evaluated by the last audit', registers: [registry] });
  const lastSuccess = new Gauge({ name: 'pidguard_audit_last_success_timestamp_seconds', help: 'When the last audit succeeded', registers: [registry] });
  const duration = new Gauge({ name: 'pidguard_audit_duration_seconds', help: 'How long the last audit took', registers: [registry] });
  const runs = new Counter({ name: 'pidguard_audit_runs_total', help: 'Audits run, by result', labelNames: ['result'], registers: [registry] });
  const reportWrites = new Counter({ name: 'pidguard_audit_policy_report_writes_total', help: 'openreports.io Report writes (--policy-reports), by operation (apply, delete) and result', labelNames: ['operation', 'result'], registers: [registry] });
  const logger = createJsonLogger(io.stderr, { fields: { component: 'audit' } });

  const server = await startMetricsServer({ registry, logger, port });
  logger.info('audit watch started', { port: server.port, intervalMs });

  let stopping = false;
  let wake: () => void = () => {};
  const stop = () => {
    stopping = true;
    wake();
  };
  void untilTerminated().then(stop);
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
      if (writeReports) await syncReports(writeReports, report, reportWrites, logger);
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
  await server.close();
  logger.info('audit watch stopped');
  return EXIT.ok;
}
