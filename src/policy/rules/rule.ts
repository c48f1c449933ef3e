// The shape of a rule. Like Pod Security Admission's checks, a rule is data:
// an id, a one-line description, optionally the config section it owns
// (options.ts), and exactly one function taking (context, options). The
// engine builds one context per evaluation and passes every rule the same one.

import type { PolicyConfig } from '../config.js';
import type { OptionSection, SectionValue } from '../options.js';
import type { PidsCeiling } from '../pids-budget.js';
import type { Mode, ObjectMeta, PodTemplate, QosClass, UserInfo } from '../types.js';
import type { WritablePart } from '../pod-copy.js';

/** Why something is not allowed: a short reason, a detail naming the parts at fault, and how to fix it. */
export interface CheckFailure {
  reason: string;
  detail: string;
  fix: string;
}

/** One change a mutation made, for the record annotation and human output. */
export interface Change {
  container?: string;
  summary: string;
  /**
   * Set when the change overrides something the pod author wrote (a pids-limit
   * above the ceiling): the author is told, as an admission warning and in the
   * `warnings` audit annotation, by the webhook that made the change.
   */
  warning?: string;
}

/** What every rule knows about the request, whatever it judges. */
export interface RuleContext {
  operation: 'CREATE' | 'UPDATE';
  /** The object's kind (`Pod`, `Deployment`, `Namespace`, ...), name (or `<generateName>*`) and namespace. */
  kind: string;
  name: string;
  namespace: string | undefined;
  mode: Mode;
  /** Labels of the object's namespace, when the caller knows them (undefined for a Namespace itself). */
  namespaceLabels: Readonly<Record<string, string>> | undefined;
  /** Whether the API server accepts spec.resources.limits.pid (KEP-6063): discovered by the caller, never guessed. */
  podPidLimitServed: boolean;
  userInfo: UserInfo;
  /** The whole policy: the policy-wide sections (`pids`, `defaultMode`), and other rules' sections a rule shares. */
  config: PolicyConfig;
  /**
   * Reports a problem the rule saw but did not (or could not) change, such as a
   * thread-pool cap the pod author voided: shown in every mode.
   */
  warn(message: string, container?: string): void;
}

/** The pod a Pod or workload will create. */
export interface PodContext extends RuleContext {
  /**
   * Mutation rules change it in place: a partial copy of the request in which
   * only the parts of their `writes` declaration may be written (pod-copy.ts);
   * check rules see it after all mutations.
   */
  pod: PodTemplate;
  /** The PID budget ceiling in the pod's namespace (the config's, or its valid namespace label). */
  pidsCeiling: PidsCeiling;
  /** The pod's QoS class after pidguard's mutations: set before the checks run, unset for mutations. */
  qosClass?: QosClass;
}

/** A Namespace CREATE or UPDATE, or a Pod UPDATE: only metadata is judged. */
export interface MetadataContext extends RuleContext {
  metadata: ObjectMeta;
  /** Undefined on CREATE. */
  oldMetadata: ObjectMeta | undefined;
}

interface RuleInfo<Section extends OptionSection | undefined> {
  /** kebab-case, unique, stable: it appears in metrics, logs and audit reports. */
  id: string;
  description: string;
  /** The config section the rule owns; the engine passes its parsed value as `options`. */
  options?: Section;
}

/** Judges the pod an object will create (after pidguard's own mutations). */
export interface PodCheckRule<Section extends OptionSection | undefined = OptionSection | undefined> extends RuleInfo<Section> {
  target: 'pod-check';
  check(context: PodContext & { qosClass: QosClass }, options: SectionValue<Section>): CheckFailure | undefined;
}

/**
 * Changes `context.pod` in place and says what it changed; must be idempotent.
 * It may write only the parts it declares in `writes` (pod-copy.ts copies
 * exactly those); anything else is shared with the request.
 */
export interface PodMutationRule<Section extends OptionSection | undefined = OptionSection | undefined> extends RuleInfo<Section> {
  target: 'pod-mutation';
  writes: readonly WritablePart[];
  /** Why a running pod that still lacks this rule's changes is an audit finding (it got past the webhook). */
  missingReason: string;
  mutate(context: PodContext, options: SectionValue<Section>): Change[];
}

/** Judges a namespace CREATE or UPDATE. */
export interface NamespaceCheckRule<Section extends OptionSection | undefined = OptionSection | undefined> extends RuleInfo<Section> {
  target: 'namespace-check';
  check(context: MetadataContext, options: SectionValue<Section>): CheckFailure | undefined;
}

/** Judges a Pod UPDATE (only its metadata can change what pidguard set). */
export interface PodUpdateCheckRule<Section extends OptionSection | undefined = OptionSection | undefined> extends RuleInfo<Section> {
  target: 'pod-update-check';
  check(context: MetadataContext & { oldMetadata: ObjectMeta; pidsCeiling: PidsCeiling }, options: SectionValue<Section>): CheckFailure | undefined;
}

export type Rule = PodCheckRule | PodMutationRule | NamespaceCheckRule | PodUpdateCheckRule;
