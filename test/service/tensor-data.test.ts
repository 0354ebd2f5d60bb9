/** The wire layer's tensor data checks and decoding, without HTTP. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
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
