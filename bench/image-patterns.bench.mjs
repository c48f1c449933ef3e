// Worst-case image strings through the engine: how long one review of a pod
// whose image is 1 MiB of hostile text takes, against a review of a normal
// .NET pod in the same run. The API server does not bound image strings, so
// this is the figure that must stay small (issue 11 item 1: the old default
// regular expression took ~5 s on 100 KB).
//
// Targets: a 1 MiB worst case takes at most 250 ms (well under the API
// server's 3 s webhook timeout), and cost grows linearly:
// 1 MiB costs at most 8x what 256 KiB does (4x is linear, 16x quadratic).
import { performance } from 'node:perf_hooks';

const { evaluate } = await import('../dist/policy/engine.js');
const { defaultConfig } = await import('../dist/policy/config.js');

const TARGETS = { worstMs: 250, linearity: 8 };
const MiB = 1 << 20;
const config = defaultConfig();

const podWith = (image, command) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'shop' },
  spec: { containers: [{ name: 'app', image, ...(command ? { command } : {}) }] },
});
const review = (pod) => evaluate({ object: pod, operation: 'CREATE', mode: 'enforce', config });

/** Fastest milliseconds per review of `pod` over `runs` runs (on a shared machine a median measures the neighbours too). */
function timeOf(pod, runs) {
  let fastest = Infinity;
  for (let run = 0; run < runs; run += 1) fastest = Math.min(fastest, once(pod));
  return fastest;
}

function once(pod) {
  const start = performance.now();
  review(pod);
  return performance.now() - start;
}

const hostile = {
  '"dotnet" x k + "/"': (size) => `${'dotnet'.repeat(Math.ceil(size / 6))}/`,
  'a/a/a/... (components)': (size) => 'a/'.repeat(size / 2),
  '"aspnet:" x k (tags)': (size) => 'aspnet:'.repeat(Math.ceil(size / 7)),
  'dotnet words in command': (size) => ['sh', '-c', 'dotnetx '.repeat(size / 8)],
};

const normal = timeOf(podWith('mcr.microsoft.com/dotnet/aspnet:8.0'), 20_000);
console.log(`image pattern benchmark: default patterns, engine evaluate() per review, fastest of the runs`);
console.log(`normal .NET image (mcr.microsoft.com/dotnet/aspnet:8.0): ${(normal * 1000).toFixed(1)} us`);
let worst = 0;
let linearity = 0;
for (const [name, make] of Object.entries(hostile)) {
  const pod = (size) => {
    const value = make(size);
    return Array.isArray(value) ? podWith('corp/app:1', value) : podWith(value);
  };
  // Alternated, with the garbage of the previous run collected first, so load on the machine
  // and collections fall on both sizes alike.
  const [small, big] = [pod(MiB / 4), pod(MiB)];
  let quarter = Infinity;
  let full = Infinity;
  for (let run = 0; run < 15; run += 1) {
    globalThis.gc?.();
    quarter = Math.min(quarter, once(small));
    globalThis.gc?.();
    full = Math.min(full, once(big));
  }
  worst = Math.max(worst, full);
  linearity = Math.max(linearity, full / quarter);
  console.log(`${name.padEnd(28)} 256 KiB ${quarter.toFixed(2)} ms   1 MiB ${full.toFixed(2)} ms   1 MiB / normal ${Math.round(full / normal)}x   1 MiB / 256 KiB ${(full / quarter).toFixed(1)}x`);
}
// The regular expression pidguard used before, on a 20 KB string of the first kind, for scale.
const oldDefault = /(^|\/)[^/:@]*(dotnet|aspnet)[^/:@]*(:|@|$)/;
const oldInput = `${'dotnet'.repeat(20_000 / 6)}/`;
const oldStart = performance.now();
oldDefault.test(oldInput);
console.log(`for scale: the old default regex on 20 KB of the first kind took ${(performance.now() - oldStart).toFixed(0)} ms (quadratic)`);

const missed = [];
if (worst > TARGETS.worstMs) missed.push(`worst 1 MiB review ${worst.toFixed(1)} ms > ${TARGETS.worstMs} ms`);
if (linearity > TARGETS.linearity) missed.push(`1 MiB / 256 KiB ${linearity.toFixed(1)}x > ${TARGETS.linearity}x`);
console.log(missed.length === 0 ? `targets met: worst ${worst.toFixed(1)} ms <= ${TARGETS.worstMs} ms, growth ${linearity.toFixed(1)}x <= ${TARGETS.linearity}x` : `TARGETS MISSED: ${missed.join('; ')}`);
process.exit(missed.length === 0 ? 0 : 1);
