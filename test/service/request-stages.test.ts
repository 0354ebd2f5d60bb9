/**
 * Where the time of a request goes (http/request-stages.ts): a computed answer carries a
 * Server-Timing header with every stage up to `encode`, in order, and their sum; /metrics
 * observes each stage of each successful request, `write` included; problems carry none.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { RequestStages, STAGES } from '../../src/http/request-stages.js';
import { exampleBackward, exampleForward, packBin, postJson, testApp, type ConvdApp } from './helpers.js';

let convd: ConvdApp;
before(async () => {
  convd = await testApp();
});
after(() => convd.app.close());

/** name -> dur of a Server-Timing header, in the header's order. */
function parseServerTiming(header: string): [string, number][] {
  return header.split(', ').map((metric) => {
    const match = /^(\w+);dur=(\d+\.\d{3})$/.exec(metric);
    assert.ok(match, `metric ${metric} is name;dur=ms`);
    return [match[1], Number(match[2])];
  });
}

const HEADER_STAGES = STAGES.filter((s) => s !== 'write');

for (const [format, send] of [
  [
    'msgpack',
    (path: string, body: object) =>
      request(convd.app.server)
        .post(path)
        .set('content-type', 'application/msgpack')
        .send(packBin.pack(body))
        .buffer(true)
        .parse((res, done) => {
          res.on('data', () => {});
          res.on('end', () => done(null, null));
        }),
  ],
  ['json', (path: string, body: object) => postJson(convd, path, body)],
] as const) {
  test(`${format}: the answer's Server-Timing lists every stage up to encode, in order, and their total`, async () => {
    for (const [path, body] of [
      ['/conv/forward', exampleForward('float32', format === 'json' ? 'array' : 'bin')],
      ['/conv/backward', exampleBackward('float64', format === 'json' ? 'array' : 'bin')],
    ] as const) {
      const res = await send(path, body);
      assert.equal(res.status, 200);
      const metrics = parseServerTiming(String(res.headers['server-timing']));
      assert.deepEqual(
        metrics.map(([name]) => name),
        [...HEADER_STAGES, 'total'],
      );
      const sum = metrics.slice(0, -1).reduce((s, [, ms]) => s + ms, 0);
      const total = metrics.at(-1)![1];
      assert.ok(metrics.every(([, ms]) => ms >= 0));
      assert.ok(Math.abs(sum - total) < 0.01 * HEADER_STAGES.length, `total ${total} is the sum ${sum}`);
    }
  });
}

test('/metrics observes every stage of a computed request, write included, by op', async () => {
  await postJson(convd, '/conv/forward', exampleForward()).expect(200);
  const text = (await request(convd.app.server).get('/metrics').expect(200)).text;
  for (const stage of STAGES) {
    const match = new RegExp(`convd_request_stage_seconds_count\\{op="forward",stage="${stage}"\\} (\\d+)`).exec(text);
    assert.ok(match && Number(match[1]) >= 1, `${stage} observed`);
  }
});

test('a problem answer carries no Server-Timing and is not observed', async () => {
  const before = (await request(convd.app.server).get('/metrics')).text;
  const count = (text: string) =>
    Number(/convd_request_stage_seconds_count\{op="backward",stage="receive"\} (\d+)/.exec(text)?.[1] ?? 0);
  const res = await postJson(convd, '/conv/backward', { ...exampleBackward(), grad_output: exampleForward().input });
  assert.equal(res.status, 400);
  assert.equal(res.headers['server-timing'], undefined);
  assert.equal(count((await request(convd.app.server).get('/metrics')).text), count(before));
});

test('RequestStages: each mark ends its stage where the one before ended; a stage marked twice adds up', () => {
  const stages = new RequestStages(1000);
  stages.mark('receive', 1002.5);
  stages.mark('decode', 1003);
  stages.mark('receive', 1004);
  stages.mark('kernel', 1003.5); // a clock of another thread a little behind: never negative
  assert.deepEqual(stages.durations, { receive: 3.5, decode: 0.5, kernel: 0 });
  assert.equal(stages.serverTiming(), 'receive;dur=3.500, decode;dur=0.500, kernel;dur=0.000, total;dur=4.000');
});
