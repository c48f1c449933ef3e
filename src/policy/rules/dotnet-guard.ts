// dotnet-guard
//
// Fields: metadata.labels/annotations (pidguard.io/runtime opt-in,
// pidguard.io/pids-limit), and per container image, command, args, env and
// resources.
//
// For each container detected as .NET:
// - cpu/memory: a resource with neither request nor limit gets the configured
//   request and limit; one with only a request gets a limit no lower than that
//   request; one with only a limit is left alone (the API server copies the
//   limit into the request). Skipped when the pod sets pod-level cpu or
//   memory, which bound the containers already (a pod-level pid limit alone
//   does not).
// - env: DOTNET_ThreadPool_ForceMaxWorkerThreads in hex (the runtime parses
//   DOTNET_* numbers as hex; it is the variable the runtime actually reads),
//   unless it or its COMPlus_ twin is set. When the container forces a
//   minimum above the cap (which would make the runtime ignore the cap), the
//   forced maximum is written at that minimum instead, with a warning. A
//   container's own cap is kept; one above the configured cap, voided by its
//   forced minimum, 0, unreadable (valueFrom) or not hex is warned about.
//   DOTNET_ThreadPool_MaxThreads in decimal states the cap that holds (the
//   container's own, e.g. 0x40 -> 64), or is left out when none holds or
//   pidguard cannot tell; the runtime ignores it (it is the brief's name).
// For the pod: pidguard.io/pids-limit, unless present: min(dotnet.pidsLimit,
// the namespace's ceiling); the node agent turns it into the pod cgroup's
// pids.max. Nothing the user set is ever changed (pids-ceiling handles a
// pids-limit above the ceiling).

import { PIDS_LIMIT_ANNOTATION, DOTNET_FORCE_MAX_WORKER_THREADS, DOTNET_MAX_THREADS } from '../keys.js';
import { isDotnetContainer } from '../dotnet-detection.js';
import { compileCommandPattern, compileImagePattern, type CommandPattern, type ImagePattern } from '../glob.js';
import {
  allowOnly, boolean, ConfigError, describeValue, integer, objectAt, patterns, sectionAt, strings, type OptionSection,
} from '../options.js';
import { MAX_PIDS_LIMIT } from '../policy-options.js';
import { setsPodLevelCpuMemory } from '../qos.js';
import { compareQuantities, parseQuantity } from '../quantity.js';
import { quotedValue } from '../text.js';
import { MAX_POSSIBLE_THREADS, threadPoolKnob, type KnobSetting } from '../thread-pool.js';
import type { Container, PodTemplate } from '../types.js';
import type { Change, PodMutationRule, RuleContext } from './rule.js';

export interface CpuMemory {
  cpu: string;
  memory: string;
}

export interface DotnetOptions {
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
}

const DEFAULTS = {
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
} as const;

const options: OptionSection<'dotnet', DotnetOptions> = {
  key: 'dotnet',
  defaults: DEFAULTS,
  documentation: `dotnet:
  # .NET containers get cpu/memory (when they set none), a thread-pool cap and a pods-limit.
  enabled: true
  # Globs on the image's repository (not regular expressions): \`*\` within a path component,
  # \`**\` for any number of components. A pattern whose first component is a registry
  # (has '.' or ':', or is localhost) matches registry/path; others match the path only, so
  # a registry host alone never makes a match. Tags and digests are not matched.
  imagePatterns:
    - mcr.microsoft.com/dotnet/**
    - '**/*dotnet*'
    - '**/*aspnet*'
  # Environment variable name prefixes that mark a .NET container.
  envPrefixes: [DOTNET_, ASPNETCORE_]
  # Globs on the words of each command/args entry (also inside \`sh -c "..."\`): a pattern
  # without '/' matches a word's basename (\`dotnet\` matches /usr/bin/dotnet).
  commandPatterns: [dotnet, '*.dll']
  # Filled in only where a container sets neither a request nor a limit; a limit is never
  # below the container's own request.
  requests: {cpu: 100m, memory: 256Mi}
  limits: {cpu: "1", memory: 1Gi}
  # Written in hex to DOTNET_ThreadPool_ForceMaxWorkerThreads (256 -> 0x100).
  maxWorkerThreads: 256
  # The pidguard.io/pids-limit annotation; the node agent writes it into the pod's pids.max.
  # At most pids.ceiling.
  pidsLimit: 1024`,
  parse(value, policy) {
    const dn = sectionAt(value, 'dotnet', [
      'enabled', 'imagePatterns', 'envPrefixes', 'commandPatterns', 'requests', 'limits', 'maxWorkerThreads', 'pidsLimit',
    ]);
    const pidsLimit = integer(dn.pidsLimit ?? DEFAULTS.pidsLimit, 'dotnet.pidsLimit', 16, MAX_PIDS_LIMIT);
    const { ceiling } = policy.pids;
    if (pidsLimit > ceiling) throw new ConfigError('dotnet.pidsLimit', `${pidsLimit} is above pids.ceiling (${ceiling})`);
    const requests = cpuMemory(dn.requests ?? {}, DEFAULTS.requests, 'dotnet.requests');
    const limits = cpuMemory(dn.limits ?? {}, DEFAULTS.limits, 'dotnet.limits');
    for (const name of ['cpu', 'memory'] as const) {
      if (compareQuantities(parseQuantity(limits[name])!, parseQuantity(requests[name])!) < 0) {
        throw new ConfigError(`dotnet.limits.${name}`, `${limits[name]} is below dotnet.requests.${name} (${requests[name]})`);
      }
    }
    return {
      enabled: boolean(dn.enabled ?? DEFAULTS.enabled, 'dotnet.enabled'),
      imagePatterns: patterns(dn.imagePatterns ?? DEFAULTS.imagePatterns, 'dotnet.imagePatterns', compileImagePattern),
      envPrefixes: strings(dn.envPrefixes ?? DEFAULTS.envPrefixes, 'dotnet.envPrefixes', true),
      commandPatterns: patterns(dn.commandPatterns ?? DEFAULTS.commandPatterns, 'dotnet.commandPatterns', compileCommandPattern),
      requests,
      limits,
      maxWorkerThreads: integer(dn.maxWorkerThreads ?? DEFAULTS.maxWorkerThreads, 'dotnet.maxWorkerThreads', 1, 32767),
      pidsLimit,
    };
  },
};

export const dotnetGuard: PodMutationRule<typeof options> = {
  id: 'dotnet-guard',
  description: '.NET containers get cpu/memory limits, a thread-pool cap (env) and a pidguard.io/pids-limit pod annotation.',
  target: 'pod-mutation',
  options,
  writes: ['container-resources', 'container-env', 'pod-annotations'],
  missingReason: '.NET pod running without pidguard\'s safeguards (created before pidguard, while it was down, or in an exempt namespace)',
  mutate(context, dotnet) {
    if (!dotnet.enabled) return [];
    const { pod } = context;
    const changes: Change[] = [];
    let dotnetFound = false;
    const groups: Array<[Container[] | undefined, boolean]> = [
      [pod.spec.containers, false],
      [pod.spec.initContainers, true],
    ];
    for (const [containers, isInit] of groups) {
      for (const container of containers ?? []) {
        if (!isDotnetContainer(container, pod.metadata, isInit, dotnet)) continue;
        dotnetFound = true;
        const resources = setsPodLevelCpuMemory(pod.spec) ? [] : fillResources(container, dotnet);
        const threadPool = capThreadPool(container, dotnet.maxWorkerThreads, context);
        const set = threadPool ? [...resources, threadPool.summary] : resources;
        if (set.length > 0) changes.push(Object.assign({}, threadPool, { container: container.name, summary: set.join(', ') }));
      }
    }
    if (dotnetFound) changes.push(...annotatePidsLimit(pod, Math.min(dotnet.pidsLimit, context.pidsCeiling.ceiling)));
    return changes;
  },
};

/** DOTNET_* numbers are read as hexadecimal by the runtime: 256 must be written 0x100. */
export function dotnetHex(value: number): string {
  return `0x${value.toString(16)}`;
}

/** Fills missing cpu/memory requests and limits; returns what it set. */
function fillResources(container: Container, defaults: DotnetOptions): string[] {
  const set: string[] = [];
  for (const name of ['cpu', 'memory'] as const) {
    const resources = (container.resources ??= {});
    const request = resources.requests?.[name];
    const limit = resources.limits?.[name];
    if (limit !== undefined) continue; // the request defaults to it; nothing to add
    if (request === undefined) {
      (resources.requests ??= {})[name] = defaults.requests[name];
      (resources.limits ??= {})[name] = defaults.limits[name];
      set.push(`${name} request ${defaults.requests[name]}`, `${name} limit ${defaults.limits[name]}`);
      continue;
    }
    const value = limitAtLeast(String(request), defaults.limits, name);
    if (value === undefined) continue; // unparseable request: the API server will reject the pod
    (resources.limits ??= {})[name] = value;
    set.push(`${name} limit ${value}`);
  }
  return set;
}

/** The default limit, or the request itself when the request is larger. */
function limitAtLeast(request: string, limits: CpuMemory, name: 'cpu' | 'memory'): string | undefined {
  const requested = parseQuantity(request);
  if (!requested) return undefined;
  return compareQuantities(requested, parseQuantity(limits[name])!) > 0 ? request : limits[name];
}

/**
 * Caps the container's thread pool unless it sets its own cap, and says what
 * voids or exceeds the cap (the runtime ignores a forced maximum below the
 * forced minimum). Never changes a value the container sets. Returns what it
 * set; problems it leaves as they are go to `warn`.
 */
function capThreadPool(container: Container, cap: number, context: Pick<RuleContext, 'warn'>): Change | undefined {
  const warn = (message: string) => context.warn(message, container.name);
  const env = container.env ?? [];
  const max = threadPoolKnob(env, 'ForceMaxWorkerThreads');
  const min = threadPoolKnob(env, 'ForceMinWorkerThreads');
  const added: string[] = [];
  let warning: string | undefined;
  /** The cap the runtime will apply, when pidguard can tell. */
  let effective: number | undefined;
  if (max.state === 'absent') {
    effective = cap;
    if (min.state === 'set' && min.value > cap) {
      // A cap below the forced minimum would be void: cap at the minimum instead, so a cap exists.
      effective = Math.min(min.value, MAX_POSSIBLE_THREADS);
      warning =
        `${knobText(min)} is above the thread-pool cap ${cap}, which would make the runtime ignore the cap: ` +
        `pidguard set ${DOTNET_FORCE_MAX_WORKER_THREADS}=${dotnetHex(effective)} (${effective}) instead`;
    } else if (min.state === 'hidden' || min.state === 'invalid') {
      warn(`${unreadable(min)}: if the runtime reads a forced minimum above the cap ${cap} from it, it ignores the cap`);
    }
    env.push({ name: DOTNET_FORCE_MAX_WORKER_THREADS, value: dotnetHex(effective) });
    added.push(`env ${DOTNET_FORCE_MAX_WORKER_THREADS}=${dotnetHex(effective)}${effective === cap ? '' : ' (the container\'s forced minimum)'}`);
  } else if (max.state === 'hidden' || max.state === 'invalid') {
    warn(`${unreadable(max)}, so pidguard cannot tell whether the thread pool is capped; it keeps the container's value`);
  } else if (max.value === 0) {
    warn(`${knobText(max)} forces no maximum: the thread pool has no cap (pidguard's cap is ${cap})`);
  } else if (min.state === 'set' && min.value > max.value) {
    warn(`${knobText(min)} is above ${knobText(max)}: the runtime then ignores the forced maximum, so the thread pool has no cap`);
  } else {
    effective = Math.min(max.value, MAX_POSSIBLE_THREADS);
    if (max.value > cap) warn(`${knobText(max)} is above the configured thread-pool cap ${cap}; pidguard keeps the container's value`);
    if (min.state === 'hidden' || min.state === 'invalid') warn(`${unreadable(min)}: if the runtime reads a forced minimum above ${max.value} from it, it ignores the forced maximum`);
  }
  // The decimal variable only restates the cap for people and dashboards: it must not state one that does not hold.
  if (effective !== undefined && !env.some((entry) => entry?.name === DOTNET_MAX_THREADS)) {
    env.push({ name: DOTNET_MAX_THREADS, value: String(effective) });
    added.push(`env ${DOTNET_MAX_THREADS}=${effective}`);
  }
  if (added.length === 0) return undefined;
  container.env = env;
  return warning === undefined ? { container: container.name, summary: added.join(', ') } : { container: container.name, summary: added.join(', '), warning };
}

/** `DOTNET_ThreadPool_ForceMinWorkerThreads=0x200 (512)`. */
function knobText(knob: KnobSetting & { state: 'set' }): string {
  return `${knob.name}=${quotedValue(knob.raw).slice(1, -1)} (${knob.value})`;
}

function unreadable(knob: KnobSetting & { state: 'hidden' | 'invalid' }): string {
  return knob.state === 'hidden'
    ? `${knob.name} comes from valueFrom, which pidguard cannot see`
    : `${knob.name}=${quotedValue(knob.raw)} is not a hexadecimal number (the runtime reads it as hex, e.g. 0x100 for 256; versions differ on what they make of the rest)`;
}

function annotatePidsLimit(pod: PodTemplate, pidsLimit: number): Change[] {
  if (pod.metadata?.annotations?.[PIDS_LIMIT_ANNOTATION] !== undefined) return [];
  annotations(pod)[PIDS_LIMIT_ANNOTATION] = String(pidsLimit);
  return [{ summary: `annotation ${PIDS_LIMIT_ANNOTATION}=${pidsLimit}` }];
}

function annotations(pod: PodTemplate): Record<string, string> {
  const metadata = (pod.metadata ??= {});
  return (metadata.annotations ??= {});
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
      throw new ConfigError(`${field}.${name}`, `must be a positive Kubernetes quantity such as 500m or 256Mi, got ${describeValue(raw)}`);
    }
    result[name] = text as string;
  }
  return result;
}
