/**
 * Memory admission and connection limits on a listening server (port 0, loopback): every
 * request's reservation is given back on each path (done, error, client abort mid-upload and
 * mid-compute, stalled body, refusal); a body that does not fit now is answered 503 with
 * Retry-After before it is read and its connection closed; one no budget could hold gets 413;
 * a chunked body reserves as it arrives; stalled bodies and slow headers are dropped in the
 * configured time; connections past the cap are closed; the budget and event-loop delay are
 * in /metrics. The budget helpers (cgroup limit, reservations) are tested on their own.
 */
import assert from 'node:assert/strict';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultBudgetBytes, MemoryBudget, memoryLimit } from '../../src/admission/budget.js';
import { LINGER_MS } from '../../src/admission/admission.js';
import request from 'supertest';
import type { Config } from '../../src/config.js';
import { exampleForward, fakePool, packBin, testApp, type ConvdApp } from './helpers.js';

const MiB = 2 ** 20;

/** A raw HTTP/1.1 exchange: what the server sent, and when the connection ended. */
interface Raw {
  socket: Socket;
  /** Everything received so far. */
  text(): string;
  /** Resolves with the ms from start when the first bytes of an answer arrived. */
  answered: Promise<number>;
  /** Resolves with the ms from start when the server closed or ended the connection. */
  ended: Promise<number>;
}

function raw(port: number, head: string, body: Buffer | string = ''): Raw {
  const socket = connect(port, '127.0.0.1');
  const started = performance.now();
  let received = '';
  let answered!: (ms: number) => void;
  let ended!: (ms: number) => void;
  const r: Raw = {
    socket,
    text: () => received,
    answered: new Promise((resolve) => (answered = resolve)),
    ended: new Promise((resolve) => (ended = resolve)),
  };
  socket.on('data', (c: Buffer) => {
    if (received === '') answered(performance.now() - started);
    received += c.toString('latin1');
  });
  socket.on('error', () => {});
  socket.on('end', () => ended(performance.now() - started));
  socket.on('close', () => ended(performance.now() - started));
  socket.write(head + '\r\n');
  if (body.length) socket.write(body);
  return r;
}

const post = (length: number | 'chunked', type = 'application/msgpack', accept = 'application/json') =>
  `POST /conv/forward HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\nAccept: ${accept}\r\n` +
  (length === 'chunked' ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${length}\r\n`);

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
const bodyOf = (text: string) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));

async function until(what: string, cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function listening(config: Partial<Config>, pool?: ReturnType<typeof fakePool>['pool']) {
  const convd = await testApp({ config, pool });
  await convd.app.listen({ port: 0, host: '127.0.0.1' });
  return { convd, port: (convd.app.server.address() as AddressInfo).port };
}

const forwardBody = () => Buffer.from(packBin.pack(exampleForward('float32', 'bin')));

describe('memory budget: reserved before it is held, given back on every path', () => {
  let convd: ConvdApp;
  let port: number;
  let blocking: ReturnType<typeof fakePool>;
  const inUse = () => convd.admission.budget.inUse;
  before(async () => {
    blocking = fakePool({ threads: 1, maxQueue: 4, blockMs: 400 });
    ({ convd, port } = await listening(
      { memoryBudgetBytes: 8 * MiB, bodyStallMs: 300, minBodyBytesPerSecond: 1024, retryAfterSeconds: 3 },
      blocking.pool,
    ));
  });
  after(() => convd.app.close());

  test('done: reserved while it computes, 0 once answered', async () => {
    const r = raw(port, post(forwardBody().length), forwardBody());
    await until('a reservation', () => inUse() > 0);
    assert.equal(convd.admission.budget.active, 1);
    await r.answered;
    await until('release', () => inUse() === 0);
    assert.equal(statusOf(r.text()), 200, r.text());
    assert.equal(convd.admission.budget.active, 0);
    r.socket.destroy();
  });

  test('error: a 400 and a 413 from the shapes give everything back', async () => {
    for (const [value, status] of [
      [{ ...exampleForward('float32', 'bin'), stride: 0 }, 400],
      [{ ...exampleForward('float32', 'bin'), padding: 2 ** 30 }, 413],
    ] as const) {
      const body = Buffer.from(packBin.pack(value));
      const r = raw(port, post(body.length), body);
      await r.answered;
      await until('release', () => inUse() === 0);
      assert.equal(statusOf(r.text()), status, r.text());
      r.socket.destroy();
    }
  });

  test('client abort mid-upload: the reservation of the declared body is given back', async () => {
    const r = raw(port, post(4 * MiB), Buffer.alloc(64 * 1024));
    await until('a reservation of the declared body', () => inUse() === 4 * MiB);
    r.socket.destroy();
    await until('release', () => inUse() === 0);
  });

  test('client abort mid-compute: given back when the connection closes', async () => {
    const r = raw(port, post(forwardBody().length), forwardBody());
    await until('a reservation', () => inUse() > 0);
    await sleep(100); // the fake kernel blocks 400 ms
    r.socket.destroy();
    await until('release', () => inUse() === 0);
  });

  test('timeout: a stalled body is dropped with 408 within the stall span and its reservation given back', async () => {
    const r = raw(port, post(2 * MiB), Buffer.alloc(100_000));
    await until('a reservation', () => inUse() === 2 * MiB);
    const ms = await r.answered;
    assert.equal(statusOf(r.text()), 408, r.text());
    assert.match(bodyOf(r.text()).detail, /100000 of 2097152 bytes received.*CONVD_BODY_STALL_MS/);
    // 300 ms span, checked every quarter span: 300-375 ms after the last byte
    assert.ok(ms >= 250 && ms < 1_500, `dropped after ${ms.toFixed(0)} ms`);
    await r.ended;
    await until('release', () => inUse() === 0);
  });

  test('budget spent: 503 with Retry-After at once, before any body byte is sent, then the connection is closed', async () => {
    const holder = raw(port, post(6 * MiB), Buffer.alloc(1024));
    await until('the holder reservation', () => inUse() === 6 * MiB);
    const refused = raw(port, post(4 * MiB)); // headers only: nothing of the body is sent
    const ms = await refused.answered;
    assert.ok(ms < 500, `answered after ${ms.toFixed(0)} ms`);
    const text = refused.text();
    assert.equal(statusOf(text), 503, text);
    assert.match(text, /\r\nretry-after: 3\r\n/i);
    assert.match(text, /\r\nconnection: close\r\n/i);
    const problem = bodyOf(text);
    assert.equal(problem.type, 'urn:convd:problem:memory-budget-full');
    assert.match(problem.detail, /4194304 bytes .* 6291456 of the 8388608 bytes .*CONVD_MEMORY_BUDGET_BYTES/);
    await refused.ended; // closed by the server, the unread body never parsed
    assert.equal(inUse(), 6 * MiB, 'the refused request reserved nothing');
    holder.socket.destroy();
    await until('release', () => inUse() === 0);
    assert.ok(convd.admission.stats.refusedFull >= 1);
  });

  test('a client that keeps sending after its 503 still reads the answer (lingering close), and the socket goes within the linger time', async () => {
    const holder = raw(port, post(6 * MiB), Buffer.alloc(1024));
    await until('the holder reservation', () => inUse() === 6 * MiB);
    const refused = raw(port, post(4 * MiB));
    const chunk = Buffer.alloc(256 * 1024);
    const pump = setInterval(() => refused.socket.writable && refused.socket.write(chunk), 5);
    await refused.answered;
    const ended = await refused.ended;
    clearInterval(pump);
    assert.equal(statusOf(refused.text()), 503);
    assert.ok(ended < LINGER_MS + 1_500, `closed after ${ended.toFixed(0)} ms`);
    holder.socket.destroy();
    await until('release', () => inUse() === 0);
  });

  test('413 for a body no budget could hold, unread, connection closed', async () => {
    const r = raw(port, post(9 * MiB));
    await r.answered;
    const text = r.text();
    assert.equal(statusOf(text), 413, text);
    assert.equal(bodyOf(text).type, 'urn:convd:problem:memory-budget-exceeded');
    assert.match(bodyOf(text).detail, /more than the whole memory budget of 8388608 bytes/);
    await r.ended;
    assert.equal(inUse(), 0);
  });

  test('a JSON body reserves what parsing it holds (3 times the body)', async () => {
    const r = raw(port, post(2 * MiB, 'application/json'), '{"input":');
    await until('the JSON reservation', () => inUse() === 6 * MiB);
    r.socket.destroy();
    await until('release', () => inUse() === 0);
  });

  test('work: shapes whose outputs no budget could hold get 413 before any data is decoded; 503 when they do not fit now', async () => {
    // 1x1 input padded to 1025 x 1025 float64 outputs: 8 MiB of output from a tiny body
    const body = Buffer.from(
      packBin.pack({
        input: { dtype: 'float64', shape: [1, 1, 1, 1], data: Buffer.alloc(8) },
        weight: { dtype: 'float64', shape: [1, 1, 1, 1], data: Buffer.alloc(8) },
        padding: 512,
      }),
    );
    const big = raw(port, post(body.length, 'application/msgpack', 'application/msgpack'), body);
    await big.answered;
    assert.equal(statusOf(big.text()), 413, big.text());
    assert.equal(bodyOf(big.text()).type, 'urn:convd:problem:memory-budget-exceeded');
    big.socket.destroy();
    // 2 MiB of float64 output while 6 MiB are held
    const holder = raw(port, post(6 * MiB), Buffer.alloc(1024));
    await until('the holder reservation', () => inUse() === 6 * MiB);
    const medium = Buffer.from(
      packBin.pack({
        input: { dtype: 'float64', shape: [1, 1, 1, 1], data: Buffer.alloc(8) },
        weight: { dtype: 'float64', shape: [1, 1, 1, 1], data: Buffer.alloc(8) },
        padding: 256,
      }),
    );
    const refused = raw(port, post(medium.length, 'application/msgpack', 'application/msgpack'), medium);
    await refused.answered;
    assert.equal(statusOf(refused.text()), 503, refused.text());
    assert.match(refused.text(), /\r\nretry-after: 3\r\n/i);
    holder.socket.destroy();
    refused.socket.destroy();
    await until('release', () => inUse() === 0);
  });

  test('chunked bodies reserve as they arrive: 503 mid-stream when the budget is spent, 413 past any budget', async () => {
    const holder = raw(port, post(6 * MiB), Buffer.alloc(1024));
    await until('the holder reservation', () => inUse() === 6 * MiB);
    const chunked = raw(port, post('chunked'));
    const chunk = Buffer.alloc(512 * 1024);
    for (let i = 0; i < 8 && !chunked.text(); i++) {
      chunked.socket.write(`${chunk.length.toString(16)}\r\n`);
      chunked.socket.write(chunk);
      chunked.socket.write('\r\n');
      await sleep(30);
    }
    await chunked.answered;
    assert.equal(statusOf(chunked.text()), 503, chunked.text());
    assert.match(bodyOf(chunked.text()).detail, /chunked request body of at least/);
    chunked.socket.destroy();
    holder.socket.destroy();
    await until('release', () => inUse() === 0);

    const huge = raw(port, post('chunked'));
    for (let i = 0; i < 20 && !huge.text(); i++) {
      huge.socket.write(`${chunk.length.toString(16)}\r\n`);
      huge.socket.write(chunk);
      huge.socket.write('\r\n');
      await sleep(20);
    }
    await huge.answered;
    assert.equal(statusOf(huge.text()), 413, huge.text());
    huge.socket.destroy();
    await until('release', () => inUse() === 0);
  });

  test('a small request is served while big uploads hold most of the budget', async () => {
    const holder = raw(port, post(7 * MiB), Buffer.alloc(1024));
    await until('the holder reservation', () => inUse() === 7 * MiB);
    const body = forwardBody();
    const r = raw(port, post(body.length), body);
    await r.answered;
    assert.equal(statusOf(r.text()), 200, r.text());
    holder.socket.destroy();
    r.socket.destroy();
    await until('release', () => inUse() === 0);
  });

  test('/metrics: budget total and in use, refusals, connections, event-loop delay', async () => {
    const holder = raw(port, post(3 * MiB), Buffer.alloc(1024));
    await until('the holder reservation', () => inUse() === 3 * MiB);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    const text = await res.text();
    holder.socket.destroy();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    assert.equal(value('convd_memory_budget_bytes'), 8 * MiB);
    assert.equal(value('convd_memory_budget_in_use_bytes'), 3 * MiB);
    assert.equal(value('convd_memory_budget_reservations'), 1);
    assert.ok(value('convd_memory_budget_refused_total\\{reason="full"\\}') >= 1);
    assert.ok(value('convd_slow_bodies_dropped_total') >= 1);
    assert.ok(value('convd_open_connections') >= 2);
    assert.ok(value('nodejs_eventloop_lag_max_seconds') >= 0);
    assert.ok(value('nodejs_eventloop_lag_p99_seconds') >= 0);
    for (const name of ['convd_connections_dropped_total', 'convd_json_offloaded_total{kind="body"}'])
      assert.ok(text.includes(name), name);
    await until('release', () => inUse() === 0);
  });
});

describe('connection and header limits', () => {
  test('connections past CONVD_MAX_CONNECTIONS are closed at once; the others are served', async () => {
    const { convd, port } = await listening({ maxConnections: 3 });
    try {
      const idle = [0, 1, 2].map(() => connect(port, '127.0.0.1'));
      await Promise.all(idle.map((s) => new Promise((resolve) => s.once('connect', resolve))));
      await until('3 open connections', () => convd.admission.stats.openConnections === 3);
      const extra = raw(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      await extra.ended;
      assert.equal(extra.text(), '', 'closed without an answer');
      assert.equal(convd.admission.stats.droppedConnections, 1);
      idle[0].write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      const answer = await new Promise<string>((resolve) => idle[0].once('data', (c: Buffer) => resolve(c.toString())));
      assert.equal(statusOf(answer), 200);
      for (const s of idle) s.destroy();
    } finally {
      await convd.app.close();
    }
  });

  test('headers that do not arrive within CONVD_HEADERS_TIMEOUT_MS: 408, connection closed', async () => {
    const { convd, port } = await listening({ headersTimeoutMs: 500 });
    try {
      const r = raw(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1'); // never ends its headers
      const ms = await r.answered;
      assert.equal(statusOf(r.text()), 408, r.text());
      // Node checks every second (connectionsCheckingInterval)
      assert.ok(ms >= 400 && ms < 2_500, `answered after ${ms.toFixed(0)} ms`);
      await r.ended;
    } finally {
      await convd.app.close();
    }
  });
});

describe('budget helpers', () => {
  const files = (entries: Record<string, string>) => (file: string) => {
    if (file in entries) return entries[file];
    throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
  };
  const GiB = 2 ** 30;

  test('the memory limit: cgroup v2, then v1, else the machine; "max" and v1 "no limit" mean the machine', () => {
    assert.equal(memoryLimit(files({ '/sys/fs/cgroup/memory.max': '2147483648\n' }), 24 * GiB).bytes, 2 * GiB);
    assert.equal(memoryLimit(files({ '/sys/fs/cgroup/memory.max': 'max\n' }), 24 * GiB).bytes, 24 * GiB);
    assert.equal(
      memoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '1073741824\n' }), 24 * GiB).bytes,
      GiB,
    );
    assert.equal(
      memoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n' }), 24 * GiB).bytes,
      24 * GiB,
    );
    assert.equal(memoryLimit(files({}), 24 * GiB).bytes, 24 * GiB);
    assert.equal(defaultBudgetBytes({ bytes: 2 * GiB, source: 'test' }), GiB);
    assert.equal(defaultBudgetBytes({ bytes: GiB, source: 'test' }), 512 * MiB);
  });

  test('reservations: all or nothing, resize both ways, release once', () => {
    const budget = new MemoryBudget(100);
    const a = budget.tryReserve(60)!;
    assert.equal(budget.tryReserve(50), null);
    const b = budget.tryReserve(40)!;
    assert.equal(budget.inUse, 100);
    assert.equal(b.resize(41), false);
    assert.equal(budget.inUse, 100);
    assert.equal(a.resize(10), true);
    assert.equal(budget.inUse, 50);
    assert.equal(b.grow(50), true);
    assert.equal(budget.inUse, 100);
    a.release();
    a.release();
    assert.equal(a.resize(5), false);
    assert.deepEqual([budget.inUse, budget.active], [90, 1]);
    b.release();
    assert.deepEqual([budget.inUse, budget.active], [0, 0]);
  });
});

describe("weight_layout: the weight's permuted copy is reserved", () => {
  // weight [C_out 8, C_in 4, 3, 3] float32: 288 elements, 1152 bytes, in OIHW or in HWIO order
  const WEIGHT_BYTES = 8 * 4 * 3 * 3 * 4;
  const body = (weightLayout: 'OIHW' | 'HWIO', backward: boolean) => {
    const weightShape = weightLayout === 'OIHW' ? [8, 4, 3, 3] : [3, 3, 4, 8];
    return Buffer.from(
      packBin.pack({
        input: { dtype: 'float32', shape: [3, 4, 6, 6], data: Buffer.alloc(3 * 4 * 36 * 4) },
        weight: { dtype: 'float32', shape: weightShape, data: Buffer.alloc(WEIGHT_BYTES) },
        // the same number of bytes either way: the body held is the same
        weight_layout: weightLayout,
        ...(backward && {
          grad_output: { dtype: 'float32', shape: [3, 8, 4, 4], data: Buffer.alloc(3 * 8 * 16 * 4) },
          grads: ['input', 'weight'],
        }),
      }),
    );
  };

  /** An app whose work reservations (the resize once the shapes pass) are recorded, in bytes. */
  async function recording(config: Partial<Config>) {
    const convd = await testApp({ config });
    const reserved: number[] = [];
    const budget = convd.admission.budget;
    const tryReserve = budget.tryReserve.bind(budget);
    budget.tryReserve = (bytes) => {
      const r = tryReserve(bytes);
      if (r) {
        const resize = r.resize.bind(r);
        r.resize = (to) => {
          reserved.push(to);
          return resize(to);
        };
      }
      return r;
    };
    const send = (payload: Buffer, path: string) =>
      request(convd.app.server)
        .post(path)
        .set('content-type', 'application/msgpack')
        .set('accept', 'application/json')
        .send(payload);
    return { convd, reserved, send };
  }

  for (const [path, backward, copies] of [
    ['/conv/forward', false, 1],
    ['/conv/backward', true, 2],
  ] as const) {
    test(`${path}: a HWIO weight beside NCHW data reserves ${copies} weight's bytes more than the same request in OIHW, once per task`, async () => {
      for (const threads of [1, 2]) {
        const { convd, reserved, send } = await recording({ poolThreads: threads, splitMinFlops: 0 });
        try {
          const own = body('OIHW', backward);
          const permuted = body('HWIO', backward);
          assert.equal(own.length, permuted.length);
          const res = await send(own, path);
          assert.equal(res.status, 200, res.text);
          const [native] = reserved.splice(0);
          assert.equal((await send(permuted, path)).status, 200);
          const [relaid] = reserved.splice(0);
          // each of the request's tasks (one per thread: the 3 images are split) permutes its own copy
          assert.equal(relaid - native, threads * copies * WEIGHT_BYTES, `${threads} thread(s)`);
        } finally {
          await convd.app.close();
        }
      }
    });
  }

  test('413 memory-budget-exceeded counts the permuted copy, and says so, when it is what does not fit', async () => {
    const measured = await recording({});
    const { send } = measured;
    let native: number;
    try {
      assert.equal((await send(body('OIHW', false), '/conv/forward')).status, 200);
      [native] = measured.reserved;
    } finally {
      await measured.convd.app.close();
    }
    // a budget that holds the request in OIHW exactly, not the HWIO copy on top
    const tight = await recording({ memoryBudgetBytes: native });
    try {
      assert.equal((await tight.send(body('OIHW', false), '/conv/forward')).status, 200);
      const res = await tight.send(body('HWIO', false), '/conv/forward');
      assert.equal(res.status, 413, res.text);
      const problem = res.body as { type: string; detail: string };
      assert.equal(problem.type, 'urn:convd:problem:memory-budget-exceeded');
      assert.match(
        problem.detail,
        new RegExp(
          `^the request \\(body, tensors, outputs, answer and ${WEIGHT_BYTES} bytes of weight copies permuted to the kernels' layout\\) needs about ${native + WEIGHT_BYTES} bytes`,
        ),
      );
    } finally {
      await tight.convd.app.close();
    }
  });
});
