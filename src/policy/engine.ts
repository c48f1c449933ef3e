// The policy engine: one object in, one decision out. No I/O, no globals.
// The webhook, `pidguard evaluate` and `pidguard audit` all call evaluate(),
// so they cannot disagree.

import type { PolicyConfig } from './config.js';
import { diff } from './json-patch.js';
import { copyForMutation } from './pod-copy.js';
import { podShapeProblem } from './pod-shape.js';
import { computeQosClass } from './qos.js';
import { RULES, type Rule } from './rules/index.js';
import type {
  KubeObject, Mode, ObjectMeta, Operation, PatchOperation, PodTemplate, QosClass, UserInfo,
} from './types.js';
import { isPodShaped, isRecord, podTemplateOf } from './workloads.js';

export interface EvaluationRequest {
  /** The object as sent (null on DELETE). */
  object: KubeObject | null | undefined;
  /** The object before an UPDATE. */
  oldObject?: KubeObject | null;
  operation: Operation;
  subResource?: string;
  /** The effective mode for the object's namespace, decided by the caller. */
  mode: Mode;
  config: PolicyConfig;
  userInfo?: UserInfo;
  /**
   * Which admission phase asks (default both, as `evaluate` and `audit` do).
   * mutating: only the mutations and their patch (no checks, no QoS class);
   * validating: mutations and checks, but no patch (the pod was already patched,
   * or, when `mutations` is not empty, the mutating phase did not run).
   */
  phase?: 'mutating' | 'validating' | 'both';
}

export interface Violation {
  ruleId: string;
  reason: string;
  detail: string;
  fix: string;
}

export interface Mutation {
  ruleId: string;
  container?: string;
  summary: string;
}

export interface Evaluation {
  kind: string;
  /** metadata.name, or `<generateName>*` for objects named by the API server. */
  name: string;
  namespace?: string;
  mode: Mode;
  /** False when pidguard has nothing to say about this request; skipReason says why. */
  evaluated: boolean;
  skipReason?: string;
  /**
   * Set when the object's pod has a shape no API server sends (a field of the
   * wrong type): nothing is judged. The webhook allows it, since the API
   * server's own validation rejects it; `pidguard evaluate` reports it as an error.
   */
  malformed?: string;
  allowed: boolean;
  /** Why the request is denied (enforce mode only). */
  message?: string;
  violations: Violation[];
  /** Changes to the pod: applied through `patch` for Pods, what created pods will get for workloads. */
  mutations: Mutation[];
  /** RFC 6902 patch for the given object: only for Pod CREATE in enforce mode. */
  patch: PatchOperation[];
  /** Admission warnings (audit mode: what enforce would have done). */
  warnings: string[];
  /** Audit annotations (audit mode: `would-deny`, `would-mutate`). */
  auditAnnotations: Record<string, string>;
  /** QoS class of the pod as it will run, after pidguard's mutations (not computed in the mutating phase). */
  qosClass?: QosClass;
}

export function evaluate(request: EvaluationRequest, rules: readonly Rule[] = RULES): Evaluation {
  const object = request.object ?? request.oldObject ?? {};
  // Completed with Object.assign rather than `{ ...base, more }`: V8 (Node 20)
  // builds a spread followed by more properties about 10x slower, per review.
  const base: Evaluation = {
    kind: typeof object.kind === 'string' ? object.kind : '',
    name: nameOf(object.metadata),
    namespace: object.metadata?.namespace,
    mode: request.mode,
    evaluated: false,
    allowed: true,
    violations: [],
    mutations: [],
    patch: [],
    warnings: [],
    auditAnnotations: {},
  };
  const skip = skipReason(request, base.kind);
  if (skip) return Object.assign(base, { skipReason: skip });

  if (base.kind !== 'Namespace') {
    const problem = podShapeProblem(request.object as KubeObject);
    if (problem) return Object.assign(base, { skipReason: `malformed object: ${problem}`, malformed: problem });
  }
  const judged = base.kind === 'Namespace' ? judgeNamespace(request, rules) : judgePod(request, rules);
  return decide(base, judged, request.mode);
}

function skipReason(request: EvaluationRequest, kind: string): string | undefined {
  if (request.mode === 'off') return 'mode off';
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return `${request.operation} is not policed`;
  // A Namespace's labels can be changed through its status and finalize subresources too
  // (kube-apiserver persists metadata from both), so the label guard sees every Namespace UPDATE.
  if (request.subResource && kind !== 'Namespace') return `subresource ${request.subResource} is not policed`;
  if (!isRecord(request.object)) return 'no object';
  if (kind !== 'Namespace' && !isPodShaped(kind)) return `kind ${kind || '(none)'} is not policed`;
  if (kind === 'Pod' && request.operation === 'UPDATE') {
    return 'pod updates cannot change resources, env or QoS class';
  }
  if (kind !== 'Namespace' && request.operation === 'UPDATE' && request.oldObject) {
    const before = podTemplateOf(request.oldObject);
    const after = podTemplateOf(request.object);
    if (before && after && sameJson(before, after)) return 'pod template unchanged';
  }
  return undefined;
}

type Judgement = Pick<Evaluation, 'violations' | 'mutations' | 'patch' | 'qosClass'>;

function judgePod(request: EvaluationRequest, rules: readonly Rule[]): Judgement {
  const original = request.object as KubeObject;
  const mutated = copyForMutation(original);
  const pod = podTemplateOf(mutated);
  if (!pod) {
    // No pod spec to judge: the API server's own validation rejects the object.
    return { violations: [], mutations: [], patch: [] };
  }
  const mutations: Mutation[] = [];
  for (const rule of rules) {
    if (rule.target !== 'pod-mutation') continue;
    for (const change of rule.mutate(pod, request.config)) mutations.push({ ruleId: rule.id, ...change });
  }
  const phase = request.phase ?? 'both';
  const violations: Violation[] = [];
  let qosClass: QosClass | undefined;
  if (phase !== 'mutating') {
    const facts = { qosClass: computeQosClass(pod.spec) };
    qosClass = facts.qosClass;
    for (const rule of rules) {
      if (rule.target !== 'pod-check') continue;
      const finding = rule.check(pod, request.config, facts);
      if (finding) violations.push({ ruleId: rule.id, ...finding });
    }
  }
  const patchable = phase !== 'validating' && original.kind === 'Pod' && request.operation === 'CREATE';
  // The copy shares all the rules left alone with the original, so the diff walks only what they changed.
  const patch = patchable && mutations.length > 0 ? diff(original, mutated) : [];
  return { violations, mutations, patch, ...(qosClass ? { qosClass } : {}) };
}

function judgeNamespace(request: EvaluationRequest, rules: readonly Rule[]): Judgement {
  const change = {
    namespace: request.object?.metadata ?? {},
    oldNamespace: request.operation === 'UPDATE' ? (request.oldObject?.metadata ?? {}) : undefined,
    userInfo: request.userInfo ?? {},
  };
  const violations: Violation[] = [];
  for (const rule of rules) {
    if (rule.target !== 'namespace-check') continue;
    const finding = rule.check(change, request.config);
    if (finding) violations.push({ ruleId: rule.id, ...finding });
  }
  return { violations, mutations: [], patch: [] };
}

/** Applies the mode: enforce denies and patches; audit only tells. */
function decide(base: Evaluation, judged: Judgement, mode: Mode): Evaluation {
  const denial = judged.violations.length > 0 ? denialMessage({ kind: base.kind, name: base.name, violations: judged.violations }) : undefined;
  if (mode === 'enforce') {
    return Object.assign(base, judged, { evaluated: true, allowed: denial === undefined, message: denial });
  }
  const warnings: string[] = [];
  const auditAnnotations: Record<string, string> = {};
  if (denial) {
    warnings.push(`audit mode, enforce would deny: ${denial}`);
    auditAnnotations['would-deny'] = denial;
  }
  if (judged.mutations.length > 0) {
    const summary = mutationSummary(judged);
    warnings.push(`audit mode, enforce would set: ${summary}`);
    auditAnnotations['would-mutate'] = summary;
  }
  return Object.assign(base, judged, { evaluated: true, allowed: true, patch: [], warnings, auditAnnotations });
}

/** `Deployment "web": require-resources: BestEffort pod (...): containers "a" set ... Fix: ...`. */
export function denialMessage(evaluation: Pick<Evaluation, 'kind' | 'name' | 'violations'>): string {
  const subject =
    evaluation.kind === 'Pod' || evaluation.kind === 'Namespace'
      ? `${evaluation.kind.toLowerCase()} "${evaluation.name}"`
      : `${evaluation.kind} "${evaluation.name}" (its pod template)`;
  const parts = evaluation.violations.map((v) => `${v.ruleId}: ${v.reason}: ${v.detail}. Fix: ${v.fix}.`);
  return `pidguard denied ${subject}: ${parts.join(' ')}`;
}

export function mutationSummary(evaluation: Pick<Evaluation, 'mutations'>): string {
  return evaluation.mutations
    .map((m) => (m.container ? `container "${m.container}": ${m.summary}` : m.summary))
    .join('; ');
}

function nameOf(metadata: ObjectMeta | undefined): string {
  if (metadata?.name) return metadata.name;
  if (metadata?.generateName) return `${metadata.generateName}*`;
  return '(unnamed)';
}

function sameJson(a: PodTemplate, b: PodTemplate): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** Key-sorted copy, so that field order does not make two equal templates differ. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (!isRecord(value)) return value;
  return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical(value[key])]));
}
