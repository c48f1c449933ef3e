// What pidguard answers to one admission request. The policy is the engine's;
// this file only picks the mode and shapes the engine's evaluation into the
// answer each webhook gives:
// - /mutate returns the patch only: it never denies, and warns only about the
//   values its patch overrides (which /validate, seeing the patched pod, cannot
//   see); every other warning /validate gives, as it sees the same pod.
// - /validate returns the decision, warnings and audit annotations.

import type { NamespaceLabelSource } from '../kube/namespace-labels.js';
import type { PolicyConfig } from '../policy/config.js';
import {
  changeWarnings, evaluate, mutationSummary, warningList, warningsAnnotation, WARNINGS_AUDIT_ANNOTATION, type Evaluation,
} from '../policy/engine.js';
import type { Mode } from '../policy/types.js';
import type { AdmissionRequest } from './admission-review.js';
import { modeForRequest, type LookupWait, type RequestMode } from './namespace-mode.js';
import { allowed, denied, patched, withAuditAnnotations, withWarnings, type ReviewResponse } from './response.js';

export type WebhookName = 'mutate' | 'validate';
export const WEBHOOKS: readonly WebhookName[] = ['mutate', 'validate'];

export interface AdmissionOutcome {
  response: ReviewResponse;
  evaluation: Evaluation;
  mode: Mode;
  namespaceLookup: RequestMode['lookup'];
}

export interface AdmissionHandlerOptions {
  /** The config, or where to get the one in use (a reloaded file): read once per review. */
  config: PolicyConfig | (() => PolicyConfig);
  namespaceLabels: NamespaceLabelSource;
  /** Whether the API server accepts spec.resources.limits.pid right now (KEP-6063 discovery); default never. */
  podPidLimitServed?: () => boolean;
}

/**
 * Synchronous unless the namespace's labels must be read from the API server. `wait` is asked
 * before waiting for them; when it says no, the review is judged at once in the default mode.
 */
export type AdmissionHandler = (webhook: WebhookName, request: AdmissionRequest, wait?: LookupWait) => AdmissionOutcome | Promise<AdmissionOutcome>;

export function createAdmissionHandler({ config, namespaceLabels, podPidLimitServed }: AdmissionHandlerOptions): AdmissionHandler {
  const configInUse = typeof config === 'function' ? config : () => config;
  const answer = (webhook: WebhookName, request: AdmissionRequest, config: PolicyConfig, requestMode: RequestMode): AdmissionOutcome => {
    const evaluation = evaluate({
      object: request.object,
      oldObject: request.oldObject,
      operation: request.operation,
      subResource: request.subResource,
      mode: requestMode.mode,
      config,
      userInfo: request.userInfo,
      namespaceLabels: requestMode.labels,
      podPidLimitServed: podPidLimitServed?.() ?? false,
      phase: webhook === 'mutate' ? 'mutating' : 'validating',
    });
    const response = webhook === 'mutate' ? mutationResponse(evaluation) : validationResponse(evaluation, requestMode);
    return { response, evaluation, mode: requestMode.mode, namespaceLookup: requestMode.lookup };
  };
  return (webhook, request, wait) => {
    const config = configInUse();
    const requestMode = modeForRequest(request, config.defaultMode, namespaceLabels, wait);
    return requestMode instanceof Promise
      ? requestMode.then((mode) => answer(webhook, request, config, mode))
      : answer(webhook, request, config, requestMode);
  };
}

export const SKIPPED_MUTATION_ANNOTATION = 'mutation-skipped';

function mutationResponse(evaluation: Evaluation): ReviewResponse {
  if (evaluation.patch.length === 0) return patched(evaluation.patch);
  const overridden = changeWarnings(evaluation.mutations);
  if (overridden.length === 0) return patched(evaluation.patch);
  const response = withWarnings(patched(evaluation.patch), warningList(overridden));
  return withAuditAnnotations(response, { [WARNINGS_AUDIT_ANNOTATION]: warningsAnnotation(overridden) });
}

function validationResponse(evaluation: Evaluation, requestMode: RequestMode): ReviewResponse {
  const decision = evaluation.allowed ? allowed() : denied(evaluation.message ?? 'denied by pidguard');
  // A mode warning about a request pidguard does not police would only be noise.
  const warnings = [...(evaluation.evaluated && requestMode.warning ? [requestMode.warning] : []), ...evaluation.warnings];
  const annotations = Object.assign({}, evaluation.auditAnnotations);
  if (evaluation.kind === 'Pod' && evaluation.mode === 'enforce' && evaluation.mutations.length > 0) {
    // An enforce-mode pod that still needs pidguard's changes here did not pass through /mutate
    // (its failurePolicy is Ignore). It is judged as it would be after the mutation, so allow
    // it if that passes, but say what is missing.
    const summary = mutationSummary(evaluation);
    warnings.push(`pidguard's mutating webhook did not run for this pod, so its changes were not applied; it would have set: ${summary}`);
    annotations[SKIPPED_MUTATION_ANNOTATION] = summary;
  }
  return withAuditAnnotations(withWarnings(decision, warnings), annotations);
}
