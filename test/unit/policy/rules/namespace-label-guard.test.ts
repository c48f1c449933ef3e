import { parseConfig } from '../../../../src/policy/config.js';
import { namespaceLabelGuard } from '../../../../src/policy/rules/namespace-label-guard.js';
import type { ObjectMeta, UserInfo } from '../../../../src/policy/types.js';
import { metadataContext } from './context.js';

const config = parseConfig({ namespaceGuard: { users: ['platform-bot'], groups: ['system:masters', 'platform-admins'] } });
const alice = { username: 'alice', groups: ['system:authenticated', 'developers'] };
const ns = (labels: Record<string, string>) => ({ name: 'team-a', labels });
const guard = (metadata: ObjectMeta, oldMetadata: ObjectMeta | undefined, userInfo: UserInfo) =>
  namespaceLabelGuard.check(metadataContext(metadata, oldMetadata, { config, userInfo }), config.namespaceGuard);

describe('namespace-label-guard', () => {
  it('lets anyone change other labels', () => {
    expect(guard(ns({ team: 'b', 'pidguard.io/mode': 'enforce' }), ns({ team: 'a', 'pidguard.io/mode': 'enforce' }), alice)).toBeUndefined();
  });

  it.each([
    ['add', undefined, { 'pidguard.io/mode': 'off' }, 'add pidguard.io/mode=off'],
    ['remove', { 'pidguard.io/mode': 'enforce' }, {}, 'remove pidguard.io/mode'],
    ['change', { 'pidguard.io/mode': 'enforce' }, { 'pidguard.io/mode': 'audit' }, 'change pidguard.io/mode from enforce to audit'],
  ])('stops an ordinary user who tries to %s a pidguard label', (_verb, before, after, what) => {
    const finding = guard(ns(after), before ? ns(before) : undefined, alice);
    expect(finding).toEqual({
      reason: 'protected label change',
      detail: `user "alice" may not ${what}`,
      fix: 'ask a member of user "platform-bot", group "system:masters", group "platform-admins" to change pidguard.io/* labels',
    });
  });

  it('lists every protected label touched', () => {
    const finding = guard(ns({ 'pidguard.io/mode': 'off', 'pidguard.io/owner': 'x' }), ns({}), alice);
    expect(finding?.reason).toBe('protected label changes');
    expect(finding?.detail).toBe('user "alice" may not add pidguard.io/mode=off, add pidguard.io/owner=x');
  });

  it.each([
    ['an allowed user', { username: 'platform-bot' }],
    ['a member of an allowed group', { username: 'carol', groups: ['platform-admins'] }],
  ])('lets %s change them', (_who, userInfo) => {
    expect(guard(ns({ 'pidguard.io/mode': 'off' }), ns({}), userInfo)).toBeUndefined();
  });
});
