// The webhook passes the namespace labels it looks up to the engine, so the
// namespace's pidguard.io/pids-limit-ceiling applies, and /mutate tells the
// author when its patch overrides their pids-limit.
import request from 'supertest';
import { applyPatch } from '../../../src/policy/json-patch.js';
import type { KubeObject } from '../../../src/policy/types.js';
import { decodePatch, dotnetPod, namespaces, review, testApp, type ReviewFields } from './support.js';

type Answer = { allowed: boolean; patch?: string; warnings?: string[]; auditAnnotations?: Record<string, string> };

async function post(app: ReturnType<typeof testApp>['app'], path: '/mutate' | '/validate', fields: ReviewFields): Promise<Answer> {
  const res = await request(app).post(path).set('content-type', 'application/json').send(review(fields));
  expect(res.status).toBe(200);
  return res.body.response as Answer;
}

describe('PID budget ceiling at admission', () => {
  const { app } = testApp({ namespaceLabels: namespaces({ capped: { 'pidguard.io/pids-limit-ceiling': '512' }, raised: { 'pidguard.io/pids-limit-ceiling': '100000' }, 'team-a': {} }) });
  const greedy = (namespace: string): KubeObject => dotnetPod({ namespace, annotations: { 'pidguard.io/pids-limit': '50000' } });

  it('lowers a pods-limit above the namespace ceiling and warns from /mutate; /validate then has nothing to add', async () => {
    const mutated = await post(app, '/mutate', { namespace: 'capped', object: greedy('capped') });
    const stored = applyPatch(greedy('capped'), decodePatch(mutated) as never);
    expect(stored.metadata?.annotations?.['pidguard.io/pids-limit']).toBe('512');
    expect(mutated.warnings).toEqual(['pids-ceiling: pidguard.io/pids-limit="50000" is above the ceiling 512; lowered to 512']);
    expect(mutated.auditAnnotations).toEqual({ warnings: mutated.warnings![0] });
    const validated = await post(app, '/validate', { namespace: 'capped', object: stored });
    expect(validated).toMatchObject({ allowed: true });
    expect(validated.warnings).toBeUndefined();
  });

  it('keeps it where the guarded namespace label raises the ceiling', async () => {
    const mutated = await post(app, '/mutate', { namespace: 'raised', object: greedy('raised') });
    const stored = applyPatch(greedy('raised'), decodePatch(mutated) as never);
    expect(stored.metadata?.annotations?.['pidguard.io/pids-limit']).toBe('50000');
    expect(mutated.warnings).toBeUndefined();
  });

  it('uses the config ceiling elsewhere', async () => {
    const mutated = await post(app, '/mutate', { namespace: 'team-a', object: greedy('team-a') });
    expect(applyPatch(greedy('team-a'), decodePatch(mutated) as never).metadata?.annotations?.['pidguard.io/pids-limit']).toBe('4096');
  });
});

describe('a pod\'s pids-limit after admission (Pod UPDATE to /validate)', () => {
  const { app } = testApp({ namespaceLabels: namespaces({ capped: { 'pidguard.io/pids-limit-ceiling': '512' }, 'team-a': {} }) });
  const running = (limit?: string): KubeObject => dotnetPod({ namespace: 'team-a', annotations: limit === undefined ? {} : { 'pidguard.io/pids-limit': limit } });

  it('denies removing it (403 naming the rule), allows lowering it', async () => {
    const removed = await post(app, '/validate', { operation: 'UPDATE', namespace: 'team-a', oldObject: running('1024'), object: running() });
    expect(removed).toMatchObject({ allowed: false, status: { code: 403, message: expect.stringContaining('may not remove pidguard.io/pids-limit') } });
    const lowered = await post(app, '/validate', { operation: 'UPDATE', namespace: 'team-a', oldObject: running('1024'), object: running('512') });
    expect(lowered).toMatchObject({ allowed: true });
  });

  it('lets system:masters raise it', async () => {
    const raised = await post(app, '/validate', { operation: 'UPDATE', namespace: 'team-a', oldObject: running('1024'), object: running('2048'), userInfo: { username: 'admin', groups: ['system:masters'] } });
    expect(raised).toMatchObject({ allowed: true });
  });
});
