// pids-ceiling
//
// Fields: metadata.annotations[pidguard.io/pids-limit] of any pod; the labels
// of its namespace (pidguard.io/pids-limit-ceiling).
//
// A pod author must not raise or void their own PID budget: a pids-limit above
// the ceiling (config pids.ceiling, or the namespace's guarded label) is
// lowered to it, and one that is not a whole number from 1 to 4194304 is
// replaced with min(dotnet.pidsLimit, ceiling), with a warning each time. The
// node agent applies the same resolution (pids-budget.ts) to pods this
// mutation never saw.

import { PIDS_LIMIT_ANNOTATION } from '../keys.js';
import { resolvePidsLimitUnder } from '../pids-budget.js';
import type { PodMutationRule } from './rule.js';

export const pidsCeiling: PodMutationRule<undefined> = {
  id: 'pids-ceiling',
  description: 'A pidguard.io/pids-limit above the ceiling is lowered to it; an invalid one is replaced with the default budget.',
  target: 'pod-mutation',
  writes: ['pod-annotations'],
  missingReason: 'pod running with a pidguard.io/pids-limit above the ceiling or invalid (set before the ceiling, while pidguard was down, or in an exempt namespace)',
  mutate({ pod, pidsCeiling, config, warn }) {
    const annotations = pod.metadata?.annotations;
    const value = annotations?.[PIDS_LIMIT_ANNOTATION];
    if (annotations === undefined || value === undefined) return [];
    if (pidsCeiling.warning !== undefined) warn(pidsCeiling.warning);
    const resolved = resolvePidsLimitUnder(value, pidsCeiling.ceiling, config);
    if (resolved.problem === undefined) return [];
    annotations[PIDS_LIMIT_ANNOTATION] = String(resolved.limit);
    return [{ summary: `annotation ${PIDS_LIMIT_ANNOTATION}=${resolved.limit} (${resolved.problem})`, warning: resolved.problem }];
  },
};
