// The shape bounds of a request body: the byte scan (bodies over
// PARSE_FIRST_MAX_BYTES) and the depth walk over the parsed value (smaller
// bodies) agree with the parsed value's depth whatever the strings hold
// (quotes, backslashes, brackets), and the webhook answers 400, never 500, for
// bodies that would be deep or huge once parsed, on either path.

import fc from 'fast-check';
import request from 'supertest';
import { checkJsonDepth, checkJsonShape, MAX_JSON_CONTAINERS, MAX_JSON_DEPTH, PARSE_FIRST_MAX_BYTES, parseJsonBody } from '../../../src/webhook/json-shape.js';
import { bestEffortPod, container, dotnetPod, pod, review, testApp } from './support.js';

function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value as Record<string, unknown>);
  return 1 + Math.max(0, ...children.map(depthOf));
}

// Strings made of the characters that could fool a scan.
const tricky = fc.string({ unit: fc.constantFrom('"', '\\', '[', ']', '{', '}', 'a', ',', ':', '\n', 'é') });
const wrap = fc.tuple(fc.boolean(), tricky, tricky);
const layered = fc.tuple(fc.jsonValue({ maxDepth: 4 }), fc.array(wrap, { maxLength: MAX_JSON_DEPTH + 5 })).map(([inner, layers]) => {
  let value: unknown = inner;
  for (const [asArray, key, sibling] of layers) value = asArray ? [sibling, value] : { [key]: value, [`${key}x`]: sibling };
  return value;
});

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

describe('checkJsonDepth and parseJsonBody', () => {
  it('checkJsonDepth accepts exactly the parsed values at most MAX_JSON_DEPTH deep', () => {
    fc.assert(
      fc.property(layered, (value) => {
        const parsed: unknown = JSON.parse(JSON.stringify(value));
        if (depthOf(parsed) <= MAX_JSON_DEPTH) expect(() => checkJsonDepth(parsed)).not.toThrow();
        else expect(() => checkJsonDepth(parsed)).toThrow(/nested deeper than 100 levels/);
      }),
      { numRuns: 300 },
    );
  });

  it('parseJsonBody gives the same value or the same refusal below and above PARSE_FIRST_MAX_BYTES', () => {
    fc.assert(
      fc.property(layered, (value) => {
        const text = JSON.stringify(value);
        // Trailing whitespace is valid JSON: the padded body takes the scan-first path.
        for (const body of [Buffer.from(text), Buffer.from(text + ' '.repeat(PARSE_FIRST_MAX_BYTES))]) {
          if (depthOf(value) <= MAX_JSON_DEPTH) expect(parseJsonBody(body)).toEqual(JSON.parse(text));
          else expect(() => parseJsonBody(body)).toThrow(/nested deeper than 100 levels/);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('walks no deeper than the limit and reads an own "__proto__" key as data', () => {
    // A million levels parse (V8's JSON.parse is iterative); the walk stops at level 101.
    expect(() => checkJsonDepth(JSON.parse(`${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`))).toThrow(/nested deeper than 100 levels/);
    const hidden = `{"__proto__":${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}}`;
    expect(() => parseJsonBody(Buffer.from(hidden))).toThrow(/nested deeper than 100 levels/);
  });

  it('answers MALFORMED_JSON for a body that is not JSON, on both paths', () => {
    expect(() => parseJsonBody(Buffer.from('{"a":'))).toThrow(/^request body is not valid JSON/);
    expect(() => parseJsonBody(Buffer.from(`{"a":${' '.repeat(PARSE_FIRST_MAX_BYTES)}`))).toThrow(/^request body is not valid JSON/);
  });
});

describe('the webhook answers 400, not 500, for deep nesting wherever the engine walks', () => {
  const { app, metrics } = testApp();
  const post = (body: string) => request(app).post('/mutate').set('content-type', 'application/json').send(body);
  const MARK = '__deep__';
  const dotnet = { image: 'mcr.microsoft.com/dotnet/aspnet:8.0' };
  // MARK stands where a rule, the pod copy, the patch diff or the template comparison reads.
  const places: Record<string, Record<string, unknown>> = {
    'containers[].resources': review({ object: pod({ containers: [container('api', { limits: { cpu: MARK } }, dotnet)] }, { name: 'api', namespace: 'team-a' }) }),
    'containers[].env': review({ object: pod({ containers: [container('api', undefined, { ...dotnet, env: [{ name: 'X', value: MARK }] })] }, { name: 'api', namespace: 'team-a' }) }),
    'metadata.annotations': review({ object: dotnetPod({ annotations: { 'pidguard.io/pids-limit': MARK } }) }),
    "an UPDATE's oldObject": review({ operation: 'UPDATE', object: dotnetPod(), oldObject: dotnetPod({ annotations: { note: MARK } }) }),
  };
  /** The nesting level of the object or array that holds MARK. */
  const levelOfMark = (value: unknown, level = 0): number | undefined => {
    if (value === MARK) return level;
    if (value === null || typeof value !== 'object') return undefined;
    for (const child of Object.values(value)) {
      const found = levelOfMark(child, level + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  const bodyWith = (fields: Record<string, unknown>, levels: number) => {
    const text = JSON.stringify(fields);
    expect(text).toContain(`"${MARK}"`);
    return text.replace(`"${MARK}"`, `${'['.repeat(levels)}${']'.repeat(levels)}`);
  };

  for (const [place, fields] of Object.entries(places)) {
    // Just over the limit, 10k, the deepest nesting that takes the parse-first path, and 100k (the byte scan's path).
    const overLimit = MAX_JSON_DEPTH + 1 - levelOfMark(fields)!;
    const levels = [overLimit, 10_000, PARSE_FIRST_MAX_BYTES / 2 - 1_000, 100_000];
    it(`${place}: ${levels.join(', ')} levels answer 400; ${overLimit - 1} are reviewed`, async () => {
      for (const level of levels) {
        const res = await post(bodyWith(fields, level));
        expect({ level, status: res.status, message: res.body.response?.status?.message }).toEqual({ level, status: 400, message: expect.stringMatching(/nested deeper than 100 levels/) });
      }
      expect((await post(bodyWith(fields, overLimit - 1))).status).toBe(200);
    });
  }

  it('counted each refusal as JSON_TOO_COMPLEX and none as INTERNAL', async () => {
    const counts = await metrics.registry.getSingleMetricAsString('pidguard_admission_invalid_requests_total');
    expect(counts).toContain(`code="JSON_TOO_COMPLEX"} ${Object.keys(places).length * 4}`);
    expect(counts).not.toContain('INTERNAL');
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
