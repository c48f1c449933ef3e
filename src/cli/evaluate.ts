// `pidguard evaluate`: the admission policy, offline. Reads manifests, runs each
// Pod and workload through the same engine as the webhook, and reports what the
// cluster would do. Namespaces in the same input lend their labels (mode, PID
// budget ceiling) to the objects in them, as they would in the cluster.

import { stringify } from 'yaml';
import { evaluate, mutationSummary, warningList, type Evaluation } from '../policy/engine.js';
import { applyPatch } from '../policy/json-patch.js';
import { resolveMode } from '../policy/mode.js';
import { MODES, type KubeObject, type Mode } from '../policy/types.js';
import { isRecord } from '../policy/json-value.js';
import { isPodShaped } from '../policy/workloads.js';
import type { PolicyConfig } from '../policy/config.js';
import { byteSizeFlag } from './args.js';
import { loadConfig } from './config-file.js';
import { EXIT } from './exit-codes.js';
import { commandHelp, parseCommandFlags, type FlagSpecs } from './flags.js';
import { CliError, type Command } from './io.js';
import { readManifests, type Manifest } from './manifests.js';
import { formatTable } from './table.js';
import { InputBudget, sourceName } from '../input/yaml-input.js';

const OUTPUTS = ['table', 'json', 'yaml', 'report'] as const;
type Output = (typeof OUTPUTS)[number];

/**
 * What one run reads at most, checked before parsing. 16 MiB is ten times the
 * largest object etcd stores (1.5 MiB) and holds a whole rendered application
 * with its CRDs; parsing it stays within a few hundred MiB of memory. The
 * document limit bounds inputs made of many tiny documents.
 */
export const DEFAULT_MAX_INPUT_BYTES = '16Mi';
export const MAX_INPUT_DOCUMENTS = 100_000;
/** Below V8's longest string (2^29 - 24 characters), which the text of all inputs must fit in. */
export const MAX_INPUT_BYTES_CEILING = 256 * 1024 * 1024;

const FLAGS = {
  filename: { type: 'string', short: 'f', multiple: true, value: 'PATH', help: 'YAML or JSON file, directory (recursive), or - for stdin; repeatable' },
  output: { type: 'string', short: 'o', value: 'FORMAT', help: 'table: decisions, violations and mutations; json | yaml: the objects as the cluster would store them (Pods mutated); report: the engine\'s evaluations as JSON, for scripts', default: 'table' },
  mode: { type: 'string', value: 'MODE', help: 'enforce | audit | off', defaultText: 'config defaultMode, or the namespace\'s label' },
  config: { type: 'string', value: 'FILE', help: 'policy configuration YAML', defaultText: 'built-in' },
  'max-input-bytes': { type: 'string', value: 'SIZE', help: `the most all inputs together may hold, checked before parsing (Ki, Mi, Gi suffixes; at most 256Mi); at most ${MAX_INPUT_DOCUMENTS} documents and List items in all`, default: DEFAULT_MAX_INPUT_BYTES },
} as const satisfies FlagSpecs;

const HELP = commandHelp({
  name: 'evaluate',
  usage: 'Usage: pidguard evaluate -f <file|dir|-> [-f ...] [flags]',
  about: `Evaluates every Pod and workload (Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job, CronJob) in the manifests with the admission policy,
exactly as the webhook would on CREATE, and prints what the cluster would do.
Namespace objects in the input lend their labels (pidguard.io/mode, the PID
budget labels and the require-resources levels) to the objects in them; --mode
overrides every namespace's mode.`,
  flags: FLAGS,
  notes: `Directories are read recursively (*.yaml, *.yml, *.json), following symlinks;
each directory is read once, so a symlink loop ends. An entry that cannot be
examined (a dangling symlink, no permission) fails the run, naming it. Errors
name the file and the document index.`,
});

export const evaluateCommand: Command = {
  name: 'evaluate',
  summary: 'Evaluate manifests offline with the admission policy',
  flags: FLAGS,
  help: HELP,
  async run(argv, io) {
    const values = parseCommandFlags(argv, FLAGS, io.env);
    if (!values.filename || values.filename.length === 0) throw new CliError('-f/--filename is required (see --help)', EXIT.usage);
    const output = values.output as Output;
    if (!OUTPUTS.includes(output)) throw new CliError(`-o must be one of ${OUTPUTS.join(', ')}, got "${values.output}"`, EXIT.usage);
    if (values.mode !== undefined && !MODES.includes(values.mode as Mode)) {
      throw new CliError(`--mode must be one of ${MODES.join(', ')}, got "${values.mode}"`, EXIT.usage);
    }
    const maxInputBytes = byteSizeFlag(values['max-input-bytes'], '--max-input-bytes', 1, MAX_INPUT_BYTES_CEILING);
    const config = await loadConfig(values.config);
    const budget = new InputBudget(maxInputBytes, MAX_INPUT_DOCUMENTS, 'raise --max-input-bytes, or evaluate the files in parts');
    const manifests = await readManifests(values.filename, io.stdin, budget, (line) => io.stderr.write(`note: ${line}\n`));

    const results = evaluateManifests(manifests, config, values.mode as Mode | undefined);
    io.stdout.write(render(output, results, manifests));
    for (const { modeWarning } of results) if (modeWarning) io.stderr.write(`warning: ${modeWarning}\n`);
    return results.some((r) => !r.evaluation.allowed) ? EXIT.findings : EXIT.ok;
  },
};

export interface ManifestEvaluation {
  manifest: Manifest;
  evaluation: Evaluation;
  modeWarning?: string | undefined;
}

/**
 * Every Pod and workload of `manifests` through the engine as the webhook would
 * judge it on CREATE (`pidguard evaluate` and `pidguard test`). A namespace's
 * labels come from its Namespace object in the manifests, else from
 * `defaultNamespaceLabels`; `mode` overrides every namespace's. An object the
 * API server would reject as malformed fails the run.
 */
export function evaluateManifests(manifests: Manifest[], config: PolicyConfig, mode?: Mode, defaultNamespaceLabels?: Record<string, string>): ManifestEvaluation[] {
  const namespaceLabels = namespaceLabelsIn(manifests);
  const results = manifests
    .filter(({ object }) => isPodShaped(object.kind))
    .map((manifest) => {
      const labels = namespaceLabels.get(manifest.object.metadata?.namespace ?? 'default') ?? defaultNamespaceLabels;
      const resolution = mode ? { mode } : resolveMode(labels, config.defaultMode);
      const evaluation = evaluate({ object: manifest.object, operation: 'CREATE', mode: resolution.mode, config, namespaceLabels: labels });
      return { manifest, evaluation, modeWarning: resolution.warning };
    });
  const malformed = results.filter((r) => r.evaluation.malformed);
  if (malformed.length > 0) {
    throw rejectedAsMalformed(malformed.map(({ manifest, evaluation }) => `${where(manifest)}: ${evaluation.kind} "${evaluation.name}": ${evaluation.malformed}`));
  }
  return results;
}

/**
 * Namespace name -> labels, from the Namespace objects in the input. Two of one
 * name with different labels are an error: which one the cluster would end up
 * with depends on the order they are applied in, and pidguard does not guess.
 */
function namespaceLabelsIn(manifests: Manifest[]): Map<string, Record<string, string>> {
  const seen = new Map<string, { manifest: Manifest; labels: Record<string, string> }>();
  for (const manifest of manifests) {
    const { kind, metadata } = manifest.object;
    if (kind !== 'Namespace' || !metadata?.name) continue;
    const labels: unknown = metadata.labels ?? {};
    if (!isRecord(labels) || !Object.values(labels).every((value) => typeof value === 'string')) {
      throw rejectedAsMalformed([`${where(manifest)}: Namespace "${metadata.name}": metadata.labels is not a map of strings`]);
    }
    const stringLabels = labels as Record<string, string>;
    const earlier = seen.get(metadata.name);
    if (earlier) {
      const label = (labels: Record<string, string>, key: string) => (Object.hasOwn(labels, key) ? labels[key] : undefined);
      const differing = [...new Set([...Object.keys(earlier.labels), ...Object.keys(stringLabels)])]
        .filter((key) => label(earlier.labels, key) !== label(stringLabels, key))
        .sort()
        .map((key) => `${key}: ${label(earlier.labels, key) ?? '(none)'} vs ${label(stringLabels, key) ?? '(none)'}`);
      if (differing.length > 0) {
        throw new CliError(
          `Namespace "${metadata.name}" is defined twice with different labels (${differing.join(', ')}):\n  ${where(earlier.manifest)}\n  ${where(manifest)}\n` +
            'which one the cluster keeps depends on the order they are applied in: keep one',
          EXIT.usage,
        );
      }
    }
    seen.set(metadata.name, { manifest, labels: stringLabels });
  }
  return new Map([...seen].map(([name, { labels }]) => [name, labels]));
}

function rejectedAsMalformed(objects: string[]): CliError {
  return new CliError(`the API server would reject ${objects.length === 1 ? 'this object' : 'these objects'} as malformed:\n  ${objects.join('\n  ')}`, EXIT.usage);
}

/** `file: document N`, as every input error names a document. */
function where(manifest: Manifest): string {
  return `${sourceName(manifest.source)}: document ${manifest.index}`;
}

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
export function asStored(object: KubeObject, evaluation: Evaluation | undefined): KubeObject {
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

export function decisionOf(e: Evaluation): string {
  if (!e.evaluated) return 'skipped';
  const wouldDeny = e.violations.length > 0;
  const mutates = e.mutations.length > 0;
  if (e.mode === 'audit') return wouldDeny ? 'would-deny' : mutates ? 'would-mutate' : 'allowed';
  return wouldDeny ? 'denied' : mutates ? 'mutated' : 'allowed';
}
