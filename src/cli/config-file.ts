// Reads the policy configuration file (YAML) at the edge, through the one
// bounded input reader, and hands the parsed document to the pure validator.
// No file = built-in defaults. Every problem is an InputError naming the file.

import { ConfigError, defaultConfig, parseConfig, type PolicyConfig } from '../policy/config.js';
import { InputBudget, InputError, readOneDocument } from '../input/yaml-input.js';

/** A policy config is a few hundred bytes; anything near this is not one. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export async function loadConfig(path: string | undefined): Promise<PolicyConfig> {
  if (path === undefined) return defaultConfig();
  const budget = new InputBudget(MAX_CONFIG_BYTES, 1, 'a policy config is one small YAML document');
  const document = await readOneDocument(path, { budget, label: `config ${path}` });
  try {
    return parseConfig(document);
  } catch (error) {
    if (error instanceof ConfigError) throw new InputError(`${path}: ${error.message}`);
    throw error;
  }
}
