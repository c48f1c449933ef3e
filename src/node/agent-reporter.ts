// What the node agent tells the API server: Events on the Node and on the
// offending Pods, and the node condition PIDPressureRisk: True while the
// node's PID usage is at warning or critical, or while a pod's pids-limit
// cannot be applied (reason PidsLimitNotEnforced: a pod meant to be bounded is
// not, so the node's protection has a hole); False once neither holds. Only
// changes are sent, so a steady node costs no API calls.

import type { AgentScanResult, ClusterReporter } from './agent.js';
import type { AgentApiClient } from './agent-api.js';
import type { EnforcementAction } from './enforce.js';
import type { NodePolicyReports } from './agent-policy-reports.js';
import { formatCount } from '../format.js';
import type { PodRef, PodUsage } from './scan.js';
import { holderText, podLabel, type VerdictLevel } from './verdict.js';

export const PID_PRESSURE_RISK_CONDITION = 'PIDPressureRisk';
export const EVENT_COMPONENT = 'pidguard-agent';
/** Namespace of Events about cluster-scoped objects (Nodes), as the kubelet does. */
const NODE_EVENTS_NAMESPACE = 'default';

export const EVENT_REASONS = {
  nodeAtRisk: 'PIDPressureRisk',
  nodeRecovered: 'PIDPressureRiskCleared',
  threadHog: 'ThreadHog',
  limitEnforced: 'PidsLimitEnforced',
  limitFailed: 'PidsLimitEnforcementFailed',
  limitReached: 'PidsLimitReached',
  limitAdjusted: 'PidsLimitAdjusted',
} as const;

/** The condition's reasons; PIDUsage* win over PidsLimitNotEnforced, whose pods are then named in the message. */
export const CONDITION_REASONS = {
  ok: 'PIDUsageOK',
  warning: 'PIDUsageWarning',
  critical: 'PIDUsageCritical',
  notEnforced: 'PidsLimitNotEnforced',
} as const;

/** Pods named in the condition's message at most (the count is always given). */
const CONDITION_PODS_SHOWN = 5;

interface ConditionState {
  status: 'True' | 'False';
  reason: string;
  /** The unenforced pods' uids: the message is patched again when they change. */
  unenforced?: string;
}

export class KubeNodeReporter implements ClusterReporter {
  private nodeUid: string | undefined;
  private condition: ConditionState | undefined;

  constructor(
    private readonly api: AgentApiClient,
    private readonly nodeName: string,
    private readonly now: () => Date = () => new Date(),
    /** With `agent --policy-reports`: the unenforced pods as Reports too. */
    private readonly policyReports?: NodePolicyReports,
  ) {}

  async report(result: AgentScanResult): Promise<void> {
    const { scan, verdict, findings } = result;
    const failures: string[] = [];
    // Each call's error already names what was attempted; one failure does not stop the others.
    const attempt = async (call: () => Promise<unknown>) => {
      try {
        await call();
      } catch (error) {
        failures.push((error as Error).message);
      }
    };
    await attempt(() => this.loadNode());
    await attempt(() => this.setCondition(verdict.level, verdict.summary, findings.unenforced));
    if (this.policyReports) {
      const reports = this.policyReports;
      await attempt(() => reports.sync(findings.unenforced));
    }
    if (findings.levelChanged && !(findings.previousLevel === undefined && verdict.level === 'ok')) {
      const atRisk = verdict.level !== 'ok';
      const offenders = verdict.offenders.map((holder) => holderText(scan, holder));
      const message = atRisk ? `PID usage ${verdict.level}: ${verdict.summary}${offenders.length ? `; top: ${offenders.join(', ')}` : ''}` : `PID usage back to ok: ${verdict.summary}`;
      await attempt(() => this.nodeEvent(atRisk ? EVENT_REASONS.nodeAtRisk : EVENT_REASONS.nodeRecovered, atRisk ? 'Warning' : 'Normal', message));
    }
    for (const holder of findings.newOffenders) {
      await attempt(() => this.podEvent(holder.pod as PodRef, EVENT_REASONS.threadHog, 'Warning', `on node ${this.nodeName}: ${holderText(scan, holder)}`));
    }
    for (const action of findings.enforcementChanges) {
      await attempt(() => this.enforcementEvent(action));
    }
    for (const action of findings.newAdjustments) {
      await attempt(() => this.podEvent(action.pod, EVENT_REASONS.limitAdjusted, 'Warning', `pidguard applies pids-limit ${action.limit} on node ${this.nodeName}: ${action.adjustment ?? ''}`));
    }
    for (const pod of findings.newlyRefusing) {
      await attempt(() => this.podEvent(pod, EVENT_REASONS.limitReached, 'Warning', limitReachedMessage(pod)));
    }
    if (failures.length > 0) throw new Error(failures.join('; '));
  }

  private async loadNode(): Promise<void> {
    if (this.nodeUid !== undefined) return;
    const node = await this.api.readNode(this.nodeName);
    this.nodeUid = node.metadata?.uid;
    const existing = node.status?.conditions?.find((condition) => condition.type === PID_PRESSURE_RISK_CONDITION);
    if (existing && (existing.status === 'True' || existing.status === 'False')) this.condition = { status: existing.status, reason: existing.reason ?? '' };
  }

  private async setCondition(level: VerdictLevel, summary: string, unenforced: readonly EnforcementAction[]): Promise<void> {
    const key = unenforced.map((action) => action.pod.uid).sort().join(',');
    const wanted: ConditionState = {
      status: level === 'ok' && unenforced.length === 0 ? 'False' : 'True',
      reason: level === 'ok' && unenforced.length > 0 ? CONDITION_REASONS.notEnforced : CONDITION_REASONS[level],
      ...(key !== '' ? { unenforced: key } : {}),
    };
    if (this.condition && this.condition.status === wanted.status && this.condition.reason === wanted.reason && this.condition.unenforced === wanted.unenforced) return;
    // A node that never had the condition and is fine needs none.
    if (!this.condition && wanted.status === 'False') {
      this.condition = wanted;
      return;
    }
    const time = this.now().toISOString();
    const statusChanged = this.condition?.status !== wanted.status;
    const condition: Record<string, string> = {
      type: PID_PRESSURE_RISK_CONDITION,
      status: wanted.status,
      reason: wanted.reason,
      message: `pidguard: ${summary}${unenforcedMessage(unenforced)}`,
      lastHeartbeatTime: time,
    };
    if (statusChanged) condition.lastTransitionTime = time;
    await this.api.patchNodeCondition(this.nodeName, condition);
    this.condition = wanted;
  }

  private async nodeEvent(reason: string, type: 'Normal' | 'Warning', message: string): Promise<void> {
    await this.createEvent(NODE_EVENTS_NAMESPACE, { kind: 'Node', name: this.nodeName, ...(this.nodeUid ? { uid: this.nodeUid } : {}) }, reason, type, message);
  }

  private async podEvent(pod: PodRef, reason: string, type: 'Normal' | 'Warning', message: string): Promise<void> {
    // Without a name the pod is unknown to us (no watch/pods file entry): nothing to attach the Event to.
    if (pod.name === undefined || pod.namespace === undefined) return;
    await this.createEvent(pod.namespace, { kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid }, reason, type, message);
  }

  private async enforcementEvent(action: EnforcementAction): Promise<void> {
    if (action.outcome === 'lowered') {
      await this.podEvent(action.pod, EVENT_REASONS.limitEnforced, 'Normal', `pidguard set pids.max of the pod cgroup to ${action.limit} (was ${action.before}) on node ${this.nodeName}`);
    } else {
      await this.podEvent(action.pod, EVENT_REASONS.limitFailed, 'Warning', `pidguard could not enforce pids-limit ${action.limit} on node ${this.nodeName}: ${action.reason}`);
    }
  }

  private async createEvent(namespace: string, involvedObject: { kind: string; name: string; namespace?: string; uid?: string }, reason: string, type: string, message: string): Promise<void> {
    const time = this.now().toISOString();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${involvedObject.name}.pidguard-`, namespace },
      involvedObject: { apiVersion: 'v1', ...involvedObject },
      reason,
      type,
      message: message.slice(0, 1024),
      source: { component: EVENT_COMPONENT, host: this.nodeName },
      reportingComponent: `pidguard.io/${EVENT_COMPONENT}`,
      reportingInstance: this.nodeName,
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
    };
    await this.api.createEvent(body);
  }
}

function unenforcedMessage(unenforced: readonly EnforcementAction[]): string {
  if (unenforced.length === 0) return '';
  const shown = unenforced.slice(0, CONDITION_PODS_SHOWN).map((action) => `${podLabel(action.pod)} (${action.failure})`);
  const more = unenforced.length > shown.length ? `, and ${unenforced.length - shown.length} more` : '';
  return `; pids-limit not enforced for ${formatCount(unenforced.length)} pod${unenforced.length === 1 ? '' : 's'}: ${shown.join(', ')}${more}`;
}

function limitReachedMessage(pod: PodUsage): string {
  return `the pod's pids limit (${pod.pids.max}) refused ${formatCount(pod.pids.refusedForks ?? 0)} forks/threads so far (pids.current ${pod.pids.current ?? '?'})`;
}
