// pids-default
//
// Fields: metadata.annotations[pidguard.io/pids-limit] of any pod; the labels
// of its namespace (pidguard.io/pids-limit-default, pidguard.io/pids-limit-ceiling).
//
// Every thread takes a PID, and the kubelet's podPidsLimit is one number for
// the whole node (unlimited by default): a pod without a pidguard.io/pids-limit
// has no budget of its own. This rule gives one to every pod that has none, after
// dotnet-guard (so .NET pods keep dotnet.pidsLimit): the namespace's
// pidguard.io/pids-limit-default label, else the config's pidsDefault.limit when
// enabled, at most the namespace's ceiling. The label is guarded like every
// pidguard.io/* label (namespace-label-guard), and it applies even when the
// config's default is off, so a cluster can roll budgets out namespace by
// namespace. Off by default: a budget is sized from the pods' own thread peaks
// (pidguard_pod_threads), never guessed for a whole cluster at upgrade. The node
// agent enforces the annotation like any other.

import { PIDS_LIMIT_ANNOTATION } from '../keys.js';
import { boolean, ConfigError, integer, sectionAt, type OptionSection } from '../options.js';
import { wholeNumber } from '../pids-budget.js';
import { MAX_PIDS_LIMIT } from '../policy-options.js';
import { quotedValue } from '../text.js';
import type { PodMutationRule } from './rule.js';

/** Namespace label: the PID budget of the namespace's pods that set none (guarded like every pidguard.io/* label). */
export const PIDS_LIMIT_DEFAULT_LABEL = 'pidguard.io/pids-limit-default';

export interface PidsDefaultOptions {
  /** Whether pods in namespaces without the label get `limit`. */
  enabled: boolean;
  /** The default PID budget; at most pids.ceiling when enabled. */
  limit: number;
}

const DEFAULTS = { enabled: false, limit: 2048 } as const;

const options: OptionSection<'pidsDefault', PidsDefaultOptions> = {
  key: 'pidsDefault',
  defaults: DEFAULTS,
  documentation: `pidsDefault:
  # A pidguard.io/pids-limit for every pod that has none (.NET pods get dotnet.pidsLimit first),
  # at most the ceiling; the node agent writes it into the pod's pids.max. Off by default: size
  # it from your pods' pidguard_pod_threads peaks first. A namespace label
  # pidguard.io/pids-limit-default sets its pods' default, even when this is off.
  enabled: false
  limit: 2048`,
  parse(value, policy) {
    const section = sectionAt(value, 'pidsDefault', ['enabled', 'limit']);
    const enabled = boolean(section.enabled ?? DEFAULTS.enabled, 'pidsDefault.enabled');
    const limit = integer(section.limit ?? DEFAULTS.limit, 'pidsDefault.limit', 16, MAX_PIDS_LIMIT);
    if (enabled && limit > policy.pids.ceiling) throw new ConfigError('pidsDefault.limit', `${limit} is above pids.ceiling (${policy.pids.ceiling})`);
    return { enabled, limit };
  },
};

export const pidsDefault: PodMutationRule<typeof options> = {
  id: 'pids-default',
  description: 'Every pod without a pidguard.io/pids-limit gets the namespace\'s or the config\'s default PID budget (off by default).',
  target: 'pod-mutation',
  options,
  writes: ['pod-annotations'],
  missingReason: 'pod running without a PID budget (created before the default was set, while pidguard was down, or in an exempt namespace)',
  mutate({ pod, namespaceLabels, pidsCeiling, warn }, { enabled, limit: configured }) {
    if (pod.metadata?.annotations?.[PIDS_LIMIT_ANNOTATION] !== undefined) return [];
    const label = namespaceLabels?.[PIDS_LIMIT_DEFAULT_LABEL];
    let wanted = enabled ? configured : undefined;
    if (label !== undefined) {
      const value = wholeNumber(label);
      if (value !== undefined && value >= 1 && value <= MAX_PIDS_LIMIT) wanted = value;
      else warn(`namespace label ${PIDS_LIMIT_DEFAULT_LABEL}=${quotedValue(label)} is not a whole number from 1 to ${MAX_PIDS_LIMIT}; ${wanted === undefined ? 'no default budget is set' : `using the config default ${wanted}`}`);
    }
    if (wanted === undefined) return [];
    const limit = Math.min(wanted, pidsCeiling.ceiling);
    ((pod.metadata ??= {}).annotations ??= {})[PIDS_LIMIT_ANNOTATION] = String(limit);
    return [{ summary: `annotation ${PIDS_LIMIT_ANNOTATION}=${limit}` }];
  },
};
