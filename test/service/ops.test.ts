/** GET /healthz, /readyz (starting, ready, draining), /metrics, and request ids. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { buildApp } from '../../src/app.js';
import { NATIVE_SKIP } from '../reference/engines.js';
import { exampleForward, TEST_CONFIG, testApp, type ConvdApp } from './helpers.js';

let convd: ConvdApp;
before(async () => {
  convd = await testApp();
});
after(() => convd.app.close());

test('healthz and readyz answer 200 once started', async () => {
  assert.deepEqual((await request(convd.app.server).get('/healthz').expect(200)).body, { status: 'ok' });
  assert.deepEqual((await request(convd.app.server).get('/readyz').expect(200)).body, { status: 'ready' });
});

test('starting until the pool is up: readyz and conv requests answer 503 with Retry-After', async () => {
  const convd = await buildApp({ config: TEST_CONFIG });
  try {
    assert.equal(convd.lifecycle.state, 'starting');
    await convd.app.ready();
    assert.equal(convd.lifecycle.state, 'ready');
    convd.lifecycle.state = 'starting'; // as it is between buildApp and ready
    const res = await convd.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['retry-after'], '1');
    assert.match(res.json().detail, /starting/);
    const conv = await convd.app.inject({
      method: 'POST',
      url: '/conv/forward',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(exampleForward()),
    });
    assert.equal(conv.statusCode, 503);
  } finally {
    await convd.app.close();
  }
});

test('draining on close: readyz and conv requests answer 503, healthz stays 200', async () => {
  const draining = await testApp();
  try {
    draining.lifecycle.startDraining();
    const ready = await draining.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 503);
    assert.equal(ready.headers['content-type'], 'application/problem+json; charset=utf-8');
    const conv = await draining.app.inject({
      method: 'POST',
      url: '/conv/forward',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(exampleForward()),
    });
    assert.equal(conv.statusCode, 503);
    assert.equal(conv.headers['retry-after'], '1');
    assert.equal((await draining.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  } finally {
    await draining.app.close();
  }
  assert.equal(draining.lifecycle.state, 'draining');
});

test('metrics: request durations by route and status, pool gauges, computed FLOPs and bytes', async () => {
  await request(convd.app.server)
    .post('/conv/forward')
    .set('content-type', 'application/json')
    .send(JSON.stringify(exampleForward()))
    .expect(200);
  const res = await request(convd.app.server).get('/metrics').expect(200);
  assert.match(res.headers['content-type'], /^text\/plain/);
  const text = res.text;
  assert.match(
    text,
    /convd_http_request_duration_seconds_count\{method="POST",route="\/conv\/forward",status="200"\} [1-9]/,
  );
  for (const name of [
    'convd_pool_queue_depth',
    'convd_pool_active_tasks',
    'convd_pool_threads 1',
    'convd_pool_utilization_ratio',
    'process_resident_memory_bytes',
  ]) {
    assert.ok(text.includes(name), name);
  }
  // 2 * 4 outputs * 4 products = 32 FLOPs, 4 float32 outputs = 16 bytes
  assert.match(text, /convd_flops_computed_total\{op="forward"\} 32\b/);
  assert.match(text, /convd_output_bytes_computed_total\{op="forward"\} 16\b/);
  // the kernels each dtype runs on: the native engine (built by npm run build) and its libraries,
  // or the WebAssembly one where the machine could not build it
  if (NATIVE_SKIP) {
    assert.match(text, /convd_kernel_info\{dtype="float32",engine="wasm",isa="[^"]+"\} 1/);
  } else {
    assert.match(
      text,
      /convd_kernel_info\{dtype="float32",engine="native",isa="OpenBLAS \d+\.\d+\.\d+ \(\w+\) \+ oneDNN \d+\.\d+\.\d+ \(\w+\)"\} 1/,
    );
    assert.match(
      text,
      /convd_kernel_info\{dtype="float64",engine="native",isa="OpenBLAS \d+\.\d+\.\d+ \(\w+\), float64"\} 1/,
    );
  }
});

test('every answer carries a request id, the one the client sent if any', async () => {
  const res = await request(convd.app.server).get('/healthz').set('x-request-id', 'abc-123');
  assert.equal(res.headers['x-request-id'], 'abc-123');
  const generated = await request(convd.app.server).get('/healthz');
  assert.match(generated.headers['x-request-id'], /^[0-9a-f-]{36}$/);
});
