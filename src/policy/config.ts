// The policy configuration, assembled from its option sections: the
// policy-wide ones (policy-options.ts), then each rule's own (rules/index.ts
// order). The default document, its commented YAML (the ConfigMap and the
// README block: `npm run render-config`) and the parser all come from them.
// Pure: no file or environment access here.

import { allowOnly, objectAt, type OptionSection, type PolicyWideConfig, type SectionValue } from './options.js';
import { defaultModeOption, pidsOption } from './policy-options.js';
import { RULES } from './rules/index.js';

export { ConfigError } from './options.js';

type RuleSection = NonNullable<(typeof RULES)[number]['options']>;

/** The parsed configuration: `config.<section key>`, e.g. config.dotnet.pidsLimit, config.pids.ceiling. */
export type PolicyConfig = PolicyWideConfig & { [Section in RuleSection as Section['key']]: SectionValue<Section> };

const POLICY_SECTIONS: readonly OptionSection[] = [defaultModeOption, pidsOption];
const RULE_SECTIONS: readonly OptionSection[] = RULES.flatMap((rule): OptionSection[] => (rule.options ? [rule.options] : []));

/** Every section, in document order. */
export const CONFIG_SECTIONS: readonly OptionSection[] = [...POLICY_SECTIONS, ...RULE_SECTIONS];

/** The built-in defaults as a config document: what no config file means. */
export const DEFAULT_CONFIG_DOCUMENT: Readonly<Record<string, unknown>> = Object.fromEntries(CONFIG_SECTIONS.map((section) => [section.key, section.defaults]));

/** The default config document with comments, as the ConfigMap and the README show it. */
export function renderConfigDocument(): string {
  return `${CONFIG_SECTIONS.map((section) => section.documentation).join('\n\n')}\n`;
}

/**
 * Validates a configuration document and merges it over the defaults.
 * Unknown fields are errors (a typo must not silently fall back to a default).
 */
export function parseConfig(document: unknown): PolicyConfig {
  const root = objectAt(document ?? {}, '(root)');
  allowOnly(root, '', CONFIG_SECTIONS.map((section) => section.key));
  const config: Record<string, unknown> = {};
  // The policy-wide sections parse first; every rule section may read them.
  for (const section of CONFIG_SECTIONS) config[section.key] = section.parse(root[section.key], config as unknown as PolicyWideConfig);
  return config as unknown as PolicyConfig;
}

export function defaultConfig(): PolicyConfig {
  return parseConfig({});
}
