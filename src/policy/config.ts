// The policy configuration: built-in safe defaults, and validation of a
// user-supplied document (already parsed from YAML by the caller) with errors
// that name the offending field. Pure: no file or environment access here.

import { compileCommandPattern, compileImagePattern, PatternError, type CommandPattern, type ImagePattern } from './glob.js';
import { compareQuantities, parseQuantity } from './quantity.js';
import { MODES, type Mode } from './types.js';

export type ResourceLevel = 'not-besteffort' | 'requests' | 'requests-and-limits';
export const RESOURCE_LEVELS: readonly ResourceLevel[] = ['not-besteffort', 'requests', 'requests-and-limits'];

export interface CpuMemory {
  cpu: string;
  memory: string;
}

export interface PolicyConfig {
  /** Mode for namespaces without a `pidguard.io/mode` label. */
  defaultMode: Mode;
  requireResources: {
    /**
     * not-besteffort: reject pods whose QoS class would be BestEffort (the default);
     * requests: every container must request cpu and memory;
     * requests-and-limits: every container must also limit cpu and memory.
     */
    level: ResourceLevel;
  };
  dotnet: {
    enabled: boolean;
    /** Globs matched against the repository of the container image (glob.ts). */
    imagePatterns: ImagePattern[];
    /** Environment variable name prefixes that mark a .NET container. */
    envPrefixes: string[];
    /** Globs matched against the words of each command and args entry (glob.ts). */
    commandPatterns: CommandPattern[];
    requests: CpuMemory;
    limits: CpuMemory;
    /** Thread-pool worker cap, written as hex to DOTNET_ThreadPool_ForceMaxWorkerThreads. */
    maxWorkerThreads: number;
    /** Value of the pidguard.io/pids-limit annotation the node agent enforces; at most pids.ceiling. */
    pidsLimit: number;
  };
  pids: {
    /**
     * Highest pidguard.io/pids-limit any pod may carry (a namespace's
     * pidguard.io/pids-limit-ceiling label overrides it): higher values are
     * lowered to it by the mutation and by the node agent.
     */
    ceiling: number;
  };
  namespaceGuard: {
    /** Users allowed to add, change or remove pidguard.io/* labels on namespaces. */
    users: string[];
    /** Groups allowed to do the same. */
    groups: string[];
  };
}

export const DEFAULT_CONFIG_DOCUMENT = {
  defaultMode: 'enforce',
  requireResources: { level: 'not-besteffort' },
  dotnet: {
    enabled: true,
    // Official images, and any repository whose last component names dotnet or aspnet.
    imagePatterns: ['mcr.microsoft.com/dotnet/**', '**/*dotnet*', '**/*aspnet*'],
    envPrefixes: ['DOTNET_', 'ASPNETCORE_'],
    // Matches `dotnet`, `/usr/bin/dotnet`, `app.dll`, and both inside `sh -c "dotnet app.dll"`.
    commandPatterns: ['dotnet', '*.dll'],
    requests: { cpu: '100m', memory: '256Mi' },
    limits: { cpu: '1', memory: '1Gi' },
    maxWorkerThreads: 256,
    pidsLimit: 1024,
  },
  pids: { ceiling: 4096 },
  namespaceGuard: {
    users: [],
    groups: ['system:masters'],
  },
} as const;

/** The kernel's ceiling for pid_max on 64-bit: no pids.max above it means anything. */
export const MAX_PIDS_LIMIT = 4_194_304;
/** The lowest PID budget ceiling pidguard accepts: below it even a shell and its probe cannot start. */
export const MIN_PIDS_LIMIT_CEILING = 16;

export class ConfigError extends Error {
  constructor(readonly field: string, problem: string) {
    super(`config: ${field}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/**
 * Validates a configuration document and merges it over the defaults.
 * Unknown fields are errors (a typo must not silently fall back to a default).
 */
export function parseConfig(document: unknown): PolicyConfig {
  const doc = document ?? {};
  const root = objectAt(doc, '(root)');
  const base = DEFAULT_CONFIG_DOCUMENT;
  allowOnly(root, '', ['defaultMode', 'requireResources', 'dotnet', 'pids', 'namespaceGuard']);

  const rr = objectAt(root.requireResources ?? {}, 'requireResources');
  allowOnly(rr, 'requireResources.', ['level']);

  const dn = objectAt(root.dotnet ?? {}, 'dotnet');
  allowOnly(dn, 'dotnet.', [
    'enabled', 'imagePatterns', 'envPrefixes', 'commandPatterns', 'requests', 'limits', 'maxWorkerThreads', 'pidsLimit',
  ]);

  const pids = objectAt(root.pids ?? {}, 'pids');
  allowOnly(pids, 'pids.', ['ceiling']);
  const ceiling = integer(pids.ceiling ?? base.pids.ceiling, 'pids.ceiling', MIN_PIDS_LIMIT_CEILING, MAX_PIDS_LIMIT);
  const pidsLimit = integer(dn.pidsLimit ?? base.dotnet.pidsLimit, 'dotnet.pidsLimit', 16, MAX_PIDS_LIMIT);
  if (pidsLimit > ceiling) throw new ConfigError('dotnet.pidsLimit', `${pidsLimit} is above pids.ceiling (${ceiling})`);

  const ng = objectAt(root.namespaceGuard ?? {}, 'namespaceGuard');
  allowOnly(ng, 'namespaceGuard.', ['users', 'groups']);

  const requests = cpuMemory(dn.requests ?? {}, base.dotnet.requests, 'dotnet.requests');
  const limits = cpuMemory(dn.limits ?? {}, base.dotnet.limits, 'dotnet.limits');
  for (const name of ['cpu', 'memory'] as const) {
    if (compareQuantities(parseQuantity(limits[name])!, parseQuantity(requests[name])!) < 0) {
      throw new ConfigError(`dotnet.limits.${name}`, `${limits[name]} is below dotnet.requests.${name} (${requests[name]})`);
    }
  }

  return {
    defaultMode: oneOf(root.defaultMode ?? base.defaultMode, 'defaultMode', MODES),
    requireResources: { level: oneOf(rr.level ?? base.requireResources.level, 'requireResources.level', RESOURCE_LEVELS) },
    dotnet: {
      enabled: boolean(dn.enabled ?? base.dotnet.enabled, 'dotnet.enabled'),
      imagePatterns: patterns(dn.imagePatterns ?? base.dotnet.imagePatterns, 'dotnet.imagePatterns', compileImagePattern),
      envPrefixes: strings(dn.envPrefixes ?? base.dotnet.envPrefixes, 'dotnet.envPrefixes', true),
      commandPatterns: patterns(dn.commandPatterns ?? base.dotnet.commandPatterns, 'dotnet.commandPatterns', compileCommandPattern),
      requests,
      limits,
      maxWorkerThreads: integer(dn.maxWorkerThreads ?? base.dotnet.maxWorkerThreads, 'dotnet.maxWorkerThreads', 1, 32767),
      pidsLimit,
    },
    pids: { ceiling },
    namespaceGuard: {
      users: strings(ng.users ?? base.namespaceGuard.users, 'namespaceGuard.users', false),
      groups: strings(ng.groups ?? base.namespaceGuard.groups, 'namespaceGuard.groups', false),
    },
  };
}

export function defaultConfig(): PolicyConfig {
  return parseConfig({});
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : `${typeof value} ${JSON.stringify(value)}`;
}

function objectAt(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(field, `must be a mapping, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

function allowOnly(object: Record<string, unknown>, prefix: string, known: string[]): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) {
      throw new ConfigError(`${prefix}${key}`, `unknown field (known: ${known.join(', ')})`);
    }
  }
}

function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new ConfigError(field, `must be one of ${allowed.join(', ')}, got ${describe(value)}`);
  }
  return value as T;
}

function boolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(field, `must be true or false, got ${describe(value)}`);
  return value;
}

function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(field, `must be a whole number from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

function strings(value: unknown, field: string, nonEmpty: boolean): string[] {
  if (!Array.isArray(value)) throw new ConfigError(field, `must be a list of strings, got ${describe(value)}`);
  return value.map((item, index) => {
    if (typeof item !== 'string' || (nonEmpty && item === '')) {
      throw new ConfigError(`${field}[${index}]`, `must be a non-empty string, got ${describe(item)}`);
    }
    return item;
  });
}

function patterns<T>(value: unknown, field: string, compile: (source: string) => T): T[] {
  return strings(value, field, true).map((source, index) => {
    try {
      return compile(source);
    } catch (error) {
      if (error instanceof PatternError) throw new ConfigError(`${field}[${index}]`, error.message);
      throw error;
    }
  });
}

/** A cpu/memory pair; a field left out keeps its default. */
function cpuMemory(value: unknown, defaults: CpuMemory, field: string): CpuMemory {
  const object = { ...defaults, ...objectAt(value, field) };
  allowOnly(object, `${field}.`, ['cpu', 'memory']);
  const result = { cpu: '', memory: '' };
  for (const name of ['cpu', 'memory'] as const) {
    const raw = object[name];
    const text = typeof raw === 'number' ? String(raw) : raw;
    const quantity = typeof text === 'string' ? parseQuantity(text) : undefined;
    if (!quantity || quantity.numerator <= 0n) {
      throw new ConfigError(`${field}.${name}`, `must be a positive Kubernetes quantity such as 500m or 256Mi, got ${describe(raw)}`);
    }
    result[name] = text as string;
  }
  return result;
}
