/**
 * One runner per operation: the kernel call of a task, given its operands viewed in the task's
 * dtype and its result arrays allocated (worker.ts). The worker runs `runners[task.op]`; an
 * operation added to src/shared/task.ts's OpName needs its entry here (the table's type says so).
 */
import type { OpName, ResultName, TaskFor } from '../src/shared/task.js';
import type { Real, TensorData } from '../src/shared/tensor.js';
import { engineFor } from './engines/index.js';
import { convBackward, convForward } from './kernels/conv.js';
import { adaptivePoolBackward, adaptivePoolForward } from './kernels/adaptive-pooling.js';
import { poolBackward, poolForward } from './kernels/pooling.js';
import { convTranspose, convTransposeBackward } from './kernels/transpose.js';
import { fold, unfold } from './kernels/unfold.js';
import { inKernelWeightLayout, kernelWeight } from './kernels/weight-layout.js';

/** A task's result arrays by name: exactly those of `task.results`. */
export type Outputs = Partial<Record<ResultName, Real>>;

/** Runs the task's kernels, writing `out`; `view` reads one of its operand buffers in its dtype. */
export type Runner<N extends OpName> = (
  task: TaskFor<N>,
  out: Outputs,
  view: (data: TensorData | undefined) => Real,
) => void;

export const runners: { readonly [N in OpName]: Runner<N> } = {
  // a weight sent in the other layout family (weight_layout) is permuted to the kernels' order, grad_weight back
  conv_forward: ({ geometry: g, tensors: t, batch }, out, view) =>
    convForward(
      g,
      view(t.input),
      kernelWeight(g, view(t.weight)),
      t.bias ? view(t.bias) : null,
      out.output!,
      engineFor(g.dtype),
      batch,
    ),
  conv_backward: ({ geometry: g, tensors: t, batch }, out, view) =>
    inKernelWeightLayout(g, out.grad_weight, (gradWeight) =>
      convBackward(
        g,
        view(t.input),
        kernelWeight(g, view(t.weight)),
        view(t.grad_output),
        { input: out.grad_input, weight: gradWeight, bias: out.grad_bias },
        engineFor(g.dtype),
        batch,
      ),
    ),
  // the transposed convolution's output is its convolution's input
  conv_transpose: ({ geometry: g, tensors: t, batch }, out, view) =>
    convTranspose(
      g,
      view(t.input),
      view(t.weight),
      t.bias ? view(t.bias) : null,
      out.output!,
      engineFor(g.dtype),
      batch,
    ),
  conv_transpose_backward: ({ geometry: g, tensors: t, batch }, out, view) =>
    convTransposeBackward(
      g,
      view(t.input),
      view(t.weight),
      view(t.grad_output),
      { input: out.grad_input, weight: out.grad_weight, bias: out.grad_bias },
      engineFor(g.dtype),
      batch,
    ),
  pool_forward: ({ geometry: g, pooling, tensors: t, batch }, out, view) =>
    poolForward(g, pooling, view(t.input), out.output!, batch, out.indices),
  pool_backward: ({ geometry: g, pooling, tensors: t, batch }, out, view) =>
    poolBackward(g, pooling, view(t.input), view(t.grad_output), out.grad_input!, batch),
  adaptive_pool_forward: ({ geometry: g, tensors: t, batch }, out, view) =>
    adaptivePoolForward(g, view(t.input), out.output!, batch, out.indices),
  adaptive_pool_backward: ({ geometry: g, tensors: t, batch }, out, view) =>
    adaptivePoolBackward(g, view(t.input), view(t.grad_output), out.grad_input!, batch),
  unfold: ({ geometry: g, tensors: t, batch }, out, view) => unfold(g, view(t.input), out.output!, batch),
  // fold's input is its unfold's columns, its output that unfold's image
  fold: ({ geometry: g, tensors: t, batch }, out, view) => fold(g, view(t.input), out.output!, batch),
};
