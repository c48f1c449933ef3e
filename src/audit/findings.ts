// Turns engine evaluations of existing objects into findings grouped by
// namespace and owner: a Deployment's 40 BestEffort pods (and its ReplicaSet,
// and its own template) are one finding, not 42. Pure: the caller lists and
// evaluates; this only aggregates, keeping memory proportional to owners, not
// objects.

import { mutationSummary, warningList, type Evaluation, type Mutation } from '../policy/engine.js';
import { RULES, type Rule } from '../policy/rules/index.js';
import type { KubeObject, Mode } from '../policy/types.js';

export interface NamespaceInfo {
  name: string;
  mode: Mode;
  /** Where the mode came from. */
  modeSource: 'label' | 'default';
  /** Why the webhook never judges this namespace, if it does not. */
  exemptBecause?: 'system namespace' | 'mode off';
  /** Set when the namespace's pidguard.io/mode label is invalid. */
  warning?: string;
}

export interface Owner {
  kind: string;
  name: string;
}

export interface AuditFinding {
  namespace: string;
  owner: Owner;
  ruleId: string;
  reason: string;
  /** The detail of the first object found; the others share the owner and rule. */
  detail: string;
  /** How to fix it, when the rule says (a check's violation). */
  fix?: string;
  /** Objects behind the finding, by kind. */
  objects: Record<string, number>;
  /** Up to three `Kind/name` examples. */
  examples: string[];
}

export interface NamespaceReport extends NamespaceInfo {
  objectsEvaluated: number;
  findings: AuditFinding[];
}

export interface AuditReport {
  namespaces: NamespaceReport[];
  summary: {
    namespaces: number;
    objectsEvaluated: number;
    /** Findings in namespaces the webhook judges. */
    findings: number;
    /** Findings in exempt namespaces (system namespaces, mode off): shown, not counted. */
    exemptFindings: number;
    byRule: Record<string, number>;
  };
}

export const RULE_WARNING_REASON = 'pidguard warns about this object\'s settings (the webhook admits it as it is)';
/** Why a running pod that still needs a rule's changes is a finding, by rule (each mutation rule says). */
const MISSING_CHANGES_REASONS: ReadonlyMap<string, string> = new Map(
  (RULES as readonly Rule[]).flatMap((rule) => (rule.target === 'pod-mutation' ? [[rule.id, rule.missingReason] as const] : [])),
);
/** For a mutation of a rule outside the registry (evaluate() with other rules). */
const MISSING_CHANGES_REASON = 'pod running without what pidguard would set (created before pidguard, while it was down, or in an exempt namespace)';
const MAX_EXAMPLES = 3;

export class FindingCollector {
  private readonly controllers = new Map<string, Owner>();
  private readonly findings = new Map<string, AuditFinding>();
  private readonly evaluated = new Map<string, number>();

  constructor(private readonly namespaces: ReadonlyMap<string, NamespaceInfo>) {}

  /** Remembers who controls a ReplicaSet or Job, so their pods group under the Deployment or CronJob. */
  rememberController(object: KubeObject): void {
    const controller = controllerOf(object);
    if (controller && object.metadata?.name) this.controllers.set(key(object.metadata.namespace, object.kind, object.metadata.name), controller);
  }

  add(object: KubeObject, evaluation: Evaluation): void {
    const namespace = object.metadata?.namespace ?? '';
    this.evaluated.set(namespace, (this.evaluated.get(namespace) ?? 0) + 1);
    const owner = this.ownerOf(object);
    for (const violation of evaluation.violations) {
      this.record(namespace, owner, violation.ruleId, violation.reason, violation.detail, object, violation.fix);
    }
    // A workload's template mutations are what its future pods will get, not a gap;
    // a running pod's are what it lacks.
    if (object.kind === 'Pod') {
      for (const [ruleId, mutations] of byRule(evaluation.mutations)) {
        const reason = MISSING_CHANGES_REASONS.get(ruleId) ?? MISSING_CHANGES_REASON;
        this.record(namespace, owner, ruleId, reason, `missing ${mutationSummary({ mutations })}`, object);
      }
    }
    // Warnings stand on templates too: the webhook does not change what they are about.
    for (const [ruleId, warned] of byRule(evaluation.ruleWarnings)) {
      this.record(namespace, owner, `${ruleId}/warning`, RULE_WARNING_REASON, warningList(warned).join('; '), object);
    }
  }

  /** Adds a finding that does not come from the engine (e.g. a pids-limit not enforced on its node). */
  addFinding(namespace: string, object: KubeObject, ruleId: string, reason: string, detail: string): void {
    this.record(namespace, this.ownerOf(object), ruleId, reason, detail, object);
  }

  report(): AuditReport {
    const byNamespace = new Map<string, AuditFinding[]>();
    for (const finding of this.findings.values()) {
      const list = byNamespace.get(finding.namespace) ?? [];
      list.push(finding);
      byNamespace.set(finding.namespace, list);
    }
    const namespaces = [...this.namespaces.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((info) => ({
        ...info,
        objectsEvaluated: this.evaluated.get(info.name) ?? 0,
        findings: (byNamespace.get(info.name) ?? []).sort(
          (a, b) => `${a.owner.kind}/${a.owner.name}/${a.ruleId}`.localeCompare(`${b.owner.kind}/${b.owner.name}/${b.ruleId}`),
        ),
      }));
    const byRule: Record<string, number> = {};
    let findings = 0;
    let exemptFindings = 0;
    for (const ns of namespaces) {
      for (const finding of ns.findings) {
        if (ns.exemptBecause) {
          exemptFindings += 1;
          continue;
        }
        findings += 1;
        byRule[finding.ruleId] = (byRule[finding.ruleId] ?? 0) + 1;
      }
    }
    const objectsEvaluated = [...this.evaluated.values()].reduce((sum, n) => sum + n, 0);
    return { namespaces, summary: { namespaces: namespaces.length, objectsEvaluated, findings, exemptFindings, byRule } };
  }

  /** The top-level owner: Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob, else the controller or itself. */
  private ownerOf(object: KubeObject): Owner {
    const self = { kind: object.kind ?? '', name: object.metadata?.name ?? '' };
    let owner = controllerOf(object) ?? self;
    const namespace = object.metadata?.namespace;
    for (let depth = 0; depth < 3; depth += 1) {
      const next = this.controllers.get(key(namespace, owner.kind, owner.name));
      if (!next) break;
      owner = next;
    }
    return owner;
  }

  private record(namespace: string, owner: Owner, ruleId: string, reason: string, detail: string, object: KubeObject, fix?: string): void {
    const id = `${namespace}\u0000${owner.kind}\u0000${owner.name}\u0000${ruleId}`;
    let finding = this.findings.get(id);
    if (!finding) {
      finding = { namespace, owner, ruleId, reason, detail, ...(fix ? { fix } : {}), objects: {}, examples: [] };
      this.findings.set(id, finding);
    }
    const kind = object.kind ?? '';
    finding.objects[kind] = (finding.objects[kind] ?? 0) + 1;
    if (finding.examples.length < MAX_EXAMPLES) finding.examples.push(`${kind}/${object.metadata?.name ?? ''}`);
  }
}

function byRule<T extends Pick<Mutation, 'ruleId'>>(items: readonly T[]): Map<string, T[]> {
  const grouped = new Map<string, T[]>();
  for (const item of items) {
    const list = grouped.get(item.ruleId);
    if (list) list.push(item);
    else grouped.set(item.ruleId, [item]);
  }
  return grouped;
}

function controllerOf(object: KubeObject): Owner | undefined {
  const reference = object.metadata?.ownerReferences?.find((ref) => ref.controller) ?? undefined;
  return reference ? { kind: reference.kind, name: reference.name } : undefined;
}

function key(namespace: string | undefined, kind: string | undefined, name: string): string {
  return `${namespace ?? ''}\u0000${kind ?? ''}\u0000${name}`;
}
