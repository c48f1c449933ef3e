// The shape of a rule. Like Pod Security Admission's checks, a rule is data:
// an id, a one-line description, and exactly one function.

import type { PolicyConfig } from '../config.js';
import type { ObjectMeta, PodTemplate, QosClass, UserInfo } from '../types.js';

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

/** What a mutation rule may know besides the pod, and how it reports what it leaves as it is. */
export interface MutationContext {
  /** Labels of the pod's namespace, when the caller knows them. */
  namespaceLabels?: Readonly<Record<string, string>>;
  /**
   * Reports a problem the rule saw but did not (or could not) change, such as a
   * thread-pool cap the pod author voided: shown in every mode.
   */
  warn(message: string, container?: string): void;
}

interface RuleInfo {
  /** kebab-case, unique, stable: it appears in metrics, logs and audit reports. */
  id: string;
  description: string;
}

/** What the engine derives once per pod, so no check computes it again. */
export interface PodFacts {
  qosClass: QosClass;
}

/** Judges the pod an object will create (after pidguard's own mutations). */
export interface PodCheckRule extends RuleInfo {
  target: 'pod-check';
  check(pod: PodTemplate, config: PolicyConfig, facts: PodFacts): CheckFailure | undefined;
}

/**
 * Changes the pod in place and says what it changed; must be idempotent. The
 * pod is a partial copy (pod-copy.ts): a rule may set fields of the template's
 * metadata, labels, annotations and spec, and of each container and init
 * container, add or replace env entries, and change resources. Anything deeper
 * is shared with the request and must not be written.
 */
export interface PodMutationRule extends RuleInfo {
  target: 'pod-mutation';
  mutate(pod: PodTemplate, config: PolicyConfig, context: MutationContext): Change[];
}

export interface NamespaceChange {
  namespace: ObjectMeta;
  /** Undefined on CREATE. */
  oldNamespace: ObjectMeta | undefined;
  userInfo: UserInfo;
}

/** Judges a namespace CREATE or UPDATE. */
export interface NamespaceCheckRule extends RuleInfo {
  target: 'namespace-check';
  check(change: NamespaceChange, config: PolicyConfig): CheckFailure | undefined;
}

export interface PodUpdate {
  pod: ObjectMeta;
  oldPod: ObjectMeta;
  userInfo: UserInfo;
  /** Labels of the pod's namespace, when the caller knows them (the ceiling). */
  namespaceLabels?: Readonly<Record<string, string>>;
}

/** Judges a Pod UPDATE (only its metadata can change what pidguard set). */
export interface PodUpdateCheckRule extends RuleInfo {
  target: 'pod-update-check';
  check(update: PodUpdate, config: PolicyConfig): CheckFailure | undefined;
}

export type Rule = PodCheckRule | PodMutationRule | NamespaceCheckRule | PodUpdateCheckRule;
