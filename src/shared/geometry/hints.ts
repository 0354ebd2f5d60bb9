/**
 * Fixes that error messages suggest, for the two mistakes shapes most often carry: a tensor of
 * the other layout (NHWC sent as channels_first, or the reverse) and a missing batch dimension
 * (one sample sent as [C, H, W]). A layout fix is suggested only when the request with it
 * applied resolves (the caller's `attempt` says so), so a hint never points somewhere that
 * fails again. O(rank): no tensor data.
 */
import type { TensorMeta } from '../tensor.js';
import { weightLayoutName, type Layout } from './common.js';

const SPATIAL: Record<number, string[]> = { 1: ['W'], 2: ['H', 'W'], 3: ['D', 'H', 'W'] };

const list = (items: readonly (string | number)[]) => `[${items.join(', ')}]`;

const spatialOf = (rank: number) =>
  SPATIAL[rank - 2] ?? Array.from({ length: Math.max(rank - 2, 0) }, (_, i) => `S${i}`);

/** What the dims of an input (or output) of `rank` mean in `layout`, e.g. "[N, C, H, W]". */
export function inputDims(rank: number, layout: Layout): string {
  const spatial = spatialOf(rank);
  return list(layout === 'channels_last' ? ['N', ...spatial, 'C'] : ['N', 'C', ...spatial]);
}

/** A weight's layout: a convolution's [C_out, C_in/groups, *k], a transposed convolution's [C_in, C_out/groups, *k] (channels_first). */
export type WeightKind = 'conv' | 'transpose';

/** What the dims of a weight of `rank` mean, e.g. "[C_out, C_in/groups, kH, kW]" or "[kH, kW, C_in/groups, C_out]". */
export function weightDims(rank: number, layout: Layout, kind: WeightKind): string {
  const k = spatialOf(rank).map((s) => `k${s}`);
  const [outer, inner] = kind === 'conv' ? ['C_out', 'C_in/groups'] : ['C_in', 'C_out/groups'];
  return list(layout === 'channels_last' ? [...k, inner, outer] : [outer, inner, ...k]);
}

/** An input (or output) shape of layout `from` rewritten in layout `to`: [N, C, *s] <-> [N, *s, C]. */
export function permuteInput(shape: readonly number[], from: Layout, to: Layout): number[] {
  if (from === to || shape.length < 3) return [...shape];
  const n = shape.length;
  return from === 'channels_first'
    ? [shape[0], ...shape.slice(2), shape[1]]
    : [shape[0], shape[n - 1], ...shape.slice(1, n - 1)];
}

/** A weight shape of layout `from` rewritten in layout `to`: [A, B, *k] <-> [*k, B, A] (either kind). */
export function permuteWeight(shape: readonly number[], from: Layout, to: Layout): number[] {
  if (from === to || shape.length < 3) return [...shape];
  const n = shape.length;
  return from === 'channels_first'
    ? [...shape.slice(2), shape[1], shape[0]]
    : [shape[n - 1], shape[n - 2], ...shape.slice(0, n - 2)];
}

const otherLayout = (layout: Layout): Layout => (layout === 'channels_first' ? 'channels_last' : 'channels_first');
const spelled = (layout: Layout) => layout.replace('_', '-');

/**
 * The hint for a channel mismatch (weight channels, or groups not dividing the input
 * channels) that reading the tensors in the other layout resolves, or null when no such
 * reading does. `attempt(operands, layout)` is true when the request, with those shapes and
 * that layout and everything else as sent, resolves. Tried in turn:
 *  - every tensor as sent, in the other layout: "send layout";
 *  - the input in the other layout (the weight as sent): permute the input, or send the other
 *    layout with the weight permuted to it.
 */
export function layoutHint<O extends { input: TensorMeta; weight: TensorMeta }>(
  operands: O,
  layout: Layout,
  kind: WeightKind,
  attempt: (operands: O, layout: Layout) => boolean,
): string | null {
  const other = otherLayout(layout);
  const rank = operands.input.shape.length;
  if (attempt(operands, other)) {
    const dflt = other === 'channels_first' ? ' (or leave layout out: channels_first is the default)' : '';
    return `the tensors look ${spelled(other)} (input ${inputDims(rank, other)}, weight ${weightDims(rank, other, kind)}): send layout: "${other}"${dflt}`;
  }
  const input = { ...operands.input, shape: permuteInput(operands.input.shape, other, layout) };
  const weight = { ...operands.weight, shape: permuteWeight(operands.weight.shape, layout, other) };
  const fixes: string[] = [];
  if (attempt({ ...operands, input }, layout))
    fixes.push(`permute it to ${inputDims(rank, layout)} (input.shape ${list(input.shape)})`);
  if (attempt({ ...operands, weight }, other)) {
    fixes.push(
      `send layout: "${other}" with the weight permuted to ${weightDims(rank, other, kind)} (weight.shape ${list(weight.shape)})`,
    );
  }
  if (fixes.length === 0) return null;
  return `the input looks ${spelled(other)} (${inputDims(rank, other)}): ${fixes.join(', or ')}`;
}

/**
 * The hint for a channel mismatch that reading the weight in the other weight_layout family
 * resolves (e.g. a PyTorch [C_out, C_in/groups, kH, kW] weight beside an NHWC input), or null.
 * `attempt(family)` is true when the request, with that weight layout, resolves.
 */
export function weightLayoutHint(rank: number, family: Layout, attempt: (family: Layout) => boolean): string | null {
  const other = otherLayout(family);
  if (!attempt(other)) return null;
  return `the weight looks ${weightDims(rank, other, 'conv')}: send weight_layout: "${weightLayoutName(other, rank)}"`;
}

/**
 * The hint for an input one dimension short of the rank the operation takes (`rank`, known
 * from the weight's rank or kernel_size's length): one sample without its batch dimension.
 * Null unless `rank` is the input's rank + 1 and a rank the service takes (3 to 5).
 * `op`: "convolution", "transposed convolution", "pooling".
 */
export function batchHint(inputShape: readonly number[], rank: number, layout: Layout, op: string): string | null {
  if (rank !== inputShape.length + 1 || rank < 3 || rank > 5) return null;
  return `a ${rank - 2}-D ${op} takes input of rank ${rank} ${inputDims(rank, layout)}: add the batch dimension (N = 1), making input.shape ${list([1, ...inputShape])}`;
}
