// `pidguard node`: one-shot triage of a node in a PID incident. Reads /proc and
// the cgroup tree (or a captured fixture), names the processes and pods holding
// the threads, and says what to do. Exit 0 ok, 1 warning, 2 critical, 3 unreadable.

import type { AgentApiClient } from '../node/agent-api.js';
import { NamespaceLabelsCache } from '../node/agent-namespaces.js';
import { listNodePods } from '../node/agent-pod-watch.js';
import { readPodsFile, type NodePod } from '../node/pods.js';
import type { PolicyConfig } from '../policy/config.js';
import { PIDS_LIMIT_ANNOTATION } from '../policy/keys.js';
import { resolvePidsLimit } from '../policy/pids-budget.js';
import { ProcUnreadableError } from '../node/procfs.js';
import { scanNode, type NodeScan, type PodUsage } from '../node/scan.js';
import { formatCount, formatPercent } from '../format.js';
import { budgetOf, judgeNode, podLabel, type Verdict } from '../node/verdict.js';
import { integerFlag } from './args.js';
import { EXIT, VERDICT_EXIT } from './exit-codes.js';
import { commandHelp, parseCommandFlags, type FlagSpecs } from './flags.js';
import { loadConfig } from './config-file.js';
import { CliError, type CliIO, type Command } from './io.js';
import { connectApi, NODE_SOURCE_FLAGS, resolveNodeSources, type NodeSources } from './node-sources.js';
import { formatTable, printable, terminalSafeJson } from './table.js';

/** Where the pods came from, for the report: the triage still works without them. */
interface PodsLookup {
  pods: NodePod[];
  source: string;
  /** The namespaces of annotated pods, for their pids-limit-ceiling label (API server only). */
  namespaceLabels?: NamespaceLabelsCache;
}

async function lookUpPods(sources: NodeSources, env: NodeJS.ProcessEnv): Promise<PodsLookup> {
  if (sources.podsFile) return { pods: readPodsFile(sources.podsFile), source: `pods file ${sources.podsFile}` };
  let api: AgentApiClient | undefined;
  try {
    api = connectApi(sources, env);
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

const FLAGS = {
  ...NODE_SOURCE_FLAGS,
  config: { type: 'string', value: 'FILE', help: "the policy config (the agent's): pids.ceiling and dotnet.pidsLimit, to show the pids-limit the agent enforces", env: 'PIDGUARD_CONFIG', defaultText: 'built-in' },
  kubeconfig: { type: 'string', value: 'FILE', help: 'name pods through the API server (else in-cluster, else ~/.kube/config)', env: 'KUBECONFIG' },
  top: { type: 'string', value: 'N', help: 'processes and pods to show', default: '10' },
  'thread-names': { type: 'string', value: 'N', help: 'group the threads of the top N processes by name, and say which kind of leak that shows (one comm file per thread, at most 256 each, evenly sampled; 0 = off, at most 20)', default: '3' },
  json: { type: 'boolean', help: 'machine-readable report' },
} as const satisfies FlagSpecs;

const HELP = commandHelp({
  name: 'node',
  usage: 'Usage: pidguard node [flags]',
  about: `pidguard node: one-shot triage of a node in a PID incident.

Reads per process only /proc/<pid>/status, cmdline and cgroup (never one file
per thread), the kernel's pid_max, threads-max and /proc/loadavg, and each pod
cgroup's pids.current, pids.max and pids.events.`,
  flags: FLAGS,
});

export const nodeCommand: Command = {
  name: 'node',
  summary: 'One-shot triage of a node: thread hogs, their pods, PID headroom',
  flags: FLAGS,
  help: HELP,
  async run(argv: string[], io: CliIO): Promise<number> {
    const values = parseCommandFlags(argv, FLAGS, io.env);
    const sources = resolveNodeSources(values);
    const top = integerFlag(values.top, '--top', 1, 1000);
    const config = await loadConfig(values.config);
    const threadNames = integerFlag(values['thread-names'], '--thread-names', 0, 20);
    const lookup = await lookUpPods(sources, io.env);
    let scan: NodeScan;
    try {
      scan = scanNode({ procRoot: sources.procRoot, cgroupRoot: sources.cgroupRoot, pods: lookup.pods, top, threadNames: { processes: threadNames }, pidsBudgetOf: enforcedLimit(config, lookup) });
    } catch (error) {
      if (error instanceof ProcUnreadableError) throw new CliError(printable(error.message), EXIT.unreadable);
      throw error;
    }
    const verdict = judgeNode(scan, sources.thresholds);
    io.stdout.write(values.json ? `${terminalSafeJson(nodeReportJson(scan, verdict, lookup.source))}\n` : renderNodeReport(scan, verdict, lookup.source, top));
    return VERDICT_EXIT[verdict.level];
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
