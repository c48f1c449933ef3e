// The audit's findings as OpenReports (`openreports.io/v1alpha1` Report, the
// successor of wgpolicyk8s.io PolicyReport that Policy Reporter reads): ONE
// Report named `pidguard` per namespace with findings, bounded in results (the
// summary counts them all), written in place by server-side apply only when its
// content changed, deleted when the namespace has none left. Never one object per
// admission or per pod: a namespace's report is its owners' findings (Kyverno
// #8974 filled etcd with per-admission reports). Why this API: docs/POLICY-REPORTS.md.

import { diff } from '../policy/json-patch.js';
import { RULES, type Rule } from '../policy/rules/index.js';
import { apiVersionOf, POLICED_KINDS } from '../policy/workloads.js';
import { KubeApiError, type KubeTransport } from '../kube/transport.js';
import type { AuditFinding, AuditReport } from './findings.js';
import { PIDS_ENFORCEMENT_RULE } from './pids-enforcement.js';

export const REPORT_API_VERSION = 'openreports.io/v1alpha1';
export const REPORT_NAME = 'pidguard';
export const REPORT_SOURCE = 'pidguard';
/** The label that marks pidguard's reports: the only ones it lists, rewrites and deletes. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** How many findings a report left out when it holds maxResults of more. */
export const OMITTED_ANNOTATION = 'pidguard.io/results-omitted';
export const DEFAULT_MAX_RESULTS = 100;
/** A result's message: reason, detail and fix, cut here (a finding's detail is bounded, this bounds the sum). */
const MAX_MESSAGE_CHARS = 2048;

type Severity = 'critical' | 'high' | 'medium' | 'low' | 'info';
const SEVERITY_RANK: Readonly<Record<Severity, number>> = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };

export interface ReportResult {
  source: string;
  policy: string;
  rule: string;
  category: string;
  severity: Severity;
  result: 'fail' | 'warn';
  message: string;
  resources: Array<{ apiVersion: string; kind: string; name: string; namespace: string }>;
  properties: Record<string, string>;
  timestamp: { seconds: number; nanos: number };
}

export interface Report {
  apiVersion: string;
  kind: 'Report';
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string };
  source: string;
  configuration: { limits: { maxResults: number } };
  summary: { pass: number; fail: number; warn: number; error: number; skip: number };
  results: ReportResult[];
}

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

function resultKey(rule: string, resource: { kind: string; name: string } | undefined): string {
  return `${rule}\u0000${resource?.kind ?? ''}\u0000${resource?.name ?? ''}`;
}

function cut(text: string): string {
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS - 3)}...` : text;
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
        message: cut(`${finding.reason}: ${finding.detail}. Fix: ${fixOf(finding)}`),
        resources: [resource],
        properties: { objects, examples: finding.examples.join(', '), mode: ns.mode },
        timestamp: { seconds: firstSeen(ns.name, resultKey(finding.ruleId, resource)) ?? nowSeconds, nanos: 0 },
      };
    });
    results.sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]
      || `${a.resources[0]!.kind}/${a.resources[0]!.name}/${a.rule}`.localeCompare(`${b.resources[0]!.kind}/${b.resources[0]!.name}/${b.rule}`));
    const kept = results.slice(0, maxResults);
    const omitted = results.length - kept.length;
    reports.set(ns.name, {
      apiVersion: REPORT_API_VERSION,
      kind: 'Report',
      metadata: {
        name: REPORT_NAME,
        namespace: ns.name,
        labels: { [MANAGED_BY_LABEL]: 'pidguard' },
        ...(omitted > 0 ? { annotations: { [OMITTED_ANNOTATION]: String(omitted) } } : {}),
      },
      source: REPORT_SOURCE,
      configuration: { limits: { maxResults } },
      // Complete, even when results are cut.
      summary: { pass: 0, fail: results.filter((r) => r.result === 'fail').length, warn: results.filter((r) => r.result === 'warn').length, error: 0, skip: 0 },
      results: kept,
    });
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

const REPORTS_PATH = '/apis/openreports.io/v1alpha1';

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
      if (stored && sameContent(stored, body)) {
        sync.unchanged += 1;
        continue;
      }
      const path = `${REPORTS_PATH}/namespaces/${encodeURIComponent(namespace)}/reports/${REPORT_NAME}?fieldManager=pidguard&force=true`;
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
      await transport.call('DELETE', `${REPORTS_PATH}/namespaces/${encodeURIComponent(namespace)}/reports/${REPORT_NAME}`, `delete report ${REPORT_NAME} in namespace ${namespace}`);
      sync.deleted += 1;
    } catch (error) {
      if (!(error instanceof KubeApiError)) throw error;
      if (error.status !== 404) sync.errors.push(error.message);
    }
  }
  return sync;
}

/** Whether the stored report already says what `wanted` says (the API server sends keys in its own order). */
function sameContent(stored: Report, wanted: Report): boolean {
  const content = (r: Report) => [r.results ?? [], r.summary, r.configuration, r.metadata.annotations?.[OMITTED_ANNOTATION] ?? null, r.source];
  return diff(content(stored), content(wanted)).length === 0;
}
