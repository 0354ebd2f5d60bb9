/**
 * Work limits, checked from shapes alone (before any tensor data is decoded or allocated):
 * elements of each request tensor, bytes of all outputs, FLOPs. Exceeding any answers 413.
 */
import type { FieldError, Work } from './shared/geometry/common.js';
import { computeDType, itemSize, numel, type TensorMeta, type WireDType } from './shared/tensor.js';
import { HttpProblem } from './http/problem.js';

/** What a request that passed the limits will hold, from its shapes (admission/ reserves it). */
export interface WorkNeed {
  /** Bytes of every request tensor's data, decoded. */
  tensorBytes: number;
  outputBytes: number;
  outputElements: number;
  /** Bytes the request's tasks allocate beyond their results (Work.workspaceBytes, once per task): 0 for most. */
  workspaceBytes: number;
  /** The request's dtype: a 2-byte one is computed in float32 and its answer holds the results converted. */
  dtype: WireDType;
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

/** What a request's outputs are, to say where their size comes from when it is over the limit. */
export interface OutputsInfo {
  /** The request field their size comes from: errors[].path (input.shape, or grads for conv backward). */
  path: string;
  /** How they follow from that field, naming it, e.g. "from input.shape [1, 1, 200] and weight.shape [2, 1, 1]". */
  source: string;
  /** The request's dtype (the outputs' size counts the dtype they are computed in). */
  dtype: WireDType;
  /** Each output by response field; `perSample` when its first dim is the batch (it grows with N). */
  tensors: { name: string; shape: readonly number[]; perSample: boolean }[];
  /** N, the batch size (input.shape[0]). */
  batch: number;
}

/** The most samples per request whose outputs fit in `limit` bytes, when fewer than the batch do (and one does). */
function samplesThatFit(outputs: OutputsInfo, limit: number): number | null {
  const bytes = (perSample: boolean) =>
    outputs.tensors
      .filter((t) => t.perSample === perSample)
      .reduce((sum, t) => sum + numel(t.shape) * itemSize(computeDType(outputs.dtype)), 0);
  const perSample = bytes(true) / outputs.batch;
  if (perSample === 0) return null;
  const fit = Math.floor((limit - bytes(false)) / perSample);
  return fit >= 1 && fit < outputs.batch ? fit : null;
}

function outputsMessage(work: Work, limits: WorkLimits, outputs: OutputsInfo | undefined): string {
  const over = `the outputs would take ${work.outputBytes} bytes; the limit is ${limits.maxOutputBytes} bytes (CONVD_MAX_OUTPUT_BYTES)`;
  if (!outputs) return over;
  const tensors = outputs.tensors.map((t) => `${t.name} [${t.shape.join(', ')}]`).join(', ');
  const fit = samplesThatFit(outputs, limits.maxOutputBytes);
  const split =
    fit === null
      ? ''
      : `; split the batch: at most ${fit} of its ${outputs.batch} samples (input.shape[0]) fit in one request`;
  const computed = computeDType(outputs.dtype) === outputs.dtype ? '' : ` (computed in ${computeDType(outputs.dtype)})`;
  return `${over}: ${tensors} of ${outputs.dtype}${computed}, ${outputs.source}${split}`;
}

/**
 * `operands`: the request's tensors by field name (conv, pooling or conv_transpose).
 * `outputs`: what the outputs are, for an output-bytes problem naming its field and shapes.
 */
export function checkWorkLimits(
  operands: Readonly<Partial<Record<string, TensorMeta>>>,
  work: Work,
  limits: WorkLimits,
  outputs?: OutputsInfo,
): void {
  const errors: FieldError[] = [];
  for (const [name, t] of Object.entries(operands)) {
    if (!t) continue;
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
    const message = outputsMessage(work, limits, outputs);
    if (outputs) errors.push({ path: outputs.path, message });
    else overall.push(message);
  }
  if (work.flops > limits.maxFlops) {
    overall.push(`the request needs ${work.flops} FLOPs; the limit is ${limits.maxFlops} (CONVD_MAX_FLOPS)`);
  }
  if (errors.length > 0 || overall.length > 0) {
    throw new HttpProblem(
      'limit-exceeded',
      [...errors.map((e) => e.message), ...overall].join('; '),
      errors.length > 0 ? { errors } : {},
    );
  }
}

/**
 * Reserves what a request that passed the limits and the data-length checks will hold, before
 * any tensor data is decoded (a no-op without `limits.reserve`). `tasks`: how many tasks it runs
 * as (split.ts), each allocating its own workspace.
 */
export function reserveWork(
  operands: Readonly<Partial<Record<string, TensorMeta>>>,
  work: Work,
  limits: WorkLimits,
  tasks = 1,
): void {
  if (!limits.reserve) return;
  const metas = Object.values(operands).filter((t): t is TensorMeta => t !== undefined);
  // decoded: in the dtype the kernels compute in
  const tensorBytes = metas.reduce((sum, t) => sum + numel(t.shape) * itemSize(computeDType(t.dtype)), 0);
  const { outputBytes, outputElements } = work;
  const workspaceBytes = work.workspaceBytes * tasks;
  limits.reserve({ tensorBytes, outputBytes, outputElements, workspaceBytes, dtype: metas[0].dtype });
}
