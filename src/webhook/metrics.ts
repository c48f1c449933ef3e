// The webhook's Prometheus metrics, in a Registry of its own (served on the
// plain-HTTP metrics port). docs/WEBHOOK.md documents each one; a test checks
// that every metric registered here is documented there.

import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from './hot-metrics.js';
import type { NamespaceLabelSource } from '../kube/namespace-labels.js';

export interface WebhookMetrics {
  registry: Registry;
  requests: HotCounter<'webhook' | 'decision' | 'mode'>;
  decisionSeconds: HotHistogram<'webhook'>;
  invalidRequests: Counter<'webhook' | 'code'>;
  violations: HotCounter<'rule' | 'mode'>;
  mutations: HotCounter<'rule'>;
  namespaceLookups: HotCounter<'result'>;
  certificateReloads: Counter<'result'>;
  rejected: Counter<'reason'>;
}

/** Why a connection or request was turned away before a review (pidguard_webhook_rejected_total). */
export type RejectionReason = 'body-budget' | 'connections' | 'handshake-timeout' | 'tls-handshake' | 'request-timeout' | 'bad-http';

export interface MetricSources {
  namespaceLabels: NamespaceLabelSource;
  /** Seconds until the serving certificate expires, or undefined before one is loaded. */
  certificateExpirySeconds: () => number | undefined;
  /** Whether the serving certificate is valid now (not expired, not before its start). */
  certificateValid: () => boolean;
}

export function createWebhookMetrics(sources: MetricSources): WebhookMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  new Gauge({
    name: 'pidguard_namespace_cache_state',
    help: 'Namespace label source (informer, file, none) and its state: 1 for the current state',
    labelNames: ['source', 'state'],
    registers,
    collect() {
      this.reset();
      this.set({ source: sources.namespaceLabels.kind, state: sources.namespaceLabels.state() }, 1);
    },
  });
  new Gauge({
    name: 'pidguard_namespace_cache_namespaces',
    help: 'Namespaces whose labels the label source currently holds',
    registers,
    collect() {
      this.set(sources.namespaceLabels.size());
    },
  });
  new Gauge({
    name: 'pidguard_tls_certificate_expiry_seconds',
    help: 'Seconds until the serving certificate expires (negative once it has)',
    registers,
    collect() {
      const seconds = sources.certificateExpirySeconds();
      if (seconds === undefined) this.reset();
      else this.set(seconds);
    },
  });
  new Gauge({
    name: 'pidguard_tls_certificate_valid',
    help: 'Whether the serving certificate is valid now: 1, or 0 when it has expired or is not yet valid (the API server then fails every call)',
    registers,
    collect() {
      this.set(sources.certificateValid() ? 1 : 0);
    },
  });

  return {
    registry,
    requests: new HotCounter(
      'pidguard_admission_requests_total',
      'Admission reviews answered, by webhook, decision (allowed, patched, denied, skipped) and mode',
      ['webhook', 'decision', 'mode'],
      registry,
    ),
    decisionSeconds: new HotHistogram(
      'pidguard_admission_decision_duration_seconds',
      'Time from a decoded review to its answer (namespace lookup and policy), by webhook',
      ['webhook'],
      [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5],
      registry,
    ),
    invalidRequests: new Counter({
      name: 'pidguard_admission_invalid_requests_total',
      help: 'Requests refused before review (bad content type, body, JSON, AdmissionReview) or failed internally, by webhook and error code',
      labelNames: ['webhook', 'code'],
      registers,
    }),
    violations: new HotCounter(
      'pidguard_policy_violations_total',
      'Rule violations found by /validate, by rule and mode (audit: would have been denied)',
      ['rule', 'mode'],
      registry,
    ),
    mutations: new HotCounter(
      'pidguard_mutations_total',
      'Changes applied by /mutate patches, by rule',
      ['rule'],
      registry,
    ),
    namespaceLookups: new HotCounter(
      'pidguard_namespace_label_lookups_total',
      'Namespace label lookups by result: cache, api (direct read), file, unavailable (failed closed to the default mode)',
      ['result'],
      registry,
    ),
    certificateReloads: new Counter({
      name: 'pidguard_tls_certificate_reloads_total',
      help: 'Serving certificate reloads after the files changed, by result (success, failure: the previous pair stays in use)',
      labelNames: ['result'],
      registers,
    }),
    rejected: new Counter({
      name: 'pidguard_webhook_rejected_total',
      help: 'Connections and requests turned away to protect the replica, by reason: body-budget, connections, handshake-timeout, tls-handshake, request-timeout, bad-http',
      labelNames: ['reason'],
      registers,
    }),
  };
}
