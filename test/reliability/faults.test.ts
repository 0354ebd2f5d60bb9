/**
 * Faults on the real worker pool (test-only hook, src/shared/faults.ts): a kernel that throws, a
 * thread that dies mid-task, a thread that hangs; clients that leave mid-upload, while queued
 * and mid-compute. Each time the request gets its answer (500 problem+json, 504) or is
 * cancelled, the pool gets its thread back (piscina starts a replacement), no admission slot
 * leaks, and the next requests are answered correctly.
 */
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import { FAULT_HEADER } from '../../src/shared/faults.js';
import { EXAMPLE, exampleForward, testApp, type ConvdApp } from '../service/helpers.js';
import { problemDefect, send, type Answer } from '../fuzz/support.js';

// Workers read it when they start, so it is set before any pool exists (this file runs in its own process).
process.env.CONVD_TEST_FAULTS = '1';

const THREADS = 2;
const body = JSON.stringify(exampleForward());

async function liveApp(config: Parameters<typeof testApp>[0] = {}): Promise<{ convd: ConvdApp; port: number }> {
  const convd = await testApp({ ...config, config: { poolThreads: THREADS, maxQueue: 8, ...config.config } });
  await convd.app.listen({ port: 0, host: '127.0.0.1' });
  return { convd, port: (convd.app.server.address() as AddressInfo).port };
}

const forward = (port: number, fault?: string) =>
  send({
    port,
    path: '/conv/forward',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(fault ? { [FAULT_HEADER]: fault } : {}),
    },
    body,
    agent: false,
  });

function assertCorrect(a: Answer): void {
  assert.equal(a.status, 200, a.body.toString());
  assert.deepEqual(JSON.parse(a.body.toString()).output.data, EXAMPLE.output.values);
}

/** The live piscina threads (a private detail, read only to show the replacement). */
const liveThreads = (convd: ConvdApp): number | undefined =>
  (convd.pool as unknown as { piscina?: { threads: unknown[] } }).piscina?.threads.length;

async function waitFor(what: string, ok: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

/** More requests than threads plus queue, all at once: every one must be answered correctly (no slot leaked). */
async function assertFullCapacity(convd: ConvdApp, port: number): Promise<void> {
  const answers = await Promise.all(Array.from({ length: THREADS + convd.config.maxQueue }, () => forward(port)));
  answers.forEach(assertCorrect);
  assert.deepEqual({ active: convd.pool.stats().active, queued: convd.pool.stats().queued }, { active: 0, queued: 0 });
}

test('a kernel that throws: that request gets a problem+json 500 (no internals), the next requests succeed', async () => {
  const { convd, port } = await liveApp();
  try {
    const failed = await forward(port, 'throw');
    assert.equal(failed.status, 500);
    assert.equal(problemDefect(failed), null);
    const problem = JSON.parse(failed.body.toString());
    assert.equal(problem.type, 'urn:convd:problem:internal');
    assert.doesNotMatch(problem.detail, /injected|faults\.ts|at /, 'no internals in the answer');
    assertCorrect(await forward(port));
    await assertFullCapacity(convd, port);
  } finally {
    await convd.app.close();
  }
});

test('a worker thread that dies mid-task: 500, piscina starts a replacement, every thread serves again', async () => {
  const { convd, port } = await liveApp();
  try {
    for (let round = 0; round < 3; round++) {
      const died = await forward(port, 'exit');
      assert.equal(died.status, 500);
      assert.equal(problemDefect(died), null);
      if (liveThreads(convd) !== undefined)
        await waitFor(`the pool is back to ${THREADS} threads`, () => liveThreads(convd) === THREADS);
      assertCorrect(await forward(port));
    }
    await assertFullCapacity(convd, port);
  } finally {
    await convd.app.close();
  }
});

test('a hung kernel: 504 at the deadline, its thread is terminated and replaced, the next requests succeed', async () => {
  // The deadline also bounds the good requests after it, queued behind fresh threads that are
  // still loading their kernels: 2 s leaves them room on a loaded machine.
  const deadlineMs = 2000;
  const { convd, port } = await liveApp({ config: { deadlineMs } });
  try {
    const started = performance.now();
    const [hung, alsoHung] = await Promise.all([forward(port, 'hang'), forward(port, 'hang')]);
    const took = performance.now() - started;
    for (const a of [hung, alsoHung]) {
      assert.equal(a.status, 504);
      assert.equal(problemDefect(a), null);
    }
    // answered at the deadline, not when the hang would end (never)
    assert.ok(took >= deadlineMs - 50 && took < deadlineMs + 3000, `answered after ${took.toFixed(0)} ms`);
    if (liveThreads(convd) !== undefined)
      await waitFor(`the pool is back to ${THREADS} threads`, () => liveThreads(convd) === THREADS);
    await assertFullCapacity(convd, port);
  } finally {
    await convd.app.close();
  }
});

test('a storm of mixed faults and good requests leaks no admission slot and no thread', async () => {
  const { convd, port } = await liveApp({ config: { deadlineMs: 800, maxQueue: 32 } });
  try {
    const kinds = Array.from({ length: 30 }, (_, i) => [undefined, 'throw', 'exit', undefined, 'hang'][i % 5]);
    const answers = await Promise.all(kinds.map((k) => forward(port, k)));
    answers.forEach((a, i) => {
      // any of them may also pass the deadline while queued behind the hung ones
      const expected = { throw: [500, 504], exit: [500, 504], hang: [504], none: [200, 504] }[kinds[i] ?? 'none']!;
      assert.ok(expected.includes(a.status), `request ${i} (${kinds[i] ?? 'no fault'}) answered ${a.status}`);
      if (a.status === 200) assertCorrect(a);
      else assert.equal(problemDefect(a), null);
    });
    const count = (status: number) => answers.filter((a) => a.status === status).length;
    assert.ok(count(200) > 0 && count(500) > 0 && count(504) > 0, `answers: ${answers.map((a) => a.status).join(' ')}`);
    if (liveThreads(convd) !== undefined)
      await waitFor(`the pool is back to ${THREADS} threads`, () => liveThreads(convd) === THREADS);
    await assertFullCapacity(convd, port);
  } finally {
    await convd.app.close();
  }
});

/** Opens a connection, sends the headers and `sent` bytes of a body declared `declared` bytes long, then cuts it. */
async function abandonUpload(port: number, declared: number, sent: number): Promise<void> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    `POST /conv/forward HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/msgpack\r\nContent-Length: ${declared}\r\n\r\n`,
  );
  socket.write(Buffer.alloc(sent, 0x91));
  await sleep(5);
  socket.destroy();
}

test('clients that leave mid-upload: no task starts, nothing piles up, the server keeps answering', async () => {
  const { convd, port } = await liveApp();
  try {
    assertCorrect(await forward(port));
    const rssBefore = process.memoryUsage.rss();
    for (let i = 0; i < 40; i++) await abandonUpload(port, 32 * 2 ** 20, 2 ** 20);
    await sleep(100);
    assert.deepEqual(
      { active: convd.pool.stats().active, queued: convd.pool.stats().queued },
      { active: 0, queued: 0 },
    );
    const connections = await new Promise<number>((resolve, reject) =>
      convd.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
    );
    assert.ok(connections <= 1, `${connections} connections still open on the server`);
    const grown = process.memoryUsage.rss() - rssBefore;
    assert.ok(grown < 128 * 2 ** 20, `RSS grew ${(grown / 2 ** 20).toFixed(0)} MiB after 40 abandoned 1 MiB uploads`);
    assertCorrect(await forward(port));
  } finally {
    await convd.app.close();
  }
});

/** Sends a whole request on a raw connection and returns the socket, for the caller to cut. */
async function startRaw(port: number, payload: Buffer | string, contentType: string, fault?: string) {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const length = Buffer.byteLength(payload);
  socket.write(
    `POST /conv/forward HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nContent-Length: ${length}\r\n${fault ? `${FAULT_HEADER}: ${fault}\r\n` : ''}\r\n`,
  );
  socket.write(payload);
  return socket;
}

/** Starts a request and cuts its connection after `ms`. */
async function abandonAfter(
  port: number,
  ms: number,
  payload: Buffer | string,
  contentType: string,
  fault?: string,
): Promise<void> {
  const socket = await startRaw(port, payload, contentType, fault);
  await sleep(ms);
  socket.destroy();
}

test('clients that leave while queued or mid-compute: their tasks are dropped or their threads freed at once', async () => {
  const { convd, port } = await liveApp({ config: { deadlineMs: 60_000 } });
  try {
    // both threads stuck in kernels that never end, a third request queued behind them
    const hangs = [
      abandonAfter(port, 600, body, 'application/json', 'hang'),
      abandonAfter(port, 600, body, 'application/json', 'hang'),
    ];
    await sleep(100);
    const queued = abandonAfter(port, 200, body, 'application/json');
    await waitFor(
      'two tasks run and one waits',
      () => convd.pool.stats().active === 2 && convd.pool.stats().queued === 1,
    );
    await queued;
    await waitFor('the queued task is dropped', () => convd.pool.stats().queued === 0, 1000);
    assert.equal(convd.pool.stats().active, 2, 'the hung tasks still run');
    await Promise.all(hangs);
    await waitFor('the hung tasks are cancelled', () => convd.pool.stats().active === 0, 1000);
    if (liveThreads(convd) !== undefined)
      await waitFor(`the pool is back to ${THREADS} threads`, () => liveThreads(convd) === THREADS);

    // a real computation of a second or more (4.8 GFLOP in float64, split over the threads), abandoned mid-way
    const packr = new Packr({ useRecords: false });
    const big = Buffer.from(
      packr.pack({
        input: { dtype: 'float64', shape: [4, 64, 128, 128], data: Buffer.alloc(4 * 64 * 128 * 128 * 8, 1) },
        weight: { dtype: 'float64', shape: [64, 64, 3, 3], data: Buffer.alloc(64 * 64 * 9 * 8, 1) },
        padding: 1,
      }),
    );
    const leaving = await startRaw(port, big, 'application/msgpack');
    await waitFor('the big task runs', () => convd.pool.stats().active > 0, 10_000);
    await sleep(50);
    assert.ok(convd.pool.stats().active > 0, 'the big task still runs when its client leaves');
    leaving.destroy();
    const cut = performance.now();
    await waitFor('the big task is cancelled', () => convd.pool.stats().active === 0, 1000);
    const freedIn = performance.now() - cut;
    assertCorrect(await forward(port));
    await assertFullCapacity(convd, port);
    assert.ok(freedIn < 1000, `threads freed ${freedIn.toFixed(0)} ms after the client left`);
  } finally {
    await convd.app.close();
  }
});
