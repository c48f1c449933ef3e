// Every label and annotation key pidguard reads or writes, in one place so the
// webhook, the node agent, the audit and the manifests cannot drift apart.

/** Namespace label: the namespace's mode (enforce | audit | off). */
export const MODE_LABEL = 'pidguard.io/mode';
/** Prefix of every pidguard label; changes to these labels on a Namespace are guarded. */
export const LABEL_PREFIX = 'pidguard.io/';
/** Pod label or annotation that opts a pod into .NET handling: `pidguard.io/runtime: dotnet`. */
export const RUNTIME_KEY = 'pidguard.io/runtime';
/** Pod annotation: the pod's PID budget; the node agent writes it into the pod cgroup's pids.max. */
export const PIDS_LIMIT_ANNOTATION = 'pidguard.io/pids-limit';
/**
 * Namespace label: the highest pidguard.io/pids-limit of pods in the namespace,
 * overriding the config's pids.ceiling (raise or lower). Guarded like every
 * pidguard.io/* label, so a pod author alone cannot raise their budget.
 */
export const PIDS_LIMIT_CEILING_LABEL = 'pidguard.io/pids-limit-ceiling';
/**
 * Namespace labels: the require-resources level the namespace's mode applies
 * (overriding requireResources.level), and a stricter level that only warns,
 * as Pod Security Admission's enforce and warn labels do. Guarded like every
 * pidguard.io/* label.
 */
export const REQUIRE_RESOURCES_LABEL = 'pidguard.io/require-resources';
export const REQUIRE_RESOURCES_WARN_LABEL = 'pidguard.io/require-resources-warn';
/** Pod annotation recording what pidguard's mutation set (in the spirit of LimitRanger's). */
export const MUTATIONS_ANNOTATION = 'pidguard.io/mutations';

/** The variable the .NET runtime actually reads (CLRConfig, parsed as hexadecimal). */
export const DOTNET_FORCE_MAX_WORKER_THREADS = 'DOTNET_ThreadPool_ForceMaxWorkerThreads';
/** The name the product brief asked for. The runtime never reads it; kept for people and dashboards. */
export const DOTNET_MAX_THREADS = 'DOTNET_ThreadPool_MaxThreads';

/**
 * Namespaces the webhook configurations never send to pidguard (their
 * namespaceSelector), so a pidguard outage cannot block the control plane or
 * pidguard's own recovery. The audit treats them as exempt for the same reason.
 */
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease', 'pidguard-system'];
