// `pidguard node`: one-shot triage of a node in a PID incident. Reads /proc and
// the cgroup tree (or a captured fixture), names the processes and pods holding
// the threads, and says what to do. Exit 0 ok, 1 warning, 2 critical, 3 unreadable.

import { hostname } from 'node:os';
import { join } from 'node:path';
import { KubeApi, loadApiEndpoint } from '../kube/node-agent-api.js';
import { NamespaceLabelsCache } from '../kube/node-agent-namespaces.js';
import { listNodePods } from '../kube/node-agent-pods.js';
import { readPodsFile, PodsFileError, type NodePod } from '../node/pods.js';
import type { PolicyConfig } from '../policy/config.js';
import { PIDS_LIMIT_ANNOTATION } from '../policy/keys.js';
import { resolvePidsLimit } from '../policy/pids-budget.js';
import { ProcUnreadableError } from '../node/procfs.js';
import { scanNode, type NodeScan, type PodUsage } from '../node/scan.js';
import { budgetOf, EXIT_CODES, formatCount, formatPercent, judgeNode, podLabel, thresholdsError, type Thresholds, type Verdict } from '../node/verdict.js';
import { flagOrEnv, integerFlag, parseFlags, ratioFlag, USAGE_EXIT } from './args.js';
import { loadConfig } from './config-file.js';
import { CliError, type CliIO, type Command } from './io.js';
import { formatTable, printable, terminalSafeJson } from './table.js';

/** Flags `node` and `agent` share: where the node's files are and where its pods come from. */
export const NODE_SOURCE_FLAGS = {
  proc: { type: 'string' },
  'cgroup-root': { type: 'string' },
  sys: { type: 'string' },
  'pods-file': { type: 'string' },
  config: { type: 'string' },
  kubeconfig: { type: 'string' },
  'node-name': { type: 'string' },
  'warning-ratio': { type: 'string' },
  'critical-ratio': { type: 'string' },
} as const;

export interface NodeSources {
  procRoot: string;
  cgroupRoot: string;
  podsFile?: string;
  kubeconfig?: string;
  nodeName: string;
  thresholds: Thresholds;
}

type SourceValues = { [K in keyof typeof NODE_SOURCE_FLAGS]?: string };

export function resolveNodeSources(values: SourceValues, env: NodeJS.ProcessEnv): NodeSources {
  if (values.sys !== undefined && values['cgroup-root'] !== undefined) {
    throw new CliError('give --sys or --cgroup-root, not both', USAGE_EXIT);
  }
  const thresholds: Thresholds = {
    warningRatio: ratioFlag(values['warning-ratio'] ?? '0.7', '--warning-ratio'),
    criticalRatio: ratioFlag(values['critical-ratio'] ?? '0.9', '--critical-ratio'),
  };
  const problem = thresholdsError(thresholds);
  if (problem) throw new CliError(`--warning-ratio/--critical-ratio: ${problem}`, USAGE_EXIT);
  const nodeName = flagOrEnv(values['node-name'], env, 'NODE_NAME', hostname());
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(nodeName)) throw new CliError(`--node-name/NODE_NAME "${nodeName}" is not a valid node name`, USAGE_EXIT);
  const sources: NodeSources = {
    procRoot: values.proc ?? '/proc',
    cgroupRoot: values['cgroup-root'] ?? (values.sys !== undefined ? join(values.sys, 'fs/cgroup') : '/sys/fs/cgroup'),
    nodeName,
    thresholds,
  };
  if (values['pods-file'] !== undefined) sources.podsFile = values['pods-file'];
  const kubeconfig = flagOrEnv(values.kubeconfig, env, 'KUBECONFIG');
  if (kubeconfig) sources.kubeconfig = kubeconfig;
  return sources;
}

export function loadPodsFileOrFail(path: string): NodePod[] {
  try {
    return readPodsFile(path);
  } catch (error) {
    if (error instanceof PodsFileError) throw new CliError(error.message.split('\n').map(printable).join('\n'), USAGE_EXIT);
    throw error;
  }
}

/** Where the pods came from, for the report: the triage still works without them. */
interface PodsLookup {
  pods: NodePod[];
  source: string;
  /** The namespaces of annotated pods, for their pids-limit-ceiling label (API server only). */
  namespaceLabels?: NamespaceLabelsCache;
}

async function lookUpPods(sources: NodeSources, env: NodeJS.ProcessEnv): Promise<PodsLookup> {
  if (sources.podsFile) return { pods: loadPodsFileOrFail(sources.podsFile), source: `pods file ${sources.podsFile}` };
  let api: KubeApi | undefined;
  try {
    api = connectApi(sources, env, true);
  } catch (error) {
    return { pods: [], source: `none (${(error as Error).message})` };
  }
  if (!api) return { pods: [], source: 'none (no kubeconfig and not in a cluster: pods shown by UID; use --pods-file or --kubeconfig)' };
  try {
    const pods = await listNodePods(api, sources.nodeName);
    const namespaceLabels = new NamespaceLabelsCache(api, { waitMs: 5000 });
    await namespaceLabels.refresh([...new Set(pods.filter((pod) => pod.annotations[PIDS_LIMIT_ANNOTATION] !== undefined).map((pod) => pod.namespace))]);
    return { pods, source: `API server (${pods.length} pods on node ${sources.nodeName})`, namespaceLabels };
  } catch (error) {
    return { pods: [], source: `none (${(error as Error).message})` };
  } finally {
    api.close();
  }
}

/** The API server from --kubeconfig/KUBECONFIG, else in-cluster, else (for `node`) ~/.kube/config. */
export function connectApi(sources: NodeSources, env: NodeJS.ProcessEnv, tryHome: boolean): KubeApi | undefined {
  const endpoint = loadApiEndpoint({
    ...(sources.kubeconfig ? { kubeconfig: sources.kubeconfig } : {}),
    ...(env.KUBERNETES_SERVICE_HOST ? { inCluster: { host: env.KUBERNETES_SERVICE_HOST, port: env.KUBERNETES_SERVICE_PORT ?? '443' } } : {}),
    ...(tryHome && env.HOME ? { homeKubeconfig: join(env.HOME, '.kube/config') } : {}),
  });
  return endpoint ? new KubeApi(endpoint, 5000) : undefined;
}

const HELP = `pidguard node: one-shot triage of a node in a PID incident

Usage: pidguard node [flags]

Reads per process only /proc/<pid>/status, cmdline and cgroup (never one file
per thread), the kernel's pid_max, threads-max and /proc/loadavg, and each pod
cgroup's pids.current, pids.max and pids.events.

Flags:
  --proc DIR             procfs root (default /proc)
  --cgroup-root DIR      cgroup mount root (default /sys/fs/cgroup)
  --sys DIR              sysfs root; the cgroup root is DIR/fs/cgroup (instead of --cgroup-root)
  --pods-file FILE       the node's pods as a JSON/YAML PodList (no API server needed)
  --config FILE          [PIDGUARD_CONFIG] the policy config (the agent's): pids.ceiling and
                         dotnet.pidsLimit, to show the pids-limit the agent enforces (default: built-in)
  --kubeconfig FILE      [KUBECONFIG] name pods through the API server (else in-cluster, else ~/.kube/config)
  --node-name NAME       [NODE_NAME] node whose pods to list (default: the host name)
  --top N                processes and pods to show (default 10)
  --thread-names N       group the threads of the top N processes by name, and say which kind
                         of leak that shows (one comm file per thread, at most 256 each,
                         evenly sampled; default 3, 0 = off)
  --warning-ratio R      tasks/ceiling for a warning (default 0.7)
  --critical-ratio R     tasks/ceiling for critical (default 0.9)
  --json                 machine-readable report

Exit codes: 0 ok, 1 warning, 2 critical, 3 could not read the node's files.
`;

export const nodeCommand: Command = {
  name: 'node',
  summary: 'One-shot triage of a node: thread hogs, their pods, PID headroom',
  help: HELP,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values } = parseFlags(argv, { ...NODE_SOURCE_FLAGS, top: { type: 'string' }, 'thread-names': { type: 'string' }, json: { type: 'boolean' } });
    const sources = resolveNodeSources(values, io.env);
    const top = integerFlag(values.top ?? '10', '--top', 1, 1000);
    const threadNames = integerFlag(values['thread-names'] ?? '3', '--thread-names', 0, 20);
    const config = await loadConfig(flagOrEnv(values.config, io.env, 'PIDGUARD_CONFIG'));
    const lookup = await lookUpPods(sources, io.env);
    let scan: NodeScan;
    try {
      scan = scanNode({ procRoot: sources.procRoot, cgroupRoot: sources.cgroupRoot, pods: lookup.pods, top, threadNames: { processes: threadNames }, pidsBudgetOf: enforcedLimit(config, lookup) });
    } catch (error) {
      if (error instanceof ProcUnreadableError) throw new CliError(printable(error.message), EXIT_CODES.unreadable);
      throw error;
    }
    const verdict = judgeNode(scan, sources.thresholds);
    io.stdout.write(values.json ? `${terminalSafeJson(nodeReportJson(scan, verdict, lookup.source))}\n` : renderNodeReport(scan, verdict, lookup.source, top));
    return EXIT_CODES[verdict.level];
  },
};

/**
 * The limit the agent would write for a pod: its namespace's ceiling label when
 * read; otherwise the config ceiling, and the problem says the label was not read.
 */
function enforcedLimit(config: PolicyConfig, lookup: PodsLookup) {
  return (pod: NodePod) => {
    const answer = lookup.namespaceLabels?.labelsOf(pod.namespace);
    const budget = resolvePidsLimit(pod.annotations[PIDS_LIMIT_ANNOTATION], config, answer && 'labels' in answer ? answer.labels : undefined);
    if (budget === undefined || answer === undefined || 'labels' in answer) return budget;
    const unread = `${answer.problem}; judged against the config ceiling ${config.pids.ceiling}`;
    return { ...budget, problem: budget.problem === undefined ? unread : `${budget.problem} (${unread})` };
  };
}

export function nodeReportJson(scan: NodeScan, verdict: Verdict, podsSource: string) {
  return {
    verdict: { level: verdict.level, summary: verdict.summary, headline: verdict.headline, offenders: verdict.offenders, nextSteps: verdict.nextSteps },
    node: { ...scan.tasks, usageRatio: scan.nodeBudget.usageRatio, headroom: scan.nodeBudget.headroom },
    budgets: { binding: scan.binding.scope, node: scan.nodeBudget, pods: scan.podsBudget },
    kubepods: scan.kubepods,
    holders: scan.holders,
    podPidsLimit: scan.podPidsLimit,
    processes: { count: scan.processCount, vanished: scan.vanishedProcesses, unreadable: scan.unreadableProcesses, unreadableExamples: scan.unreadableExamples },
    top: scan.top,
    pods: scan.pods,
    podsSource,
    scanDurationMs: Number(scan.durationMs.toFixed(3)),
  };
}

function renderNodeReport(scan: NodeScan, verdict: Verdict, podsSource: string, top: number): string {
  const { tasks } = scan;
  // Every line passes through printable() (tables per cell): pod names, process names and API errors come from outside.
  const out: string[] = [];
  const say = (...lines: string[]) => void out.push(...lines.map(printable));
  const table = (text: string) => void out.push(text.trimEnd());
  const ofCeiling = (tasksHeld: number, holder: { pod?: unknown }) => formatPercent(tasksHeld / budgetOf(scan, holder).ceiling);
  say(
    `${verdict.level.toUpperCase()}: ${verdict.summary}`,
    ...(verdict.headline ? [`biggest holder: ${verdict.headline}`] : []),
    `node ceiling ${formatCount(tasks.ceiling)} = min(kernel.pid_max ${formatCount(tasks.pidMax)}, kernel.threads-max ${formatCount(tasks.threadsMax)}); tasks from /proc/loadavg`,
    'problem' in scan.kubepods
      ? `pods ceiling: kubepods cgroup not read (${scan.kubepods.problem}): pods judged against the node's ceiling only`
      : `pods ceiling: kubepods pids.max ${typeof scan.kubepods.max === 'number' ? formatCount(scan.kubepods.max) : scan.kubepods.max}, pids.current ${formatCount(scan.kubepods.current)} (${scan.kubepods.dir})`,
    `kubelet podPidsLimit: ${scan.podPidsLimit.detail}`,
    `${formatCount(scan.processCount)} processes read, ${formatCount(scan.vanishedProcesses)} vanished mid-scan, ${unreadableSummary(scan)} in ${scan.durationMs.toFixed(1)} ms; pods: ${podsSource}`,
    '',
    'TOP TASK HOLDERS (pods, and cgroups outside pods; tasks = threads of all their processes)',
  );
  const holderRows = scan.holders.map((holder) => [
    holder.pod ? podLabel(holder.pod) : `cgroup ${holder.cgroup}`,
    formatCount(holder.tasks),
    formatCount(holder.processes),
    ofCeiling(holder.tasks, holder),
    holder.biggest.runtime,
    String(holder.biggest.pid),
    formatCount(holder.biggest.threads),
    holder.biggest.command,
  ]);
  table(formatTable(['holder', 'tasks', 'processes', 'of ceiling', 'runtime', 'biggest pid', 'its threads', 'its command'], holderRows));
  say('', 'TOP PROCESSES BY THREADS');
  const processRows = scan.top.map((process) => [
    String(process.pid),
    formatCount(process.threads),
    ofCeiling(process.threads, process),
    process.runtime,
    process.pod ? podLabel(process.pod) : '-',
    process.containerId ? process.containerId.slice(0, 13) : '-',
    process.command,
  ]);
  table(formatTable(['pid', 'threads', 'of ceiling', 'runtime', 'pod', 'container', 'command'], processRows));
  out.push(...threadNamesSection(scan).map((line) => printable(line)));
  const shownPods = scan.pods.slice(0, top);
  say('', 'PODS (pod-level pids cgroup)');
  table(formatTable(['pod', 'qos', 'processes', 'threads seen', 'pids.current', 'pids.max', 'refused forks', 'pids-limit', 'limit set by'], shownPods.map(podRow)));
  if (scan.pods.length > shownPods.length) say(`(+${scan.pods.length - shownPods.length} more pods; --top or --json for all)`);
  say('', 'NEXT STEPS');
  say(...(verdict.nextSteps.length > 0 ? verdict.nextSteps.map((step, index) => `${index + 1}. ${step}`) : ['Nothing to do: the node has PID headroom.']));
  return `${out.join('\n')}\n`;
}

/** Per process whose threads were grouped by name: the histogram (a table, cells escaped by formatTable) and the diagnosis. */
function threadNamesSection(scan: NodeScan): string[] {
  const named = scan.top.filter((process) => process.threadNames);
  if (named.length === 0) return [];
  const lines = ['', `THREAD NAMES (threads grouped by /proc/<pid>/task/<tid>/comm, digits as *; top ${named.length} processes)`];
  for (const process of named) {
    const names = process.threadNames as NonNullable<typeof process.threadNames>;
    const where = process.pod ? podLabel(process.pod) : 'not in a pod';
    const skipped = names.vanished + names.unreadable > 0 ? `, ${formatCount(names.vanished)} vanished, ${formatCount(names.unreadable)} unreadable` : '';
    const read = names.read === 0 && names.problem !== undefined
      ? `names not read (${names.problem})`
      : `${formatCount(names.read)} names read${names.sampled ? ' (an even sample)' : ''}${skipped}${names.problem !== undefined ? ` (${names.problem})` : ''}`;
    lines.push(`PID ${process.pid} ${process.name} (${where}): ${formatCount(process.threads)} threads, ${read}`);
    if (names.groups.length > 0) {
      const rows = names.groups.map((group) => [
        group.name,
        group.kind,
        formatCount(group.count),
        formatPercent(group.share),
        `${names.sampled ? '~' : ''}${formatCount(group.estimate)}`,
        group.label ?? (group.examples.length > 1 ? `e.g. ${group.examples.join(', ')}` : ''),
      ]);
      lines.push(...formatTable(['group', 'kind', 'read', 'share', 'threads', 'what'], rows).trimEnd().split('\n').map((line) => `  ${line}`));
    }
    if (names.read > 0) lines.push(`  diagnosis: ${names.diagnosis.summary}`, ...names.diagnosis.nextSteps.map((step) => `  - ${step}`));
  }
  return lines;
}

function unreadableSummary(scan: NodeScan): string {
  if (scan.unreadableProcesses === 0) return '0 unreadable';
  const examples = scan.unreadableExamples.map((example) => `PID ${example.pid}: ${example.problem}`).join('; ');
  const more = scan.unreadableProcesses > scan.unreadableExamples.length ? `; +${scan.unreadableProcesses - scan.unreadableExamples.length} more` : '';
  return `${formatCount(scan.unreadableProcesses)} unreadable (${examples}${more}; skipped)`;
}

/** The limit the agent enforces; an annotation that was lowered or replaced is shown beside it. */
function pidsLimitCell(pod: PodUsage): string {
  if (pod.pidsLimit === undefined) return '-';
  const limit = formatCount(pod.pidsLimit);
  const written = pod.pidsLimitAnnotation ?? '';
  const shown = written.length > 24 ? `${written.slice(0, 23)}…` : written;
  if (pod.pidsLimitReason === 'above-ceiling') return `${limit} (annotation ${shown} above ceiling)`;
  if (pod.pidsLimitReason === 'invalid') return `${limit} (annotation ${JSON.stringify(shown)} invalid)`;
  return limit;
}

function podRow(pod: PodUsage): string[] {
  const optional = (value: number | string | undefined) => (value === undefined ? '-' : typeof value === 'number' ? formatCount(value) : value);
  return [
    podLabel(pod),
    pod.qos ?? '-',
    formatCount(pod.processes),
    formatCount(pod.threads),
    optional(pod.pids.current),
    optional(pod.pids.max),
    optional(pod.pids.refusedForks),
    pidsLimitCell(pod),
    pod.limitSetBy,
  ];
}
