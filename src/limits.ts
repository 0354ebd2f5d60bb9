/**
 * Work limits, checked from shapes alone (before any tensor data is decoded or allocated):
 * elements of each request tensor, bytes of all outputs, FLOPs. Exceeding any answers 413.
 */
import { itemSize, numel, type ConvWork } from './conv/geometry.js';
import type { ConvOperands, FieldError, TensorMeta } from './conv/types.js';
import { HttpProblem } from './http/problem.js';

/** What a request that passed the limits will hold, from its shapes (admission/ reserves it). */
export interface WorkNeed {
  /** Bytes of every request tensor's data, decoded. */
  tensorBytes: number;
  outputBytes: number;
  outputElements: number;
}

export interface WorkLimits {
  maxTensorElements: number;
  maxOutputBytes: number;
  maxFlops: number;
  /**
   * Called (reserveWork) once the limits and data lengths pass, before any tensor data is decoded: reserves what the request
   * will hold (admission/admission.ts), throwing an HttpProblem (503, 413) when it cannot.
   */
  reserve?: (need: WorkNeed) => void;
}

/** `operands`: the request's tensors by field name (conv, pooling or conv_transpose). */
export function checkWorkLimits(operands: ConvOperands | Readonly<Record<string, TensorMeta>>, work: ConvWork, limits: WorkLimits): void {
  const errors: FieldError[] = [];
  for (const [name, t] of Object.entries(operands) as [string, TensorMeta][]) {
    const elements = numel(t.shape);
    if (elements > limits.maxTensorElements) {
      errors.push({
        path: `${name}.shape`,
        message: `${name}.shape [${t.shape.join(', ')}] has ${elements} elements; the limit is ${limits.maxTensorElements} per tensor (CONVD_MAX_TENSOR_ELEMENTS)`,
      });
    }
  }
  const overall: string[] = [];
  if (work.outputBytes > limits.maxOutputBytes) {
    overall.push(`the outputs would take ${work.outputBytes} bytes; the limit is ${limits.maxOutputBytes} bytes (CONVD_MAX_OUTPUT_BYTES)`);
  }
  if (work.flops > limits.maxFlops) {
    overall.push(`the request needs ${work.flops} FLOPs; the limit is ${limits.maxFlops} (CONVD_MAX_FLOPS)`);
  }
  if (errors.length > 0 || overall.length > 0) {
    throw new HttpProblem('limit-exceeded', [...errors.map((e) => e.message), ...overall].join('; '), errors.length > 0 ? { errors } : {});
  }
}

/**
 * Reserves what a request that passed the limits and the data-length checks will hold, before
 * any tensor data is decoded (a no-op without `limits.reserve`).
 */
export function reserveWork(operands: ConvOperands | Readonly<Record<string, TensorMeta>>, work: ConvWork, limits: WorkLimits): void {
  if (!limits.reserve) return;
  const metas = Object.values(operands) as TensorMeta[];
  const tensorBytes = metas.reduce((sum, t) => sum + numel(t.shape) * itemSize(t.dtype), 0);
  const size = metas.length > 0 ? itemSize(metas[0].dtype) : 4;
  limits.reserve({ tensorBytes, outputBytes: work.outputBytes, outputElements: Math.ceil(work.outputBytes / size) });
}
