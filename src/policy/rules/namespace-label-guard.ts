// namespace-label-guard
//
// Fields: metadata.labels of a Namespace, before and after; the requesting
// user's name and groups.
//
// Only the configured users and groups may add, change or remove pidguard.io/*
// labels. Without this, anyone who can edit a namespace could exempt it
// (pidguard.io/mode: off), the way Gatekeeper guards its own ignore label.

import { LABEL_PREFIX } from '../keys.js';
import { sectionAt, strings, type OptionSection } from '../options.js';
import type { UserInfo } from '../types.js';
import type { CheckFailure, NamespaceCheckRule } from './rule.js';

/** Who may change what pidguard guards (pids-limit-guard reads it too). */
export interface NamespaceGuardOptions {
  /** Users allowed to add, change or remove pidguard.io/* labels on namespaces. */
  users: string[];
  /** Groups allowed to do the same. */
  groups: string[];
}

const DEFAULTS = { users: [], groups: ['system:masters'] } as const;

const options: OptionSection<'namespaceGuard', NamespaceGuardOptions> = {
  key: 'namespaceGuard',
  defaults: DEFAULTS,
  documentation: `namespaceGuard:
  # Who may add, change or remove pidguard.io/* labels on namespaces (e.g. mode: off).
  # Add your platform admins' group and your GitOps controller's service account here.
  users: []
  groups: [system:masters]`,
  parse(value) {
    const section = sectionAt(value, 'namespaceGuard', ['users', 'groups']);
    return {
      users: strings(section.users ?? DEFAULTS.users, 'namespaceGuard.users', false),
      groups: strings(section.groups ?? DEFAULTS.groups, 'namespaceGuard.groups', false),
    };
  },
};

export const namespaceLabelGuard: NamespaceCheckRule<typeof options> = {
  id: 'namespace-label-guard',
  description: 'Only configured users and groups may add, change or remove pidguard.io/* namespace labels.',
  target: 'namespace-check',
  options,
  check({ metadata, oldMetadata, userInfo }, guard): CheckFailure | undefined {
    const before = oldMetadata?.labels ?? {};
    const after = metadata.labels ?? {};
    const keys = new Set([...Object.keys(before), ...Object.keys(after)].filter((key) => key.startsWith(LABEL_PREFIX)));
    const changed = [...keys].filter((key) => before[key] !== after[key]).sort();
    if (changed.length === 0) return undefined;

    if (isGuardian(userInfo, guard)) return undefined;

    const what = changed.map((key) => describeChange(key, before[key], after[key])).join(', ');
    return {
      reason: `protected label ${changed.length === 1 ? 'change' : 'changes'}`,
      detail: `user "${userInfo.username ?? '(unknown)'}" may not ${what}`,
      fix: `ask a member of ${guardians(guard)} to change pidguard.io/* labels`,
    };
  },
};

/** Whether the user is one of namespaceGuard's users or groups, who may change what pidguard guards. */
export function isGuardian(userInfo: UserInfo, { users, groups }: NamespaceGuardOptions): boolean {
  if (userInfo.username !== undefined && users.includes(userInfo.username)) return true;
  return (userInfo.groups ?? []).some((group) => groups.includes(group));
}

/** namespaceGuard's users and groups, for a fix message. */
export function guardians({ users, groups }: NamespaceGuardOptions): string {
  return [...users.map((u) => `user "${u}"`), ...groups.map((g) => `group "${g}"`)].join(', ') || 'nobody';
}

function describeChange(key: string, before: string | undefined, after: string | undefined): string {
  if (before === undefined) return `add ${key}=${after}`;
  if (after === undefined) return `remove ${key}`;
  return `change ${key} from ${before} to ${after}`;
}
