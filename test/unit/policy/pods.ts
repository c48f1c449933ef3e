// Small builders for pods and containers used across the policy tests.
import type { Container, KubeObject, PodSpec, ResourceList } from '../../../src/policy/types.js';

export function container(name: string, resources?: { requests?: ResourceList; limits?: ResourceList }, extra: Partial<Container> = {}): Container {
  return { name, image: 'nginx:1.27', ...(resources ? { resources } : {}), ...extra };
}

export function pod(spec: Partial<PodSpec> & { containers: Container[] }, metadata: KubeObject['metadata'] = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', ...metadata }, spec };
}

export function deployment(spec: PodSpec, name = 'web'): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec } },
  };
}

/** Freezes a JSON value all the way down, so any write to it throws (tests run in strict mode). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
