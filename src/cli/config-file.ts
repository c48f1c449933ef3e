// Reads the policy configuration file (YAML) at the edge, through the one
// bounded YAML reader, and hands the parsed document to the pure validator.
// No file = built-in defaults.

import { ConfigError, defaultConfig, parseConfig, type PolicyConfig } from '../policy/config.js';
import { EXIT } from './exit-codes.js';
import { CliError } from './io.js';
import { forEachYamlDocument, InputBudget, readInputText } from '../input/yaml-input.js';

/** A policy config is a few hundred bytes; anything near this is not one. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export async function loadConfig(path: string | undefined): Promise<PolicyConfig> {
  if (path === undefined) return defaultConfig();
  const label = `config ${path}`;
  const budget = new InputBudget(MAX_CONFIG_BYTES, 1, 'a policy config is one small YAML document');
  const text = await readInputText(path, undefined, budget, label);
  let document: unknown = null;
  forEachYamlDocument(text, label, budget, (value) => {
    document = value;
  });
  try {
    return parseConfig(document);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(`${path}: ${error.message}`, EXIT.usage);
    throw error;
  }
}
