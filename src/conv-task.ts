/**
 * What travels between the HTTP layer and a worker thread. Tensor data crosses as whole
 * ArrayBuffers in the transfer list (moved, never cloned); the geometry is plain data.
 */
import type { ConvGeometry, DType, GradName, Real } from './conv/types.js';

export type ConvOp = 'forward' | 'backward';

export interface ConvTask {
  op: ConvOp;
  geometry: ConvGeometry;
  /** Backward only: the gradients to compute. */
  grads: GradName[];
  input: ArrayBuffer;
  weight: ArrayBuffer;
  /** Forward only (backward ignores bias values). */
  bias: ArrayBuffer | null;
  /** Backward only. */
  gradOutput: ArrayBuffer | null;
}

export type ResultName = 'output' | 'grad_input' | 'grad_weight' | 'grad_bias';

/** The computed tensors by response field name, each a whole ArrayBuffer of the request dtype. */
export type ConvResult = Partial<Record<ResultName, ArrayBuffer>>;

export const GRAD_RESULT: Record<GradName, ResultName> = { input: 'grad_input', weight: 'grad_weight', bias: 'grad_bias' };

/** The shape of a result: the forward output's, or that of the operand the gradient is for. */
export function resultShape(g: ConvGeometry, name: ResultName): number[] {
  switch (name) {
    case 'output':
      return g.outputShape;
    case 'grad_input':
      return g.inputShape;
    case 'grad_weight':
      return g.weightShape;
    case 'grad_bias':
      return [g.outChannels];
  }
}

/** A typed array of `dtype` over all of `buffer` (fresh buffers only: offset 0, aligned). */
export function realView(dtype: DType, buffer: ArrayBuffer): Real {
  return dtype === 'float32' ? new Float32Array(buffer) : new Float64Array(buffer);
}

/** Real arrays that own a fresh ArrayBuffer (transferable). */
export type OwnedReal = Float32Array<ArrayBuffer> | Float64Array<ArrayBuffer>;

export function allocReal(dtype: DType, length: number): OwnedReal {
  return dtype === 'float32' ? new Float32Array(length) : new Float64Array(length);
}
