// require-resources
//
// Fields: spec.resources (pod level), spec.containers[*].resources and
// spec.initContainers[*].resources: requests and limits of cpu and memory.
//
// Level not-besteffort (default): the pod's QoS class, computed as the API
// server does, must not be BestEffort. A BestEffort pod has no cpu or memory
// floor or ceiling, and is what let the incident's services run unbounded.
// Level requests: every container requests cpu and memory (a positive
// pod-level value covers all containers for that resource).
// Level requests-and-limits: every container also limits cpu and memory.
//
// Per namespace, like Pod Security Admission's enforce and warn labels: the
// label pidguard.io/require-resources sets the level the namespace's mode
// applies, pidguard.io/require-resources-warn a level whose failures are only
// warnings (a rule warning: admission warning and `warnings` audit annotation
// in every mode), so a team can tighten step by step. A warning repeats no
// failure the mode's level already reports. A label value that is not a level
// is a warning: the mode's level falls back to the config's, never to none.

import { REQUIRE_RESOURCES_LABEL, REQUIRE_RESOURCES_WARN_LABEL } from '../keys.js';
import { oneOf, sectionAt, type OptionSection } from '../options.js';
import { parseQuantity, isPositive } from '../quantity.js';
import { allContainers, effectiveResources } from '../qos.js';
import type { Container, PodSpec, QosClass, ResourceList } from '../types.js';
import { quotedValue } from '../text.js';
import type { CheckFailure, PodCheckRule, PodContext } from './rule.js';

export type ResourceLevel = 'not-besteffort' | 'requests' | 'requests-and-limits';
export const RESOURCE_LEVELS: readonly ResourceLevel[] = ['not-besteffort', 'requests', 'requests-and-limits'];

export interface RequireResourcesOptions {
  /**
   * not-besteffort: reject pods whose QoS class would be BestEffort (the default);
   * requests: every container must request cpu and memory;
   * requests-and-limits: every container must also limit cpu and memory.
   */
  level: ResourceLevel;
}

const DEFAULTS = { level: 'not-besteffort' } as const;

const options: OptionSection<'requireResources', RequireResourcesOptions> = {
  key: 'requireResources',
  defaults: DEFAULTS,
  documentation: `requireResources:
  # not-besteffort: reject pods whose QoS class would be BestEffort (no cpu/memory anywhere).
  # requests: every container requests cpu and memory.
  # requests-and-limits: every container also limits cpu and memory.
  level: not-besteffort`,
  parse(value) {
    const section = sectionAt(value, 'requireResources', ['level']);
    return { level: oneOf(section.level ?? DEFAULTS.level, 'requireResources.level', RESOURCE_LEVELS) };
  },
};

const FIX_EXAMPLE = 'resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}';

export const requireResources: PodCheckRule<typeof options> = {
  id: 'require-resources',
  description: 'Pods must not be BestEffort: containers set cpu/memory requests or limits (stricter levels: per container).',
  target: 'pod-check',
  options,
  check(context, options) {
    const level = labelledLevel(context, REQUIRE_RESOURCES_LABEL, `using the config level ${options.level}`) ?? options.level;
    const failure = failureAt(level, context);
    if (failure !== undefined) return failure;
    const warnLevel = labelledLevel(context, REQUIRE_RESOURCES_WARN_LABEL, 'no warn level applies');
    const warned = warnLevel === undefined ? undefined : failureAt(warnLevel, context);
    if (warned) context.warn(`level ${warnLevel} (namespace label ${REQUIRE_RESOURCES_WARN_LABEL}): ${warned.reason}: ${warned.detail}. Fix: ${warned.fix}.`);
    return undefined;
  },
};

/** The level a namespace label names; a value that is none is a warning (`otherwise` says what applies then). */
function labelledLevel({ namespaceLabels, warn }: PodContext, label: string, otherwise: string): ResourceLevel | undefined {
  const value = namespaceLabels?.[label];
  if (value === undefined) return undefined;
  if ((RESOURCE_LEVELS as readonly string[]).includes(value)) return value as ResourceLevel;
  warn(`namespace label ${label}=${quotedValue(value)} is not one of ${RESOURCE_LEVELS.join(', ')}; ${otherwise}`);
  return undefined;
}

function failureAt(level: ResourceLevel, { pod, qosClass }: PodContext & { qosClass: QosClass }): CheckFailure | undefined {
  if (level === 'not-besteffort') return qosClass === 'BestEffort' ? bestEffortFailure(pod.spec) : undefined;
  const fields: Array<'requests' | 'limits'> = level === 'requests' ? ['requests'] : ['requests', 'limits'];
  return checkPerContainer(pod.spec, fields);
}

function bestEffortFailure(spec: PodSpec): CheckFailure {
  const detail =
    spec.resources != null
      ? 'spec.resources sets no positive cpu or memory request or limit'
      : `${containerList(allContainers(spec).map((c) => c.name))} no cpu or memory requests or limits`;
  return {
    reason: 'BestEffort pod (no cpu or memory requests or limits)',
    detail,
    fix: `set resources on at least one container, for example ${FIX_EXAMPLE}`,
  };
}

function checkPerContainer(spec: PodSpec, fields: Array<'requests' | 'limits'>): CheckFailure | undefined {
  const missing: string[] = [];
  for (const container of allContainers(spec)) {
    const gaps = gapsOf(container, spec, fields);
    if (gaps.length > 0) missing.push(`"${container.name}" (${gaps.join(', ')})`);
  }
  if (missing.length === 0) return undefined;
  const what = fields.join(' and ');
  return {
    reason: `containers without cpu and memory ${what}`,
    detail: `${missing.length === 1 ? 'container' : 'containers'} ${missing.join(', ')} must set them`,
    fix: `set cpu and memory ${what} on every container, for example resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 500m, memory: 256Mi}}`,
  };
}

/** The `requests.cpu`-style fields a container lacks, counting pod-level values. */
function gapsOf(container: Container, spec: PodSpec, fields: Array<'requests' | 'limits'>): string[] {
  const own = effectiveResources(container);
  const gaps: string[] = [];
  for (const field of fields) {
    for (const name of ['cpu', 'memory']) {
      if (!positive(own[field], name) && !positive(spec.resources?.[field], name)) gaps.push(`${field}.${name}`);
    }
  }
  return gaps;
}

function positive(list: ResourceList | undefined, name: string): boolean {
  const raw = list?.[name];
  const quantity = raw === undefined ? undefined : parseQuantity(raw);
  return quantity !== undefined && isPositive(quantity);
}

/** `container "a" sets` or `containers "a", "b" set`. */
function containerList(names: string[]): string {
  const quoted = names.map((name) => `"${name}"`).join(', ');
  return names.length === 1 ? `container ${quoted} sets` : `containers ${quoted} set`;
}
