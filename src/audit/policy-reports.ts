// The audit's findings as OpenReports (`openreports.io/v1alpha1` Report, the
// successor of wgpolicyk8s.io PolicyReport that Policy Reporter reads): ONE
// Report named `pidguard` per namespace with findings, bounded in results (the
// summary counts them all), written in place by server-side apply only when its
// content changed, deleted when the namespace has none left. Never one object per
// admission or per pod: a namespace's report is its owners' findings (Kyverno
// #8974 filled etcd with per-admission reports). Why this API: docs/POLICY-REPORTS.md.

import { RULES, type Rule } from '../policy/rules/index.js';
import { apiVersionOf, POLICED_KINDS } from '../policy/workloads.js';
import { KubeApiError, type KubeTransport } from '../kube/transport.js';
import { boundedReport, cutMessage, MANAGED_BY_LABEL, REPORT_SOURCE, REPORTS_PATH, reportPath, resultKey, sameReportContent, type Report, type ReportResult, type Severity } from '../kube/openreports.js';
import type { AuditFinding, AuditReport } from './findings.js';
import { PIDS_ENFORCEMENT_RULE } from './pids-enforcement.js';

export { OMITTED_ANNOTATION, REPORT_API_VERSION } from '../kube/openreports.js';
export const REPORT_NAME = 'pidguard';
export const DEFAULT_MAX_RESULTS = 100;

const MUTATION_RULES: ReadonlySet<string> = new Set((RULES as readonly Rule[]).filter((rule) => rule.target === 'pod-mutation').map((rule) => rule.id));
const API_VERSIONS: ReadonlyMap<string, string> = new Map(POLICED_KINDS.map((entry) => [entry.kind, apiVersionOf(entry)]));

/**
 * What a finding weighs: a pod that could starve its node's PIDs now (a check
 * failed, a limit not enforced) is high; a pod still lacking what pidguard would
 * set is medium; a setting pidguard admits but warns about is a low `warn`.
 */
function gradeOf(ruleId: string): { severity: Severity; result: 'fail' | 'warn' } {
  if (ruleId.endsWith('/warning')) return { severity: 'low', result: 'warn' };
  if (ruleId === PIDS_ENFORCEMENT_RULE) return { severity: 'high', result: 'fail' };
  return { severity: MUTATION_RULES.has(ruleId) ? 'medium' : 'high', result: 'fail' };
}

/** The fix a finding's message ends with. */
function fixOf(finding: AuditFinding): string {
  if (finding.fix) return finding.fix;
  const owner = `${finding.owner.kind.toLowerCase()}/${finding.owner.name}`;
  if (finding.ruleId === PIDS_ENFORCEMENT_RULE) return 'check that the pidguard agent runs on the pod\'s node with enforcement on (its log names the pod)';
  if (finding.ruleId.endsWith('/warning')) return 'change the setting the warning names';
  return finding.owner.kind === 'Pod'
    ? 'recreate the pod while pidguard runs, so the webhook applies its changes'
    : `restart its pods while pidguard runs (kubectl rollout restart ${owner}), so the webhook applies its changes`;
}

/**
 * The Report of each namespace with findings that the webhook judges (exempt
 * namespaces, system or mode off, get none: pidguard does not police them).
 * `firstSeen` keeps a result's timestamp from the report already stored, so an
 * unchanged finding leaves the report unchanged.
 */
export function desiredReports(report: AuditReport, maxResults: number, nowSeconds: number, firstSeen: (namespace: string, key: string) => number | undefined): Map<string, Report> {
  const reports = new Map<string, Report>();
  for (const ns of report.namespaces) {
    if (ns.exemptBecause || ns.findings.length === 0) continue;
    const results = ns.findings.map((finding): ReportResult => {
      const { severity, result } = gradeOf(finding.ruleId);
      const resource = { apiVersion: API_VERSIONS.get(finding.owner.kind) ?? 'v1', kind: finding.owner.kind, name: finding.owner.name, namespace: ns.name };
      const objects = Object.entries(finding.objects).map(([kind, count]) => `${count} ${kind}`).join(', ');
      return {
        source: REPORT_SOURCE,
        policy: 'pidguard',
        rule: finding.ruleId,
        category: 'PID safety',
        severity,
        result,
        message: cutMessage(`${finding.reason}: ${finding.detail}. Fix: ${fixOf(finding)}`),
        resources: [resource],
        properties: { objects, examples: finding.examples.join(', '), mode: ns.mode },
        timestamp: { seconds: firstSeen(ns.name, resultKey(finding.ruleId, resource)) ?? nowSeconds, nanos: 0 },
      };
    });
    reports.set(ns.name, boundedReport(REPORT_NAME, ns.name, {}, results, maxResults));
  }
  return reports;
}

export interface ReportSync {
  applied: number;
  unchanged: number;
  deleted: number;
  /** One line per namespace whose report could not be written or deleted (the others were). */
  errors: string[];
}

/**
 * Brings the cluster's pidguard Reports in line with `report`: applies the
 * changed ones, deletes those of namespaces without findings. Only reports
 * labelled as pidguard's and named `pidguard` are ever touched; with
 * `namespace`, only that namespace's.
 */
export async function syncPolicyReports(transport: KubeTransport, report: AuditReport, options: { maxResults: number; namespace?: string | undefined; pageSize: number; nowSeconds: number }): Promise<ReportSync> {
  const existing = new Map<string, Report>();
  const scope = options.namespace ? `/namespaces/${encodeURIComponent(options.namespace)}` : '';
  const selector = new URLSearchParams({ labelSelector: `${MANAGED_BY_LABEL}=pidguard` });
  const where = options.namespace ? `in namespace ${options.namespace}` : 'at the cluster scope';
  for await (const page of transport.listPages<Report>(`${REPORTS_PATH}${scope}/reports?${selector}`, `list reports.openreports.io ${where}`, options.pageSize)) {
    for (const item of page.items) if (item.metadata?.name === REPORT_NAME) existing.set(item.metadata.namespace, item);
  }
  const firstSeen = (namespace: string, key: string) => {
    const found = existing.get(namespace)?.results?.find((r) => resultKey(r.rule, r.resources?.[0]) === key);
    return found?.timestamp?.seconds;
  };
  const desired = desiredReports(report, options.maxResults, options.nowSeconds, firstSeen);
  const sync: ReportSync = { applied: 0, unchanged: 0, deleted: 0, errors: [] };
  for (const [namespace, body] of desired) {
    if (!options.namespace || namespace === options.namespace) {
      const stored = existing.get(namespace);
      if (stored && sameReportContent(stored, body)) {
        sync.unchanged += 1;
        continue;
      }
      const path = reportPath(namespace, REPORT_NAME, true);
      try {
        // Server-side apply: one call creates or updates in place; JSON is YAML.
        await transport.call('PATCH', path, `apply report ${REPORT_NAME} in namespace ${namespace}`, { body, contentType: 'application/apply-patch+yaml' });
        sync.applied += 1;
      } catch (error) {
        if (!(error instanceof KubeApiError)) throw error;
        sync.errors.push(error.message);
      }
    }
  }
  for (const namespace of existing.keys()) {
    if (desired.has(namespace)) continue;
    try {
      await transport.call('DELETE', reportPath(namespace, REPORT_NAME), `delete report ${REPORT_NAME} in namespace ${namespace}`);
      sync.deleted += 1;
    } catch (error) {
      if (!(error instanceof KubeApiError)) throw error;
      if (error.status !== 404) sync.errors.push(error.message);
    }
  }
  return sync;
}
