// The fields the rules read, checked for the shape the API server gives them.
// A mutating webhook sees objects before schema validation, and `evaluate`
// reads hand-written files: a malformed pod is reported, never a crash, and
// never judged "allowed" as if it were a pod the API server would accept.

import type { KubeObject } from './types.js';
import { isRecord } from './json-value.js';
import { podTemplatePath } from './workloads.js';

/**
 * What is wrong with the shape of the pod a Pod or workload object describes
 * (a field missing that the API server requires, or of the wrong type), with
 * its full path from the object; undefined when the rules can read it.
 */
export function podShapeProblem(object: KubeObject): string | undefined {
  const path = podTemplatePath(object.kind) ?? [];
  let template: Record<string, unknown> = object;
  for (const [depth, key] of path.entries()) {
    const next = template[key];
    if (!isRecord(next)) return `${path.slice(0, depth + 1).join('.')} ${next === undefined || next === null ? 'is missing' : 'is not an object'}`;
    template = next;
  }
  const at = path.length === 0 ? '' : `${path.join('.')}.`;
  const metadata: unknown = template.metadata;
  if (metadata !== undefined && metadata !== null) {
    if (!isRecord(metadata)) return `${at}metadata is not an object`;
    for (const field of ['labels', 'annotations'] as const) {
      const map = metadata[field];
      if (map !== undefined && map !== null && !isStringMap(map)) return `${at}metadata.${field} is not a map of strings`;
    }
  }
  const spec = template.spec;
  if (!isRecord(spec)) return `${at}spec ${spec === undefined || spec === null ? 'is missing' : 'is not an object'}`;
  const podResources = resourcesProblem(spec.resources, `${at}spec.resources`);
  if (podResources) return podResources;
  for (const field of ['containers', 'initContainers'] as const) {
    const list: unknown = spec[field];
    if ((list === undefined || list === null) && field === 'initContainers') continue;
    if (list === undefined || list === null) return `${at}spec.containers is missing`;
    if (!Array.isArray(list)) return `${at}spec.${field} is not a list`;
    if (list.length === 0 && field === 'containers') return `${at}spec.containers is empty`;
    for (const [index, container] of list.entries()) {
      const problem = containerProblem(container, `${at}spec.${field}[${index}]`);
      if (problem) return problem;
    }
  }
  return undefined;
}

function containerProblem(container: unknown, at: string): string | undefined {
  if (!isRecord(container)) return `${at} is not an object`;
  if (typeof container.name !== 'string') return `${at}.name is not a string`;
  if (container.image !== undefined && typeof container.image !== 'string') return `${at}.image is not a string`;
  for (const field of ['command', 'args'] as const) {
    const value = container[field];
    if (value !== undefined && value !== null && !Array.isArray(value)) return `${at}.${field} is not a list`;
  }
  const env = container.env;
  if (env !== undefined && env !== null) {
    if (!Array.isArray(env)) return `${at}.env is not a list`;
    const bad = env.findIndex((entry) => !isRecord(entry) || typeof entry.name !== 'string');
    if (bad >= 0) return `${at}.env[${bad}] has no name`;
  }
  return resourcesProblem(container.resources, `${at}.resources`);
}

function resourcesProblem(resources: unknown, at: string): string | undefined {
  if (resources === undefined || resources === null) return undefined;
  if (!isRecord(resources)) return `${at} is not an object`;
  for (const field of ['requests', 'limits'] as const) {
    const list = resources[field];
    if (list === undefined || list === null) continue;
    if (!isRecord(list) || !Object.values(list).every((q) => typeof q === 'string' || typeof q === 'number')) {
      return `${at}.${field} is not a map of quantities`;
    }
  }
  return undefined;
}

function isStringMap(value: unknown): boolean {
  return isRecord(value) && Object.values(value).every((v) => typeof v === 'string');
}
