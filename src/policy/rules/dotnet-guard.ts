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
//   limit into the request). Skipped when the pod sets pod-level resources,
//   which bound the containers already.
// - env: DOTNET_ThreadPool_ForceMaxWorkerThreads in hex (the runtime parses
//   DOTNET_* numbers as hex; it is the variable the runtime actually reads),
//   unless it or its COMPlus_ twin is set; DOTNET_ThreadPool_MaxThreads in
//   decimal (the name the brief asked for; the runtime ignores it).
// For the pod: pidguard.io/pids-limit, unless present; the node agent turns it
// into the pod cgroup's pids.max. Nothing the user set is ever changed.

import { PIDS_LIMIT_ANNOTATION, COMPLUS_FORCE_MAX_WORKER_THREADS, DOTNET_FORCE_MAX_WORKER_THREADS, DOTNET_MAX_THREADS } from '../keys.js';
import type { CpuMemory, PolicyConfig } from '../config.js';
import { isDotnetContainer } from '../dotnet-detection.js';
import { pidsCeilingFor } from '../pids-budget.js';
import { compareQuantities, parseQuantity } from '../quantity.js';
import type { Container, PodTemplate } from '../types.js';
import type { Change, PodMutationRule } from './rule.js';

export const dotnetGuard: PodMutationRule = {
  id: 'dotnet-guard',
  description: '.NET containers get cpu/memory limits, a thread-pool cap (env) and a pidguard.io/pids-limit pod annotation.',
  target: 'pod-mutation',
  mutate(pod, config, context) {
    if (!config.dotnet.enabled) return [];
    const changes: Change[] = [];
    let dotnetFound = false;
    const groups: Array<[Container[] | undefined, boolean]> = [
      [pod.spec.containers, false],
      [pod.spec.initContainers, true],
    ];
    for (const [containers, isInit] of groups) {
      for (const container of containers ?? []) {
        if (!isDotnetContainer(container, pod.metadata, isInit, config.dotnet)) continue;
        dotnetFound = true;
        const set = [
          ...(pod.spec.resources == null ? fillResources(container, config.dotnet) : []),
          ...capThreadPool(container, config.dotnet.maxWorkerThreads),
        ];
        if (set.length > 0) changes.push({ container: container.name, summary: set.join(', ') });
      }
    }
    if (dotnetFound) changes.push(...annotatePidsLimit(pod, Math.min(config.dotnet.pidsLimit, pidsCeilingFor(config, context.namespaceLabels).ceiling)));
    return changes;
  },
};

/** DOTNET_* numbers are read as hexadecimal by the runtime: 256 must be written 0x100. */
export function dotnetHex(value: number): string {
  return `0x${value.toString(16)}`;
}

/** Fills missing cpu/memory requests and limits; returns what it set. */
function fillResources(container: Container, defaults: PolicyConfig['dotnet']): string[] {
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

/** Adds the thread-pool variables the container does not set; returns what it set. */
function capThreadPool(container: Container, maxWorkerThreads: number): string[] {
  const env = container.env ?? [];
  const has = (name: string) => env.some((entry) => entry.name === name);
  const added: string[] = [];
  if (!has(DOTNET_FORCE_MAX_WORKER_THREADS) && !has(COMPLUS_FORCE_MAX_WORKER_THREADS)) {
    env.push({ name: DOTNET_FORCE_MAX_WORKER_THREADS, value: dotnetHex(maxWorkerThreads) });
    added.push(`env ${DOTNET_FORCE_MAX_WORKER_THREADS}=${dotnetHex(maxWorkerThreads)}`);
  }
  if (!has(DOTNET_MAX_THREADS)) {
    env.push({ name: DOTNET_MAX_THREADS, value: String(maxWorkerThreads) });
    added.push(`env ${DOTNET_MAX_THREADS}=${maxWorkerThreads}`);
  }
  if (added.length > 0) container.env = env;
  return added;
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
