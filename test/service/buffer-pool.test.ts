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
        /** Given back once (released and settled ok): what it takes later is never given back. */
        spent: boolean;
      }[] = [];
      /** Taken by a lease after it was spent: its threads may use them at any time. */
      const kept = new Set<SharedArrayBuffer>();
      /** Buffers some lease may still use: taken, and not both released and settled ok; and the kept ones. */
      const live = () =>
        new Set([...kept, ...leases.filter((l) => !(l.released && l.settled === true)).flatMap((l) => l.buffers)]);
      const spend = (l: (typeof leases)[number]) => {
        if (!l.released || l.settled === null) return;
        // given back when settled ok; never, after a failed task
        if (l.settled === false) for (const b of l.buffers) kept.add(b);
        l.spent = true;
        l.buffers = [];
      };
      for (const o of ops) {
        if (o.kind === 'open') {
          leases.push({ lease: pool.lease(), buffers: [], released: false, settled: true, spent: false });
          continue;
        }
        const l = leases[o.lease % Math.max(1, leases.length)];
        if (!l) continue;
        if (o.kind === 'take') {
          const inUse = live();
          const buffer = l.lease.take(o.size);
          assert.ok(!inUse.has(buffer), 'a buffer still in use was handed out again');
          if (l.spent) kept.add(buffer);
          else l.buffers.push(buffer);
        } else if (o.kind === 'lend') {
          l.lease.lend();
          l.settled = l.settled === false ? false : null;
        } else if (o.kind === 'ok' || o.kind === 'fail') {
          l.lease.settle(o.kind === 'ok');
          l.settled = l.settled === false ? false : o.kind === 'ok';
          spend(l);
        } else {
          l.lease.release();
          l.released = true;
          spend(l);
        }
      }
      assert.ok(pool.idleByteLength <= 64);
    }),
    {
      // a connection closed before its task was dispatched: released, then lent, taking and settled
      examples: [
        [
          [
            { kind: 'open' },
            { kind: 'take', lease: 0, size: 8 },
            { kind: 'release', lease: 0 },
            { kind: 'lend', lease: 0 },
            { kind: 'take', lease: 0, size: 8 },
            { kind: 'ok', lease: 0 },
            { kind: 'open' },
            { kind: 'take', lease: 1, size: 8 },
          ],
        ],
      ],
    },
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

/** The reference answer; `round` is what the request's dtype does to the values first (float32: Math.fround). */
function expected(seed: number, backward: boolean, round = (v: number) => v): Record<string, number[]> {
  const x = valuesFor(seed, size(SHAPES.input)).map(round);
  const w = valuesFor(seed + 0.5, size(SHAPES.weight)).map(round);
  if (!backward) return { output: [...naiveForward(g, x, w, null)] };
  const grads = naiveBackward(g, x, w, valuesFor(seed + 0.25, size(SHAPES.output)).map(round));
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

/** `value` (0-127) as a msgpack integer `extra` bytes longer than its shortest form (all decode alike). */
function wideInt(value: number, extra: 0 | 1 | 2 | 4): Uint8Array {
  if (extra === 0) return Uint8Array.of(value);
  if (extra === 1) return Uint8Array.of(0xcc, value);
  if (extra === 2) return Uint8Array.of(0xcd, 0, value);
  return Uint8Array.of(0xce, 0, 0, 0, value);
}

/**
 * `payload` as a msgpack map whose tensor bins all sit `shift` (0-7) bytes further than in
 * plain packing: stride, dilation and padding (each 1) go first, written wider than needed.
 */
function packShifted(payload: Record<string, unknown>, shift: number): Buffer {
  const widths = ([4, 2, 1] as const).map((w) => ((shift & w) !== 0 ? w : 0));
  const rest = Object.entries(payload).filter(([k]) => !['stride', 'dilation', 'padding'].includes(k));
  const chunks: Uint8Array[] = [Uint8Array.of(0x80 | (3 + rest.length))];
  for (const [i, key] of ['stride', 'dilation', 'padding'].entries())
    chunks.push(Uint8Array.from(packBin.pack(key)), wideInt(1, widths[i]));
  for (const [key, value] of rest)
    chunks.push(Uint8Array.from(packBin.pack(key)), Uint8Array.from(packBin.pack(value)));
  return Buffer.concat(chunks);
}

/** Where each tensor's data starts in `body` (as the server's decoding views it). */
function dataOffsets(body: Buffer): number[] {
  const decoded = unpackr.unpack(body) as Record<string, { data?: Uint8Array }>;
  return Object.values(decoded)
    .filter((v) => v && typeof v === 'object' && v.data instanceof Uint8Array)
    .map((v) => v.data!.byteOffset - body.byteOffset);
}

test('bins at every offset mod 8, float32 and float64, split and whole, read in place or copied: each of 64 concurrent requests answers its own result', async () => {
  const residues = new Set<number>();
  const cases = [];
  for (const convd of [split, whole])
    for (const dtype of ['float32', 'float64'] as const)
      for (let shift = 0; shift < 8; shift++)
        for (const backward of [false, true]) {
          const seed: number = cases.length;
          const payload = body(seed, backward, 'bin') as Record<string, { dtype: string; data: Buffer } | number>;
          const expect = expected(seed, backward, dtype === 'float32' ? Math.fround : undefined);
          if (dtype === 'float32') {
            for (const t of Object.values(payload))
              if (typeof t === 'object') {
                const f64 = new Float64Array(Uint8Array.from(t.data).buffer);
                t.dtype = 'float32';
                t.data = Buffer.from(Float32Array.from(f64).buffer);
              }
          }
          const packed = packShifted(payload, shift);
          for (const o of dataOffsets(packed)) residues.add(o % 8);
          cases.push({ convd, dtype, backward, packed, expect, seed });
        }
  assert.deepEqual([...residues].sort(), [0, 1, 2, 3, 4, 5, 6, 7], 'every alignment occurs');
  const fresh = split.buffers.counts.fresh + whole.buffers.counts.fresh;
  for (let round = 0; round < 2; round++) {
    await Promise.all(
      cases.map(async ({ convd, dtype, backward, packed, expect, seed }) => {
        const res = await request(convd.app.server)
          .post(backward ? '/conv/backward' : '/conv/forward')
          .set('content-type', 'application/msgpack')
          .send(packed)
          .buffer(true)
          .parse(rawBody);
        assert.equal(res.status, 200, String(res.text).slice(0, 300));
        const answer = unpackr.unpack(res.body as Buffer) as Record<string, { dtype: 'float32' | 'float64' }>;
        for (const [name, want] of Object.entries(expect)) {
          const got = values(answer[name] as { dtype: 'float32' | 'float64'; data: unknown });
          assert.equal(answer[name].dtype, dtype);
          if (dtype === 'float64') assertClose(got, want, `request ${seed} ${name}`);
          // float32 sums of up to 90 products of values up to (1 + seed) in size
          else
            for (let i = 0; i < want.length; i++)
              assert.ok(
                Math.abs(got[i] - want[i]) <= 1e-5 * (1 + seed) ** 2,
                `float32 request ${seed} ${name}[${i}] = ${got[i]}, the reference says ${want[i]}`,
              );
        }
      }),
    );
  }
  assert.ok(
    split.buffers.counts.fresh + whole.buffers.counts.fresh - fresh < cases.length * 2 * 4,
    'memory was reused',
  );
});

test('tensor data shorter or longer than its shape says is refused 400 at every alignment, before any task runs', async () => {
  for (const convd of [split, whole])
    for (let shift = 0; shift < 8; shift++)
      for (const delta of [-8, -1, 1, 8]) {
        const payload = body(shift, false, 'bin') as Record<string, { data: Buffer } | number>;
        const input = payload.input as { data: Buffer };
        input.data =
          delta < 0
            ? input.data.subarray(0, input.data.length + delta)
            : Buffer.concat([input.data, Buffer.alloc(delta)]);
        const res = await request(convd.app.server)
          .post('/conv/forward')
          .set('content-type', 'application/msgpack')
          .send(packShifted(payload, shift));
        assert.equal(res.status, 400, `shift ${shift}, ${delta} bytes`);
        assert.match(String(res.headers['content-type']), /application\/problem\+json/);
        assert.equal(res.body.errors[0].path, 'input.data');
      }
});

test('a request whose bins are aligned takes no memory for its tensors (read in place in its body); a misaligned bin takes one buffer', async () => {
  const takes = () => whole.buffers.counts.fresh + whole.buffers.counts.reused;
  const byAlignment = new Map<string, number>();
  for (let shift = 0; shift < 8; shift++) {
    const packed = packShifted(body(shift, false, 'bin'), shift);
    const aligned = dataOffsets(packed).map((o) => o % 8 === 0);
    const before = takes();
    const res = await request(whole.app.server)
      .post('/conv/forward')
      .set('content-type', 'application/msgpack')
      .send(packed)
      .buffer(true)
      .parse(rawBody);
    assert.equal(res.status, 200);
    // the body, the output, and one buffer per float64 bin not at a multiple of 8
    const want = 2 + aligned.filter((a) => !a).length;
    assert.equal(takes() - before, want, `shift ${shift}: bins aligned ${aligned.join(', ')}`);
    byAlignment.set(aligned.join(), want);
  }
  assert.ok(byAlignment.size > 1, 'both aligned and misaligned bins were sent');
});

test('takeZeroed zeroes every byte, whatever the length', () => {
  const pool = new BufferPool(1000);
  for (const bytes of [1, 7, 8, 13, 64, 101]) {
    const lease = pool.lease();
    new Uint8Array(lease.take(bytes)).fill(9);
    lease.release();
    const zeroed = pool.lease().takeZeroed(bytes);
    assert.equal(pool.counts.reused > 0, true);
    assert.deepEqual([...new Uint8Array(zeroed)], new Array(bytes).fill(0), `${bytes} bytes`);
  }
});
