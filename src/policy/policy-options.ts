// The policy-wide option sections: the default mode, and the PID budget
// ceiling that every rule setting or judging a pids-limit (and the node agent)
// applies. Rule sections are parsed after these and may read them.

import { integer, oneOf, sectionAt, type OptionSection, type PolicyWideConfig } from './options.js';
import { MODES, type Mode } from './types.js';

/** The kernel's ceiling for pid_max on 64-bit: no pids.max above it means anything. */
export const MAX_PIDS_LIMIT = 4_194_304;
/** The lowest PID budget ceiling pidguard accepts: below it even a shell and its probe cannot start. */
export const MIN_PIDS_LIMIT_CEILING = 16;

const DEFAULT_MODE: Mode = 'enforce';
const PIDS_DEFAULTS = { ceiling: 4096 } as const;

export const defaultModeOption: OptionSection<'defaultMode', Mode> = {
  key: 'defaultMode',
  defaults: DEFAULT_MODE,
  // Keep defaultMode on the document's FIRST line: the audit overlay replaces line 1.
  documentation: `defaultMode: enforce # enforce | audit | off, for namespaces without a pidguard.io/mode label

# Unknown fields are errors, so a typo never falls back to a default silently.`,
  parse: (value) => oneOf(value ?? DEFAULT_MODE, 'defaultMode', MODES),
};

export const pidsOption: OptionSection<'pids', PolicyWideConfig['pids']> = {
  key: 'pids',
  defaults: PIDS_DEFAULTS,
  documentation: `pids:
  # The highest pidguard.io/pids-limit any pod keeps (16..4194304): a higher value is lowered
  # to it, an invalid one replaced by min(dotnet.pidsLimit, ceiling), by the webhook and the
  # node agent alike. A namespace label pidguard.io/pids-limit-ceiling overrides it.
  ceiling: 4096`,
  parse(value) {
    const pids = sectionAt(value, 'pids', ['ceiling']);
    return { ceiling: integer(pids.ceiling ?? PIDS_DEFAULTS.ceiling, 'pids.ceiling', MIN_PIDS_LIMIT_CEILING, MAX_PIDS_LIMIT) };
  },
};
