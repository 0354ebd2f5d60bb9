/**
 * A convolution call planned once, before any tensor is read (as MLAS's MlasConvPrepare then
 * MlasConv): the lowered dims (lowering.ts), the algorithm, the tiling of each pass, the element
 * counts of the buffers each pass asks its engine for, and the engine's im2col / col2im prepared
 * for these dims. The passes (conv.ts, depthwise.ts) run the plan; nothing is re-derived per
 * pass, tile or kernel call.
 *
 * Library passes: where the engine has a library convolution for these dims (oneDNN's direct
 * convolution on the native engine, float32 with zeros padding, where it measured faster than
 * im2col + GEMM; engines/native.ts decides), the passes it offers run there whole, on the
 * callers' tensors, with no tiles and no buffers; the others run the algorithm below.
 *
 * Algorithms:
 *   depthwise  C_in/groups = 1 and few outputs per group, its staged volumes within the tile
 *              budget: the direct correlation per channel (depthwise.ts), no im2col.
 *   pointwise  a 1×1 kernel with stride 1 and no padding: the im2col matrix is the input itself,
 *              read in place by the forward and grad_weight GEMMs (one image per tile).
 *   gemm       im2col / col2im + GEMM over tiles of output positions (conv.ts).
 *
 * Tiles: the output is walked in blocks of consecutive images and, within a block, tiles of
 * output positions. A tile has (images × positions) columns of K + C_out/groups elements (im2col
 * columns or their gradient; accumulator or staged dY), which with the engine's GEMM scratch fit
 * the thread's tile budget (workspace.ts). When a whole image fits, whole images are batched into
 * one tile up to BATCH_COLUMNS columns (and staged images within the budget), so that the GEMMs
 * stay wide and the weight is packed once per block rather than per image.
 *
 * Memory bound: beyond the tiles, a call holds at most one engine-precision copy of the weight
 * (grad_weight's accumulator; the wasm engine's staged weight) and, on an engine that cannot
 * read the caller's arrays in place (wasm), the block's images of the input or of its gradient
 * (one image, or several whose total is within the budget). The only case over budget is a
 * single position whose column alone exceeds it (K + C_out/groups elements, i.e. a weight with
 * millions of elements per output channel).
 */
import type { ConvGeometry } from '../../src/shared/geometry/conv.js';
import type { BatchRange } from '../../src/shared/tensor.js';
import type { Im2col, KernelEngine, LibraryConvolution } from '../engines/engine.js';
import type { DirectDims } from './direct.js';
import { lowerConv, type ConvDims } from './lowering.js';
import { tileBudget } from './workspace.js';

export type ConvAlgorithm = 'gemm' | 'pointwise' | 'depthwise';

/** Blocks of `images` consecutive images, each cut into tiles of `positions` output positions of every image of the block. */
export interface Tiling {
  images: number;
  positions: number;
}

/** Element counts of the buffers one pass asks its engine for, by name (0: not needed). */
export type PassBuffers = Record<string, number>;

export interface ConvPlan extends ConvDims {
  engine: KernelEngine;
  algorithm: ConvAlgorithm;
  /** Whether the caller's tensors are staged into the engine's buffers (the engine does not read them in place). */
  staged: boolean;
  /** GEMM passes: the tiling of forward and grad_weight (one image per tile when pointwise). */
  tiling: Tiling;
  /** GEMM passes: the tiling of grad_input (col2im always runs there, pointwise or not). */
  gradInputTiling: Tiling;
  /** Depthwise: the padded span the direct correlation reads, and its extents. */
  direct: DirectDims;
  /** The buffers of each pass of the chosen algorithm. */
  buffers: { forward: PassBuffers; gradWeight: PassBuffers; gradInput: PassBuffers };
  /** The engine's im2col / col2im for these dims. */
  im2col: Im2col;
  /** The engine's library convolution, whose passes run instead of the algorithm's (null: none). */
  library: LibraryConvolution | null;
}

/** Tile width up to which whole images share a tile: the wasm GEMM's NC block (workers/wasm/gemm.ts). */
export const BATCH_COLUMNS = 2048;

/**
 * Output channels per group up to which the direct path beats a GEMM: its row count would be
 * below the GEMMs' micro-tile height (4 ts, 6 wasm), so most of each tile would be padding.
 * (Measured: N32 C1 -> 32 k5, one group of 32, runs faster as a GEMM on both engines.)
 */
const DIRECT_MAX_OUT_PER_GROUP = 4;

export const volume = (e: readonly number[]) => e[0] * e[1] * e[2];

/** The part of the padded input the correlation reads: (out - 1) * stride + dilation * (k - 1) + 1 per dim. */
function directDims(p: ConvDims): DirectDims {
  const span = p.outExt.map((o, i) => (o - 1) * p.stride[i] + p.dilation[i] * (p.kExt[i] - 1) + 1) as [
    number,
    number,
    number,
  ];
  return { span, out: p.outExt, k: p.kExt, stride: p.stride, dilation: p.dilation };
}

/**
 * Whether the output-shaped planes of one channel are dense (channels_first, or one channel):
 * then the depthwise kernels read dY and write y in place in the image (staged or not), else one
 * plane is gathered into / scattered from a dense buffer.
 */
export const densePlanes = (p: ConvDims): boolean => p.yP === 1;

/** Whether the depthwise path applies (C_in/groups = 1, few outputs per group) and its staged volumes fit the tile budget. */
function fitsDepthwise(p: ConvDims, d: DirectDims, engine: KernelEngine): boolean {
  if (p.cinG !== 1 || p.coutG > DIRECT_MAX_OUT_PER_GROUP) return false;
  // padded volume and its gradient, one staged image of the input and one of the output (an
  // engine that reads the tensors in place stages none: the bound is conservative there), taps
  const elements = 2 * volume(d.span) + p.xN + p.yN + p.kSize * (p.groups * p.coutG + 1);
  return elements * engine.elementBytes <= tileBudget();
}

/**
 * A 1×1 kernel with stride 1 and no padding reads the input as it is: its im2col matrix is
 * the input itself (output positions = input positions), so a GEMM that can read the input
 * in place needs no columns (one image per tile).
 */
function isPointwise(p: ConvDims): boolean {
  return p.kSize === 1 && p.stride.every((s) => s === 1) && p.positions === p.inExt[0] * p.inExt[1] * p.inExt[2];
}

function tiling(p: ConvDims, engine: KernelEngine, batchable: boolean): Tiling {
  const fit = Math.max(
    1,
    Math.floor((tileBudget() - engine.gemmScratchBytes) / ((p.K + p.coutG) * engine.elementBytes)),
  );
  if (!batchable || fit < p.positions) return { images: 1, positions: Math.min(p.positions, fit) };
  const byColumns = Math.floor(Math.min(fit, Math.max(BATCH_COLUMNS, p.positions)) / p.positions);
  const byStaging = Math.floor(tileBudget() / (p.xN * engine.elementBytes));
  return { images: Math.max(1, Math.min(p.batchEnd - p.batchStart, byColumns, byStaging)), positions: p.positions };
}

/** Plans a call of `engine` on geometry `g` (for the images of `batch`, all by default). */
export function planConv(g: ConvGeometry, engine: KernelEngine, batch?: BatchRange): ConvPlan {
  const p = lowerConv(g, batch);
  const direct = directDims(p);
  const library = engine.convolution?.(p) ?? null;
  const algorithm: ConvAlgorithm = fitsDepthwise(p, direct, engine)
    ? 'depthwise'
    : isPointwise(p)
      ? 'pointwise'
      : 'gemm';
  const staged = !engine.readsInPlace;
  const t = tiling(p, engine, algorithm !== 'pointwise');
  const ti = tiling(p, engine, true);
  const plan = {
    ...p,
    engine,
    algorithm,
    staged,
    tiling: t,
    gradInputTiling: ti,
    direct,
    im2col: engine.im2colFor(p),
    library,
  };
  return { ...plan, buffers: algorithm === 'depthwise' ? depthwiseBuffers(plan) : gemmBuffers(plan) };
}

/** Elements of staging `length` elements of a caller's tensor: 0 when the engine reads it in place. */
const stage = (p: Pick<ConvPlan, 'staged'>, length: number) => (p.staged ? length : 0);

function gemmBuffers(p: Omit<ConvPlan, 'buffers'>): ConvPlan['buffers'] {
  const weight = stage(p, p.groups * p.coutG * p.K);
  /** Elements to stage a dY tile: 0 when it is always read in place (one image per tile on an engine that reads dy). */
  const dy = (t: Tiling) => (!p.staged && t.images === 1 ? 0 : p.coutG * t.images * t.positions);
  const { tiling: t, gradInputTiling: ti } = p;
  const cols = p.algorithm === 'pointwise' ? 0 : p.K * t.images * t.positions;
  return {
    forward: { images: stage(p, t.images * p.xN), cols, acc: p.coutG * t.images * t.positions, weight },
    // dW accumulates over images and tiles as [C_out × K] (or [K × C_out]), then is stored once.
    gradWeight: { images: stage(p, t.images * p.xN), cols, dy: dy(t), acc: p.groups * p.coutG * p.K },
    gradInput: { images: stage(p, ti.images * p.xN), dcols: p.K * ti.images * ti.positions, dy: dy(ti), weight },
  };
}

function depthwiseBuffers(p: Omit<ConvPlan, 'buffers'>): ConvPlan['buffers'] {
  const span = volume(p.direct.span);
  /** One output-shaped image: all of it when planes are dense and staged, one plane otherwise. */
  const outputImage = densePlanes(p) ? stage(p, p.yN) : p.positions;
  return {
    forward: { xp: span, image: stage(p, p.xN), wk: p.kSize, out: outputImage },
    gradWeight: { xp: span, image: stage(p, p.xN), dy: outputImage, acc: p.groups * p.coutG * p.kSize },
    gradInput: { dxp: span, image: stage(p, p.xN), dy: outputImage, wk: p.kSize },
  };
}
