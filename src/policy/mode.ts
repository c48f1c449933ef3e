// The effective mode of a namespace: its pidguard.io/mode label, else the
// configured default. A label pidguard cannot read never exempts anything.

import { MODE_LABEL } from './keys.js';
import { MODES, type Mode } from './types.js';

export interface ModeResolution {
  mode: Mode;
  /** Set when the label was present but invalid and the default was used instead. */
  warning?: string;
}

export function resolveMode(labels: Record<string, string> | undefined, defaultMode: Mode): ModeResolution {
  const value = labels?.[MODE_LABEL];
  if (value === undefined) return { mode: defaultMode };
  if ((MODES as readonly string[]).includes(value)) return { mode: value as Mode };
  return {
    mode: defaultMode,
    warning: `namespace label ${MODE_LABEL}="${value}" is not one of ${MODES.join(', ')}; using the default mode ${defaultMode}`,
  };
}
