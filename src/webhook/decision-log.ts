// The decision log: which reviews get an `admission decision` line, at which level, and the
// line itself. Denials, patches and reviews answered with warnings are logged at info: audits
// need them. A plain allow (or a review the engine skipped) is only counted in the metrics and
// logged at debug, unless --log-allowed asks for every one or one in N at info: at a hundred
// pods a second, a line per allow would be gigabytes a day saying "nothing to do".

import { lineFields, type Logger, type LogLevel } from '../log.js';
import type { Evaluation } from '../policy/engine.js';
import type { AdmissionRequest } from './admission-review.js';
import type { AdmissionOutcome, WebhookName } from './admission-handler.js';

/** What `--log-allowed` selects for plain allows and skipped reviews. */
export type AllowedLogging = { kind: 'none' } | { kind: 'all' } | { kind: 'sampled'; every: number };

export const ALLOWED_LOGGING_SYNTAX = 'none, sampled:N (N from 1 to 1000000) or all';
const MAX_SAMPLE_EVERY = 1_000_000;

/** `none`, `all` or `sampled:N`; undefined for anything else. */
export function parseAllowedLogging(text: string): AllowedLogging | undefined {
  if (text === 'none' || text === 'all') return { kind: text };
  if (!text.startsWith('sampled:')) return undefined;
  const digits = text.slice('sampled:'.length);
  const every = Number(digits);
  return /^[0-9]{1,7}$/.test(digits) && every >= 1 && every <= MAX_SAMPLE_EVERY ? { kind: 'sampled', every } : undefined;
}

export type Decision = 'allowed' | 'patched' | 'denied' | 'skipped';

interface DecisionEntry {
  webhook: WebhookName;
  request: AdmissionRequest;
  outcome: AdmissionOutcome;
  decision: Decision;
  seconds: number;
  /** Set on a sampled plain allow: the line stands for this many. */
  sampledOneIn?: number;
}

export type DecisionLog = (webhook: WebhookName, request: AdmissionRequest, outcome: AdmissionOutcome, decision: Decision, seconds: number) => void;

/** The one table of the line's fields, in their order on the line. */
const decisionFields = lineFields<DecisionEntry>([
  ['uid', (entry) => entry.request.uid],
  ['webhook', (entry) => entry.webhook],
  ['kind', (entry) => entry.request.kind.kind],
  ['namespace', (entry) => entry.request.namespace],
  ['name', (entry) => entry.request.name ?? entry.outcome.evaluation.name],
  ['operation', (entry) => entry.request.operation],
  ['subResource', (entry) => entry.request.subResource],
  ['mode', (entry) => entry.outcome.mode],
  ['decision', (entry) => entry.decision],
  ['rules', (entry) => ruleIds(entry.outcome.evaluation)],
  ['skipReason', (entry) => entry.outcome.evaluation.skipReason],
  ['warnings', (entry) => entry.outcome.response.warnings?.length ?? 0],
  ['dryRun', (entry) => entry.request.dryRun],
  ['user', (entry) => entry.request.userInfo?.username],
  ['latencyMs', (entry) => Math.round(entry.seconds * 1e6) / 1e3],
  ['sampledOneIn', (entry) => entry.sampledOneIn],
]);

export function createDecisionLog(logger: Logger, allowedLogging: AllowedLogging): DecisionLog {
  let sinceSample = 0;
  const plainLevel = (): LogLevel => {
    if (allowedLogging.kind === 'all') return 'info';
    if (allowedLogging.kind === 'none') return 'debug';
    sinceSample += 1;
    if (sinceSample < allowedLogging.every) return 'debug';
    sinceSample = 0;
    return 'info';
  };
  // Positional arguments: the entry object is built only for a line that is written.
  return (webhook, request, outcome, decision, seconds) => {
    const notable = decision === 'denied' || decision === 'patched' || (outcome.response.warnings?.length ?? 0) > 0;
    const level = notable ? 'info' : plainLevel();
    if (!logger.enabled(level)) return;
    const sampledOneIn = !notable && level === 'info' && allowedLogging.kind === 'sampled' ? allowedLogging.every : undefined;
    logger.members(level, 'admission decision', decisionFields({ webhook, request, outcome, decision, seconds, sampledOneIn }));
  };
}

/** The rules that found something or changed something, each once. */
function ruleIds(evaluation: Evaluation): string[] {
  const ids: string[] = [];
  for (const { ruleId } of evaluation.violations) if (!ids.includes(ruleId)) ids.push(ruleId);
  for (const { ruleId } of evaluation.mutations) if (!ids.includes(ruleId)) ids.push(ruleId);
  return ids;
}
