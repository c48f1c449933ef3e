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
  for (let depth = 0; depth < path.length; depth++) {
    const next = template[path[depth]!];
    if (!isRecord(next)) return `${path.slice(0, depth + 1).join('.')} ${next === undefined || next === null ? 'is missing' : 'is not an object'}`;
    template = next;
  }
  // Paths are put together only for a problem: this runs on every review.
  const at = () => (path.length === 0 ? '' : `${path.join('.')}.`);
  const metadata: unknown = template.metadata;
  if (metadata !== undefined && metadata !== null) {
    if (!isRecord(metadata)) return `${at()}metadata is not an object`;
    for (const field of METADATA_MAPS) {
      const map = metadata[field];
      if (map !== undefined && map !== null && !isStringMap(map)) return `${at()}metadata.${field} is not a map of strings`;
    }
  }
  const spec = template.spec;
  if (!isRecord(spec)) return `${at()}spec ${spec === undefined || spec === null ? 'is missing' : 'is not an object'}`;
  const podResources = resourcesProblem(spec.resources);
  if (podResources) return `${at()}spec.resources${podResources}`;
  for (const field of CONTAINER_LISTS) {
    const list: unknown = spec[field];
    if ((list === undefined || list === null) && field === 'initContainers') continue;
    if (list === undefined || list === null) return `${at()}spec.containers is missing`;
    if (!Array.isArray(list)) return `${at()}spec.${field} is not a list`;
    if (list.length === 0 && field === 'containers') return `${at()}spec.containers is empty`;
    for (let index = 0; index < list.length; index++) {
      const problem = containerProblem(list[index]);
      if (problem) return `${at()}spec.${field}[${index}]${problem}`;
    }
  }
  return undefined;
}

const METADATA_MAPS = ['labels', 'annotations'] as const;
const CONTAINER_LISTS = ['containers', 'initContainers'] as const;
const COMMAND_FIELDS = ['command', 'args'] as const;
const RESOURCE_LISTS = ['requests', 'limits'] as const;

/** What is wrong with a container, as the rest of a message that starts with its path. */
function containerProblem(container: unknown): string | undefined {
  if (!isRecord(container)) return ' is not an object';
  if (typeof container.name !== 'string') return '.name is not a string';
  if (container.image !== undefined && typeof container.image !== 'string') return '.image is not a string';
  for (const field of COMMAND_FIELDS) {
    const value = container[field];
    if (value !== undefined && value !== null && !Array.isArray(value)) return `.${field} is not a list`;
  }
  const env = container.env;
  if (env !== undefined && env !== null) {
    if (!Array.isArray(env)) return '.env is not a list';
    for (let index = 0; index < env.length; index++) {
      const entry: unknown = env[index];
      if (!isRecord(entry) || typeof entry.name !== 'string') return `.env[${index}] has no name`;
    }
  }
  const resources = resourcesProblem(container.resources);
  return resources === undefined ? undefined : `.resources${resources}`;
}

/** What is wrong with a resources block, as the rest of a message that starts with its path. */
function resourcesProblem(resources: unknown): string | undefined {
  if (resources === undefined || resources === null) return undefined;
  if (!isRecord(resources)) return ' is not an object';
  for (const field of RESOURCE_LISTS) {
    const list = resources[field];
    if (list === undefined || list === null) continue;
    if (!isRecord(list) || !everyValue(list, (q) => typeof q === 'string' || typeof q === 'number')) return `.${field} is not a map of quantities`;
  }
  return undefined;
}

function isStringMap(value: unknown): boolean {
  return isRecord(value) && everyValue(value, (v) => typeof v === 'string');
}

/** Object.values(map).every(test), without the array. JSON.parse's objects have only own enumerable keys. */
function everyValue(map: Record<string, unknown>, test: (value: unknown) => boolean): boolean {
  for (const key in map) if (!test(map[key])) return false;
  return true;
}
