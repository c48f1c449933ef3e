// The metrics pidguard exports, with their labels, read from the code that registers them: the
// webhook's and the node agent's registries built in process, and the audit's metrics (created
// inside its watch loop) from their `new Gauge({ name, labelNames })` declarations in src/.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { AgentMetrics } from '../../../src/node/agent-metrics.js';
import { createWebhookMetrics } from '../../../src/webhook/metrics.js';
import type { NamespaceLabelSource } from '../../../src/kube/namespace-labels.js';
import { namesIn, type Selector } from './promql.js';

/** Series name -> its labels. A histogram gives <name>_bucket (with le), _sum and _count. */
export type ExportedMetrics = Map<string, Set<string>>;

function addMetric(metrics: ExportedMetrics, name: string, type: string, labels: readonly string[]): void {
  if (type === 'histogram' || type === 'summary') {
    metrics.set(`${name}_bucket`, new Set([...labels, type === 'histogram' ? 'le' : 'quantile']));
    metrics.set(`${name}_sum`, new Set(labels));
    metrics.set(`${name}_count`, new Set(labels));
    if (type === 'summary') metrics.set(name, new Set([...labels, 'quantile']));
  } else {
    metrics.set(name, new Set(labels));
  }
}

function fromRegistry(metrics: ExportedMetrics, registry: Registry): void {
  for (const metric of registry.getMetricsAsArray()) {
    // Every metric in a registry has its Prometheus type: prom-client's and pidguard's hot-path ones (hot-metrics.ts).
    const { name, type, labelNames = [] } = metric as unknown as { name: string; type: string; labelNames?: string[] };
    addMetric(metrics, name, type, labelNames);
  }
}

const DECLARATION = /new (Gauge|Counter|Histogram|Summary)\(\{([^}]*)\}\)/g;

/** `new Gauge({ name: 'pidguard_...', ..., labelNames: [...] })` declarations in the sources. */
export function declaredInSources(srcDir: string): ExportedMetrics {
  const metrics: ExportedMetrics = new Map();
  for (const file of readdirSync(srcDir, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts')) continue;
    const source = readFileSync(join(srcDir, file), 'utf8');
    for (const [, type, body] of source.matchAll(DECLARATION)) {
      const name = /\bname:\s*'(pidguard_[a-z_]+)'/.exec(body!)?.[1];
      if (!name) continue;
      const labels = /\blabelNames:\s*\[([^\]]*)\]/.exec(body!)?.[1] ?? '';
      addMetric(metrics, name, type!.toLowerCase(), [...labels.matchAll(/'([a-z_]+)'/g)].map((match) => match[1]!));
    }
  }
  return metrics;
}

export function exportedMetrics(srcDir: string): ExportedMetrics {
  const metrics = declaredInSources(srcDir);
  const namespaceLabels = { kind: 'none', state: () => 'ready', size: () => 0 } as unknown as NamespaceLabelSource;
  fromRegistry(metrics, createWebhookMetrics({ namespaceLabels, certificateExpirySeconds: () => undefined, certificateValid: () => true }).registry);
  fromRegistry(metrics, new AgentMetrics().registry);
  return metrics;
}

/**
 * What in one PromQL expression pidguard does not export: metrics it does not register, label
 * matchers on labels the metric lacks, grouping labels no selected metric has. extraLabels: labels
 * the shipped scrape configuration adds to a metric (the agent's `node`).
 */
export function unknownNames(expr: string, metrics: ExportedMetrics, extraLabels: (metric: string) => string[] = () => []): string[] {
  const problems: string[] = [];
  const { selectors, groupingLabels } = namesIn(expr);
  const labelsOf = (selector: Selector) => new Set([...(metrics.get(selector.metric) ?? []), ...extraLabels(selector.metric)]);
  if (selectors.length === 0) problems.push('no metric selected');
  for (const selector of selectors) {
    if (!metrics.has(selector.metric)) {
      problems.push(`metric ${selector.metric || '(none)'} is not one pidguard exports`);
      continue;
    }
    for (const { label } of selector.matchers) {
      if (!labelsOf(selector).has(label)) problems.push(`${selector.metric} has no label ${label}`);
    }
  }
  const available = new Set(selectors.flatMap((selector) => [...labelsOf(selector)]));
  for (const label of groupingLabels) {
    if (!available.has(label)) problems.push(`no selected metric has the label ${label} (grouped by)`);
  }
  return problems;
}
