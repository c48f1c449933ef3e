// `npm run bench [-- name ...]`: runs every bench/*.bench.mjs (or the named ones)
// one after the other, so no two benchmarks share the two cores, and exits 1 if
// any of them missed a target.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const wanted = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((file) => file.endsWith('.bench.mjs'))
  .filter((file) => wanted.length === 0 || wanted.includes(file.replace('.bench.mjs', '')))
  .sort();

if (benches.length === 0) {
  console.error(`no benchmark matches ${wanted.join(', ')}`);
  process.exit(2);
}
const failed = [];
for (const file of benches) {
  console.log(`\n=== ${file}`);
  const result = spawnSync(process.execPath, ['--expose-gc', `${here}/${file}`], { stdio: 'inherit' });
  if (result.status !== 0) failed.push(`${file} (exit ${result.status ?? result.signal})`);
}
console.log(failed.length === 0 ? '\nall benchmark targets met' : `\ntargets missed in: ${failed.join(', ')}`);
process.exit(failed.length === 0 ? 0 : 1);
