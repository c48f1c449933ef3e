// The byte scan before JSON.parse: its depth and container counts agree with the
// parsed value's whatever the strings hold (quotes, backslashes, brackets), and
// it stops bodies that would be deep or huge once parsed.

import fc from 'fast-check';
import request from 'supertest';
import { checkJsonShape, MAX_JSON_CONTAINERS, MAX_JSON_DEPTH } from '../../../src/webhook/json-shape.js';
import { bestEffortPod, container, pod, review, testApp } from './support.js';

function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value as Record<string, unknown>);
  return 1 + Math.max(0, ...children.map(depthOf));
}

// Strings made of the characters that could fool a scan.
const tricky = fc.string({ unit: fc.constantFrom('"', '\\', '[', ']', '{', '}', 'a', ',', ':', '\n', 'é') });
const wrap = fc.tuple(fc.boolean(), tricky, tricky);

describe('checkJsonShape', () => {
  it('accepts exactly the values at most MAX_JSON_DEPTH deep, whatever their strings hold', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.array(wrap, { maxLength: MAX_JSON_DEPTH + 5 }), (inner, layers) => {
        let value: unknown = inner;
        for (const [asArray, key, sibling] of layers) value = asArray ? [sibling, value] : { [key]: value, [`${key}x`]: sibling };
        const body = Buffer.from(JSON.stringify(value));
        if (depthOf(value) <= MAX_JSON_DEPTH) expect(() => checkJsonShape(body)).not.toThrow();
        else expect(() => checkJsonShape(body)).toThrow(/nested deeper than 100 levels/);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses more than MAX_JSON_CONTAINERS objects and arrays, counted outside strings only', () => {
    expect(() => checkJsonShape(Buffer.from(`[${'{},'.repeat(MAX_JSON_CONTAINERS)}{}]`))).toThrow(/more than 200000 objects and arrays/);
    expect(() => checkJsonShape(Buffer.from(`["${'{'.repeat(2 * MAX_JSON_CONTAINERS)}"]`))).not.toThrow();
  });

  it('takes linear time on runs of backslashes and quotes (1 MiB each)', () => {
    // Not timed (tests assert no wall-clock): a quadratic walk-back would not finish within the test timeout.
    expect(() => checkJsonShape(Buffer.from(`"${'\\\\'.repeat(512 * 1024)}"`))).not.toThrow();
    expect(() => checkJsonShape(Buffer.from(`["${'\\"'.repeat(512 * 1024)}"]`))).not.toThrow();
  });
});

describe('the webhook refuses JSON too deep or too big to hold once parsed', () => {
  const { app, metrics } = testApp();
  const post = (body: string) => request(app).post('/validate').set('content-type', 'application/json').send(body);

  it('answers 400 for 10,000 levels inside container.resources, then keeps serving', async () => {
    const nested = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const body = JSON.stringify(review({ object: pod({ containers: [container('web', {})] }, { name: 'web', namespace: 'team-a' }) })).replace('"resources":{}', `"resources":{"limits":${nested}}`);
    expect(body).toContain('"limits":[[[');
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.body.response.status.message).toMatch(/^request body JSON is nested too deeply .*: nested deeper than 100 levels/);
    expect(await metrics.registry.getSingleMetricAsString('pidguard_admission_invalid_requests_total')).toContain('code="JSON_TOO_COMPLEX"} 1');
    const after = await post(JSON.stringify(review({ object: bestEffortPod() })));
    expect(after.status).toBe(200);
  });

  it('answers 400 for 2 MB of nested arrays and for 600k empty objects (7 MiB of JSON that parsed would be ~220 MiB of RSS)', async () => {
    expect((await post(`${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`)).status).toBe(400);
    expect((await post(`[${'{},'.repeat(600_000)}{}]`)).status).toBe(400);
  });

  it('reviews a pod whose strings are full of brackets', async () => {
    const brackets = '[{'.repeat(200);
    const object = pod({ containers: [container('web')] }, { name: 'web', namespace: 'team-a', annotations: { note: brackets, quote: '\\"[' } });
    const res = await post(JSON.stringify(review({ object })));
    expect(res.status).toBe(200);
    expect(res.body.response.status.code).toBe(403);
  });
});
