/** The wire layer's tensor data checks and decoding, without HTTP. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { operandOf, operandView } from '../../src/shared/tensor.js';
import { copyBytes } from '../../src/wire/bytes.js';
import { dataLengthError, decodeTensorData } from '../../src/wire/tensor-data.js';

const shape = [1, 1, 3];

test('a bin at an unaligned offset is copied into a fresh, aligned buffer of exactly its size', () => {
  const body = Buffer.alloc(1 + 3 * 8);
  Buffer.from(Float64Array.of(1.5, -2, 3.25).buffer).copy(body, 1);
  const bin = body.subarray(1); // byteOffset 1: no Float64Array can view it in place
  const t = { dtype: 'float64' as const, shape, data: bin };
  assert.equal(dataLengthError('input', t), null);
  const decoded = decodeTensorData(t);
  assert.ok(decoded instanceof Float64Array);
  assert.deepEqual(Array.from(decoded), [1.5, -2, 3.25]);
  assert.equal(decoded.byteOffset, 0);
  assert.equal(decoded.buffer.byteLength, 24);
  assert.notEqual(decoded.buffer, body.buffer);
});

test('a typed-array extension that owns its buffer is used without a copy', () => {
  const data = Float32Array.of(1, 2, 3);
  assert.equal(decodeTensorData({ dtype: 'float32', shape, data }), data);
});

test('a typed-array extension of the other element type is refused', () => {
  const error = dataLengthError('weight', { dtype: 'float32', shape, data: Float64Array.of(1, 2, 3) });
  assert.equal(error?.path, 'weight.data');
  assert.match(error.message, /Float64Array .* weight\.dtype is float32/);
});

test('lengths are checked against shape and dtype in every form, naming the numbers', () => {
  const cases = [
    { data: Buffer.alloc(11), message: /has 11 bytes but shape \[1, 1, 3\] of float32 needs 12/ },
    { data: Buffer.alloc(8).toString('base64'), message: /base64 of 8 bytes .* needs 12/ },
    { data: [1, 2], message: /has 2 values .* needs 3/ },
    { data: Float32Array.of(1, 2, 3, 4), message: /has 4 elements .* needs 3/ },
  ];
  for (const { data, message } of cases) {
    const error = dataLengthError('input', { dtype: 'float32', shape, data });
    assert.equal(error?.path, 'input.data');
    assert.match(error.message, message);
  }
});

test('JSON arrays and base64 decode, non-finite strings included', () => {
  assert.deepEqual(Array.from(decodeTensorData({ dtype: 'float64', shape, data: ['NaN', 'Infinity', '-Infinity'] })), [
    NaN,
    Infinity,
    -Infinity,
  ]);
  const b64 = Buffer.from(Float32Array.of(0.5, 0.25, -8).buffer).toString('base64');
  assert.deepEqual(Array.from(decodeTensorData({ dtype: 'float32', shape, data: b64 })), [0.5, 0.25, -8]);
});

/** `bytes` at `offset` of a SharedArrayBuffer (as a body read into a lease's memory), as msgpackr's decoded bin views it. */
function sharedBin(bytes: Uint8Array, offset: number): Buffer {
  const shared = new SharedArrayBuffer(offset + bytes.byteLength + 3);
  const bin = Buffer.from(shared, offset, bytes.byteLength);
  bin.set(bytes);
  return bin;
}

test('a bin over shared memory at an offset of whole elements is read in place: a view of it, no copy, nothing taken', () => {
  for (const [dtype, offset] of [
    ['float32', 4],
    ['float32', 44],
    ['float64', 8],
    ['float64', 0],
  ] as const) {
    const values = [1.5, -2, 3.25];
    const typed = dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values);
    const bin = sharedBin(new Uint8Array(typed.buffer), offset);
    const t = { dtype, shape, data: bin };
    let taken = 0;
    const decoded = decodeTensorData(t, true, (bytes) => {
      taken++;
      return new SharedArrayBuffer(bytes);
    });
    assert.equal(taken, 0, `${dtype} at ${offset}`);
    assert.equal(decoded.buffer, bin.buffer);
    assert.equal(decoded.byteOffset, offset);
    assert.equal(decoded.length, 3);
    assert.deepEqual(Array.from(decoded), values);
    // what a task carries: the view (part of the body), never copied to its thread
    const operand = operandOf(decoded);
    assert.equal(operand, decoded);
    assert.equal(operandView(dtype, operand), decoded);
  }
});

test('a bin over shared memory at any other offset is copied, exactly, into a buffer taken from the lease', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    const size = dtype === 'float32' ? 4 : 8;
    for (let offset = 1; offset < 16; offset++) {
      if (offset % size === 0) continue;
      const values = [1.5, -2, 3.25];
      const typed = dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values);
      const bin = sharedBin(new Uint8Array(typed.buffer), offset);
      const taken: SharedArrayBuffer[] = [];
      const decoded = decodeTensorData({ dtype, shape, data: bin }, false, (bytes) => {
        const b = new SharedArrayBuffer(bytes);
        new Uint8Array(b).fill(0xff); // stale contents, overwritten whole
        taken.push(b);
        return b;
      });
      assert.equal(taken.length, 1);
      assert.equal(decoded.buffer, taken[0]);
      assert.equal(decoded.byteLength, 3 * size);
      assert.deepEqual(Array.from(decoded), values, `${dtype} at ${offset}`);
      assert.equal(operandOf(decoded), taken[0], 'a whole buffer is carried as the buffer');
    }
  }
});

test('a float16 bin over shared memory is widened into a taken buffer, aligned or not', () => {
  for (const offset of [2, 3]) {
    // 1, -2, 0.5 as IEEE half bits
    const bits = Uint16Array.of(0x3c00, 0xc000, 0x3800);
    const bin = sharedBin(new Uint8Array(bits.buffer), offset);
    const decoded = decodeTensorData({ dtype: 'float16', shape, data: bin }, false, (b) => new SharedArrayBuffer(b));
    assert.ok(decoded instanceof Float32Array);
    assert.notEqual(decoded.buffer, bin.buffer);
    assert.deepEqual(Array.from(decoded), [1, -2, 0.5]);
  }
});

test('a task never carries a view of part of an unshared buffer (it would be cloned), nor an operand of the other dtype', () => {
  const part = new Float32Array(new ArrayBuffer(16), 4, 2);
  assert.throws(() => operandOf(part), /would be copied/);
  const whole = new Float32Array(4);
  assert.equal(operandOf(whole), whole.buffer);
  assert.throws(
    () => operandView('float64', new Float32Array(new SharedArrayBuffer(16), 4, 2)),
    /Float32Array operand in a float64 task/,
  );
});

test('copyBytes copies exactly, between shared and unshared memory at every pair of offsets mod 8', () => {
  const n = 1000;
  const source = Uint8Array.from({ length: n + 16 }, (_, i) => (i * 37 + 11) & 0xff);
  for (const sourceShared of [false, true])
    for (const targetShared of [false, true])
      for (let from = 0; from < 8; from++)
        for (let to = 0; to < 8; to++) {
          const src = new Uint8Array(sourceShared ? new SharedArrayBuffer(n + 16) : new ArrayBuffer(n + 16));
          src.set(source);
          const target = new Uint8Array(targetShared ? new SharedArrayBuffer(n + 16) : new ArrayBuffer(n + 16));
          const part = src.subarray(from, from + n);
          assert.equal(copyBytes(part, target, to), n);
          assert.deepEqual(target.subarray(to, to + n), source.subarray(from, from + n));
          assert.ok(target.subarray(0, to).every((b) => b === 0));
          assert.ok(target.subarray(to + n).every((b) => b === 0));
        }
  assert.equal(copyBytes(new Uint8Array(0), new Uint8Array(0)), 0);
  assert.equal(copyBytes(Uint8Array.of(9), new Uint8Array(1)), 1);
  assert.throws(() => copyBytes(new Uint8Array(4), new Uint8Array(6), 3), RangeError);
});
