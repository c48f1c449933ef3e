// Does the API server accept a pod-level PID limit (KEP-6063,
// spec.resources.limits.pid)? Asked the only way that answers it: a
// server-side dry-run create of a minimal pod carrying the field, nothing
// persisted. Not from a version string (the gates PerPodPIDLimit and
// PodLevelResources decide, not the version), and not from the OpenAPI
// document: `limits` is a ResourceList, a map whose keys the schema never
// lists, and the schema lists gated fields whether their gate is on or not.
// Served when the server admits the pod, keeps the field and still computes
// the QoS class from the containers; a rejection, a dropped field or a changed
// class means not served. Anything else (403, timeout) is unknown,
// which callers treat as not served.

import { KubeApiError, type KubeTransport } from './transport.js';

export type PodPidLimitAnswer = { served: boolean; detail: string } | { served: undefined; detail: string };

/** The probe pod: never created (dryRun=All); the value is the KEP's minimum. */
export function probePod(namespace: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'pidguard-pod-pid-limit-probe-', namespace, labels: { 'app.kubernetes.io/name': 'pidguard-probe' } },
    spec: {
      // Only the field the mutation adds; the rest passes Pod Security "restricted".
      resources: { limits: { pid: '128' } },
      securityContext: { runAsNonRoot: true, runAsUser: 65535, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{
        name: 'probe',
        image: 'registry.k8s.io/pause:3.10',
        resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '10m', memory: '16Mi' } },
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      }],
    },
  };
}

export async function probePodPidLimit(transport: KubeTransport, namespace: string, timeoutMs = 5000): Promise<PodPidLimitAnswer> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?dryRun=All`;
  try {
    type Created = { spec?: { resources?: { limits?: Record<string, unknown> } }; status?: { qosClass?: unknown } };
    const created = await transport.call<Created>('POST', path, 'dry-run create a pod with spec.resources.limits.pid', { body: probePod(namespace), timeoutMs });
    if (created.spec?.resources?.limits?.pid === undefined) {
      return { served: false, detail: 'the API server admits the pod but drops spec.resources.limits.pid (the PerPodPIDLimit gate is off)' };
    }
    // The probe's containers make it Guaranteed: a server that computes the class from a pid-only
    // pod-level block instead (today's ComputePodQOS would: BestEffort) would demote every pod written.
    if (created.status?.qosClass !== 'Guaranteed') {
      return { served: false, detail: `the API server keeps spec.resources.limits.pid but gives the pod QoS class ${String(created.status?.qosClass)} instead of its containers' Guaranteed: writing it would change pods' QoS class` };
    }
    return { served: true, detail: 'the API server accepts spec.resources.limits.pid and keeps the QoS class from the containers' };
  } catch (error) {
    if (error instanceof KubeApiError && (error.status === 422 || error.status === 400)) {
      return { served: false, detail: `the API server rejects spec.resources.limits.pid: ${error.message}` };
    }
    return { served: undefined, detail: `cannot tell whether the API server accepts spec.resources.limits.pid: ${(error as Error).message}` };
  }
}

/**
 * Probes at start and every intervalMs; `served()` is false until a probe says
 * otherwise, so an unknown answer never writes the field.
 */
export class PodPidLimitDiscovery {
  private answer: PodPidLimitAnswer | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly probe: () => Promise<PodPidLimitAnswer>,
    private readonly onChange: (answer: PodPidLimitAnswer) => void,
  ) {}

  served(): boolean {
    return this.answer?.served === true;
  }

  async refresh(): Promise<void> {
    const answer = await this.probe();
    // The first answer is always reported: an unknown one is a warning, not silence.
    const changed = this.answer === undefined || answer.served !== this.answer.served;
    this.answer = answer;
    if (changed) this.onChange(answer);
  }

  start(intervalMs: number): Promise<void> {
    const first = this.refresh();
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
    return first;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
