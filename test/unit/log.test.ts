// The JSON-lines logger: one object per line, level threshold, and batching of
// one event-loop turn into one write.

import { Writable } from 'node:stream';
import { createJsonLogger, lineFields } from '../../src/log.js';

function sink() {
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push(chunk.toString('utf8'));
      done();
    },
  });
  return { writes, stream };
}

const now = () => Date.parse('2026-01-02T03:04:05.000Z');

describe('createJsonLogger', () => {
  it('writes one JSON object per line with time, level, msg and the fields', () => {
    const { writes, stream } = sink();
    createJsonLogger(stream, { now }).info('admission decision', { uid: 'u', latencyMs: 0.5 });
    expect(writes).toEqual(['{"time":"2026-01-02T03:04:05.000Z","level":"info","msg":"admission decision","uid":"u","latencyMs":0.5}\n']);
  });

  it('puts the logger\'s own fields on every line, the call\'s fields after them', () => {
    const { writes, stream } = sink();
    createJsonLogger(stream, { now, fields: { component: 'agent' } }).warn('scan failed', { error: 'EACCES' });
    expect(writes).toEqual(['{"time":"2026-01-02T03:04:05.000Z","level":"warn","msg":"scan failed","component":"agent","error":"EACCES"}\n']);
  });

  it('stamps each line with its own millisecond, and omits undefined fields', () => {
    const { writes, stream } = sink();
    let ms = Date.parse('2026-01-02T03:04:05.000Z');
    const logger = createJsonLogger(stream, { now: () => ms });
    logger.info('a');
    logger.info('b', { skipped: undefined });
    ms += 1;
    logger.info('c', {});
    expect(writes.map((line) => JSON.parse(line))).toEqual([
      { time: '2026-01-02T03:04:05.000Z', level: 'info', msg: 'a' },
      { time: '2026-01-02T03:04:05.000Z', level: 'info', msg: 'b' },
      { time: '2026-01-02T03:04:05.001Z', level: 'info', msg: 'c' },
    ]);
  });

  it('escapes the message and field values into valid JSON', () => {
    const { writes, stream } = sink();
    createJsonLogger(stream, { now }).error('bad "input"\n', { body: '{"a":', nested: { list: [1, 'two'] } });
    expect(JSON.parse(writes[0]!)).toMatchObject({ msg: 'bad "input"\n', body: '{"a":', nested: { list: [1, 'two'] } });
  });

  it('drops lines below the minimum level', () => {
    const { writes, stream } = sink();
    const logger = createJsonLogger(stream, { minimum: 'warn', now });
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(writes.map((line) => JSON.parse(line).msg)).toEqual(['w', 'e']);
  });

  it('batched: the lines of one turn arrive in one write, whole and in order', async () => {
    const { writes, stream } = sink();
    const logger = createJsonLogger(stream, { batch: true, now });
    for (let n = 0; n < 5; n += 1) logger.info('line', { n });
    expect(writes).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toHaveLength(1);
    expect(writes[0]!.split('\n').filter(Boolean).map((line) => JSON.parse(line).n)).toEqual([0, 1, 2, 3, 4]);
    logger.info('next turn');
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toHaveLength(2);
  });

  it('batched: a large turn is written in pieces of whole lines', async () => {
    const { writes, stream } = sink();
    const logger = createJsonLogger(stream, { batch: true, now });
    const padding = 'x'.repeat(1000);
    for (let n = 0; n < 200; n += 1) logger.info('big', { n, padding });
    expect(writes.length).toBeGreaterThanOrEqual(2);
    await new Promise((resolve) => setImmediate(resolve));
    const lines = writes.join('').split('\n').filter(Boolean);
    expect(writes.every((write) => write.endsWith('\n'))).toBe(true);
    expect(lines.map((line) => JSON.parse(line).n)).toEqual([...Array(200).keys()]);
  });

  it('says which levels it writes, and writes prepared members only at those', () => {
    const { writes, stream } = sink();
    const logger = createJsonLogger(stream, { minimum: 'info', now, fields: { component: 'webhook' } });
    expect(['debug', 'info', 'warn', 'error'].map((level) => logger.enabled(level as never))).toEqual([false, true, true, true]);
    logger.members('debug', 'not written', ',"a":1');
    logger.members('info', 'written', ',"a":1');
    expect(writes).toEqual(['{"time":"2026-01-02T03:04:05.000Z","level":"info","msg":"written","component":"webhook","a":1}\n']);
  });
});

describe('lineFields', () => {
  const fields = lineFields<{ name?: string; count: number; list: string[] }>([
    ['name', (source) => source.name],
    ['count', (source) => source.count],
    ['list', (source) => source.list],
  ]);

  it('writes the table\'s members in order, leaving undefined values out as JSON.stringify does', () => {
    for (const source of [{ name: 'a', count: 1, list: ['x'] }, { count: Number.NaN, list: [] }, { name: 'q"\n\u2028<', count: -0.5, list: ['"', '\\'] }]) {
      const members = fields(source);
      expect(`{${members.slice(1)}}`).toBe(JSON.stringify({ name: source.name, count: source.count, list: source.list }));
    }
  });
});
