/**
 * Tensors as both threads see them: dtypes, what geometry knows of a tensor (dtype and shape,
 * never data), and the typed arrays and buffers the kernels read and write.
 */
import { isHalf, type HalfDType } from './half.js';

/** The dtypes the kernels compute in. */
export type DType = 'float32' | 'float64';

/** The dtypes of tensors on the wire: the kernels' own, and the 2-byte ones, computed in float32 (half.ts). */
export const WIRE_DTYPES = ['float32', 'float64', 'float16', 'bfloat16'] as const satisfies readonly (
  DType | HalfDType
)[];
export type WireDType = (typeof WIRE_DTYPES)[number];

/** The dtype the kernels compute a request of `dtype` in. */
export const computeDType = (dtype: WireDType): DType => (isHalf(dtype) ? 'float32' : dtype);

/** Typed arrays the kernels read and write: one per dtype. */
export type Real = Float32Array | Float64Array;

/** A tensor's elements as the wire carries them: values of a kernel dtype, or the bits of a 2-byte dtype. */
export type WireArray = Real | Uint16Array;

/** Tensor bytes: moved (ArrayBuffer) or shared between threads (SharedArrayBuffer). */
export type TensorBuffer = ArrayBuffer | SharedArrayBuffer;

/**
 * An operand as a task carries it: a whole buffer, or a Real array over part of a
 * SharedArrayBuffer (an aligned bin of a request body read into reused memory, which the
 * threads read where it is instead of a copy).
 */
export type TensorData = TensorBuffer | Real;

/** The elements of `dtype` an operand holds. */
export function operandView(dtype: DType, data: TensorData): Real {
  if (!ArrayBuffer.isView(data)) return realView(dtype, data);
  if ((dtype === 'float32') !== data instanceof Float32Array)
    throw new TypeError(`a ${data.constructor.name} operand in a ${dtype} task`);
  return data;
}

/** How a task carries `data`: its buffer when it spans all of it, else the view itself (which must be over shared memory, never cloned). */
export function operandOf(data: Real): TensorData {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return data.buffer;
  if (!(data.buffer instanceof SharedArrayBuffer))
    throw new TypeError('an operand viewing part of an ArrayBuffer would be copied to its thread');
  return data;
}

/** Real arrays that own a fresh ArrayBuffer (transferable). */
export type OwnedReal = Float32Array<ArrayBuffer> | Float64Array<ArrayBuffer>;

/** What geometry needs to know of a tensor: its dtype and shape, never its data. */
export interface TensorMeta {
  dtype: WireDType;
  shape: number[];
}

/** Images [start, end) of a batch: the part of a request one thread computes when it is split. */
export type BatchRange = readonly [number, number];

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const e of shape) n *= e;
  return n;
}

export function itemSize(dtype: WireDType): 2 | 4 | 8 {
  return isHalf(dtype) ? 2 : dtype === 'float32' ? 4 : 8;
}

/** A typed array of `dtype` over all of `buffer` (fresh buffers only: offset 0, aligned). */
export function realView(dtype: DType, buffer: TensorBuffer): Real {
  return dtype === 'float32' ? new Float32Array(buffer) : new Float64Array(buffer);
}

/** The elements of `dtype` over all of `buffer` as the wire carries them (fresh buffers only). */
export function wireView(dtype: WireDType, buffer: TensorBuffer): WireArray {
  return isHalf(dtype) ? new Uint16Array(buffer) : realView(dtype, buffer);
}

export function allocReal(dtype: DType, length: number): OwnedReal {
  return dtype === 'float32' ? new Float32Array(length) : new Float64Array(length);
}

/** A zeroed SharedArrayBuffer for `length` elements of `dtype`. */
export function allocShared(dtype: DType, length: number): SharedArrayBuffer {
  return new SharedArrayBuffer(length * itemSize(dtype));
}
