/**
 * Dispatch through a pool of fake workers that block their thread like a long kernel:
 * a full queue answers 503 with Retry-After, the deadline answers 504 and cancels the task,
 * a client that disconnects cancels its task.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import request from 'supertest';
import { exampleForward, fakePool, testApp } from './helpers.js';

const body = JSON.stringify(exampleForward());
const post = (server: import('node:http').Server) =>
  request(server)
    .post('/conv/forward')
    .set('content-type', 'application/json')
    .set('accept', 'application/json')
    .send(body);

test('a full queue answers 503 with Retry-After; past the deadline 504, and the task never finishes', async () => {
  const blockMs = 1500;
  const { pool, finished } = fakePool({ threads: 1, maxQueue: 1, blockMs });
  const convd = await testApp({ pool, config: { deadlineMs: 300, retryAfterSeconds: 2 } });
  try {
    await convd.app.listen({ port: 0, host: '127.0.0.1' });
    const server = convd.app.server;
    const running = post(server).then((r) => r);
    await sleep(50);
    const queued = post(server).then((r) => r);
    await sleep(50);
    const refused = await post(server);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '2');
    assert.equal(refused.body.type, 'urn:convd:problem:overloaded');

    const started = performance.now();
    const [first, second] = await Promise.all([running, queued]);
    assert.ok(performance.now() - started < blockMs, 'answered at the deadline, not when the work would have ended');
    for (const res of [first, second]) {
      assert.equal(res.status, 504);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.match(res.body.detail, /300 ms deadline/);
    }
    await sleep(blockMs + 200);
    assert.equal(finished(), 0, 'the cancelled tasks never ran to the end (their thread was terminated)');
    assert.deepEqual({ active: pool.stats().active, queued: pool.stats().queued }, { active: 0, queued: 0 });
  } finally {
    await convd.app.close();
  }
});

test('a client that disconnects cancels its task', async () => {
  const blockMs = 1000;
  const { pool, finished } = fakePool({ threads: 1, blockMs });
  const convd = await testApp({ pool });
  try {
    await convd.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = convd.app.server.address() as import('node:net').AddressInfo;
    const req = httpRequest({
      port,
      host: '127.0.0.1',
      method: 'POST',
      path: '/conv/forward',
      headers: { 'content-type': 'application/json' },
    });
    req.on('error', () => {}); // the socket is destroyed on purpose
    req.end(body);
    await sleep(200);
    assert.equal(pool.stats().active, 1, 'the task is running');
    req.destroy();
    await sleep(100);
    assert.equal(pool.stats().active, 0, 'the task was cancelled');
    await sleep(blockMs);
    assert.equal(finished(), 0);
  } finally {
    await convd.app.close();
  }
});

test('a task that finishes in time answers 200 and counts as finished', async () => {
  const { pool, finished } = fakePool({ threads: 1, blockMs: 10 });
  // the fake worker answers no tensors: an empty result object
  const convd = await testApp({ pool });
  try {
    const res = await post(convd.app.server);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {});
    assert.equal(finished(), 1);
  } finally {
    await convd.app.close();
  }
});
