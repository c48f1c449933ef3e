// The fields the rules read, checked for the shape the API server gives them.
// A mutating webhook sees objects before schema validation, and `evaluate`
// reads hand-written files: a malformed pod is reported, never a crash.

import type { PodTemplate } from './types.js';
import { isRecord } from './workloads.js';

/** What is wrong with the pod's shape, or undefined when the rules can read it. */
export function podShapeProblem(pod: PodTemplate): string | undefined {
  const metadata: unknown = pod.metadata;
  if (metadata !== undefined && metadata !== null) {
    if (!isRecord(metadata)) return 'metadata is not an object';
    for (const field of ['labels', 'annotations'] as const) {
      const map = metadata[field];
      if (map !== undefined && map !== null && !isStringMap(map)) return `metadata.${field} is not a map of strings`;
    }
  }
  const podResources = resourcesProblem(pod.spec.resources, 'spec.resources');
  if (podResources) return podResources;
  for (const field of ['containers', 'initContainers'] as const) {
    const list: unknown = pod.spec[field];
    if (list === undefined && field === 'initContainers') continue;
    if (list === null && field === 'initContainers') continue;
    if (!Array.isArray(list)) return `spec.${field} is not a list`;
    for (const [index, container] of list.entries()) {
      const problem = containerProblem(container, `spec.${field}[${index}]`);
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
