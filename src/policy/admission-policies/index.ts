// pidguard's policy compiled into in-API-server admission policies
// (admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy and
// MutatingAdmissionPolicy with their bindings), a backstop that keeps judging
// while the webhook is down. Pure: config in, Kubernetes objects out.
//
// Modes map onto bindings: a namespace's pidguard.io/mode label (or, without a
// valid one, the config's defaultMode) picks the binding that matches it.
// enforce: validationActions [Deny] and the mutation; audit: [Audit, Warn] and
// no mutation (the webhook's audit mode changes nothing either); off: none.
// The control plane's namespaces and pidguard's own are never matched.

import type { PolicyConfig } from '../config.js';
import { MODE_LABEL, SYSTEM_NAMESPACES } from '../keys.js';
import { MODES, type Mode } from '../types.js';
import { DOTNET_POLICY, mutatingPolicy } from './mutating.js';
import { NAMESPACES_POLICY, namespacesPolicy, partOf, PODS_POLICY, podsPolicy, UNCAPPED_POLICY, uncappedPolicy, WARN_POLICY, warnPolicy } from './validating.js';

const API_VERSION = 'admissionregistration.k8s.io/v1';
const ACTIONS: Record<Exclude<Mode, 'off'>, string[]> = { enforce: ['Deny'], audit: ['Audit', 'Warn'] };

type Selector = { key: string; operator: 'In' | 'NotIn'; values: string[] };

const NOT_SYSTEM: Selector = { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...SYSTEM_NAMESPACES] };

/** The namespaces in `mode`: labelled so, or (for the default mode) without a valid label. */
function modeSelectors(mode: Mode, config: PolicyConfig): Array<{ suffix: string; selector: Selector }> {
  const selectors: Array<{ suffix: string; selector: Selector }> = [{ suffix: mode, selector: { key: MODE_LABEL, operator: 'In', values: [mode] } }];
  if (config.defaultMode === mode) {
    selectors.push({ suffix: `${mode}-by-default`, selector: { key: MODE_LABEL, operator: 'NotIn', values: [...MODES] } });
  }
  return selectors;
}

function binding(kind: string, policyName: string, name: string, selectors: Selector[], actions?: string[]): object {
  return {
    apiVersion: API_VERSION,
    kind,
    metadata: { name, labels: partOf(policyName.replace(/^pidguard-/, '')) },
    spec: {
      policyName,
      ...(actions ? { validationActions: actions } : {}),
      matchResources: { namespaceSelector: { matchExpressions: selectors } },
    },
  };
}

/** Every object, policies before their bindings (so `kubectl apply -f` can create them in order). */
export function compileAdmissionPolicies(config: PolicyConfig): object[] {
  const objects: object[] = [podsPolicy(config)];
  for (const mode of ['enforce', 'audit'] as const) {
    for (const { suffix, selector } of modeSelectors(mode, config)) {
      objects.push(binding('ValidatingAdmissionPolicyBinding', PODS_POLICY, `${PODS_POLICY}-${suffix}`, [NOT_SYSTEM, selector], ACTIONS[mode]));
    }
  }
  // The rule's warnings (a warn level, an invalid level label) in every mode it runs in.
  objects.push(warnPolicy(config));
  for (const mode of ['enforce', 'audit'] as const) {
    for (const { suffix, selector } of modeSelectors(mode, config)) {
      objects.push(binding('ValidatingAdmissionPolicyBinding', WARN_POLICY, `${WARN_POLICY}-${suffix}`, [NOT_SYSTEM, selector], ['Warn', 'Audit']));
    }
  }
  // Namespace requests are judged in the default mode, as the webhook judges them.
  if (config.defaultMode !== 'off') {
    objects.push(namespacesPolicy(config));
    objects.push(binding('ValidatingAdmissionPolicyBinding', NAMESPACES_POLICY, NAMESPACES_POLICY, [NOT_SYSTEM], ACTIONS[config.defaultMode]));
  }
  objects.push(mutatingPolicy(config));
  for (const { suffix, selector } of modeSelectors('enforce', config)) {
    objects.push(binding('MutatingAdmissionPolicyBinding', DOTNET_POLICY, `${DOTNET_POLICY}-${suffix}`, [NOT_SYSTEM, selector]));
  }
  if (config.dotnet.enabled) {
    objects.push(uncappedPolicy(config));
    for (const { suffix, selector } of modeSelectors('enforce', config)) {
      objects.push(binding('ValidatingAdmissionPolicyBinding', UNCAPPED_POLICY, `${UNCAPPED_POLICY}-${suffix}`, [NOT_SYSTEM, selector], ['Warn', 'Audit']));
    }
  }
  return objects;
}
