// namespace-label-guard
//
// Fields: metadata.labels of a Namespace, before and after; the requesting
// user's name and groups.
//
// Only the configured users and groups may add, change or remove pidguard.io/*
// labels. Without this, anyone who can edit a namespace could exempt it
// (pidguard.io/mode: off), the way Gatekeeper guards its own ignore label.

import type { PolicyConfig } from '../config.js';
import { LABEL_PREFIX } from '../keys.js';
import type { UserInfo } from '../types.js';
import type { CheckFailure, NamespaceCheckRule } from './rule.js';

export const namespaceLabelGuard: NamespaceCheckRule = {
  id: 'namespace-label-guard',
  description: 'Only configured users and groups may add, change or remove pidguard.io/* namespace labels.',
  target: 'namespace-check',
  check({ namespace, oldNamespace, userInfo }, config): CheckFailure | undefined {
    const before = oldNamespace?.labels ?? {};
    const after = namespace.labels ?? {};
    const keys = new Set([...Object.keys(before), ...Object.keys(after)].filter((key) => key.startsWith(LABEL_PREFIX)));
    const changed = [...keys].filter((key) => before[key] !== after[key]).sort();
    if (changed.length === 0) return undefined;

    if (isGuardian(userInfo, config)) return undefined;

    const what = changed.map((key) => describeChange(key, before[key], after[key])).join(', ');
    return {
      reason: `protected label ${changed.length === 1 ? 'change' : 'changes'}`,
      detail: `user "${userInfo.username ?? '(unknown)'}" may not ${what}`,
      fix: `ask a member of ${guardians(config)} to change pidguard.io/* labels`,
    };
  },
};

/** Whether the user is one of namespaceGuard's users or groups, who may change what pidguard guards. */
export function isGuardian(userInfo: UserInfo, config: PolicyConfig): boolean {
  const { users, groups } = config.namespaceGuard;
  if (userInfo.username !== undefined && users.includes(userInfo.username)) return true;
  return (userInfo.groups ?? []).some((group) => groups.includes(group));
}

/** namespaceGuard's users and groups, for a fix message. */
export function guardians(config: PolicyConfig): string {
  const { users, groups } = config.namespaceGuard;
  return [...users.map((u) => `user "${u}"`), ...groups.map((g) => `group "${g}"`)].join(', ') || 'nobody';
}

function describeChange(key: string, before: string | undefined, after: string | undefined): string {
  if (before === undefined) return `add ${key}=${after}`;
  if (after === undefined) return `remove ${key}`;
  return `change ${key} from ${before} to ${after}`;
}
