// Renders the install with the real kustomize (`kubectl kustomize`) and gives the tests typed
// access to the objects. Renders are cached per directory: each costs a kubectl process.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { Container, KubeObject, PodSpec, PodTemplate } from '../../../src/policy/types.js';
import { isPodShaped, podTemplateOf } from '../../../src/policy/workloads.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const NAMESPACE = 'pidguard-system';
export const IMAGE = 'ghcr.io/pidguard/pidguard:0.1.0';
export const SYSTEM_NAMESPACES = ['kube-system', 'kube-node-lease', 'kube-public'];

/** Overlays under manifests/overlays/ that render without preparation (self-signed needs certs). */
export const PLAIN_OVERLAYS = ['audit', 'prometheus', 'e2e'] as const;

export type Manifest = KubeObject & { metadata: NonNullable<KubeObject['metadata']> };

const cache = new Map<string, Manifest[]>();

/** `kubectl kustomize <dir>` (dir relative to the repository root, or absolute), parsed. */
export function render(dir: string): Manifest[] {
  const cached = cache.get(dir);
  if (cached) return cached;
  let output: string;
  try {
    output = execFileSync('kubectl', ['kustomize', dir], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('kubectl is not on PATH: the manifest tests render with its built-in kustomize (kubectl >= 1.27, kustomize v5)');
    }
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`kubectl kustomize ${dir} failed: ${stderr || (error as Error).message}`);
  }
  const objects = parseAllDocuments(output).map((document) => {
    if (document.errors.length > 0) throw new Error(`kubectl kustomize ${dir}: invalid YAML: ${document.errors[0]!.message}`);
    return document.toJS() as Manifest;
  });
  cache.set(dir, objects);
  return objects;
}

export function ofKind(objects: Manifest[], kind: string): Manifest[] {
  return objects.filter((object) => object.kind === kind);
}

/** The one object of a kind and name; fails the test if it is missing or duplicated. */
export function find(objects: Manifest[], kind: string, name: string): Manifest {
  const matches = objects.filter((object) => object.kind === kind && object.metadata.name === name);
  if (matches.length !== 1) throw new Error(`expected one ${kind} "${name}", found ${matches.length}`);
  return matches[0]!;
}

/** Objects that create pods (Deployment, DaemonSet, ...), with their pod template. */
export function workloads(objects: Manifest[]): Array<{ object: Manifest; template: PodTemplate }> {
  return objects
    .filter((object) => object.kind !== 'Pod' && isPodShaped(object.kind))
    .map((object) => {
      const template = podTemplateOf(object);
      if (!template) throw new Error(`${object.kind} ${object.metadata.name} has no pod template`);
      return { object, template };
    });
}

export function podSpecOf(objects: Manifest[], kind: string, name: string): PodSpec {
  return podTemplateOf(find(objects, kind, name))!.spec;
}

export function containersOf(spec: PodSpec): Container[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

export interface Webhook {
  name: string;
  admissionReviewVersions?: string[];
  sideEffects?: string;
  failurePolicy?: string;
  matchPolicy?: string;
  timeoutSeconds?: number;
  reinvocationPolicy?: string;
  clientConfig: { service?: { name: string; namespace: string; path?: string; port?: number }; url?: string; caBundle?: string };
  rules: Array<{ apiGroups: string[]; apiVersions: string[]; operations: string[]; resources: string[]; scope?: string }>;
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  matchConditions?: Array<{ name: string; expression: string }>;
}

/** Every webhook of the install, keyed by webhook name, with its configuration's kind. */
export function webhooksOf(objects: Manifest[]): Map<string, Webhook & { configurationKind: string }> {
  const result = new Map<string, Webhook & { configurationKind: string }>();
  for (const object of objects) {
    if (object.kind !== 'MutatingWebhookConfiguration' && object.kind !== 'ValidatingWebhookConfiguration') continue;
    for (const webhook of (object.webhooks as Webhook[] | undefined) ?? []) {
      result.set(webhook.name, { ...webhook, configurationKind: object.kind });
    }
  }
  return result;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}

/** Kubernetes label selector semantics (an absent key satisfies NotIn and DoesNotExist). */
export function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const ok =
      operator === 'In' ? has && values.includes(labels[key]!)
      : operator === 'NotIn' ? !has || !values.includes(labels[key]!)
      : operator === 'Exists' ? has
      : operator === 'DoesNotExist' ? !has
      : false;
    if (!ok) return false;
  }
  return true;
}

/** The labels the API server puts on a namespace (kubernetes.io/metadata.name) plus extras. */
export function namespaceLabels(name: string, extra: Record<string, string> = {}): Record<string, string> {
  return { 'kubernetes.io/metadata.name': name, ...extra };
}
