// The policy engine's vocabulary. Kubernetes objects are described structurally
// (only the fields pidguard reads), so the engine depends on no client library.

export type Mode = 'enforce' | 'audit' | 'off';
export const MODES: readonly Mode[] = ['enforce', 'audit', 'off'];

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export type ResourceList = Record<string, string | number>;

export interface ResourceRequirements {
  requests?: ResourceList;
  limits?: ResourceList;
  [field: string]: unknown;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: unknown[];
  resources?: ResourceRequirements;
  [field: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  resources?: ResourceRequirements;
  [field: string]: unknown;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  [field: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid?: string;
  controller?: boolean;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: unknown;
  [field: string]: unknown;
}

export interface PodTemplate {
  metadata?: ObjectMeta;
  spec: PodSpec;
}

/** The identity of whoever sent the request (AdmissionRequest.userInfo). */
export interface UserInfo {
  username?: string;
  groups?: string[];
}

/** RFC 6902 operation, as json-patch.ts's diff() emits and applyPatch() applies it. */
export interface PatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';
