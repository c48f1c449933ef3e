// The validating admission policies: require-resources for Pods and the
// workload kinds' pod templates, and namespace-label-guard. Each expression
// restates its rule (rules/require-resources.ts, qos.ts,
// rules/namespace-label-guard.ts) and its message is the webhook's denial
// message (engine.ts denialMessage), word for word.

import type { PolicyConfig } from '../config.js';
import { MAX_WARNING_BYTES } from '../engine.js';
import { LABEL_PREFIX, PIDS_LIMIT_ANNOTATION, REQUIRE_RESOURCES_LABEL, REQUIRE_RESOURCES_WARN_LABEL } from '../keys.js';
import { RESOURCE_LEVELS } from '../rules/require-resources.js';
import { guardians } from '../rules/namespace-label-guard.js';
import { celString, celStrings } from './cel.js';
import { OLD_TEMPLATE, podVariables, SUBJECT, TEMPLATE, type Variable } from './pod-cel.js';

const API_VERSION = 'admissionregistration.k8s.io/v1';
export const PODS_POLICY = 'pidguard-require-resources';
export const WARN_POLICY = 'pidguard-require-resources-warn';
export const NAMESPACES_POLICY = 'pidguard-namespace-labels';
export const UNCAPPED_POLICY = 'pidguard-dotnet-uncapped';

/** Rules of the workload kinds whose pod template is judged (workloads.ts). */
export const WORKLOAD_RULES = [
  { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['replicationcontrollers'] },
  { apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'] },
  { apiGroups: ['batch'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['jobs', 'cronjobs'] },
];

/** A positive cpu or memory quantity in resource list `list` (an expression that may be absent). */
function positiveIn(list: string, name: 'cpu' | 'memory'): string {
  return `(has(${list}) && '${name}' in ${list} && quantity(string(${list}['${name}'])).isGreaterThan(quantity('0')))`;
}

function has(list: string, name: string): string {
  return `(has(${list}) && '${name}' in ${list})`;
}

/** Any positive cpu or memory request or limit in `resources` (qos.ts: a container's or the pod's). */
function anyPositive(resources: string): string {
  const lists = [`${resources}.requests`, `${resources}.limits`];
  return `(has(${resources}) && (${lists.flatMap((list) => [positiveIn(list, 'cpu'), positiveIn(list, 'memory')]).join(' || ')}))`;
}

/**
 * Whether container `c` will have a positive `field` of `name` once admitted:
 * its own (a request defaults to the limit), or the one dotnet-guard fills in
 * for a .NET container (`dotnet`) when the pod sets no pod-level resources.
 */
function willHave(field: 'requests' | 'limits', name: 'cpu' | 'memory', dotnet: string): string {
  const request = 'c.resources.requests';
  const limit = 'c.resources.limits';
  const filled = `(${dotnet} && !variables.podLevelResources)`;
  const fromLimit = `(has(c.resources) && ${has(limit, name)} ? ${positiveIn(limit, name)} : ${filled})`;
  if (field === 'limits') return fromLimit;
  return `(has(c.resources) && ${has(request, name)} ? ${positiveIn(request, name)} : ${fromLimit})`;
}

/**
 * Whether the pod-level request of `name` is positive once the API server has
 * defaulted it (qos.ts podLevelRequestDefaults): a Pod arrives so defaulted, a
 * workload template does not but its pods will. With pod-level limits, a
 * missing request is the containers' aggregate when any of them requests it
 * (positive when one request is), else the limit.
 */
function podRequestExpression(name: 'cpu' | 'memory'): string {
  const resources = 'variables.spec.resources';
  const asks = `(variables.spec.containers + variables.initContainers).exists(c, has(c.resources) && (${has('c.resources.requests', name)} || ${has('c.resources.limits', name)}))`;
  const positive = `(variables.spec.containers + variables.initContainers).exists(c, has(c.resources) && ${has('c.resources.requests', name)} ? ${positiveIn('c.resources.requests', name)} : has(c.resources) && ${positiveIn('c.resources.limits', name)})`;
  return (
    `variables.podLevelResources && (${has(`${resources}.requests`, name)} ? ${positiveIn(`${resources}.requests`, name)} : ` +
    `has(${resources}.limits) && size(${resources}.limits) > 0 && (${asks} ? ${positive} : ${positiveIn(`${resources}.limits`, name)}))`
  );
}

const POD_REQUEST_VARIABLES: Variable[] = [
  { name: 'podRequestsCpu', expression: podRequestExpression('cpu') },
  { name: 'podRequestsMemory', expression: podRequestExpression('memory') },
];

/** The `requests.cpu`-style fields container `c` lacks, counting pod-level values (require-resources.ts gapsOf). */
function gaps(fields: Array<'requests' | 'limits'>, dotnet: string): string {
  const parts: string[] = [];
  for (const field of fields) {
    for (const name of ['cpu', 'memory'] as const) {
      const covered =
        field === 'requests'
          ? `variables.podRequests${name === 'cpu' ? 'Cpu' : 'Memory'}`
          : `(variables.podLevelResources && ${positiveIn(`variables.spec.resources.${field}`, name)})`;
      parts.push(`(${willHave(field, name, dotnet)} || ${covered} ? [] : ['${field}.${name}'])`);
    }
  }
  return parts.join(' + ');
}

const BEST_EFFORT_FIX = 'set resources on at least one container, for example resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}';

/** `namespaceObject.metadata.labels[label]` when it names a level (label values are [A-Za-z0-9._-]{0,63}: no quoting needed). */
function labelled(label: string): { present: string; value: string; valid: string } {
  const value = `namespaceObject.metadata.labels[${celString(label)}]`;
  const present = `(namespaceObject != null && has(namespaceObject.metadata.labels) && ${celString(label)} in namespaceObject.metadata.labels)`;
  return { present, value, valid: `(${present} && ${value} in ${celStrings(RESOURCE_LEVELS)})` };
}

/** mutation-record.ts joinWithin's room in a warning of MAX_WARNING_BYTES. */
const WARNING_ROOM = MAX_WARNING_BYTES - 32;

const MODE_LEVEL = labelled(REQUIRE_RESOURCES_LABEL);
const WARN_LEVEL = labelled(REQUIRE_RESOURCES_WARN_LABEL);

/**
 * Every level's check as lazily evaluated variables (the API server evaluates a
 * variable only when an expression reads it), so the namespace picks the level
 * at admission time: `failsAt(level)` and `failureText(level)` for a CEL level
 * expression, as require-resources.ts failureAt and its messages.
 */
function levelVariables(config: PolicyConfig): Variable[] {
  const entry = (list: string, flags: string) =>
    `${list}.transformList(i, c, size(${flags}[i]) > 0, '"' + c.name + '" (' + ${flags}[i].join(', ') + ')')`;
  const missing = (flags: string, initFlags: string) => `${entry('variables.spec.containers', flags)} + ${entry('variables.initContainers', initFlags)}`;
  return [
    ...POD_REQUEST_VARIABLES,
    {
      name: 'level',
      expression: `${MODE_LEVEL.valid} ? ${MODE_LEVEL.value} : ${celString(config.requireResources.level)}`,
    },
    {
      name: 'bestEffort',
      expression:
        `variables.podLevelResources ? !(${anyPositive('variables.spec.resources')} || variables.podRequestsCpu || variables.podRequestsMemory) : ` +
        `!(variables.spec.containers.exists(i, c, variables.dotnet[i] || ${anyPositive('c.resources')}) || ` +
        `variables.initContainers.exists(i, c, variables.dotnetInit[i] || ${anyPositive('c.resources')}))`,
    },
    { name: 'requestGaps', expression: `variables.spec.containers.transformList(i, c, ${gaps(['requests'], 'variables.dotnet[i]')})` },
    { name: 'initRequestGaps', expression: `variables.initContainers.transformList(i, c, ${gaps(['requests'], 'variables.dotnetInit[i]')})` },
    { name: 'allGaps', expression: `variables.spec.containers.transformList(i, c, variables.requestGaps[i] + ${gaps(['limits'], 'variables.dotnet[i]')})` },
    { name: 'initAllGaps', expression: `variables.initContainers.transformList(i, c, variables.initRequestGaps[i] + ${gaps(['limits'], 'variables.dotnetInit[i]')})` },
    { name: 'missingRequests', expression: missing('variables.requestGaps', 'variables.initRequestGaps') },
    { name: 'missingAll', expression: missing('variables.allGaps', 'variables.initAllGaps') },
  ];
}

function failsAt(level: string): string {
  return `(${level} == 'not-besteffort' ? variables.bestEffort : ${level} == 'requests' ? size(variables.missingRequests) > 0 : size(variables.missingAll) > 0)`;
}

/** `reason: detail. Fix: fix.` of the failure at `level` (a CEL expression), as require-resources.ts words it. */
function failureText(level: string): string {
  const names = "(variables.spec.containers.map(c, '\"' + c.name + '\"') + variables.initContainers.map(c, '\"' + c.name + '\"'))";
  const detail =
    "(variables.podLevelResources ? 'spec.resources sets no positive cpu or memory request or limit' : " +
    `(size(${names}) == 1 ? 'container ' + ${names}[0] + ' sets' : 'containers ' + ${names}.join(', ') + ' set') + ' no cpu or memory requests or limits')`;
  const bestEffort = `'BestEffort pod (no cpu or memory requests or limits): ' + ${detail} + ${celString(`. Fix: ${BEST_EFFORT_FIX}.`)}`;
  const perContainer = (missing: string, what: string) =>
    `${celString(`containers without cpu and memory ${what}: `)} + (size(${missing}) == 1 ? 'container ' : 'containers ') + ${missing}.join(', ') + ` +
    celString(` must set them. Fix: set cpu and memory ${what} on every container, for example resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 500m, memory: 256Mi}}.`);
  return (
    `(${level} == 'not-besteffort' ? ${bestEffort} : ${level} == 'requests' ? ${perContainer('variables.missingRequests', 'requests')} : ` +
    `${perContainer('variables.missingAll', 'requests and limits')})`
  );
}

/** What both require-resources policies judge: Pod CREATE and workload CREATE/UPDATE that change the pod template. */
function requireResourcesSpec(config: PolicyConfig): { variables: Variable[] } & Record<string, unknown> {
  return {
    // Fail: an expression that errs or runs out of its cost budget (a pod of thousands of
    // containers) is then handled by each binding's actions (denied in enforce, warned in
    // audit), never silently admitted.
    failurePolicy: 'Fail',
    matchConstraints: {
      resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }, ...WORKLOAD_RULES],
    },
    matchConditions: [
      // As engine.ts: an UPDATE that leaves the pod template as it was is not judged again.
      { name: 'creates-or-changes-pod-template', expression: `request.operation != 'UPDATE' || (${TEMPLATE}) != (${OLD_TEMPLATE})` },
    ],
    variables: [...podVariables(config), ...levelVariables(config)],
  };
}

/** require-resources at the namespace's level (its pidguard.io/require-resources label, else the config's). */
export function podsPolicy(config: PolicyConfig): object {
  return {
    apiVersion: API_VERSION,
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: PODS_POLICY, labels: partOf('require-resources') },
    spec: {
      ...requireResourcesSpec(config),
      validations: [
        {
          expression: `!${failsAt('variables.level')}`,
          messageExpression: `'pidguard denied ' + ${SUBJECT} + ': require-resources: ' + ${failureText('variables.level')}`,
          // `message` stands in when the messageExpression itself fails (its cost budget spent).
          message: 'pidguard denied: require-resources (see docs/ADMISSION-POLICIES.md)',
          reason: 'Forbidden',
        },
      ],
    },
  };
}

/**
 * The webhook's require-resources warnings, bound with Warn and Audit where the
 * rule runs (enforce and audit): an invalid level label, and the failures at
 * the namespace's pidguard.io/require-resources-warn level that the mode's
 * level does not already report (as require-resources.ts check).
 */
export function warnPolicy(config: PolicyConfig): object {
  const notOneOf = ` is not one of ${RESOURCE_LEVELS.join(', ')}; `;
  const invalid = (label: { present: string; valid: string; value: string }, name: string, otherwise: string) =>
    `${celString(`require-resources: namespace label ${name}="`)} + ${label.value} + ${celString(`"${notOneOf}${otherwise}`)}`;
  const modeFails = failsAt('variables.level');
  const spec = requireResourcesSpec(config);
  return {
    apiVersion: API_VERSION,
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: WARN_POLICY, labels: partOf('require-resources') },
    spec: {
      ...spec,
      variables: [
        ...spec.variables,
        {
          name: 'warnFailure',
          expression: `'require-resources: level ' + ${WARN_LEVEL.value} + ${celString(` (namespace label ${REQUIRE_RESOURCES_WARN_LABEL}): `)} + ${failureText(WARN_LEVEL.value)}`,
        },
      ],
      validations: [
        {
          expression: `!${MODE_LEVEL.present} || ${MODE_LEVEL.valid}`,
          messageExpression: invalid(MODE_LEVEL, REQUIRE_RESOURCES_LABEL, `using the config level ${config.requireResources.level}`),
          message: `require-resources: namespace label ${REQUIRE_RESOURCES_LABEL} is not a level`,
          reason: 'Invalid',
        },
        {
          // The webhook reads the warn label only when the mode's level passes.
          expression: `${modeFails} || !${WARN_LEVEL.present} || ${WARN_LEVEL.valid}`,
          messageExpression: invalid(WARN_LEVEL, REQUIRE_RESOURCES_WARN_LABEL, 'no warn level applies'),
          message: `require-resources: namespace label ${REQUIRE_RESOURCES_WARN_LABEL} is not a level`,
          reason: 'Invalid',
        },
        {
          // No double report: a failure the mode's level reports is not warned again.
          expression: `${modeFails} || !${WARN_LEVEL.valid} || !${failsAt(WARN_LEVEL.value)}`,
          // Cut as engine.ts warningList cuts one warning (joinWithin: over its room, a third of it and '...');
          // container names are DNS labels by now (validation runs before this), so characters are bytes.
          messageExpression: `size(variables.warnFailure) > ${WARNING_ROOM} ? variables.warnFailure.substring(0, ${Math.floor(WARNING_ROOM / 3)}) + '...' : variables.warnFailure`,
          message: `require-resources: the namespace's ${REQUIRE_RESOURCES_WARN_LABEL} level fails (see docs/ADMISSION-POLICIES.md)`,
          reason: 'Forbidden',
        },
      ],
    },
  };
}

/**
 * Says so when a .NET pod is admitted without its PID budget: neither the
 * webhook (not reached) nor the mutating policy (which leaves some pods to the
 * webhook, or ran out of its CEL budget, failing open) set it. Bound with
 * Warn and Audit where the mutation is bound: a gap is never silent.
 */
export function uncappedPolicy(config: PolicyConfig): object {
  const limit = celString(PIDS_LIMIT_ANNOTATION);
  return {
    apiVersion: API_VERSION,
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: UNCAPPED_POLICY, labels: partOf('dotnet-guard') },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }] },
      variables: podVariables(config),
      validations: [
        {
          expression: `!(variables.dotnet.exists(f, f) || variables.dotnetInit.exists(f, f)) || ${limit} in variables.annotations`,
          message: `pidguard: a .NET pod without ${PIDS_LIMIT_ANNOTATION}`,
          messageExpression:
            `'pidguard: ' + ${SUBJECT} + ${celString(
              ` has .NET containers but no ${PIDS_LIMIT_ANNOTATION}: neither pidguard's webhook (not reached) nor its mutating policy ` +
              '(which leaves pods whose .NET containers set their own thread-pool knobs to the webhook, or ran out of its CEL budget) ' +
              'capped it; `pidguard audit` reports it, and recreating it while the webhook runs caps it',
            )}`,
          reason: 'Forbidden',
        },
      ],
    },
  };
}

/** namespace-label-guard: pidguard.io/* namespace labels change only by namespaceGuard's users and groups. */
export function namespacesPolicy(config: PolicyConfig): object {
  const prefix = celString(LABEL_PREFIX);
  const { users, groups } = config.namespaceGuard;
  const describe =
    "!(k in variables.before) ? 'add ' + k + '=' + variables.after[k] : !(k in variables.after) ? 'remove ' + k : " +
    // Split right after one CEL literal, which boundaries.test.ts's import scan would otherwise take for an import.
    "'change ' + k + ' from '" + ' + variables.before[k] + ' + "' to ' + variables.after[k]";
  return {
    apiVersion: API_VERSION,
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: NAMESPACES_POLICY, labels: partOf('namespace-label-guard') },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules: [
          { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['namespaces'] },
          // kube-apiserver keeps labels sent through these subresources too (FACTS.md).
          { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['namespaces/status', 'namespaces/finalize'] },
        ],
      },
      variables: [
        { name: 'before', expression: 'oldObject != null && has(oldObject.metadata.labels) ? oldObject.metadata.labels : {}' },
        { name: 'after', expression: 'has(object.metadata.labels) ? object.metadata.labels : {}' },
        {
          name: 'changed',
          expression:
            `(variables.after.filter(k, k.startsWith(${prefix}) && !(k in variables.before && variables.before[k] == variables.after[k])) + ` +
            `variables.before.filter(k, k.startsWith(${prefix}) && !(k in variables.after))).sort()`,
        },
        {
          name: 'guardian',
          expression: `request.userInfo.username in ${celStrings(users)} || (has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in ${celStrings(groups)}))`,
        },
      ],
      validations: [
        {
          expression: 'size(variables.changed) == 0 || variables.guardian',
          message: `pidguard denied: namespace-label-guard: only ${guardians(config.namespaceGuard)} may change pidguard.io/* labels`,
          messageExpression:
            "'pidguard denied namespace \"' + object.metadata.name + '\": namespace-label-guard: protected label ' + " +
            "(size(variables.changed) == 1 ? 'change' : 'changes') + ': user \"' + " +
            "(request.userInfo.username != '' ? request.userInfo.username : '(unknown)') + '\" may not ' + " +
            `variables.changed.map(k, ${describe}).join(', ') + ` +
            celString(`. Fix: ask a member of ${guardians(config.namespaceGuard)} to change pidguard.io/* labels.`),
          reason: 'Forbidden',
        },
      ],
    },
  };
}

export function partOf(rule: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'pidguard', 'app.kubernetes.io/part-of': 'pidguard', 'pidguard.io/rule': rule };
}
