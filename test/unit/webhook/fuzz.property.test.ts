// Whatever arrives, the webhook answers with a well-formed AdmissionReview and
// keeps serving: random JSON, random changes to a valid review, and
// pathological nesting. An envelope it cannot use is a 400. An object of a shape
// the API server never sends is allowed untouched: the API server's own
// validation rejects it.

import fc from 'fast-check';
import request from 'supertest';
import { bestEffortPod, dotnetPod, review, testApp } from './support.js';

const { app } = testApp();

async function postRaw(body: string) {
  return request(app).post('/validate').set('content-type', 'application/json').send(body);
}

function expectWellFormed(res: request.Response, allowed = [200, 400]) {
  expect(allowed).toContain(res.status);
  expect(res.body.apiVersion).toBe('admission.k8s.io/v1');
  expect(res.body.kind).toBe('AdmissionReview');
  expect(typeof res.body.response.allowed).toBe('boolean');
  if (res.status === 400) expect(res.body.response.status.message).toEqual(expect.any(String));
  if (res.status === 500) expect(res.body.response.status.message).toMatch(/^internal error while reviewing the request: /);
}

describe('fuzzing /validate', () => {
  it('answers any JSON value with a review and 200 or 400', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        expectWellFormed(await postRaw(JSON.stringify(value)));
      }),
      { numRuns: 60 },
    );
  });

  it('answers a valid review with any field replaced by any JSON value: 200 or 400, never a 500', async () => {
    const paths = [['request'], ['request', 'uid'], ['request', 'operation'], ['request', 'kind'], ['request', 'object'], ['request', 'oldObject'],
      ['request', 'userInfo'], ['request', 'namespace'], ['request', 'dryRun'], ['request', 'object', 'spec'], ['request', 'object', 'metadata'],
      ['request', 'object', 'spec', 'containers'], ['request', 'object', 'metadata', 'annotations'], ['request', 'object', 'kind']];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), fc.jsonValue(), fc.boolean(), async (path, value, dotnet) => {
        const body = review({ object: dotnet ? dotnetPod() : bestEffortPod() }) as Record<string, any>;
        let node = body;
        for (const key of path.slice(0, -1)) node = node[key];
        node[path.at(-1)!] = value;
        expectWellFormed(await postRaw(JSON.stringify(body)));
      }),
      { numRuns: 150 },
    );
  });

  it('survives pathological nesting and still serves', async () => {
    const depth = 100_000;
    const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const body = JSON.stringify(review({ object: bestEffortPod() })).replace('"spec":{', `"spec":{"deep":${deep},`);
    const res = await postRaw(body);
    expect(res.status).toBe(400);
    expect(res.body.response.status.message).toMatch(/nested deeper than 100 levels/);
    const after = await postRaw(JSON.stringify(review({ object: bestEffortPod() })));  // still serving
    expect(after.status).toBe(200);
    expect(after.body.response.status.code).toBe(403);
  });
});
