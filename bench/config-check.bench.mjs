// Benchmark: the live config's poll (serve and agent, every 5 s by default).
// The shipped config (manifests/base/config.yaml's config.yaml) is
//   - baseline: loaded whole (read, hash, parse, validate), as at start and on a change;
//   - polled unchanged: read and hashed only (what every poll of an unchanged file costs).
// Ratio against the baseline measured in the same run, and the CPU share of one
// core that polling every 5 s takes.
// Targets: an unchanged poll <= 0.6x a full load; polling every 5 s < 0.1% of a core.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parse } from 'yaml';
import { LiveConfig, loadConfig } from '../dist/cli/config-file.js';
import { createJsonLogger } from '../dist/log.js';

const RUNS = 2000;
const directory = mkdtempSync(join(tmpdir(), 'pidguard-config-bench-'));
const path = join(directory, 'config.yaml');
writeFileSync(path, parse(readFileSync(new URL('../manifests/base/config.yaml', import.meta.url), 'utf8')).data['config.yaml']);
const logger = createJsonLogger(new Writable({ write: (_chunk, _encoding, done) => done() }));

async function cpuMicrosPer(run) {
  for (let i = 0; i < RUNS / 10; i += 1) await run();
  const before = process.cpuUsage();
  for (let i = 0; i < RUNS; i += 1) await run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / RUNS;
}

try {
  const live = await LiveConfig.load(path, logger);
  const load = await cpuMicrosPer(() => loadConfig(path));
  const poll = await cpuMicrosPer(async () => {
    if ((await live.check()) !== 'unchanged') throw new Error('the file changed during the benchmark');
  });
  const ratio = poll / load;
  const share = poll / 5_000_000;
  console.log(`full load: ${load.toFixed(0)} us CPU; unchanged poll: ${poll.toFixed(0)} us CPU (${ratio.toFixed(2)}x); every 5 s: ${(share * 100).toFixed(4)}% of a core`);
  const missed = [...(ratio > 0.6 ? [`poll ${ratio.toFixed(2)}x > 0.6x`] : []), ...(share >= 0.001 ? ['polling >= 0.1% of a core'] : [])];
  if (missed.length > 0) {
    console.log(`target missed: ${missed.join('; ')}`);
    process.exitCode = 1;
  }
} finally {
  rmSync(directory, { recursive: true, force: true });
}
