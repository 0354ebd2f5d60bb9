/**
 * Work limits, checked from shapes alone (before any tensor data is decoded or allocated):
 * elements of each request tensor, bytes of all outputs, FLOPs. Exceeding any answers 413.
 */
import { numel, type ConvWork } from './conv/geometry.js';
import type { ConvOperands, FieldError, TensorMeta } from './conv/types.js';
import { HttpProblem } from './http/problem.js';

export interface WorkLimits {
  maxTensorElements: number;
  maxOutputBytes: number;
  maxFlops: number;
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
