// A pod's PID budget: the ceiling that applies in its namespace, and what its
// pidguard.io/pids-limit annotation resolves to under that ceiling. The
// webhook's mutation and the node agent both call these, so the value a pod is
// patched to and the value the agent writes into pids.max cannot disagree.

import type { PolicyConfig } from './config.js';
import { PIDS_LIMIT_ANNOTATION, PIDS_LIMIT_CEILING_LABEL } from './keys.js';
import { MAX_PIDS_LIMIT, MIN_PIDS_LIMIT_CEILING } from './policy-options.js';
import { quotedValue } from './text.js';

export interface PidsCeiling {
  ceiling: number;
  /** Set when the namespace label was present but invalid and the config ceiling was used instead. */
  warning?: string;
}

export interface ResolvedPidsLimit {
  limit: number;
  /** Set when the annotation's value was not used as it is: says why and what replaced it. */
  problem?: string;
  /** Set with `problem`: the value was above the ceiling, or not a whole number from 1 to 4194304. */
  reason?: 'above-ceiling' | 'invalid';
}

/** The namespace's pidguard.io/pids-limit-ceiling label, else the config's pids.ceiling. */
export function pidsCeilingFor(config: PolicyConfig, namespaceLabels?: Readonly<Record<string, string>>): PidsCeiling {
  const label = namespaceLabels?.[PIDS_LIMIT_CEILING_LABEL];
  if (label === undefined) return { ceiling: config.pids.ceiling };
  const value = wholeNumber(label);
  if (value !== undefined && value >= MIN_PIDS_LIMIT_CEILING && value <= MAX_PIDS_LIMIT) return { ceiling: value };
  return {
    ceiling: config.pids.ceiling,
    warning:
      `namespace label ${PIDS_LIMIT_CEILING_LABEL}=${quotedValue(label)} is not a whole number from ` +
      `${MIN_PIDS_LIMIT_CEILING} to ${MAX_PIDS_LIMIT}; using the config ceiling ${config.pids.ceiling}`,
  };
}

/**
 * The PID budget a pod's pidguard.io/pids-limit annotation stands for, or
 * undefined without one. A value above the ceiling becomes the ceiling; a value
 * that is not a whole number from 1 to 4194304 becomes min(dotnet.pidsLimit,
 * ceiling): an invalid value never means "no limit".
 */
export function resolvePidsLimit(
  annotationValue: string | undefined,
  config: PolicyConfig,
  namespaceLabels?: Readonly<Record<string, string>>,
): ResolvedPidsLimit | undefined {
  return annotationValue === undefined ? undefined : resolvePidsLimitUnder(annotationValue, pidsCeilingFor(config, namespaceLabels).ceiling, config);
}

/** resolvePidsLimit() under a ceiling the caller already knows (a rule's context carries it). */
export function resolvePidsLimitUnder(annotationValue: string, ceiling: number, config: PolicyConfig): ResolvedPidsLimit {
  const value = wholeNumber(annotationValue);
  if (value === undefined || value < 1 || value > MAX_PIDS_LIMIT) {
    const limit = Math.min(config.dotnet.pidsLimit, ceiling);
    return {
      limit,
      reason: 'invalid',
      problem: `${PIDS_LIMIT_ANNOTATION}=${quotedValue(annotationValue)} is not a whole number from 1 to ${MAX_PIDS_LIMIT}; replaced with ${limit}`,
    };
  }
  if (value > ceiling) {
    return { limit: ceiling, reason: 'above-ceiling', problem: `${PIDS_LIMIT_ANNOTATION}=${quotedValue(annotationValue)} is above the ceiling ${ceiling}; lowered to ${ceiling}` };
  }
  return { limit: value };
}

/** Decimal digits only (surrounding spaces allowed, as the agent always accepted them); undefined otherwise. */
export function wholeNumber(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  let firstSignificant = trimmed.length;
  for (let index = 0; index < trimmed.length; index += 1) {
    const code = trimmed.charCodeAt(index);
    if (code < 48 || code > 57) return undefined;
    if (code !== 48 && firstSignificant === trimmed.length) firstSignificant = index;
  }
  // More than 16 significant digits is above any ceiling; Number() would round it.
  return trimmed.length - firstSignificant > 16 ? Number.MAX_SAFE_INTEGER + 1 : Number(trimmed);
}
