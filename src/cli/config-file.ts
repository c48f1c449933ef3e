// Reads the policy configuration file (YAML) at the edge, through the one
// bounded input reader, and hands the parsed document to the pure validator.
// No file = built-in defaults. Every problem is an InputError naming the file.
//
// LiveConfig keeps serve and agent on the file as it changes (a mounted
// ConfigMap: the kubelet swaps a `..data` symlink, so the file's content is
// polled, not watched): a new valid config is swapped in whole, an invalid one
// is logged as an error and counted, and the config in use stays.

import { createHash } from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { ConfigError, defaultConfig, parseConfig, type PolicyConfig } from '../policy/config.js';
import { InputBudget, InputError, parseDocuments, readInputText } from '../input/yaml-input.js';
import type { FlagSpec } from './flags.js';

/** A policy config is a few hundred bytes; anything near this is not one. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** The hash label of the built-in config (no file). */
export const BUILT_IN_CONFIG_HASH = 'built-in';

/** The flag serve and agent share: how often the config file is checked for a change. */
export const CONFIG_CHECK_INTERVAL_FLAG = {
  type: 'string', value: 'DURATION', help: 'how often the --config file is checked for a change (a mounted ConfigMap); 0s = never', env: 'PIDGUARD_CONFIG_CHECK_INTERVAL', default: '5s',
} as const satisfies FlagSpec;

export async function loadConfig(path: string | undefined): Promise<PolicyConfig> {
  return path === undefined ? defaultConfig() : parsed(await readConfigFile(path)).config;
}

interface ConfigVersion {
  config: PolicyConfig;
  /** First 16 hex digits of the SHA-256 of the file's bytes. */
  hash: string;
}

/**
 * The config in the file; only its hash when that is one of `known` (then it is
 * not parsed: a poll of an unchanged file only reads and hashes it).
 */
async function readConfigFile(path: string, known: ReadonlyArray<string | undefined> = []): Promise<ConfigVersion | { hash: string; config?: undefined }> {
  const budget = new InputBudget(MAX_CONFIG_BYTES, 1, 'a policy config is one small YAML document');
  const label = `config ${path}`;
  // Hashed and parsed from the same read, so the hash always names the config in use.
  const text = await readInputText(path, undefined, budget, label);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  if (known.includes(hash)) return { hash };
  try {
    const [document] = parseDocuments(text, path, label, budget);
    return { config: parseConfig(document?.value ?? null), hash };
  } catch (error) {
    // The hash of a content that failed, so that polls do not parse it again.
    if (error instanceof ConfigError) throw Object.assign(new InputError(`${path}: ${error.message}`), { hash });
    if (error instanceof InputError) throw Object.assign(error, { hash });
    throw error;
  }
}

/** The config of a read with no hashes known, which is always parsed. */
function parsed(read: Awaited<ReturnType<typeof readConfigFile>>): ConfigVersion {
  if (read.config === undefined) throw new Error(`config ${read.hash} was not parsed`);
  return read as ConfigVersion;
}

export type ConfigCheck = 'unchanged' | 'reloaded' | 'failed';

export class LiveConfig {
  private version: ConfigVersion;
  private generation = 1;
  /** Hash of the last content that failed, so an invalid file is reported once, not every poll. */
  private failedHash: string | undefined;
  private failing = false;
  private failures: Counter | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<ConfigCheck> | undefined;

  private constructor(
    private readonly path: string | undefined,
    initial: ConfigVersion,
    private readonly logger: Logger,
  ) {
    this.version = initial;
  }

  /** The config at `path` (built-in without one); an invalid file is an InputError, as at every start. */
  static async load(path: string | undefined, logger: Logger): Promise<LiveConfig> {
    const initial = path === undefined ? { config: defaultConfig(), hash: BUILT_IN_CONFIG_HASH } : parsed(await readConfigFile(path));
    const live = new LiveConfig(path, initial, logger);
    logger.info('config loaded', { path: path ?? null, hash: initial.hash, generation: 1 });
    return live;
  }

  /** The config in use: read once per review or scan, so each one sees a single config. */
  current(): PolicyConfig {
    return this.version.config;
  }

  /** pidguard_config_info{hash}, pidguard_config_generation, pidguard_config_reload_failing and _failures_total. */
  register(registry: Registry): void {
    const live = this;
    new Gauge({
      name: 'pidguard_config_info', help: 'The config in use (value 1), by the first 16 hex digits of its file\'s SHA-256 (built-in: no file)', labelNames: ['hash'], registers: [registry],
      collect() {
        this.reset();
        this.set({ hash: live.version.hash }, 1);
      },
    });
    new Gauge({
      name: 'pidguard_config_generation', help: 'Configs taken into use since start: 1 at start, +1 per reload', registers: [registry],
      collect() {
        this.set(live.generation);
      },
    });
    new Gauge({
      name: 'pidguard_config_reload_failing', help: '1 while the config file holds a change that cannot be used (the previous config stays in use)', registers: [registry],
      collect() {
        this.set(live.failing ? 1 : 0);
      },
    });
    this.failures = new Counter({ name: 'pidguard_config_reload_failures_total', help: 'Changed config files that could not be read or were invalid (each content counted once)', registers: [registry] });
  }

  /** Checks the file every `intervalMs` (nothing to check without a file, or with 0). */
  start(intervalMs: number): void {
    if (this.path === undefined || intervalMs <= 0) return;
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Reads the file once: swaps in a changed valid config; keeps the one in use otherwise. */
  check(): Promise<ConfigCheck> {
    this.checking ??= this.readChange().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async readChange(): Promise<ConfigCheck> {
    if (this.path === undefined) return 'unchanged';
    let next: Awaited<ReturnType<typeof readConfigFile>>;
    try {
      next = await readConfigFile(this.path, [this.version.hash, this.failedHash]);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return this.failed(error);
    }
    if (next.config === undefined && next.hash === this.failedHash) return 'failed';
    this.failing = false;
    this.failedHash = undefined;
    if (next.config === undefined) return 'unchanged';
    const previous = this.version.hash;
    this.version = next;
    this.generation += 1;
    this.logger.info('config reloaded', { path: this.path, hash: next.hash, previousHash: previous, generation: this.generation });
    return 'reloaded';
  }

  private failed(error: InputError & { hash?: string }): ConfigCheck {
    // An unreadable file has no hash: its message tells one failure from the next.
    const failedHash = error.hash ?? error.message;
    this.failing = true;
    if (failedHash === this.failedHash) return 'failed';
    this.failedHash = failedHash;
    this.failures?.inc();
    this.logger.error('config reload failed: keeping the config in use', { path: this.path, error: error.message, inUse: this.version.hash, generation: this.generation });
    return 'failed';
  }
}
