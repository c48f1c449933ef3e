// A pod's pidguard.io/pids-limit can be edited after admission (pod metadata is
// mutable), where the CREATE-only mutation never sees it: removing or raising
// it before the agent first writes pids.max would void the budget. The
// validating webhook judges a Pod UPDATE that changes it.

import { defaultConfig, parseConfig } from '../../../../src/policy/config.js';
import { evaluate } from '../../../../src/policy/engine.js';
import type { KubeObject, Mode, UserInfo } from '../../../../src/policy/types.js';

const config = parseConfig({ namespaceGuard: { users: ['platform-admin'], groups: ['system:masters'] } });
const pod = (limit?: string, extra: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'orders', namespace: 'shop', annotations: { ...(limit === undefined ? {} : { 'pidguard.io/pids-limit': limit }), ...extra } },
  spec: { containers: [{ name: 'app', image: 'mcr.microsoft.com/dotnet/aspnet:8.0', resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } } }] },
});
const update = (before: KubeObject, after: KubeObject, options: { user?: UserInfo; mode?: Mode; labels?: Record<string, string> } = {}) =>
  evaluate({
    object: after,
    oldObject: before,
    operation: 'UPDATE',
    mode: options.mode ?? 'enforce',
    config,
    userInfo: options.user ?? { username: 'dev', groups: ['system:authenticated'] },
    ...(options.labels ? { namespaceLabels: options.labels } : {}),
  });

describe('pids-limit-guard (Pod UPDATE)', () => {
  test('removing the annotation is denied, naming the rule', () => {
    const result = update(pod('1024'), pod());
    expect(result).toMatchObject({ evaluated: true, allowed: false, violations: [expect.objectContaining({ ruleId: 'pids-limit-guard', detail: expect.stringContaining('may not remove pidguard.io/pids-limit') })] });
  });

  test('raising it is denied, also to a value the ceiling would lower, or an invalid one', () => {
    expect(update(pod('1024'), pod('2048'))).toMatchObject({ allowed: false, violations: [expect.objectContaining({ detail: expect.stringContaining('raise (1024 to 2048)') })] });
    expect(update(pod('1024'), pod('4194304'))).toMatchObject({ allowed: false });
    expect(update(pod('300'), pod('abc'))).toMatchObject({ allowed: false });
  });

  test('lowering it, adding one, or an update that leaves it alone is allowed', () => {
    expect(update(pod('1024'), pod('512'))).toMatchObject({ evaluated: true, allowed: true, violations: [] });
    expect(update(pod(), pod('512'))).toMatchObject({ allowed: true, violations: [] });
    expect(update(pod('1024'), pod('1024', { team: 'a' }))).toMatchObject({ evaluated: false, allowed: true, skipReason: 'pod updates cannot change resources, env or QoS class' });
    // Above the ceiling both before and after: both resolve to the ceiling, nothing is raised.
    expect(update(pod('9000'), pod('8000'))).toMatchObject({ allowed: true });
  });

  test('the namespace guard\'s users and groups may raise or remove it', () => {
    expect(update(pod('1024'), pod(), { user: { username: 'platform-admin' } })).toMatchObject({ allowed: true });
    expect(update(pod('1024'), pod('2048'), { user: { username: 'x', groups: ['system:masters'] } })).toMatchObject({ allowed: true });
  });

  test('audit mode tells instead of denying; mode off and the built-in config do not change that', () => {
    expect(update(pod('1024'), pod(), { mode: 'audit' })).toMatchObject({ allowed: true, auditAnnotations: { 'would-deny': expect.stringContaining('pids-limit') } });
    expect(update(pod('1024'), pod(), { mode: 'off' })).toMatchObject({ evaluated: false, allowed: true });
    expect(evaluate({ object: pod(), oldObject: pod('1024'), operation: 'UPDATE', mode: 'enforce', config: defaultConfig(), userInfo: { username: 'dev' } }).allowed).toBe(false);
  });

  test('the status subresource, which keeps the metadata sent to it, is judged the same way', () => {
    const viaStatus = evaluate({ object: pod(), oldObject: pod('1024'), operation: 'UPDATE', subResource: 'status', mode: 'enforce', config, userInfo: { username: 'dev' } });
    expect(viaStatus).toMatchObject({ evaluated: true, allowed: false, violations: [expect.objectContaining({ ruleId: 'pids-limit-guard' })] });
    const statusOnly = evaluate({ object: pod('1024'), oldObject: pod('1024'), operation: 'UPDATE', subResource: 'status', mode: 'enforce', config, userInfo: { username: 'kubelet' } });
    expect(statusOnly).toMatchObject({ evaluated: false, allowed: true });
    const other = evaluate({ object: pod(), oldObject: pod('1024'), operation: 'UPDATE', subResource: 'ephemeralcontainers', mode: 'enforce', config, userInfo: { username: 'dev' } });
    expect(other).toMatchObject({ evaluated: false, skipReason: 'subresource ephemeralcontainers is not policed' });
  });

  test('judged against the namespace ceiling label: a raise within what it resolves to is none', () => {
    const labels = { 'pidguard.io/pids-limit-ceiling': '256' };
    expect(update(pod('300'), pod('400'), { labels })).toMatchObject({ allowed: true });
    expect(update(pod('100'), pod('200'), { labels })).toMatchObject({ allowed: false });
  });
});
