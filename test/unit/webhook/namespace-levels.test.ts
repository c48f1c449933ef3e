// Warn levels at admission: a namespace enforcing not-besteffort and warning at
// requests-and-limits admits a Burstable pod without limits with an admission
// warning (and the `warnings` audit annotation), and denies a BestEffort pod.
import request from 'supertest';
import type { KubeObject } from '../../../src/policy/types.js';
import { container, namespaces, pod, review, testApp, type ReviewFields } from './support.js';

type Answer = { allowed: boolean; patch?: string; warnings?: string[]; auditAnnotations?: Record<string, string>; status?: { code: number; message: string } };

const { app } = testApp({
  namespaceLabels: namespaces({
    team: { 'pidguard.io/require-resources': 'not-besteffort', 'pidguard.io/require-resources-warn': 'requests-and-limits' },
    trial: { 'pidguard.io/mode': 'audit', 'pidguard.io/require-resources-warn': 'requests-and-limits' },
  }),
});

async function post(path: '/mutate' | '/validate', fields: ReviewFields): Promise<Answer> {
  const res = await request(app).post(path).set('content-type', 'application/json').send(review(fields));
  expect(res.status).toBe(200);
  return res.body.response as Answer;
}

const burstable = (namespace: string): KubeObject =>
  pod({ containers: [container('web', { requests: { cpu: '100m', memory: '128Mi' } })] }, { name: 'web', namespace });
const bestEffort = (namespace: string): KubeObject => pod({ containers: [container('web')] }, { name: 'web', namespace });
const WARNING = expect.stringMatching(
  /^require-resources: level requests-and-limits \(namespace label pidguard\.io\/require-resources-warn\): containers without cpu and memory requests and limits: container "web" \(limits\.cpu, limits\.memory\) must set them\. Fix: /,
);

describe('warn levels at admission', () => {
  it('admits a Burstable pod missing limits with a warning and the audit annotation', async () => {
    const answer = await post('/validate', { namespace: 'team', object: burstable('team') });
    expect(answer.allowed).toBe(true);
    expect(answer.warnings).toEqual([WARNING]);
    expect(answer.auditAnnotations).toEqual({ warnings: answer.warnings![0] });
  });

  it('denies a BestEffort pod at the enforced level, without a second warning', async () => {
    const answer = await post('/validate', { namespace: 'team', object: bestEffort('team') });
    expect(answer).toMatchObject({ allowed: false, status: { code: 403, message: expect.stringContaining('BestEffort pod') } });
    expect(answer.warnings).toBeUndefined();
  });

  it('/mutate does not repeat the warning /validate gives', async () => {
    expect((await post('/mutate', { namespace: 'team', object: burstable('team') })).warnings).toBeUndefined();
  });

  it('works with audit mode: the warn level warns, the mode level only reports', async () => {
    const answer = await post('/validate', { namespace: 'trial', object: bestEffort('trial') });
    expect(answer.allowed).toBe(true);
    expect(answer.warnings).toEqual([expect.stringMatching(/^audit mode, enforce would deny: /)]);
    const burstableAnswer = await post('/validate', { namespace: 'trial', object: burstable('trial') });
    expect(burstableAnswer.warnings).toEqual([WARNING]);
  });
});
