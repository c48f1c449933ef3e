// Malformed, wrong and hostile input: a clear 4xx with a message, a log line,
// a metric, and a server that keeps serving.

import request from 'supertest';
import { gzipSync } from 'node:zlib';
import { WEBHOOK_ERRORS } from '../../../src/webhook/errors.js';
import { decodeAdmissionReview } from '../../../src/webhook/admission-review.js';
import { bestEffortPod, configWith, dotnetPod, namespaceObject, review, testApp } from './support.js';

const valid = () => JSON.stringify(review({ object: bestEffortPod() }));

async function expectRefused(res: request.Response, status: number, code: keyof typeof WEBHOOK_ERRORS, message: RegExp) {
  expect(res.status).toBe(status);
  expect(res.body.kind).toBe('AdmissionReview');
  expect(res.body.response.allowed).toBe(false);
  expect(res.body.response.status.code).toBe(status);
  expect(res.body.response.status.message).toMatch(message);
  expect(WEBHOOK_ERRORS[code].status).toBe(status);
}

describe('refused requests', () => {
  const { app, logs, metrics, inFlight } = testApp({ bodyLimitBytes: 64 * 1024 });
  const send = (body: string, contentType = 'application/json') => request(app).post('/validate').set('content-type', contentType).send(body);
  // A refused request must not stay counted as in flight, or graceful shutdown would wait for it.
  afterEach(() => expect(inFlight()).toBe(0));

  it('malformed JSON', async () => {
    await expectRefused(await send('{"apiVersion": "admission.k8s.io/v1", '), 400, 'MALFORMED_JSON', /^request body is not valid JSON: /);
  });

  it('empty body', async () => {
    await expectRefused(await request(app).post('/validate').set('content-type', 'application/json'), 400, 'EMPTY_BODY', /^request body is empty$/);
  });

  it('wrong apiVersion (v1beta1) and wrong kind', async () => {
    const old = { ...review({ object: bestEffortPod() }), apiVersion: 'admission.k8s.io/v1beta1' };
    await expectRefused(await send(JSON.stringify(old)), 400, 'NOT_ADMISSION_REVIEW', /apiVersion "admission.k8s.io\/v1beta1"/);
    const pod = bestEffortPod();
    await expectRefused(await send(JSON.stringify(pod)), 400, 'NOT_ADMISSION_REVIEW', /apiVersion "v1", kind "Pod"/);
    await expectRefused(await send('[1,2]'), 400, 'NOT_ADMISSION_REVIEW', /not an object/);
  });

  it('missing request and missing uid', async () => {
    await expectRefused(await send(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' })), 400, 'MISSING_REQUEST', /has no request/);
    const noUid = review({ object: bestEffortPod() }) as { request: Record<string, unknown> };
    delete noUid.request.uid;
    await expectRefused(await send(JSON.stringify(noUid)), 400, 'MISSING_UID', /has no uid/);
  });

  it('an invalid field names the field and echoes the uid it could read', async () => {
    const bad = review({ uid: 'u-bad', object: bestEffortPod(), operation: 'PATCH' });
    const res = await send(JSON.stringify(bad));
    await expectRefused(res, 400, 'INVALID_REQUEST', /request.operation must be one of CREATE, UPDATE, DELETE, CONNECT/);
    expect(res.body.response.uid).toBe('u-bad');
    const badGroups = review({ object: bestEffortPod(), userInfo: { username: 'eve', groups: 'system:masters' } });
    await expectRefused(await send(JSON.stringify(badGroups)), 400, 'INVALID_REQUEST', /userInfo.groups must be a list of strings/);
  });

  it('wrong content type', async () => {
    await expectRefused(await send(valid(), 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE', /Content-Type must be application\/json, in UTF-8: got "text\/plain"/);
  });

  it('a charset other than UTF-8 (UTF-8 in any spelling is read)', async () => {
    await expectRefused(await send(valid(), 'application/json; charset=iso-8859-1'), 415, 'UNSUPPORTED_MEDIA_TYPE', /in UTF-8: charset "iso-8859-1" is not utf-8$/);
    await expectRefused(await send(valid(), 'application/json;charset="UTF-16"'), 415, 'UNSUPPORTED_MEDIA_TYPE', /charset "utf-16" is not utf-8$/);
    for (const utf8 of ['application/json; charset=utf-8', 'Application/JSON;Charset="UTF-8"', 'application/json; charset=utf8']) {
      expect((await send(valid(), utf8)).status).toBe(200);
    }
  });

  it('a gzip body: 415, and no byte of the body in the message', async () => {
    const gzipped = gzipSync(valid());
    const res = await request(app).post('/validate').set('content-type', 'application/json').set('content-encoding', 'gzip').send(gzipped);
    await expectRefused(res, 415, 'UNSUPPORTED_CONTENT_ENCODING', /^Content-Encoding must be identity: compressed bodies are not read: got "gzip"$/);
    expect(res.headers.connection).toBe('close');
    expect((await request(app).post('/validate').set('content-type', 'application/json').set('content-encoding', 'identity').send(valid())).status).toBe(200);
  });

  it('a body declared over the limit (streamed bodies: see server.test.ts)', async () => {
    const big = JSON.stringify({ ...review({ object: bestEffortPod() }), padding: 'x'.repeat(70 * 1024) });
    const res = await send(big);
    await expectRefused(res, 413, 'BODY_TOO_LARGE', /larger than the limit: .*limit 65536/);
    expect(res.headers.connection).toBe('close');
  });

  it('wrong method and unknown path', async () => {
    const get = await request(app).get('/mutate');
    await expectRefused(get, 405, 'METHOD_NOT_ALLOWED', /sent with POST: got GET/);
    expect(get.headers.allow).toBe('POST');
    await expectRefused(await request(app).post('/admit').send(valid()), 404, 'NOT_FOUND', /no such endpoint/);
  });

  it('logged and counted each refusal, and still serves', async () => {
    const refusals = logs.filter((line) => line.msg === 'admission request refused');
    expect(refusals.length).toBeGreaterThanOrEqual(10);
    expect(refusals.every((line) => line.level === 'warn' && typeof line.code === 'string' && typeof line.error === 'string')).toBe(true);
    expect(await metrics.registry.getSingleMetricAsString('pidguard_admission_invalid_requests_total')).toContain('pidguard_admission_invalid_requests_total{webhook="validate",code="MALFORMED_JSON"} 1');
    const res = await send(valid());
    expect(res.status).toBe(200);
    expect(res.body.response.status.code).toBe(403);
  });
});

describe('hostile keys', () => {
  afterEach(() => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('groups');
    expect(Object.prototype).not.toHaveProperty('labels');
  });

  it('__proto__ in userInfo grants no group', async () => {
    const { app } = testApp({ config: configWith({ namespaceGuard: { users: [], groups: ['system:masters'] } }) });
    const body = JSON.stringify(review({
      operation: 'CREATE', object: namespaceObject('new', { 'pidguard.io/mode': 'off' }),
    })).replace('"userInfo":{"username":"alice","groups":["system:authenticated"]}', '"userInfo":{"username":"eve","__proto__":{"groups":["system:masters"]},"constructor":{"prototype":{"polluted":true}}}');
    expect(body).toContain('__proto__');
    const res = await request(app).post('/validate').set('content-type', 'application/json').send(body);
    expect(res.body.response.allowed).toBe(false);
    expect(res.body.response.status.message).toContain('user "eve" may not add pidguard.io/mode=off');
  });

  it('__proto__ in an object or its labels changes nothing and pollutes nothing', async () => {
    const { app } = testApp();
    const object = bestEffortPod();
    const body = JSON.stringify(review({ object }))
      .replace('"metadata":{', '"metadata":{"__proto__":{"labels":{"pidguard.io/mode":"off"}},"constructor":{"prototype":{"polluted":true}},')
      .replace('"request":{', '"__proto__":{"polluted":true},"request":{');
    const res = await request(app).post('/validate').set('content-type', 'application/json').send(body);
    expect(res.status).toBe(200);
    expect(res.body.response.status.code).toBe(403);
    const hostilePod = JSON.stringify(review({ object: dotnetPod() })).replace('"metadata":{', '"metadata":{"__proto__":{"annotations":{"pidguard.io/pids-limit":"1"}},');
    const patched = await request(app).post('/mutate').set('content-type', 'application/json').send(hostilePod);
    const patch = JSON.parse(Buffer.from(patched.body.response.patch, 'base64').toString('utf8')) as Array<{ path: string; value: unknown }>;
    expect(patch).toContainEqual(expect.objectContaining({ path: '/metadata/annotations', value: expect.objectContaining({ 'pidguard.io/pids-limit': '1024' }) }));
  });

  it('decodeAdmissionReview keeps only the userInfo fields it knows', () => {
    const parsed = JSON.parse('{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","kind":{"group":"","version":"v1","kind":"Pod"},"userInfo":{"username":"eve","__proto__":{"groups":["system:masters"]}}}}');
    const decoded = decodeAdmissionReview(parsed);
    expect(decoded.userInfo).toEqual({ username: 'eve', groups: undefined });
    expect(Object.getPrototypeOf(decoded.userInfo)).toBe(Object.prototype);
  });
});
