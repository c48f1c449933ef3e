// Memory of `pidguard serve` under hostile load, against its idle figure and the
// container's memory limit (manifests/base/webhook.yaml: 384 MiB), measured in
// one run on one server process with its default limits:
//
// 1. idle, after a few reviews;
// 2. stalled bodies: 40 TLS connections, each declaring a 7 MiB body, sending
//    all of it but the last byte and stalling; a refused connection is
//    reopened at once, so the pressure stays for the whole phase;
// 3. heavy JSON: 40 connections sending, over and over, a 2 MB body of nested
//    arrays and a body of 199,999 empty objects (the most the shape check lets
//    through, so it is parsed).
//
// And the cost of the JSON shape check on the hot path, in process: its time per
// body against JSON.parse of the same body, for the reviews webhook.bench.mjs
// sends (the depth walk over the parsed value) and for a 429 KiB pod of 500
// containers (the byte scan before parsing).
//
// During both attacks a legitimate review (a BestEffort pod at /validate, denied)
// is sent every 100 ms on its own keep-alive connection; each must be answered
// correctly. PIDGUARD_BENCH_SECONDS (default 60) sets the total; each attack
// gets 1/6 of it, at least 5 s. Exit 1 if a target is missed.

import { rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { connect } from 'node:tls';
import { benchWorkDirectory, bestEffortPod, dotnetPod, peakRssMiB, review, rssMiB, startPidguard } from './serve-process.mjs';

const { checkJsonDepth, checkJsonShape, PARSE_FIRST_MAX_BYTES } = await import('../dist/webhook/json-shape.js');

const CONTAINER_LIMIT_MIB = 384;
/** Idle with a cluster (client-node loaded) is ~118 MiB; the attack's growth must fit beside it, with room to spare. */
const TARGETS = { growthMiB: 200, legitimateAnswered: 1, scanVsParse: 0.5 };
const ATTACKERS = 40;
const DECLARED_BYTES = 7 * 1024 * 1024;

const seconds = Number(process.env.PIDGUARD_BENCH_SECONDS ?? 60);
if (!(seconds > 0)) throw new Error(`PIDGUARD_BENCH_SECONDS must be a positive number, got ${process.env.PIDGUARD_BENCH_SECONDS}`);
const phaseMs = Math.max(5, seconds / 6) * 1000;

const { work, paths, ca } = await benchWorkDirectory();
const pidguard = await startPidguard(work, paths);
const pid = pidguard.child.pid;
const legitimateBody = review('legitimate', bestEffortPod());
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

const scan = scanCost();
try {
  for (let i = 0; i < 20; i++) await legitimateReview();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const idle = rssMiB(pid);
  const stalled = await underAttack(stalledBodies);
  const heavy = await underAttack(heavyJson);
  const rejected = await rejectedCounts();
  report({ idle, stalled, heavy, peak: peakRssMiB(pid), rejected, scan });
} finally {
  agent.destroy();
  pidguard.child.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}

/** Runs `attack` for one phase while sampling RSS and sending legitimate reviews. */
async function underAttack(attack) {
  const stop = { at: Date.now() + phaseMs };
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 50);
  const legitimate = { sent: 0, answered: 0, failures: [] };
  const reviewer = (async () => {
    while (Date.now() < stop.at) {
      legitimate.sent += 1;
      try {
        await legitimateReview();
        legitimate.answered += 1;
      } catch (error) {
        legitimate.failures.push(error.message);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  const attackStats = await attack(stop);
  await reviewer;
  clearInterval(sampler);
  return { peak, legitimate, attack: attackStats };
}

/** Connections that declare 7 MiB, send all but one byte and stall, reopened as soon as the server closes them. */
async function stalledBodies(stop) {
  const stats = { connections: 0, refused503: 0 };
  const payload = Buffer.concat([
    Buffer.from(`POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${DECLARED_BYTES}\r\n\r\n`),
    Buffer.alloc(DECLARED_BYTES - 1, 0x20),
  ]);
  const attacker = async () => {
    while (Date.now() < stop.at) {
      stats.connections += 1;
      const answer = await rawExchange(payload, stop.at);
      if (answer.startsWith('HTTP/1.1 503')) stats.refused503 += 1;
    }
  };
  await Promise.all(Array.from({ length: ATTACKERS }, attacker));
  return stats;
}

/** Bodies the shape check refuses (2 MB of nesting) or lets through at its limit (199,999 empty objects), sent over and over. */
async function heavyJson(stop) {
  const stats = { requests: 0, refused400: 0 };
  const request = (body) => Buffer.concat([
    Buffer.from(`POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`),
    body,
  ]);
  const nested = request(Buffer.from(`${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`));
  const wide = request(Buffer.from(`[${'{},'.repeat(199_998)}{}]`));
  const attacker = async (index) => {
    for (let n = index; Date.now() < stop.at; n++) {
      stats.requests += 1;
      const answer = await rawExchange(n % 2 === 0 ? nested : wide, stop.at);
      if (answer.startsWith('HTTP/1.1 400')) stats.refused400 += 1;
    }
  };
  await Promise.all(Array.from({ length: ATTACKERS }, (_, index) => attacker(index)));
  return stats;
}

/** Sends `payload` on a fresh TLS connection; resolves with what came back when the server closes it, or at `deadline`. */
function rawExchange(payload, deadline) {
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect({ host: '127.0.0.1', port: pidguard.port, ca, servername: 'localhost' }, () => socket.write(payload));
    const timer = setTimeout(() => socket.destroy(), Math.max(0, deadline - Date.now()));
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

function legitimateReview() {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: pidguard.port, path: '/validate', method: 'POST', ca, servername: 'localhost', agent, timeout: 3000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(legitimateBody) } },
      (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          const answer = res.statusCode === 200 ? JSON.parse(text).response : undefined;
          if (answer?.uid === 'legitimate' && answer.allowed === false && answer.status.code === 403) resolve();
          else reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
        });
      },
    );
    // 3 s: the API server's timeout for pidguard's webhooks.
    req.on('timeout', () => req.destroy(new Error('no answer within 3 s')));
    req.on('error', reject);
    req.end(legitimateBody);
  });
}

async function rejectedCounts() {
  const listening = JSON.parse((await import('node:fs')).readFileSync(`${work}/pidguard.log`, 'utf8').split('\n').find((line) => line.includes('"msg":"listening"')));
  const text = await new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port: listening.metricsPort, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  return Object.fromEntries([...text.matchAll(/^pidguard_webhook_rejected_total\{reason="([^"]+)"\} (\d+)$/gm)].map((match) => [match[1], Number(match[2])]));
}

/** Median over rounds of the time per call of the shape check the webhook runs on a body (as parseJsonBody picks it) and of JSON.parse, per body. */
function scanCost() {
  const bigPod = dotnetPod();
  bigPod.spec.containers = Array.from({ length: 500 }, (_, index) => ({ ...dotnetPod().spec.containers[0], name: `c${index}` }));
  const bodies = [
    ['.NET pod review', Buffer.from(review('scan-1', dotnetPod()))],
    ['BestEffort pod review', Buffer.from(review('scan-2', bestEffortPod()))],
    ['500-container pod review', Buffer.from(review('scan-3', bigPod))],
  ];
  const timePerCall = (fn, input, bytes) => {
    const rounds = [];
    const calls = Math.max(20, Math.round(2_000_000 / bytes));
    for (let round = 0; round < 7; round++) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < calls; i++) fn(input);
      rounds.push(Number(process.hrtime.bigint() - started) / calls / 1000);
    }
    return rounds.sort((a, b) => a - b)[3];
  };
  return bodies.map(([name, body]) => ({
    name,
    bytes: body.length,
    check: body.length > PARSE_FIRST_MAX_BYTES ? 'byte scan' : 'depth walk',
    scanUs: body.length > PARSE_FIRST_MAX_BYTES ? timePerCall(checkJsonShape, body, body.length) : timePerCall(checkJsonDepth, JSON.parse(body.toString('utf8')), body.length),
    parseUs: timePerCall((buffer) => JSON.parse(buffer.toString('utf8')), body, body.length),
  }));
}

function report({ idle, stalled, heavy, peak, rejected, scan }) {
  const mib = (value) => `${value.toFixed(1)} MiB`;
  const ofLimit = (value) => `${Math.round((100 * value) / CONTAINER_LIMIT_MIB)}% of ${CONTAINER_LIMIT_MIB} MiB`;
  console.log(`webhook under attack: ${ATTACKERS} attacking connections, ${phaseMs / 1000}s per attack, a legitimate review every 100 ms`);
  console.log('');
  console.log(`idle RSS                         ${mib(idle)} (${ofLimit(idle)})`);
  for (const [name, phase, detail] of [
    ['stalled 7 MiB bodies', stalled, `${stalled.attack.connections} connections, ${stalled.attack.refused503} answered 503`],
    ['nested / 199,999-object JSON', heavy, `${heavy.attack.requests} requests, ${heavy.attack.refused400} answered 400`],
  ]) {
    console.log(`${`peak RSS, ${name}`.padEnd(33)}${mib(phase.peak)} (${ofLimit(phase.peak)}; +${mib(phase.peak - idle)} over idle); ${detail}; legitimate reviews answered ${phase.legitimate.answered}/${phase.legitimate.sent}`);
  }
  console.log(`peak RSS of the whole run (VmHWM) ${mib(peak)} (${ofLimit(peak)})`);
  console.log(`pidguard_webhook_rejected_total: ${JSON.stringify(rejected)}`);
  console.log('');
  for (const body of scan) {
    console.log(`shape check (${body.check}), ${body.name} (${body.bytes} bytes): ${body.scanUs.toFixed(2)} us vs JSON.parse ${body.parseUs.toFixed(2)} us (${Math.round((100 * body.scanUs) / body.parseUs)}%)`);
  }
  console.log('');
  const worstScan = Math.max(...scan.map((body) => body.scanUs / body.parseUs));
  const growth = Math.max(stalled.peak, heavy.peak, peak) - idle;
  const answeredRatio = Math.min(...[stalled, heavy].map((phase) => phase.legitimate.answered / phase.legitimate.sent));
  const failures = [stalled, heavy].flatMap((phase) => phase.legitimate.failures);
  const checks = [
    [`RSS growth over idle <= ${TARGETS.growthMiB} MiB (idle with a cluster ~118 MiB + growth stays below ${CONTAINER_LIMIT_MIB} MiB)`, growth <= TARGETS.growthMiB, mib(growth)],
    ['every legitimate review answered correctly during the attacks', answeredRatio >= TARGETS.legitimateAnswered, `${Math.round(answeredRatio * 100)}%${failures.length ? `; first failure: ${failures[0]}` : ''}`],
    [`shape check <= ${TARGETS.scanVsParse * 100}% of JSON.parse on every body`, worstScan <= TARGETS.scanVsParse, `${Math.round(worstScan * 100)}%`],
    ['stalled bodies were refused and counted', (rejected['body-budget'] ?? 0) > 0 && stalled.attack.refused503 > 0, `${rejected['body-budget'] ?? 0} counted`],
  ];
  for (const [what, ok, value] of checks) console.log(`${ok ? 'PASS' : 'MISS'}  ${what}: ${value}`);
  process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
}
