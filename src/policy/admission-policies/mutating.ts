// The mutating admission policy: dotnet-guard's, pids-default's and
// pids-ceiling's changes to a Pod on CREATE, as JSON patches computed in CEL, and the same
// pidguard.io/mutations record the webhook writes. It gives the values the
// webhook gives, so with both installed the webhook (which runs after the
// policies) finds nothing left to change and never fights them.
//
// A pod is left whole to the webhook (the policy changes nothing) when
// - a .NET container sets a thread-pool knob of its own
//   (DOTNET_/COMPlus_ThreadPool_Force{Max,Min}WorkerThreads): judging it means
//   reading hex, and the webhook's answer comes with warnings a policy cannot
//   give;
// - the pod would get pids-default's budget and its namespace's
//   pidguard.io/pids-limit-default label is invalid: the webhook warns about
//   it, a mutating policy cannot;
// - the pod's pidguard.io/pids-limit must be replaced and its value is not
//   plain printable ASCII of at most 64 characters (the record quotes it as
//   JSON, which CEL cannot write);
// - the record would be longer than 1,365 characters and is not ASCII (the
//   webhook shortens it by UTF-8 bytes, which CEL does not count), or would
//   leave out 1,000 containers or more.
// Partial changes would make the webhook's record (which it rewrites whole)
// untrue, so the policy does all or nothing.

import type { PolicyConfig } from '../config.js';
import { MAX_PIDS_LIMIT, MIN_PIDS_LIMIT_CEILING } from '../policy-options.js';
import {
  DOTNET_FORCE_MAX_WORKER_THREADS, DOTNET_MAX_THREADS, MUTATIONS_ANNOTATION, PIDS_LIMIT_ANNOTATION, PIDS_LIMIT_CEILING_LABEL,
} from '../keys.js';
import { MUTATION_RECORD_MAX_BYTES } from '../mutation-record.js';
import { dotnetHex } from '../rules/dotnet-guard.js';
import { PIDS_LIMIT_DEFAULT_LABEL } from '../rules/pids-default.js';
import { celString, celStrings } from './cel.js';
import { podVariables, type Variable } from './pod-cel.js';
import { partOf } from './validating.js';

export const DOTNET_POLICY = 'pidguard-mutate-pods';

const KNOBS = ['ForceMaxWorkerThreads', 'ForceMinWorkerThreads'].flatMap((knob) => [`DOTNET_ThreadPool_${knob}`, `COMPlus_ThreadPool_${knob}`]);
/** pids-budget.ts wholeNumber within what can be valid: JS trim()'s whitespace, leading zeros, at most 7 significant digits. */
const JS_SPACE = '[\\t\\n\\x{b}\\f\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}]';
const SMALL_WHOLE = `^${JS_SPACE}*0*[0-9]{1,7}${JS_SPACE}*$`;
/** What quotedValue() leaves as it is: printable ASCII but '"' and '\', 64 characters at most. */
const PLAIN = '^[ !#-\\[\\]-~]{0,64}$';

function pointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

const quantity = (value: string) => `quantity(string(${value}))`;

/** For .NET container `c` whose JSON pointer is the CEL expression `at`: its patch ops and the summary parts of its record entry. */
function containerChanges(config: PolicyConfig, at: string): { ops: string; summary: string } {
  const { requests, limits, maxWorkerThreads } = config.dotnet;
  const ops: string[] = [];
  const summary: string[] = [];
  const hasIn = (list: string, name: string) => `(has(c.resources) && has(c.resources.${list}) && '${name}' in c.resources.${list})`;
  const fill = '!variables.podLevelResources';
  const setsRequest = (name: string) => `(${fill} && !${hasIn('limits', name)} && !${hasIn('requests', name)})`;
  const setsLimit = (name: string) => `(${fill} && !${hasIn('limits', name)})`;
  const names = ['cpu', 'memory'] as const;
  const listOps = (list: 'requests' | 'limits', sets: (name: string) => string, value: (name: 'cpu' | 'memory') => string) => [
    `((${names.map(sets).join(' || ')}) && !(has(c.resources) && has(c.resources.${list})) ? [JSONPatch{op: 'add', path: (${at}) + '/resources/${list}', value: {}}] : [])`,
    ...names.map((name) => `(${sets(name)} ? [JSONPatch{op: 'add', path: (${at}) + '/resources/${list}/${name}', value: ${value(name)}}] : [])`),
  ];
  /** The default limit, or the request when it is larger (dotnet-guard.ts limitAtLeast). */
  const limitValue = (name: 'cpu' | 'memory') => {
    const request = `c.resources.requests['${name}']`;
    return `(${hasIn('requests', name)} && ${quantity(request)}.isGreaterThan(quantity(${celString(limits[name])})) ? string(${request}) : ${celString(limits[name])})`;
  };
  ops.push(
    `((${names.map(setsLimit).join(' || ')}) && !has(c.resources) ? [JSONPatch{op: 'add', path: (${at}) + '/resources', value: {}}] : [])`,
    ...listOps('requests', setsRequest, (name) => celString(requests[name])),
    ...listOps('limits', setsLimit, limitValue),
  );
  for (const name of names) {
    summary.push(
      `(${setsRequest(name)} ? [${celString(`${name} request ${requests[name]}`)}, ${celString(`${name} limit ${limits[name]}`)}] : ${setsLimit(name)} ? ['${name} limit ' + ${limitValue(name)}] : [])`,
    );
  }
  const hex = dotnetHex(maxWorkerThreads);
  const noMaxThreads = `!(has(c.env) && c.env.exists(e, e.name == ${celString(DOTNET_MAX_THREADS)}))`;
  const entry = (name: string, value: string) => `{'name': ${celString(name)}, 'value': ${celString(value)}}`;
  ops.push(
    `(has(c.env) ? [] : [JSONPatch{op: 'add', path: (${at}) + '/env', value: []}])`,
    `[JSONPatch{op: 'add', path: (${at}) + '/env/-', value: ${entry(DOTNET_FORCE_MAX_WORKER_THREADS, hex)}}]`,
    `(${noMaxThreads} ? [JSONPatch{op: 'add', path: (${at}) + '/env/-', value: ${entry(DOTNET_MAX_THREADS, String(maxWorkerThreads))}}] : [])`,
  );
  summary.push(
    `[${celString(`env ${DOTNET_FORCE_MAX_WORKER_THREADS}=${hex}`)}]`,
    `(${noMaxThreads} ? [${celString(`env ${DOTNET_MAX_THREADS}=${maxWorkerThreads}`)}] : [])`,
  );
  return { ops: ops.join(' + '), summary: summary.join(' + ') };
}

function variables(config: PolicyConfig): Variable[] {
  const ceilingLabel = `namespaceObject.metadata.labels[${celString(PIDS_LIMIT_CEILING_LABEL)}]`;
  const defaultLabel = `namespaceObject.metadata.labels[${celString(PIDS_LIMIT_DEFAULT_LABEL)}]`;
  const labelled = (key: string) => `namespaceObject != null && has(namespaceObject.metadata.labels) && ${celString(key)} in namespaceObject.metadata.labels`;
  const annotation = `variables.annotations[${celString(PIDS_LIMIT_ANNOTATION)}]`;
  const whole = (text: string) => `int(${text}.find('[0-9]+'))`;
  const { summary } = containerChanges(config, '');
  return [
    ...podVariables(config),
    {
      name: 'ceiling',
      expression:
        `${labelled(PIDS_LIMIT_CEILING_LABEL)} && ` +
        `${ceilingLabel}.matches(${celString(SMALL_WHOLE)}) && ${whole(ceilingLabel)} >= ${MIN_PIDS_LIMIT_CEILING} && ${whole(ceilingLabel)} <= ${MAX_PIDS_LIMIT} ` +
        `? ${whole(ceilingLabel)} : ${config.pids.ceiling}`,
    },
    { name: 'budget', expression: `variables.ceiling < ${config.dotnet.pidsLimit} ? variables.ceiling : ${config.dotnet.pidsLimit}` },
    { name: 'anyDotnet', expression: 'variables.dotnet.exists(f, f) || variables.dotnetInit.exists(f, f)' },
    { name: 'hasLimit', expression: `${celString(PIDS_LIMIT_ANNOTATION)} in variables.annotations` },
    // pids-budget.ts resolvePidsLimit: 'valid' (kept or lowered to the ceiling) or 'invalid' (replaced).
    {
      name: 'limitValid',
      expression: `variables.hasLimit && ${annotation}.matches(${celString(SMALL_WHOLE)}) && ${whole(annotation)} >= 1 && ${whole(annotation)} <= ${MAX_PIDS_LIMIT}`,
    },
    {
      name: 'ceilingChange',
      expression:
        `!variables.hasLimit ? '' : !variables.limitValid ? ` +
        `${celString(`annotation ${PIDS_LIMIT_ANNOTATION}=`)} + string(variables.budget) + ' (' + ${celString(`${PIDS_LIMIT_ANNOTATION}="`)} + ${annotation} + ` +
        `${celString(`" is not a whole number from 1 to ${MAX_PIDS_LIMIT}; replaced with `)} + string(variables.budget) + ')' : ` +
        `${whole(annotation)} > variables.ceiling ? ${celString(`annotation ${PIDS_LIMIT_ANNOTATION}=`)} + string(variables.ceiling) + ' (' + ` +
        `${celString(`${PIDS_LIMIT_ANNOTATION}="`)} + ${annotation} + '" is above the ceiling ' + string(variables.ceiling) + '; lowered to ' + string(variables.ceiling) + ')' : ''`,
    },
    {
      name: 'ceilingValue',
      expression: `!variables.hasLimit ? 0 : !variables.limitValid ? variables.budget : ${whole(annotation)} > variables.ceiling ? variables.ceiling : 0`,
    },
    {
      name: 'containerEntries',
      expression:
        `variables.spec.containers.transformList(i, c, variables.dotnet[i], 'container "' + c.name + '": ' + (${summary}).join(', ')) + ` +
        `variables.initContainers.transformList(i, c, variables.dotnetInit[i], 'container "' + c.name + '": ' + (${summary}).join(', '))`,
    },
    { name: 'podEntries', expression: `variables.anyDotnet && !variables.hasLimit ? [${celString(`annotation ${PIDS_LIMIT_ANNOTATION}=`)} + string(variables.budget)] : []` },
    // rules/pids-default.ts: a pod that is neither annotated nor .NET (dotnet-guard annotated those)
    // gets its namespace's valid label, else the config's limit when enabled, at most the ceiling.
    { name: 'defaultLabelSet', expression: labelled(PIDS_LIMIT_DEFAULT_LABEL) },
    {
      name: 'defaultLabelValid',
      expression: `variables.defaultLabelSet && ${defaultLabel}.matches(${celString(SMALL_WHOLE)}) && ${whole(defaultLabel)} >= 1 && ${whole(defaultLabel)} <= ${MAX_PIDS_LIMIT}`,
    },
    { name: 'wantsDefault', expression: '!variables.hasLimit && !variables.anyDotnet' },
    {
      name: 'defaultWanted',
      expression: `!variables.wantsDefault ? 0 : variables.defaultLabelValid ? ${whole(defaultLabel)} : ${config.pidsDefault.enabled ? config.pidsDefault.limit : 0}`,
    },
    { name: 'defaultValue', expression: 'variables.defaultWanted < variables.ceiling ? variables.defaultWanted : variables.ceiling' },
    { name: 'defaultGroup', expression: `variables.defaultValue > 0 ? [${celString(`pids-default set: annotation ${PIDS_LIMIT_ANNOTATION}=`)} + string(variables.defaultValue)] : []` },
    { name: 'ceilingGroup', expression: "variables.ceilingChange != '' ? ['pids-ceiling set: ' + variables.ceilingChange] : []" },
    { name: 'podGroups', expression: 'variables.defaultGroup + variables.ceilingGroup' },
    { name: 'changed', expression: "size(variables.containerEntries) + size(variables.podEntries) + size(variables.podGroups) > 0" },
    {
      name: 'wholeRecord',
      expression: "(size(variables.containerEntries + variables.podEntries) > 0 ? ['dotnet-guard set: ' + (variables.containerEntries + variables.podEntries).join('; ')] : []) + variables.podGroups",
    },
    // mutation-record.ts: container entries are kept while they fit what the pod-level ones leave
    // of the budget (each counted with its 2-byte separator); the rest are counted. Bytes are
    // characters here: a longer record is only written when it is ASCII (`expressible`). The
    // entries kept are the '; '-terminated ones within the first recordRoom characters of all of
    // them so terminated (linear; an entry holds no '; ' unless a container name does, and the
    // API server rejects such a name).
    {
      name: 'recordRoom',
      expression:
        `${MUTATION_RECORD_MAX_BYTES} - 64 - size(((size(variables.podEntries) > 0 ? ['dotnet-guard set: ' + variables.podEntries[0]] : []) + variables.podGroups).join(' | '))`,
    },
    { name: 'terminatedEntries', expression: "variables.containerEntries.map(e, e + '; ').join('')" },
    {
      name: 'kept',
      expression:
        `size(variables.wholeRecord.join(' | ')) * 3 <= ${MUTATION_RECORD_MAX_BYTES} ? size(variables.containerEntries) : ` +
        "variables.terminatedEntries.substring(0, size(variables.terminatedEntries) < variables.recordRoom ? size(variables.terminatedEntries) : variables.recordRoom).split('; ').size() - 1",
    },
    {
      name: 'record',
      expression:
        "((size(variables.containerEntries.slice(0, variables.kept) + variables.podEntries) > 0 ? ['dotnet-guard set: ' + (variables.containerEntries.slice(0, variables.kept) + variables.podEntries).join('; ')] : []) + variables.podGroups).join(' | ') + " +
        "(variables.kept == size(variables.containerEntries) ? '' : '; ... and ' + string(size(variables.containerEntries) - variables.kept) + (size(variables.containerEntries) - variables.kept == 1 ? ' more container' : ' more containers'))",
    },
    {
      name: 'expressible',
      expression:
        `!(variables.spec.containers.exists(i, c, variables.dotnet[i] && has(c.env) && c.env.exists(e, e.name in ${celStrings(KNOBS)})) || ` +
        `variables.initContainers.exists(i, c, variables.dotnetInit[i] && has(c.env) && c.env.exists(e, e.name in ${celStrings(KNOBS)}))) && ` +
        '!(variables.wantsDefault && variables.defaultLabelSet && !variables.defaultLabelValid) && ' +
        `(variables.ceilingChange == '' || ${annotation}.matches(${celString(PLAIN)})) && ` +
        // Characters count as bytes only in ASCII (a code point is at most 2 UTF-16 units of 3 bytes); the count has no thousands separator below 1,000.
        `(size(variables.wholeRecord.join(' | ')) * 6 <= ${MUTATION_RECORD_MAX_BYTES} || variables.wholeRecord.join(' | ').matches('^[\\\\x00-\\\\x7f]*$')) && ` +
        'size(variables.containerEntries) - variables.kept < 1000',
    },
  ];
}

/** The JSON patch: every change, or none when the pod is left to the webhook (`expressible`). */
function patchExpression(config: PolicyConfig): string {
  const perContainer = (list: string, flags: string, field: string) =>
    `${list}.transformList(i, c, ${flags}[i], ${containerChanges(config, `'/spec/${field}/' + string(i)`).ops}).flatten()`;
  const annotationPath = (key: string) => celString(`/metadata/annotations/${pointer(key)}`);
  return [
    'variables.changed && variables.expressible ? (',
    `  ${perContainer('variables.spec.containers', 'variables.dotnet', 'containers')} +`,
    `  ${perContainer('variables.initContainers', 'variables.dotnetInit', 'initContainers')} +`,
    "  (has(object.metadata.annotations) ? [] : [JSONPatch{op: 'add', path: '/metadata/annotations', value: {}}]) +",
    `  (variables.anyDotnet && !variables.hasLimit ? [JSONPatch{op: 'add', path: ${annotationPath(PIDS_LIMIT_ANNOTATION)}, value: string(variables.budget)}] : []) +`,
    `  (variables.defaultValue > 0 ? [JSONPatch{op: 'add', path: ${annotationPath(PIDS_LIMIT_ANNOTATION)}, value: string(variables.defaultValue)}] : []) +`,
    `  (variables.ceilingValue != 0 ? [JSONPatch{op: 'add', path: ${annotationPath(PIDS_LIMIT_ANNOTATION)}, value: string(variables.ceilingValue)}] : []) +`,
    `  [JSONPatch{op: 'add', path: ${annotationPath(MUTATIONS_ANNOTATION)}, value: variables.record}]`,
    ') : []',
  ].join('\n');
}

/** dotnet-guard, pids-default and pids-ceiling on Pod CREATE. */
export function mutatingPolicy(config: PolicyConfig): object {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingAdmissionPolicy',
    metadata: { name: DOTNET_POLICY, labels: partOf('dotnet-guard') },
    spec: {
      // Ignore, as the mutating webhook: a change that cannot be computed (its cost budget spent on
      // a pod of thousands of containers) must not block the pod; the webhook, when it runs, and
      // the audit still see it.
      failurePolicy: 'Ignore',
      reinvocationPolicy: 'Never',
      matchConstraints: {
        resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
      },
      variables: variables(config),
      mutations: [{ patchType: 'JSONPatch', jsonPatch: { expression: patchExpression(config) } }],
    },
  };
}
