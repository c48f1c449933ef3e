// The Grafana dashboard (manifests/overlays/prometheus/dashboards/pidguard.json, the same file in
// the Helm chart): every query names only metrics and labels pidguard exports, and it shows what
// docs/DASHBOARD.md promises.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../manifests/render.js';
import { declaredInSources, exportedMetrics, unknownNames, type ExportedMetrics } from './exported-metrics.js';
import { labelValuesQuery, namesIn } from './promql.js';

const DASHBOARD = 'manifests/overlays/prometheus/dashboards/pidguard.json';
const CHART_DASHBOARD = 'charts/pidguard/dashboards/pidguard.json';

interface Target { expr: string; legendFormat?: string; datasource?: { uid: string } }
interface Panel { id: number; type: string; title: string; description?: string; gridPos: { x: number; y: number; w: number; h: number }; targets?: Target[]; datasource?: { uid: string } }
interface Dashboard { uid: string; panels: Panel[]; templating: { list: Array<{ name: string; type: string; query: string | { query: string } }> } }

const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, DASHBOARD), 'utf8')) as Dashboard;
const queryPanels = dashboard.panels.filter((panel) => panel.type !== 'row');
const queries = queryPanels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })));

/** The label the shipped PodMonitor for the node agent adds to every agent series (its node). */
function agentRelabelTargets(): string[] {
  const documents = readFileSync(join(REPO_ROOT, 'manifests/overlays/prometheus/monitors.yaml'), 'utf8').split(/^---$/m).map((text) => parse(text) as {
    kind: string; metadata: { name: string }; spec: { podMetricsEndpoints?: Array<{ relabelings?: Array<{ targetLabel: string }> }> };
  });
  const agent = documents.find((document) => document.kind === 'PodMonitor' && document.metadata.name === 'pidguard-agent')!;
  return agent.spec.podMetricsEndpoints!.flatMap((endpoint) => (endpoint.relabelings ?? []).map((relabeling) => relabeling.targetLabel));
}

describe('the Grafana dashboard', () => {
  let metrics: ExportedMetrics;
  let agentMetrics: Set<string>;
  const extraLabels = (metric: string) => (agentMetrics.has(metric) ? agentRelabelTargets() : []);
  beforeAll(async () => {
    metrics = exportedMetrics(join(REPO_ROOT, 'src'));
    const { AgentMetrics } = await import('../../../src/node/agent-metrics.js');
    agentMetrics = new Set(new AgentMetrics().registry.getMetricsAsArray().map((metric) => (metric as unknown as { name: string }).name));
  });

  it('reads the registered metrics and their labels from the code (webhook, node agent, audit)', () => {
    expect([...metrics.get('pidguard_admission_requests_total')!].sort()).toEqual(['decision', 'mode', 'webhook']);
    expect([...metrics.get('pidguard_pod_pids_current')!].sort()).toEqual(['namespace', 'pod', 'uid']);
    expect([...metrics.get('pidguard_admission_decision_duration_seconds_bucket')!].sort()).toEqual(['le', 'webhook']);
    expect([...metrics.get('pidguard_audit_findings')!].sort()).toEqual(['exempt', 'mode', 'namespace', 'rule']);
    // The audit's metrics come from their declarations only: the parse must find them all.
    expect([...declaredInSources(join(REPO_ROOT, 'src')).keys()].filter((name) => name.startsWith('pidguard_audit_')).sort()).toEqual([
      'pidguard_audit_duration_seconds', 'pidguard_audit_findings', 'pidguard_audit_last_success_timestamp_seconds',
      'pidguard_audit_objects_evaluated', 'pidguard_audit_policy_report_writes_total', 'pidguard_audit_runs_total',
    ]);
    expect(agentRelabelTargets()).toEqual(['node']);
  });

  it('names only metrics and labels pidguard exports, in every panel query', () => {
    expect(queries.length).toBeGreaterThanOrEqual(15);
    const problems = queries.flatMap(({ panel, expr }) => unknownNames(expr, metrics, extraLabels).map((problem) => `${panel}: ${problem} in ${expr}`));
    expect(problems).toEqual([]);
  });

  it('names only exported metrics and labels in its variables', () => {
    for (const variable of dashboard.templating.list.filter((candidate) => candidate.type === 'query')) {
      const query = typeof variable.query === 'string' ? variable.query : variable.query.query;
      const { selector, label } = labelValuesQuery(query);
      expect(selector && metrics.has(selector.metric)).toBe(true);
      expect([...metrics.get(selector!.metric)!, ...extraLabels(selector!.metric)]).toContain(label);
    }
  });

  it('the check catches a metric, a matcher label or a grouping label pidguard does not export', () => {
    expect(unknownNames('pidguard_node_pid_usage{node="a"}', metrics, extraLabels)).toEqual(['metric pidguard_node_pid_usage is not one pidguard exports']);
    expect(unknownNames('sum by (namespace) (pidguard_node_tasks)', metrics, extraLabels)).toEqual(['no selected metric has the label namespace (grouped by)']);
    expect(unknownNames('rate(pidguard_admission_requests_total{rule="x"}[5m])', metrics, extraLabels)).toEqual(['pidguard_admission_requests_total has no label rule']);
    expect(unknownNames('pidguard_admission_requests_total{node=~"$node"}', metrics, extraLabels)).toEqual(['pidguard_admission_requests_total has no label node']);
    expect(unknownNames('up{job="x"}', metrics, extraLabels)).toEqual(['metric up is not one pidguard exports']);
    expect(unknownNames('histogram_quantile(0.9, sum by (le) (rate(pidguard_scan_duration_seconds_bucket[$__rate_interval])))', metrics, extraLabels)).toEqual([]);
  });

  it('reads selectors, matchers and grouping labels out of PromQL', () => {
    expect(namesIn('topk(10, max by (namespace, pod) (a{node=~"$node"} / (b{x!="y"} > 0))) + on (pod) group_left (z) c')).toEqual({
      selectors: [
        { metric: 'a', matchers: [{ label: 'node', op: '=~', value: '$node' }] },
        { metric: 'b', matchers: [{ label: 'x', op: '!=', value: 'y' }] },
        { metric: 'c', matchers: [] },
      ],
      groupingLabels: ['namespace', 'pod', 'pod', 'z'],
    });
    expect(namesIn('sum without (uid) (delta(m[1h] offset 5m)) and bool n').selectors.map((selector) => selector.metric)).toEqual(['m', 'n']);
  });

  it('shows the node PID budget, pod budgets, refused forks, decisions by mode, latency, errors and certificate expiry', () => {
    const uses = (metric: string) => queries.filter(({ expr }) => namesIn(expr).selectors.some((selector) => selector.metric === metric));
    expect(uses('pidguard_node_pid_usage_ratio').length).toBeGreaterThanOrEqual(2);
    expect(uses('pidguard_node_pid_ceiling').length).toBeGreaterThanOrEqual(1);
    // Pods against their own budget: pids.current over pids.max in one query.
    expect(queries.some(({ expr }) => /pidguard_pod_pids_current.*\/.*pidguard_pod_pids_max/.test(expr) && expr.startsWith('topk('))).toBe(true);
    expect(uses('pidguard_pod_pids_refused_forks').length).toBeGreaterThanOrEqual(2);
    expect(uses('pidguard_admission_requests_total').some(({ expr }) => namesIn(expr).groupingLabels.includes('mode'))).toBe(true);
    expect(uses('pidguard_admission_decision_duration_seconds_bucket').length).toBeGreaterThanOrEqual(1);
    expect(uses('pidguard_admission_invalid_requests_total').length).toBeGreaterThanOrEqual(1);
    expect(uses('pidguard_tls_certificate_expiry_seconds').length).toBeGreaterThanOrEqual(2);
  });

  it('is laid out on Grafana\'s 24-column grid without overlaps, every panel on the data source variable', () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const panel of dashboard.panels) {
      const { x, y, w, h } = panel.gridPos;
      expect(x + w).toBeLessThanOrEqual(24);
      for (let row = y; row < y + h; row++) {
        for (let column = x; column < x + w; column++) {
          const cell = `${column},${row}`;
          expect(cells.has(cell) ? `${panel.title} overlaps at ${cell}` : '').toBe('');
          cells.add(cell);
        }
      }
    }
    for (const panel of queryPanels) {
      expect(panel.datasource?.uid).toBe('${datasource}');
      expect(panel.description).toBeTruthy();
      for (const target of panel.targets ?? []) expect(target.datasource?.uid).toBe('${datasource}');
    }
    expect(dashboard.templating.list.map((variable) => variable.name)).toEqual(['datasource', 'node']);
  });

  it('ships the same JSON in the prometheus overlay and the Helm chart', () => {
    expect(readFileSync(join(REPO_ROOT, CHART_DASHBOARD), 'utf8')).toBe(readFileSync(join(REPO_ROOT, DASHBOARD), 'utf8'));
  });
});
