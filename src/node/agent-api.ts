// The API calls the node agent and `pidguard node` make, on the shared
// transport (kube/transport.ts): list and watch this node's pods (field
// selector spec.nodeName, so a node's agent never lists the cluster), read the
// Node and patch its status, create Events, read a namespace, and (--policy-reports)
// list, apply and delete its openreports.io Reports.

import { ListWatch, type ListWatchOptions } from '../kube/list-watch.js';
import { MANAGED_BY_LABEL, REPORTS_PATH, reportPath, type Report } from '../kube/openreports.js';
import { KubeApiError, KubeTransport, type ApiEndpoint } from '../kube/transport.js';

export interface PodObject {
  metadata?: { uid?: string; name?: string; namespace?: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec?: { nodeName?: string };
  status?: { phase?: string };
}

export interface NodeObject {
  metadata?: { uid?: string };
  status?: { conditions?: Array<{ type: string; status: string; reason?: string }> };
}

export interface NamespaceObject {
  metadata?: { labels?: Record<string, unknown> };
}

export interface EventBody {
  metadata: { namespace: string };
  reason: string;
  involvedObject: { kind: string; name: string };
}

/** The node tools answer fast or not at all: a node in trouble must not wait on the API server. */
const AGENT_CALL_TIMEOUT_MS = 5000;
/** Reports listed per page: pidguard writes at most one per namespace and node. */
const REPORT_PAGE_SIZE = 100;

export class AgentApiClient {
  private readonly transport: KubeTransport;

  constructor(endpoint: ApiEndpoint, timeoutMs = AGENT_CALL_TIMEOUT_MS) {
    this.transport = new KubeTransport(endpoint, { timeoutMs }, 'pidguard-agent');
  }

  async listNodePods(nodeName: string): Promise<PodObject[]> {
    const list = await this.transport.call<{ items?: PodObject[] }>('GET', nodePodsPath(nodeName), `list pods on node ${nodeName}`);
    return list.items ?? [];
  }

  watchNodePods<V>(nodeName: string, options: Pick<ListWatchOptions<PodObject, V>, 'keyOf' | 'valueOf' | 'retryDelayMs' | 'onError'>): ListWatch<PodObject, V> {
    return new ListWatch(this.transport, { ...options, path: nodePodsPath(nodeName), attempted: `watch pods on node ${nodeName}` });
  }

  readNode(nodeName: string): Promise<NodeObject> {
    return this.transport.call('GET', `/api/v1/nodes/${encodeURIComponent(nodeName)}`, `read node ${nodeName}`);
  }

  /** Strategic merge: conditions merge by `type`, so the kubelet's own conditions are untouched. */
  async patchNodeCondition(nodeName: string, condition: Record<string, string>): Promise<void> {
    await this.transport.call('PATCH', `/api/v1/nodes/${encodeURIComponent(nodeName)}/status`, `patch the ${condition.type} condition of node ${nodeName}`, {
      body: { status: { conditions: [condition] } },
      contentType: 'application/strategic-merge-patch+json',
    });
  }

  async createEvent(event: EventBody): Promise<void> {
    const { namespace } = event.metadata;
    await this.transport.call('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, `create a ${event.reason} Event on ${event.involvedObject.kind} ${event.involvedObject.name}`, { body: event });
  }

  readNamespace(name: string): Promise<NamespaceObject> {
    return this.transport.call('GET', `/api/v1/namespaces/${encodeURIComponent(name)}`, `read namespace ${name}`);
  }

  /** pidguard's Reports in every namespace (by label; the caller picks its own by name), page by page. */
  async listPidguardReports(): Promise<Report[]> {
    const reports: Report[] = [];
    const selector = new URLSearchParams({ labelSelector: `${MANAGED_BY_LABEL}=pidguard` });
    for await (const page of this.transport.listPages<Report>(`${REPORTS_PATH}/reports?${selector}`, 'list reports.openreports.io at the cluster scope', REPORT_PAGE_SIZE)) reports.push(...page.items);
    return reports;
  }

  /** Server-side apply: creates the report or updates it in place. */
  async applyReport(report: Report): Promise<void> {
    const { name, namespace } = report.metadata;
    await this.transport.call('PATCH', reportPath(namespace, name, true), `apply report ${name} in namespace ${namespace}`, { body: report, contentType: 'application/apply-patch+yaml' });
  }

  /** Deletes a report; one already gone is fine. */
  async deleteReport(namespace: string, name: string): Promise<void> {
    try {
      await this.transport.call('DELETE', reportPath(namespace, name), `delete report ${name} in namespace ${namespace}`);
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 404)) throw error;
    }
  }

  close(): void {
    this.transport.close();
  }
}

function nodePodsPath(nodeName: string): string {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(nodeName)) throw new Error(`"${nodeName}" is not a valid node name (--node-name / NODE_NAME)`);
  return `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${nodeName}`)}`;
}
