// `pidguard evaluate`: the admission policy, offline. Reads manifests, runs each
// Pod and workload through the same engine as the webhook, and reports what the
// cluster would do. Namespaces in the same input lend their pidguard.io/mode
// label to the objects in them, as they would in the cluster.

import { stringify } from 'yaml';
import { evaluate, mutationSummary, warningList, type Evaluation } from '../policy/engine.js';
import { applyPatch } from '../policy/json-patch.js';
import { resolveMode } from '../policy/mode.js';
import { MODES, type KubeObject, type Mode } from '../policy/types.js';
import { isPodShaped } from '../policy/workloads.js';
import { parseFlags, USAGE_EXIT } from './args.js';
import { loadConfig } from './config-file.js';
import { CliError, type Command } from './io.js';
import { readManifests, UNREADABLE_INPUT_EXIT, type Manifest } from './manifests.js';
import { formatTable } from './table.js';

const OUTPUTS = ['table', 'json', 'yaml', 'report'] as const;
type Output = (typeof OUTPUTS)[number];

export const DENIED_EXIT = 1;

const HELP = `Usage: pidguard evaluate -f <file|dir|-> [-f ...] [flags]

Evaluates every Pod and workload (Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job, CronJob) in the manifests with the admission policy,
exactly as the webhook would on CREATE, and prints what the cluster would do.
Namespace objects in the input lend their pidguard.io/mode label to the objects
in them; --mode overrides every namespace.

Flags:
  -f, --filename <path>   YAML or JSON file, directory (recursive), or - for stdin; repeatable
  -o, --output <format>   table (default): decisions, violations and mutations
                          json | yaml: the objects as the cluster would store them (Pods mutated)
                          report: the engine's evaluations as JSON, for scripts
      --mode <mode>       enforce | audit | off (default: config defaultMode, or the namespace's label)
      --config <file>     policy configuration YAML (default: built-in defaults)
  -h, --help              this help

Exit codes: 0 everything would be admitted, 1 something would be denied,
2 unreadable input or bad flags (the error names the file and document index).
`;

export const evaluateCommand: Command = {
  name: 'evaluate',
  summary: 'Evaluate manifests offline with the admission policy',
  help: HELP,
  async run(argv, io) {
    const { values } = parseFlags(argv, {
      filename: { type: 'string', short: 'f', multiple: true },
      output: { type: 'string', short: 'o', default: 'table' },
      mode: { type: 'string' },
      config: { type: 'string' },
    });
    if (!values.filename || values.filename.length === 0) throw new CliError('-f/--filename is required (see --help)', USAGE_EXIT);
    const output = values.output as Output;
    if (!OUTPUTS.includes(output)) throw new CliError(`-o must be one of ${OUTPUTS.join(', ')}, got "${values.output}"`, USAGE_EXIT);
    if (values.mode !== undefined && !MODES.includes(values.mode as Mode)) {
      throw new CliError(`--mode must be one of ${MODES.join(', ')}, got "${values.mode}"`, USAGE_EXIT);
    }
    const config = await loadConfig(values.config);
    const manifests = await readManifests(values.filename, io.stdin);

    const namespaceLabels = new Map<string, Record<string, string>>();
    for (const { object } of manifests) {
      if (object.kind === 'Namespace' && object.metadata?.name) namespaceLabels.set(object.metadata.name, object.metadata.labels ?? {});
    }
    const results = manifests
      .filter(({ object }) => isPodShaped(object.kind))
      .map((manifest) => {
        const labels = namespaceLabels.get(manifest.object.metadata?.namespace ?? 'default');
        const resolution = values.mode ? { mode: values.mode as Mode } : resolveMode(labels, config.defaultMode);
        const evaluation = evaluate({ object: manifest.object, operation: 'CREATE', mode: resolution.mode, config, namespaceLabels: labels });
        return { manifest, evaluation, modeWarning: resolution.warning };
      });

    const malformed = results.filter((r) => r.evaluation.malformed);
    if (malformed.length > 0) {
      const where = malformed.map(({ manifest, evaluation }) => `${manifest.source === '-' ? 'stdin' : manifest.source}: document ${manifest.index}: ${evaluation.kind} "${evaluation.name}": ${evaluation.malformed}`);
      throw new CliError(`the API server would reject ${malformed.length === 1 ? 'this object' : 'these objects'} as malformed:\n  ${where.join('\n  ')}`, UNREADABLE_INPUT_EXIT);
    }
    io.stdout.write(render(output, results, manifests));
    for (const { modeWarning } of results) if (modeWarning) io.stderr.write(`warning: ${modeWarning}\n`);
    return results.some((r) => !r.evaluation.allowed) ? DENIED_EXIT : 0;
  },
};

interface Result {
  manifest: Manifest;
  evaluation: Evaluation;
}

function render(output: Output, results: Result[], manifests: Manifest[]): string {
  switch (output) {
    case 'table':
      return renderTable(results);
    case 'report':
      return `${JSON.stringify(results.map(({ manifest, evaluation }) => ({ source: manifest.source, document: manifest.index, ...evaluation })), null, 2)}\n`;
    case 'json':
    case 'yaml': {
      const byManifest = new Map(results.map((r) => [r.manifest, r.evaluation]));
      const stored = manifests.map((m) => asStored(m.object, byManifest.get(m)));
      if (output === 'yaml') return stored.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
      const document = stored.length === 1 ? stored[0] : { apiVersion: 'v1', kind: 'List', items: stored };
      return `${JSON.stringify(document, null, 2)}\n`;
    }
  }
}

/** The object as the API server would store it: Pods with pidguard's patch applied. */
function asStored(object: KubeObject, evaluation: Evaluation | undefined): KubeObject {
  return evaluation && evaluation.patch.length > 0 ? applyPatch(object, evaluation.patch) : object;
}

function renderTable(results: Result[]): string {
  if (results.length === 0) return 'no Pods or workloads found in the input\n';
  const rows = results.map(({ evaluation: e }) => [
    `${e.kind}/${e.name}`,
    e.namespace ?? 'default',
    e.mode,
    decisionOf(e),
    e.qosClass ?? '-',
    [...new Set([...e.violations, ...e.mutations].map((x) => x.ruleId))].join(',') || '-',
  ]);
  const details = results.flatMap(({ manifest, evaluation: e }) => {
    if (e.violations.length === 0 && e.mutations.length === 0 && e.warnings.length === 0) return [];
    const lines = [`${e.kind}/${e.name} (${manifest.source === '-' ? 'stdin' : manifest.source}#${manifest.index}): ${decisionOf(e)}`];
    for (const v of e.violations) lines.push(`  ${v.ruleId}: ${v.reason}: ${v.detail}`, `    fix: ${v.fix}`);
    if (e.mutations.length > 0) {
      const target = e.kind === 'Pod' ? 'sets' : 'will set on each pod';
      lines.push(`  ${e.mutations[0]!.ruleId} ${target}: ${mutationSummary(e)}`);
    }
    // Audit mode's other warnings repeat the lines above.
    for (const warning of e.mode === 'enforce' ? e.warnings : warningList(e.ruleWarnings)) lines.push(`  warning: ${warning}`);
    return [lines.join('\n')];
  });
  return [formatTable(['object', 'namespace', 'mode', 'decision', 'qos', 'rules'], rows), ...details.map((d) => `${d}\n`)].join('\n');
}

function decisionOf(e: Evaluation): string {
  if (!e.evaluated) return 'skipped';
  const wouldDeny = e.violations.length > 0;
  const mutates = e.mutations.length > 0;
  if (e.mode === 'audit') return wouldDeny ? 'would-deny' : mutates ? 'would-mutate' : 'allowed';
  return wouldDeny ? 'denied' : mutates ? 'mutated' : 'allowed';
}
