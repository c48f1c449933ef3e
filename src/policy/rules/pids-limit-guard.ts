// pids-limit-guard
//
// Fields: metadata.annotations[pidguard.io/pids-limit] of a Pod, before and
// after an UPDATE; the requesting user's name and groups; the namespace's
// ceiling label.
//
// Pod annotations can be changed after admission, where pidguard's mutation
// (CREATE only) never sees them: removing or raising a pod's pids-limit
// before the node agent first writes it would void the budget. A change that
// lowers it (or adds one) is allowed; removing or raising it is for the
// namespaceGuard's users and groups only, as a pidguard.io/* namespace label is.

import { PIDS_LIMIT_ANNOTATION } from '../keys.js';
import { resolvePidsLimitUnder } from '../pids-budget.js';
import { guardians, isGuardian } from './namespace-label-guard.js';
import type { CheckFailure, PodUpdateCheckRule } from './rule.js';

export const pidsLimitGuard: PodUpdateCheckRule<undefined> = {
  id: 'pids-limit-guard',
  description: 'A pod\'s pidguard.io/pids-limit may be lowered after creation, not removed or raised (except by the namespace guard\'s users and groups).',
  target: 'pod-update-check',
  check({ metadata, oldMetadata, userInfo, pidsCeiling, config }): CheckFailure | undefined {
    const before = oldMetadata.annotations?.[PIDS_LIMIT_ANNOTATION];
    const after = metadata.annotations?.[PIDS_LIMIT_ANNOTATION];
    if (before === undefined || before === after) return undefined;
    const was = resolvePidsLimitUnder(before, pidsCeiling.ceiling, config).limit;
    const now = after === undefined ? undefined : resolvePidsLimitUnder(after, pidsCeiling.ceiling, config).limit;
    if (now !== undefined && now <= was) return undefined;
    if (isGuardian(userInfo, config.namespaceGuard)) return undefined;
    return {
      reason: 'protected annotation change',
      detail: `user "${userInfo.username ?? '(unknown)'}" may not ${now === undefined ? 'remove' : `raise (${was} to ${now})`} ${PIDS_LIMIT_ANNOTATION}; lowering it is allowed`,
      fix: `recreate the pod with the budget it needs (at most the namespace's ceiling), or ask a member of ${guardians(config.namespaceGuard)}`,
    };
  },
};
