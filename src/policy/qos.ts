// QoS class, computed the way the API server does
// (pkg/apis/core/helper/qos/qos.go, ComputePodQOS, Kubernetes 1.34+ with
// PodLevelResources on by default).
//
// Fields read: spec.resources (pod level, unless it holds only KEP-6063's pid limit), and requests/limits of cpu and
// memory on spec.containers[*] and spec.initContainers[*]. Ephemeral
// containers cannot set resources and are ignored. Only positive quantities
// count. A container's missing requests are first defaulted from its limits,
// as the API server does for every pod it creates; callers judging a pod spec
// first apply podLevelRequestDefaults() below, the API server's other defaulting
// that QoS depends on.

import { addQuantities, compareQuantities, isPositive, parseQuantity, type Quantity } from './quantity.js';
import type { Container, PodSpec, QosClass, ResourceList } from './types.js';

const QOS_RESOURCES = ['cpu', 'memory'] as const;

export function computeQosClass(spec: PodSpec): QosClass {
  const requests = new Map<string, Quantity>();
  const limits = new Map<string, Quantity>();
  let guaranteedCandidate = true;

  if (spec.resources != null && !onlyPodPidLimit(spec)) {
    collect(spec.resources.requests, undefined, requests);
    if (spec.resources.limits && Object.keys(spec.resources.limits).length > 0) {
      if (collect(spec.resources.limits, undefined, limits) !== QOS_RESOURCES.length) guaranteedCandidate = false;
    }
  } else {
    for (const container of allContainers(spec)) {
      // A container's missing requests default to its limits (effectiveResources), read in place.
      const own = container.resources;
      collect(own?.requests, own?.limits, requests);
      if (collect(own?.limits, undefined, limits) !== QOS_RESOURCES.length) guaranteedCandidate = false;
    }
  }

  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (guaranteedCandidate) {
    for (const [name, request] of requests) {
      const limit = limits.get(name);
      if (!limit || compareQuantities(limit, request) !== 0) {
        guaranteedCandidate = false;
        break;
      }
    }
  }
  return guaranteedCandidate && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}

/** Whether the pod sets pod-level cpu or memory, which bound its containers. */
export function setsPodLevelCpuMemory(spec: PodSpec): boolean {
  const { requests, limits } = spec.resources ?? {};
  return [requests, limits].some((list) => QOS_RESOURCES.some((name) => list?.[name] !== undefined));
}

/**
 * A pod-level block holding only KEP-6063's pid limit. pidguard writes one only
 * where the API server keeps computing the QoS class from the containers
 * (pod-pid-limit-probe.ts checks that, since today's ComputePodQOS takes any
 * pod-level block, and a pid-only one would make the pod BestEffort).
 */
function onlyPodPidLimit(spec: PodSpec): boolean {
  const names = [...Object.keys(spec.resources?.requests ?? {}), ...Object.keys(spec.resources?.limits ?? {})];
  return names.length > 0 && names.every((name) => name === 'pid');
}

export function allContainers(spec: PodSpec): Container[] {
  return [...(spec.containers ?? []), ...(spec.initContainers ?? [])];
}

/**
 * `spec` with its missing pod-level cpu and memory requests defaulted as the
 * API server defaults every Pod before admission (k8s.io/kubernetes 1.36
 * pkg/apis/core/v1/defaults.go defaultPodRequests, PodLevelResources on by
 * default since 1.34): only when pod-level limits are set, a missing pod-level
 * request becomes the containers' aggregate request (resource helpers'
 * AggregateContainerRequests: regular and sidecar containers summed, init
 * containers as their peak) when any container requests it, else the pod-level
 * limit. The API server defaults workload pod templates so only in the pods
 * created from them (SetDefaults_Pod, not SetDefaults_PodSpec), which is what a
 * template is judged as. A pid-only block (KEP-6063) is left alone, as the QoS
 * class leaves it. Returns `spec` itself when nothing is defaulted.
 */
export function podLevelRequestDefaults(spec: PodSpec): PodSpec {
  const resources = spec.resources;
  if (resources?.limits == null || Object.keys(resources.limits).length === 0) return spec;
  // A pid-only block is what pidguard writes where the server keeps judging the pod by its
  // containers (onlyPodPidLimit): judged as absent here too, as the QoS class does.
  if (onlyPodPidLimit(spec)) return spec;
  const requests: ResourceList = { ...resources.requests };
  let defaulted = false;
  for (const name of QOS_RESOURCES) {
    if (requests[name] !== undefined) continue;
    const value = aggregateRequest(spec, name) ?? resources.limits[name];
    if (value === undefined) continue;
    requests[name] = value;
    defaulted = true;
  }
  return defaulted ? { ...spec, resources: { ...resources, requests } } : spec;
}

/**
 * The containers' aggregate request of `name` (milli-rounded up, as the API
 * server stores it), or undefined when no container requests it.
 */
function aggregateRequest(spec: PodSpec, name: string): string | undefined {
  const requestOf = (container: Container) => {
    const raw = effectiveResources(container).requests[name];
    return raw === undefined ? undefined : parseQuantity(raw);
  };
  const zero: Quantity = { numerator: 0n, denominator: 1n };
  let found = false;
  let sum = zero;
  for (const container of spec.containers ?? []) {
    const request = requestOf(container);
    if (request === undefined) continue;
    found = true;
    sum = addQuantities(sum, request);
  }
  let sidecars = zero;
  let initPeak = zero;
  for (const container of spec.initContainers ?? []) {
    const request = requestOf(container);
    if (request === undefined) continue;
    found = true;
    let use: Quantity;
    if (container.restartPolicy === 'Always') {
      sum = addQuantities(sum, request);
      sidecars = addQuantities(sidecars, request);
      use = sidecars;
    } else {
      use = addQuantities(request, sidecars);
    }
    if (compareQuantities(use, initPeak) > 0) initPeak = use;
  }
  if (!found) return undefined;
  const total = compareQuantities(initPeak, sum) > 0 ? initPeak : sum;
  const milli = (total.numerator * 1000n + total.denominator - 1n) / total.denominator;
  return `${milli}m`;
}

/** A container's requests and limits after the API server's defaulting (requests default to limits). */
export function effectiveResources(container: Container): { requests: ResourceList; limits: ResourceList } {
  const limits = container.resources?.limits ?? {};
  const requests = { ...limits, ...(container.resources?.requests ?? {}) };
  return { requests, limits };
}

/**
 * Adds the positive cpu/memory quantities of `list` into `into`, a name `list` lacks taken from
 * `fallback` (a container's limits, as its requests' defaults); returns how many names it added.
 */
function collect(list: ResourceList | undefined, fallback: ResourceList | undefined, into: Map<string, Quantity>): number {
  let found = 0;
  for (const name of QOS_RESOURCES) {
    const raw = list?.[name] ?? fallback?.[name];
    if (raw === undefined) continue;
    const quantity = parseQuantity(raw);
    if (!quantity || !isPositive(quantity)) continue;
    found += 1;
    const sum = into.get(name);
    into.set(name, sum ? addQuantities(sum, quantity) : quantity);
  }
  return found;
}
