/**
 * Graceful shutdown: closing drains (readiness 503) while in-flight work finishes; the real
 * server process does the same on SIGTERM and exits 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { exampleForward, fakePool, testApp } from './helpers.js';

const body = JSON.stringify(exampleForward());

test('close() drains: readiness goes 503 at once, the in-flight request still completes', async () => {
  const { pool, finished } = fakePool({ blockMs: 400 });
  const convd = await testApp({ pool });
  await convd.app.listen({ port: 0, host: '127.0.0.1' });
  const inFlight = request(convd.app.server)
    .post('/conv/forward')
    .set('content-type', 'application/json')
    .send(body)
    .then((r) => r);
  await sleep(100);
  const closed = convd.app.close();
  await sleep(20);
  assert.equal(convd.lifecycle.state, 'draining');
  assert.equal((await inFlight).status, 200);
  await closed;
  assert.equal(finished(), 1);
});

test('the server process drains on SIGTERM and exits 0', async () => {
  const server = spawn(process.execPath, [fileURLToPath(new URL('../../src/server.js', import.meta.url))], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', CONVD_POOL_THREADS: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let log = '';
  server.stdout.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  const exited = once(server, 'exit');
  try {
    while (!/Server listening at (http:\/\/[\d.:]+)/.test(log)) await sleep(20);
    const url = /Server listening at (http:\/\/[\d.:]+)/.exec(log)![1];
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
    // a forward pass that takes a while on one thread: 2 * 64 * 64 * 96 * 96 * 9 * 2 ≈ 1.4 GFLOP
    const input = {
      dtype: 'float32',
      shape: [2, 64, 96, 96],
      data: Buffer.alloc(2 * 64 * 96 * 96 * 4).toString('base64'),
    };
    const weight = { dtype: 'float32', shape: [64, 64, 3, 3], data: Buffer.alloc(64 * 64 * 9 * 4).toString('base64') };
    const inFlight = fetch(`${url}/conv/forward`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ input, weight, padding: 1, encoding: 'base64' }),
    });
    await sleep(150);
    server.kill('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.deepEqual((await res.json()).output.shape, [2, 64, 96, 96]);
    const [code] = await exited;
    assert.equal(code, 0);
    assert.match(log, /shutting down/);
    assert.match(log, /shut down cleanly/);
  } finally {
    server.kill('SIGKILL');
  }
});
