/**
 * Reused tensor memory (buffer-pool.ts): buffers are reused by exact size and only once both
 * the request and the threads are done with them, never after a failed or cancelled task; the
 * idle ones stay under their cap. Through the service: many concurrent requests with distinct
 * inputs, split across threads and whole, msgpack and JSON, each answer what the naive
 * reference computes from its own inputs, while the memory is being reused.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import request from 'supertest';
import { BufferPool } from '../../src/buffer-pool.js';
import { naiveBackward, naiveForward, refGeometry } from '../reference/naive-conv.js';
import { packBin, rawBody, tensor, testApp, unpackr, values, type ConvdApp } from './helpers.js';

test('take: an idle buffer of exactly the size asked, else a fresh one; the idle ones stay under the cap, oldest dropped first', () => {
  const pool = new BufferPool(100);
  const a = pool.take(40);
  const b = pool.take(40);
  const c = pool.take(30);
  assert.deepEqual(pool.counts, { reused: 0, fresh: 3 });
  pool.giveBack([a, b, c]);
  assert.equal(pool.idleByteLength, 40 + 30); // a went first
  assert.equal(pool.take(40), b);
  assert.notEqual(pool.take(40), a);
  assert.equal(pool.take(30), c);
  pool.giveBack([pool.take(101)]); // larger than the whole cap: not kept
  assert.equal(pool.idleByteLength, 0);
});

test('a lease gives its buffers back once released and settled ok, in either order; zeroed buffers are zeroed', () => {
  for (const releaseFirst of [true, false]) {
    const pool = new BufferPool(1000);
    const lease = pool.lease();
    const stale = lease.take(8);
    new Uint8Array(stale).fill(7);
    lease.lend();
    if (releaseFirst) lease.release();
    else lease.settle(true);
    assert.equal(pool.idleByteLength, 0, 'held until both are done');
    if (releaseFirst) lease.settle(true);
    else lease.release();
    assert.equal(pool.idleByteLength, 8);
    const next = pool.lease();
    const zeroed = next.takeZeroed(8);
    assert.equal(zeroed, stale);
    assert.deepEqual([...new Uint8Array(zeroed)], new Array(8).fill(0));
  }
});

test('a lease whose task failed or was cancelled never gives its buffers back', () => {
  const pool = new BufferPool(1000);
  const lease = pool.lease();
  lease.take(16);
  lease.lend();
  lease.release();
  lease.settle(false);
  lease.settle(true); // a later success changes nothing
  assert.equal(pool.idleByteLength, 0);
});

test('property: no buffer is ever held by two leases that are not both done with it', () => {
  type Op =
    | { kind: 'open' }
    | { kind: 'take'; lease: number; size: number }
    | { kind: 'lend' | 'ok' | 'fail' | 'release'; lease: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.constant({ kind: 'open' as const }),
    fc.record({ kind: fc.constant('take' as const), lease: fc.nat(7), size: fc.constantFrom(8, 16, 24) }),
    fc.record({
      kind: fc.constantFrom('lend' as const, 'ok' as const, 'fail' as const, 'release' as const),
      lease: fc.nat(7),
    }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const pool = new BufferPool(64);
      const leases: {
        lease: ReturnType<BufferPool['lease']>;
        buffers: SharedArrayBuffer[];
        released: boolean;
        settled: boolean | null;
      }[] = [];
      /** Buffers some lease may still use: taken, and not both released and settled ok. */
      const live = () => new Set(leases.filter((l) => !(l.released && l.settled === true)).flatMap((l) => l.buffers));
      for (const o of ops) {
        if (o.kind === 'open') {
          leases.push({ lease: pool.lease(), buffers: [], released: false, settled: true });
          continue;
        }
        const l = leases[o.lease % Math.max(1, leases.length)];
        if (!l) continue;
        if (o.kind === 'take') {
          const inUse = live();
          const buffer = l.lease.take(o.size);
          assert.ok(!inUse.has(buffer), 'a buffer still in use was handed out again');
          l.buffers.push(buffer);
        } else if (o.kind === 'lend') {
          l.lease.lend();
          l.settled = l.settled === false ? false : null;
        } else if (o.kind === 'ok' || o.kind === 'fail') {
          l.lease.settle(o.kind === 'ok');
          l.settled = l.settled === false ? false : o.kind === 'ok';
        } else {
          l.lease.release();
          l.released = true;
        }
      }
      assert.ok(pool.idleByteLength <= 64);
    }),
  );
});

// Through the service: same shapes (so that the memory is reused), distinct values per request.
const SHAPES = { input: [3, 2, 6, 5], weight: [4, 2, 3, 3], output: [3, 4, 6, 5] };
const g = refGeometry(SHAPES.input, SHAPES.weight, { padding: 1 });
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const valuesFor = (seed: number, n: number) =>
  Array.from({ length: n }, (_, i) => Math.sin(seed * 7.31 + i * 0.37) * (1 + seed));

function body(seed: number, backward: boolean, form: 'bin' | 'array') {
  return {
    input: tensor('float64', SHAPES.input, valuesFor(seed, size(SHAPES.input)), form),
    weight: tensor('float64', SHAPES.weight, valuesFor(seed + 0.5, size(SHAPES.weight)), form),
    padding: 1,
    ...(backward
      ? { grad_output: tensor('float64', SHAPES.output, valuesFor(seed + 0.25, size(SHAPES.output)), form) }
      : {}),
  };
}

function expected(seed: number, backward: boolean): Record<string, number[]> {
  const x = valuesFor(seed, size(SHAPES.input));
  const w = valuesFor(seed + 0.5, size(SHAPES.weight));
  if (!backward) return { output: [...naiveForward(g, x, w, null)] };
  const grads = naiveBackward(g, x, w, valuesFor(seed + 0.25, size(SHAPES.output)));
  return { grad_input: [...grads.input], grad_weight: [...grads.weight], grad_bias: [...grads.bias] };
}

function assertClose(got: number[], want: number[], what: string) {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    if (Math.abs(got[i] - want[i]) > 1e-9 * (1 + Math.abs(want[i])))
      assert.fail(`${what}[${i}] = ${got[i]}, the reference says ${want[i]}`);
  }
}

async function post(convd: ConvdApp, seed: number, backward: boolean, form: 'bin' | 'array') {
  const path = backward ? '/conv/backward' : '/conv/forward';
  const payload = body(seed, backward, form);
  const res =
    form === 'bin'
      ? await request(convd.app.server)
          .post(path)
          .set('content-type', 'application/msgpack')
          .send(packBin.pack(payload))
          .buffer(true)
          .parse(rawBody)
      : await request(convd.app.server)
          .post(path)
          .set('content-type', 'application/json')
          .set('accept', 'application/json')
          .send(JSON.stringify(payload));
  assert.equal(res.status, 200, String(res.text).slice(0, 300));
  const answer = (form === 'bin' ? unpackr.unpack(res.body as Buffer) : res.body) as Record<
    string,
    { dtype: 'float64'; data: unknown }
  >;
  for (const [name, want] of Object.entries(expected(seed, backward)))
    assertClose(values(answer[name]), want, `request ${seed} ${name}`);
  if (!backward) assert.deepEqual(Object.keys(answer), ['output']);
  else assert.deepEqual(Object.keys(answer), ['grad_input', 'grad_weight', 'grad_bias']);
}

let split: ConvdApp;
let whole: ConvdApp;
before(async () => {
  split = await testApp({ config: { poolThreads: 2, splitMinFlops: 0, maxQueue: 64 } });
  whole = await testApp({ config: { poolThreads: 2, splitMinFlops: Infinity, maxQueue: 64 } });
});
after(async () => {
  await split.app.close();
  await whole.app.close();
});

for (const [name, app] of [
  ['split across threads', () => split],
  ['whole', () => whole],
] as const) {
  test(`${name}: 48 concurrent requests with distinct inputs each answer their own result while memory is reused`, async () => {
    const convd = app();
    const fresh = convd.buffers.counts.fresh;
    const reused = convd.buffers.counts.reused;
    // three waves, so that later requests take what earlier ones gave back
    for (let wave = 0; wave < 3; wave++) {
      await Promise.all(
        Array.from({ length: 16 }, (_, i) => {
          const seed = wave * 16 + i;
          return post(convd, seed, seed % 2 === 1, seed % 3 === 0 ? 'array' : 'bin');
        }),
      );
    }
    assert.ok(convd.buffers.counts.reused > reused, 'buffers were reused');
    assert.ok(convd.buffers.counts.fresh - fresh < 48 * 4, 'not every buffer was fresh');
  });
}
