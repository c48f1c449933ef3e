// Rule contexts as the engine builds them, for calling one rule directly.
import { defaultConfig, type PolicyConfig } from '../../../../src/policy/config.js';
import { pidsCeilingFor } from '../../../../src/policy/pids-budget.js';
import { computeQosClass } from '../../../../src/policy/qos.js';
import type { MetadataContext, PodContext, RuleContext } from '../../../../src/policy/rules/rule.js';
import type { ObjectMeta, PodTemplate, QosClass, UserInfo } from '../../../../src/policy/types.js';

interface ContextOptions {
  config?: PolicyConfig;
  namespaceLabels?: Record<string, string>;
  userInfo?: UserInfo;
  kind?: string;
  podPidLimitServed?: boolean;
}

/** The context's common part, and the warnings its warn() collects (`container: message`). */
function common(options: ContextOptions): { context: RuleContext; warnings: string[] } {
  const warnings: string[] = [];
  const context: RuleContext = {
    operation: 'CREATE',
    kind: options.kind ?? 'Pod',
    name: 'x',
    namespace: 'default',
    mode: 'enforce',
    namespaceLabels: options.namespaceLabels,
    podPidLimitServed: options.podPidLimitServed ?? false,
    userInfo: options.userInfo ?? {},
    config: options.config ?? defaultConfig(),
    warn: (message, container) => warnings.push(container ? `${container}: ${message}` : message),
  };
  return { context, warnings };
}

/** A mutation rule's context for `pod`. */
export function podContext(pod: PodTemplate, options: ContextOptions = {}): { context: PodContext; warnings: string[] } {
  const { context, warnings } = common(options);
  return { context: Object.assign(context, { pod, pidsCeiling: pidsCeilingFor(context.config, options.namespaceLabels) }), warnings };
}

/** A check rule's context for `pod`: with its QoS class. */
export function checkedPodContext(pod: PodTemplate, options: ContextOptions = {}): PodContext & { qosClass: QosClass } {
  const { context } = podContext(pod, options);
  return Object.assign(context, { qosClass: computeQosClass(pod.spec) });
}

/** A Namespace (or Pod UPDATE) rule's context. */
export function metadataContext(metadata: ObjectMeta, oldMetadata: ObjectMeta | undefined, options: ContextOptions = {}): MetadataContext {
  const { context } = common({ kind: 'Namespace', ...options });
  return Object.assign(context, { operation: oldMetadata ? ('UPDATE' as const) : ('CREATE' as const), metadata, oldMetadata });
}
