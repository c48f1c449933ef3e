// The openreports.io/v1alpha1 Report as pidguard writes it, shared by its two
// writers (the audit's per-namespace `pidguard` Report, the node agent's
// `pidguard-node-<node>`): the object's shape, its bounds (results cut at
// maxResults, the summary counting them all, messages cut) and the content
// comparison that lets a writer skip an unchanged report. Pure.

import { diff } from '../policy/json-patch.js';

export const REPORT_API_VERSION = 'openreports.io/v1alpha1';
export const REPORTS_PATH = '/apis/openreports.io/v1alpha1';
export const REPORT_SOURCE = 'pidguard';
/** The label that marks pidguard's reports: the only ones it lists, rewrites and deletes. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** How many findings a report left out when it holds maxResults of more. */
export const OMITTED_ANNOTATION = 'pidguard.io/results-omitted';
/** A result's message: reason, detail and fix, cut here (bounds the report's size with maxResults). */
const MAX_MESSAGE_CHARS = 2048;

export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'info';
const SEVERITY_RANK: Readonly<Record<Severity, number>> = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };

export interface ReportResource { apiVersion: string; kind: string; name: string; namespace: string; uid?: string }

export interface ReportResult {
  source: string;
  policy: string;
  rule: string;
  category: string;
  severity: Severity;
  result: 'fail' | 'warn';
  message: string;
  resources: ReportResource[];
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

/** What identifies a result across rounds (its timestamp is kept while it stays). */
export function resultKey(rule: string, resource: { kind: string; name: string } | undefined): string {
  return `${rule}\u0000${resource?.kind ?? ''}\u0000${resource?.name ?? ''}`;
}

export function cutMessage(text: string): string {
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS - 3)}...` : text;
}

/** A report of `results`, most severe first, at most maxResults of them; the summary counts all. */
export function boundedReport(name: string, namespace: string, labels: Record<string, string>, results: ReportResult[], maxResults: number): Report {
  const sorted = [...results].sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]
    || `${a.resources[0]!.kind}/${a.resources[0]!.name}/${a.rule}`.localeCompare(`${b.resources[0]!.kind}/${b.resources[0]!.name}/${b.rule}`));
  const kept = sorted.slice(0, maxResults);
  const omitted = sorted.length - kept.length;
  return {
    apiVersion: REPORT_API_VERSION,
    kind: 'Report',
    metadata: { name, namespace, labels: { ...labels, [MANAGED_BY_LABEL]: 'pidguard' }, ...(omitted > 0 ? { annotations: { [OMITTED_ANNOTATION]: String(omitted) } } : {}) },
    source: REPORT_SOURCE,
    configuration: { limits: { maxResults } },
    // Complete, even when results are cut.
    summary: { pass: 0, fail: sorted.filter((r) => r.result === 'fail').length, warn: sorted.filter((r) => r.result === 'warn').length, error: 0, skip: 0 },
    results: kept,
  };
}

/** Whether the stored report already says what `wanted` says (the API server sends keys in its own order). */
export function sameReportContent(stored: Report, wanted: Report): boolean {
  const content = (r: Report) => [r.results ?? [], r.summary, r.configuration, r.metadata.annotations?.[OMITTED_ANNOTATION] ?? null, r.source];
  return diff(content(stored), content(wanted)).length === 0;
}

/** The server-side apply path of a report (fieldManager pidguard, force: pidguard owns its reports). */
export function reportPath(namespace: string, name: string, apply = false): string {
  return `${REPORTS_PATH}/namespaces/${encodeURIComponent(namespace)}/reports/${encodeURIComponent(name)}${apply ? '?fieldManager=pidguard&force=true' : ''}`;
}
