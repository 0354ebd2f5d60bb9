/**
 * Request tensor data -> typed arrays the kernels read.
 *
 * `dataLengthError` compares the data's length with what shape and dtype need, from lengths
 * alone; `decodeTensorData` then makes the one copy into a fresh ArrayBuffer of exactly that
 * size (aligned, and owned outright so it can be transferred to a worker, or shared), fresh
 * or reused, or none: an aligned bin of a body in shared memory is read where it is. A
 * msgpackr typed array already owns such a buffer (msgpackr copies to align it) and is used
 * as it is. float16 and bfloat16 data is widened to float32 on the way
 * (shared/half.ts): the kernels never see a 2-byte dtype.
 */
import { endianness } from 'node:os';
import { itemSize, numel } from '../shared/tensor.js';
import type { FieldError } from '../shared/geometry/common.js';
import { isHalf, roundToHalf, widenHalf } from '../shared/half.js';
import type { Real } from '../shared/tensor.js';
import { allocReal, allocShared, computeDType, realView, type DType, type OwnedReal } from '../shared/tensor.js';
import type { RequestTensor } from '../schemas/tensor.js';
import { copyBytes } from './bytes.js';

if (endianness() !== 'LE')
  throw new Error('convd reads and writes little-endian tensor bytes as they are: it needs a little-endian host');

/**
 * Typed arrays that were JSON number arrays, converted by a JSON thread (json-offload.ts): the
 * checks and messages below treat them as the number arrays they were.
 */
const jsonNumbers = new WeakSet<Float32Array | Float64Array>();

/** Marks `data` as a JSON number array converted to a typed array of its tensor's dtype. */
export function markJsonNumbers(data: Float32Array | Float64Array): void {
  jsonNumbers.add(data);
}

const describeShape = (t: RequestTensor) => `shape [${t.shape.join(', ')}] of ${t.dtype}`;

/** Why `t.data` cannot hold `t.shape` in `t.dtype`, or null when it fits. `name` is the tensor's field. */
export function dataLengthError(name: string, t: RequestTensor): FieldError | null {
  const path = `${name}.data`;
  const count = numel(t.shape);
  const { data } = t;
  if ((data instanceof Float32Array || data instanceof Float64Array) && jsonNumbers.has(data)) {
    return data.length === count
      ? null
      : { path, message: `${path} has ${data.length} values but ${describeShape(t)} needs ${count}` };
  }
  if (data instanceof Float32Array || data instanceof Float64Array) {
    const dtype = data instanceof Float32Array ? 'float32' : 'float64';
    if (dtype !== t.dtype)
      return {
        path,
        message: `${path} is a ${data.constructor.name} (typed-array extension) but ${name}.dtype is ${t.dtype}`,
      };
    if (data.length !== count)
      return { path, message: `${path} has ${data.length} elements but ${describeShape(t)} needs ${count}` };
    return null;
  }
  const size = itemSize(t.dtype);
  const bytes = count * size;
  const needs = `${describeShape(t)} needs ${bytes} (${count} elements of ${size} bytes)`;
  if (data instanceof Uint8Array) {
    return data.byteLength === bytes ? null : { path, message: `${path} has ${data.byteLength} bytes but ${needs}` };
  }
  if (typeof data === 'string') {
    const decoded = Buffer.byteLength(data, 'base64');
    return decoded === bytes ? null : { path, message: `${path} is base64 of ${decoded} bytes but ${needs}` };
  }
  return data.length === count
    ? null
    : { path, message: `${path} has ${data.length} values but ${describeShape(t)} needs ${count}` };
}

const ownsWholeBuffer = (a: Float32Array | Float64Array): a is OwnedReal =>
  a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;

/**
 * The data of a tensor that passed `dataLengthError`, in a buffer of its dtype: a fresh
 * ArrayBuffer to move to a worker, or with `shared` a SharedArrayBuffer for several workers.
 * With `take` (a request's lease of reused memory, buffer-pool.ts) the data is copied into a
 * shared buffer of exactly its bytes from there, unless, not shared, it already owns a buffer
 * that can be moved. A bin of a body that was read into shared memory (a lease's) and sits at
 * an offset its dtype can be viewed at is not copied at all: the result views it where it is,
 * and the threads read it there (the lease keeps the body until they are done).
 */
export function decodeTensorData(t: RequestTensor, shared = false, take?: (bytes: number) => SharedArrayBuffer): Real {
  const { data } = t;
  // (typed arrays of a 2-byte dtype are JSON numbers converted and rounded by a JSON thread)
  if (!shared && (data instanceof Float32Array || data instanceof Float64Array) && ownsWholeBuffer(data)) return data;
  const dtype = computeDType(t.dtype);
  const count = numel(t.shape);
  if (data instanceof Uint8Array && !isHalf(t.dtype) && inPlace(data, dtype)) {
    return dtype === 'float32'
      ? new Float32Array(data.buffer, data.byteOffset, count)
      : new Float64Array(data.buffer, data.byteOffset, count);
  }
  const out = take
    ? realView(dtype, take(count * itemSize(dtype)))
    : shared
      ? realView(dtype, allocShared(dtype, count))
      : allocReal(dtype, count);
  if (data instanceof Float32Array || data instanceof Float64Array) out.set(data);
  else if (isHalf(t.dtype) && !Array.isArray(data)) widenHalf(t.dtype, halfBits(data, count), out as Float32Array);
  else if (data instanceof Uint8Array) copyBytes(data, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  else if (typeof data === 'string') Buffer.from(out.buffer).write(data, 'base64');
  else {
    const half = isHalf(t.dtype) ? t.dtype : null;
    for (let i = 0; i < out.length; i++) {
      const value = Number(data[i]); // "NaN", "Infinity", "-Infinity" read as such
      out[i] = half ? roundToHalf(half, value) : value;
    }
  }
  return out;
}

/** Whether the threads can read bin `data` as `dtype` where it is: over shared memory, at an offset of whole elements. */
const inPlace = (data: Uint8Array, dtype: DType) =>
  data.buffer instanceof SharedArrayBuffer && data.byteOffset % itemSize(dtype) === 0;

/** The `count` 2-byte elements of a bin or base64 string: viewed in place when the bin is aligned, else copied. */
function halfBits(data: Uint8Array | string, count: number): Uint16Array {
  if (data instanceof Uint8Array && data.byteOffset % 2 === 0)
    return new Uint16Array(data.buffer, data.byteOffset, count);
  const bits = new Uint16Array(count);
  if (typeof data === 'string') Buffer.from(bits.buffer).write(data, 'base64');
  else copyBytes(data, new Uint8Array(bits.buffer));
  return bits;
}
