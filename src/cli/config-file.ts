// Reads the policy configuration file (YAML) at the edge and hands the parsed
// document to the pure validator. No file = built-in defaults.

import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { ConfigError, defaultConfig, parseConfig, type PolicyConfig } from '../policy/config.js';
import { CliError } from './io.js';

export const CONFIG_EXIT = 2;

export async function loadConfig(path: string | undefined): Promise<PolicyConfig> {
  if (path === undefined) return defaultConfig();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read config ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, CONFIG_EXIT);
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new CliError(`config ${path} is not valid YAML: ${(error as Error).message}`, CONFIG_EXIT);
  }
  try {
    return parseConfig(document);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(`${path}: ${error.message}`, CONFIG_EXIT);
    throw error;
  }
}
