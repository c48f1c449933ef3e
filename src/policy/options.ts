// Option sections: each rule owns the part of the config document it reads (a
// top-level key, its defaults, its documentation and a validating parser), and
// config.ts assembles the document from them. The field parsers below throw a
// ConfigError that names the offending field. Pure: no file or environment access.

import { PatternError } from './glob.js';
import { isRecord } from './json-value.js';
import type { Mode } from './types.js';

/** The policy-wide sections (policy-options.ts), which every rule section may read while it is parsed. */
export interface PolicyWideConfig {
  /** Mode for namespaces without a `pidguard.io/mode` label. */
  defaultMode: Mode;
  pids: {
    /**
     * Highest pidguard.io/pids-limit any pod may carry (a namespace's
     * pidguard.io/pids-limit-ceiling label overrides it): higher values are
     * lowered to it by the mutation and by the node agent.
     */
    ceiling: number;
  };
}

export interface OptionSection<Key extends string = string, Value = unknown> {
  /** The section's top-level key in the config document. */
  key: Key;
  /** The section of the default config document (what no config file means). */
  defaults: unknown;
  /**
   * The section as the documented default config shows it (the ConfigMap and
   * the README): YAML with comments that parses to `{[key]: defaults}` (a test checks it).
   */
  documentation: string;
  /**
   * The section's value from a user document (undefined when absent), merged
   * over the defaults and validated; errors name the field (ConfigError).
   */
  parse(value: unknown, policy: PolicyWideConfig): Value;
}

/** The parsed value of a section. */
export type SectionValue<S> = S extends OptionSection<string, infer Value> ? Value : undefined;

export class ConfigError extends Error {
  constructor(readonly field: string, problem: string) {
    super(`config: ${field}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/** A user value in a config error: its type, and the value itself for scalars. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : `${typeof value} ${JSON.stringify(value)}`;
}

export function objectAt(value: unknown, field: string): Record<string, unknown> {
  if (!isRecord(value)) throw new ConfigError(field, `must be a mapping, got ${describeValue(value)}`);
  return value;
}

/** The mapping at `field` (absent: empty), with only the `known` keys. */
export function sectionAt(value: unknown, field: string, known: readonly string[]): Record<string, unknown> {
  const object = objectAt(value ?? {}, field);
  allowOnly(object, `${field}.`, known);
  return object;
}

export function allowOnly(object: Record<string, unknown>, prefix: string, known: readonly string[]): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) {
      throw new ConfigError(`${prefix}${key}`, `unknown field (known: ${known.join(', ')})`);
    }
  }
}

export function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new ConfigError(field, `must be one of ${allowed.join(', ')}, got ${describeValue(value)}`);
  }
  return value as T;
}

export function boolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(field, `must be true or false, got ${describeValue(value)}`);
  return value;
}

export function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(field, `must be a whole number from ${min} to ${max}, got ${describeValue(value)}`);
  }
  return value;
}

export function strings(value: unknown, field: string, nonEmpty: boolean): string[] {
  if (!Array.isArray(value)) throw new ConfigError(field, `must be a list of strings, got ${describeValue(value)}`);
  return value.map((item, index) => {
    if (typeof item !== 'string' || (nonEmpty && item === '')) {
      throw new ConfigError(`${field}[${index}]`, `must be a non-empty string, got ${describeValue(item)}`);
    }
    return item;
  });
}

export function patterns<T>(value: unknown, field: string, compile: (source: string) => T): T[] {
  return strings(value, field, true).map((source, index) => {
    try {
      return compile(source);
    } catch (error) {
      if (error instanceof PatternError) throw new ConfigError(`${field}[${index}]`, error.message);
      throw error;
    }
  });
}
