// pod-pid-limit
//
// Fields: metadata.annotations[pidguard.io/pids-limit] (as the rules before
// this one left it) and spec.resources.limits.pid of any pod.
//
// KEP-6063 (Per-Pod PID Limit, gate PerPodPIDLimit, with PodLevelResources;
// cgroup v2 only) lets the kubelet enforce a pod's PID budget from
// spec.resources.limits.pid, 128 to 16384. Behind podPidLimit.enabled, this
// rule writes the same number the node agent enforces for the annotation into
// that field, clamped to the KEP's range, so kubelet and agent agree. Only when
// the caller found that the API server accepts the field
// (context.podPidLimitServed; `serve` discovers it, never from a version
// string): a server without it would reject or drop the field. A stricter
// value the author set is kept; a higher or unreadable one is lowered.

import { PIDS_LIMIT_ANNOTATION } from '../keys.js';
import { boolean, sectionAt, type OptionSection } from '../options.js';
import { resolvePidsLimitUnder, wholeNumber } from '../pids-budget.js';
import { quotedValue } from '../text.js';
import type { PodMutationRule } from './rule.js';

/** The KEP's range for spec.resources.limits.pid. */
export const POD_PID_LIMIT_MIN = 128;
export const POD_PID_LIMIT_MAX = 16384;

export interface PodPidLimitOptions {
  /** Whether to write spec.resources.limits.pid when the API server accepts it. */
  enabled: boolean;
}

const DEFAULTS = { enabled: false } as const;

const options: OptionSection<'podPidLimit', PodPidLimitOptions> = {
  key: 'podPidLimit',
  defaults: DEFAULTS,
  documentation: `podPidLimit:
  # KEP-6063: also write the pod's PID budget into spec.resources.limits.pid (clamped to 128-16384)
  # so the kubelet enforces it too (cgroup v2 nodes). Only when the API server accepts the field,
  # which serve discovers at start and every 10 minutes; otherwise nothing is written.
  enabled: false`,
  parse(value) {
    const section = sectionAt(value, 'podPidLimit', ['enabled']);
    return { enabled: boolean(section.enabled ?? DEFAULTS.enabled, 'podPidLimit.enabled') };
  },
};

export const podPidLimit: PodMutationRule<typeof options> = {
  id: 'pod-pid-limit',
  description: 'The pod\'s PID budget is also written to spec.resources.limits.pid (KEP-6063) when enabled and the API server accepts it.',
  target: 'pod-mutation',
  options,
  writes: ['pod-resources'],
  missingReason: 'pod running without spec.resources.limits.pid for its PID budget (created before the field was served or enabled)',
  mutate({ pod, pidsCeiling, config, podPidLimitServed }, { enabled }) {
    const annotation = pod.metadata?.annotations?.[PIDS_LIMIT_ANNOTATION];
    if (!enabled || !podPidLimitServed || annotation === undefined) return [];
    const budget = resolvePidsLimitUnder(annotation, pidsCeiling.ceiling, config).limit;
    const wanted = Math.min(Math.max(budget, POD_PID_LIMIT_MIN), POD_PID_LIMIT_MAX);
    const current = pod.spec.resources?.limits?.pid;
    const own = current === undefined ? undefined : wholeNumber(String(current));
    if (own !== undefined && own <= wanted) return [];
    ((pod.spec.resources ??= {}).limits ??= {}).pid = String(wanted);
    const clamped =
      wanted === budget ? ''
      : wanted > budget ? ` (KEP-6063's minimum; the agent still enforces the budget ${budget})`
      : ` (KEP-6063's maximum: the kubelet holds the pod below its budget ${budget})`;
    const change = { summary: `pod resources.limits.pid=${wanted}${clamped}` };
    return current === undefined ? [change] : [{ ...change, warning: `spec.resources.limits.pid=${quotedValue(String(current))} is above the pod's PID budget or not a whole number: pidguard set ${wanted}` }];
  },
};
