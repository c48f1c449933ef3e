// The rule registry: every rule pidguard has, in evaluation order. Mutations
// come first so that checks judge the pod as it will actually be created. A
// rule's config section (if it owns one) joins the config document in this order,
// after the policy-wide sections (config.ts).

import { dotnetGuard } from './dotnet-guard.js';
import { namespaceLabelGuard } from './namespace-label-guard.js';
import { pidsCeiling } from './pids-ceiling.js';
import { pidsDefault } from './pids-default.js';
import { pidsLimitGuard } from './pids-limit-guard.js';
import { podPidLimit } from './pod-pid-limit.js';
import { requireResources } from './require-resources.js';
import type { Rule } from './rule.js';

export const RULES = validateRegistry([dotnetGuard, pidsDefault, pidsCeiling, podPidLimit, requireResources, namespaceLabelGuard, pidsLimitGuard] as const);

/** Rejects a registry with duplicate or malformed ids or missing descriptions, so a broken rule cannot ship. */
export function validateRegistry<Rules extends readonly Rule[]>(rules: Rules): Rules {
  const seen = new Set<string>();
  for (const rule of rules) {
    if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(rule.id)) throw new Error(`rule id "${rule.id}" is not kebab-case`);
    if (seen.has(rule.id)) throw new Error(`rule id "${rule.id}" is registered twice`);
    if (rule.description.trim() === '') throw new Error(`rule "${rule.id}" has no description`);
    seen.add(rule.id);
  }
  return rules;
}

export type { Rule, CheckFailure, Change, RuleContext, PodContext, MetadataContext } from './rule.js';
