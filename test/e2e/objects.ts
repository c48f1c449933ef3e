// Kubernetes objects the scenarios send, built in one place so each test reads
// as "this kind of pod, in this kind of namespace, gives this".

export const DOTNET_IMAGE = 'mcr.microsoft.com/dotnet/aspnet:8.0';
/** An image no .NET pattern matches. */
export const PLAIN_IMAGE = 'registry.example.com/shop/web:1.0';

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value: string }>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

export interface Meta {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A container without resources: on its own, a BestEffort pod. */
export function bestEffortContainer(name = 'app'): Container {
  return { name, image: PLAIN_IMAGE };
}

export function burstableContainer(name = 'app'): Container {
  return { name, image: PLAIN_IMAGE, resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } } };
}

/** The three ways pidguard recognises a .NET pod without being told its resources. */
export const DOTNET_VARIANTS: ReadonlyArray<{ by: string; container: Container; meta: Meta }> = [
  { by: 'image', container: { name: 'app', image: DOTNET_IMAGE }, meta: {} },
  { by: 'command', container: { name: 'app', image: PLAIN_IMAGE, command: ['dotnet', 'Shop.Web.dll'] }, meta: {} },
  { by: 'opt-in label', container: { name: 'app', image: PLAIN_IMAGE }, meta: { labels: { 'pidguard.io/runtime': 'dotnet' } } },
];

export function pod(name: string, namespace: string, containers: Container[], meta: Meta = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, ...meta },
    spec: { containers, restartPolicy: 'Never' as const },
  };
}

/** A workload of `kind` whose pod template has `containers`. */
export function workload(kind: 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'ReplicaSet' | 'Job' | 'CronJob', name: string, namespace: string, containers: Container[]) {
  const labels = { app: name };
  const template = { metadata: { labels }, spec: { containers, restartPolicy: 'Always' as string } };
  const metadata = { name, namespace };
  switch (kind) {
    case 'Deployment':
    case 'ReplicaSet':
    case 'DaemonSet':
      return { apiVersion: 'apps/v1', kind, metadata, spec: { selector: { matchLabels: labels }, template } };
    case 'StatefulSet':
      return { apiVersion: 'apps/v1', kind, metadata, spec: { serviceName: name, selector: { matchLabels: labels }, template } };
    case 'Job':
      template.spec.restartPolicy = 'Never';
      return { apiVersion: 'batch/v1', kind, metadata, spec: { template } };
    case 'CronJob':
      template.spec.restartPolicy = 'OnFailure';
      return { apiVersion: 'batch/v1', kind, metadata, spec: { schedule: '*/5 * * * *', jobTemplate: { spec: { template } } } };
  }
}
