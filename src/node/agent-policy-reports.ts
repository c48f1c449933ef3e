// The node agent's openreports.io Reports (`agent --policy-reports`): what only
// the node knows, a pod whose pids-limit cannot be enforced here. Per namespace
// with such pods on this node, ONE Report named `pidguard-node-<node>` (so the
// agents of different nodes never write the same object, and the audit's
// `pidguard` Report stays the audit's), bounded in results, applied only when
// its content changed and deleted when its namespace has no such pod left.

import type { AgentApiClient } from './agent-api.js';
import type { EnforcementAction, EnforcementFailure } from './enforce.js';
import { boundedReport, cutMessage, REPORT_SOURCE, resultKey, sameReportContent, type Report, type ReportResult } from '../kube/openreports.js';

/** The rule id the audit uses for the same finding read from node reports (src/audit/pids-enforcement.ts). */
export const NODE_REPORT_RULE = 'pids-limit-enforcement';
export const NODE_REPORT_MAX_RESULTS = 100;

export function nodeReportName(nodeName: string): string {
  return `pidguard-node-${nodeName}`;
}

const FIXES: Readonly<Record<EnforcementFailure, string>> = {
  'cgroup-not-found': "check that the agent sees the node's cgroup tree (its --cgroup-root mount) and the pod's cgroup exists; the agent log names the paths it tried",
  'no-pids-max': "enable the pids controller for the pod's cgroup (cgroup v2: +pids in its parent's cgroup.subtree_control; v1: the pids hierarchy mounted)",
  'write-refused': "give the agent write access to the pod's pids.max (a read-write host cgroup mount, no SELinux/AppArmor denial); the agent log has the error",
  'not-applied': 'find what else writes pids.max of the pod cgroup (the container runtime, a kubelet podPidsLimit) so that the lower limit stays',
};

/**
 * The Report of each namespace with unenforced pods on `nodeName` (pods the
 * agent knows by UID only have no namespace to report in: the node condition
 * names them). `firstSeen` keeps a result's timestamp from the stored report.
 */
export function nodeReports(nodeName: string, unenforced: readonly EnforcementAction[], maxResults: number, nowSeconds: number, firstSeen: (namespace: string, key: string) => number | undefined): Map<string, Report> {
  const byNamespace = new Map<string, ReportResult[]>();
  for (const action of unenforced) {
    const { namespace, name, uid } = action.pod;
    if (namespace === undefined || name === undefined) continue;
    const resource = { apiVersion: 'v1', kind: 'Pod', name, namespace, uid };
    const results = byNamespace.get(namespace) ?? [];
    results.push({
      source: REPORT_SOURCE,
      policy: 'pidguard',
      rule: NODE_REPORT_RULE,
      category: 'PID safety',
      severity: 'high',
      result: 'fail',
      message: cutMessage(`pids-limit ${action.limit} not enforced on node ${nodeName} (${action.failure ?? 'failed'}): ${action.reason}. Fix: ${FIXES[action.failure ?? 'not-applied']}`),
      resources: [resource],
      properties: { node: nodeName, failure: action.failure ?? 'unknown', limit: String(action.limit) },
      timestamp: { seconds: firstSeen(namespace, resultKey(NODE_REPORT_RULE, resource)) ?? nowSeconds, nanos: 0 },
    });
    byNamespace.set(namespace, results);
  }
  const reports = new Map<string, Report>();
  for (const [namespace, results] of byNamespace) reports.set(namespace, boundedReport(nodeReportName(nodeName), namespace, {}, results, maxResults));
  return reports;
}

/** Keeps this node's Reports in step with its unenforced pods; one call per scan, API calls only on change. */
export class NodePolicyReports {
  /** What the API server holds, per namespace: read once (a restarted agent cleans up its old reports), then tracked. */
  private stored: Map<string, Report> | undefined;

  constructor(
    private readonly api: AgentApiClient,
    private readonly nodeName: string,
    private readonly maxResults = NODE_REPORT_MAX_RESULTS,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async sync(unenforced: readonly EnforcementAction[]): Promise<void> {
    const name = nodeReportName(this.nodeName);
    if (!this.stored) {
      const stored = new Map<string, Report>();
      for (const report of await this.api.listPidguardReports()) if (report.metadata?.name === name) stored.set(report.metadata.namespace, report);
      this.stored = stored;
    }
    const stored = this.stored;
    const firstSeen = (namespace: string, key: string) => stored.get(namespace)?.results?.find((r) => resultKey(r.rule, r.resources?.[0]) === key)?.timestamp?.seconds;
    const desired = nodeReports(this.nodeName, unenforced, this.maxResults, Math.floor(this.now().getTime() / 1000), firstSeen);
    const failures: string[] = [];
    for (const [namespace, report] of desired) {
      const current = stored.get(namespace);
      if (current && sameReportContent(current, report)) continue;
      try {
        await this.api.applyReport(report);
        stored.set(namespace, report);
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
    for (const namespace of [...stored.keys()]) {
      if (desired.has(namespace)) continue;
      try {
        await this.api.deleteReport(namespace, name);
        stored.delete(namespace);
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
    if (failures.length > 0) throw new Error(failures.join('; '));
  }
}
