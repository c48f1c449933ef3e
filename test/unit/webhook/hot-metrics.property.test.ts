import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from '../../../src/webhook/hot-metrics.js';

const BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5];
const webhook = fc.constantFrom('mutate', 'validate');
const seconds = fc.oneof(fc.constantFrom(0, ...BOUNDS, 3), fc.double({ min: 0, max: 5, noNaN: true }));

describe('hot metrics expose what prom-client would', () => {
  it('a histogram: the same text for the same observations', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(webhook, seconds), { maxLength: 200 }), async (observations) => {
      const hot = new Registry();
      const reference = new Registry();
      const name = 'pidguard_admission_decision_duration_seconds';
      const hotHistogram = new HotHistogram(name, 'help', ['webhook'], BOUNDS, hot);
      const histogram = new Histogram({ name, help: 'help', labelNames: ['webhook'], buckets: BOUNDS, registers: [reference] });
      for (const [label, value] of observations) {
        hotHistogram.observe({ webhook: label }, value);
        histogram.observe({ webhook: label }, value);
      }
      expect(await hot.metrics()).toBe(await reference.metrics());
      // The JSON form too, but for the exemplars (an OpenMetrics feature pidguard does not enable).
      const withoutExemplars = (metrics: Awaited<ReturnType<Registry['getMetricsAsJSON']>>) =>
        metrics.map((metric) => ({ ...metric, values: metric.values.map(({ labels, value, metricName }: { labels: unknown; value: number; metricName?: string }) => ({ labels, value, metricName })) }));
      expect(withoutExemplars(await hot.getMetricsAsJSON())).toEqual(withoutExemplars(await reference.getMetricsAsJSON()));
    }));
  });

  it('a counter: the same text for the same increments, scrape after scrape', async () => {
    const labels = fc.record({ webhook, decision: fc.constantFrom('allowed', 'patched', 'denied', 'skipped'), mode: fc.constantFrom('enforce', 'audit', 'off') });
    await fc.assert(fc.asyncProperty(fc.array(fc.array(labels, { maxLength: 50 }), { maxLength: 4 }), async (batches) => {
      const hot = new Registry();
      const reference = new Registry();
      const name = 'pidguard_admission_requests_total';
      const hotCounter = new HotCounter(name, 'help', ['webhook', 'decision', 'mode'], hot);
      const counter = new Counter({ name, help: 'help', labelNames: ['webhook', 'decision', 'mode'], registers: [reference] });
      for (const batch of batches) {
        for (const set of batch) {
          hotCounter.inc(set);
          counter.inc(set);
        }
        // Series appear in first-seen order in both, so the texts compare as they are.
        expect(await hot.metrics()).toBe(await reference.metrics());
      }
    }));
  });

  it('resets with the registry', async () => {
    const registry = new Registry();
    const histogram = new HotHistogram('h_seconds', 'help', ['webhook'], [1], registry);
    histogram.observe({ webhook: 'mutate' }, 0.5);
    expect(await registry.metrics()).toContain('h_seconds_count{webhook="mutate"} 1');
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('h_seconds_count');
  });
});
