// The copy of an object that mutation rules change in place.
//
// Only what a rule may write is copied: the objects on the way down to the pod
// template, the template's metadata with its labels and annotations, its spec,
// and each container and init container with its env list and resources.
// Everything else (volumes, probes, tolerations, env entries, ...) stays shared
// with the request. That keeps the copy cheap, and the patch diff skips every
// subtree the rules did not touch because it is the very same object. The
// engine's tests run on deep-frozen requests, so a rule that writes anywhere
// else throws there instead of silently changing the caller's object.

import type { KubeObject } from './types.js';
import { isRecord, podTemplatePath } from './workloads.js';

const CONTAINER_LISTS = ['containers', 'initContainers'] as const;

export function copyForMutation(object: KubeObject): KubeObject {
  const copy: Record<string, unknown> = { ...object };
  let node = copy;
  for (const key of podTemplatePath(object.kind) ?? []) {
    const next = node[key];
    if (!isRecord(next)) return copy; // no pod template: nothing for the rules to change
    node = node[key] = { ...next };
  }
  if (isRecord(node.metadata)) node.metadata = copyMetadata(node.metadata);
  if (isRecord(node.spec)) node.spec = copySpec(node.spec);
  return copy;
}

function copyMetadata(metadata: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...metadata };
  if (isRecord(metadata.labels)) copy.labels = { ...metadata.labels };
  if (isRecord(metadata.annotations)) copy.annotations = { ...metadata.annotations };
  return copy;
}

function copySpec(spec: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...spec };
  for (const list of CONTAINER_LISTS) {
    const containers = spec[list];
    if (Array.isArray(containers)) copy[list] = containers.map(copyContainer);
  }
  return copy;
}

function copyContainer(container: unknown): unknown {
  if (!isRecord(container)) return container;
  const copy = { ...container };
  if (Array.isArray(container.env)) copy.env = [...container.env];
  if (container.resources !== undefined) copy.resources = cloneJson(container.resources);
  return copy;
}

/** Deep copy of a JSON value; several times faster than structuredClone or a JSON round trip. */
function cloneJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneJson);
  if (value === null || typeof value !== 'object') return value;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const child = cloneJson((value as Record<string, unknown>)[key]);
    // JSON.parse makes "__proto__" an own key; assigning it would set the prototype instead.
    if (key === '__proto__') Object.defineProperty(copy, key, { value: child, enumerable: true, writable: true, configurable: true });
    else copy[key] = child;
  }
  return copy;
}
