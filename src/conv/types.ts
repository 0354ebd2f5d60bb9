/**
 * Types shared by the API layer and the workers: the request's conv parameters as the
 * contract spells them, and the resolved geometry every kernel runs from.
 */

export type DType = 'float32' | 'float64';
export type PaddingMode = 'zeros' | 'reflect' | 'replicate' | 'circular';
export type Layout = 'channels_first' | 'channels_last';
export type LayoutName = Layout | 'NCW' | 'NWC' | 'NCHW' | 'NHWC' | 'NCDHW' | 'NDHWC';
export type Padding = number | number[] | [number, number][] | 'valid' | 'same';
export type GradName = 'input' | 'weight' | 'bias';

/** Images [start, end) of a batch: the part of a request one thread computes when it is split. */
export type BatchRange = readonly [number, number];

/** Typed arrays the kernels read and write: one per dtype. */
export type Real = Float32Array | Float64Array;

/** What geometry needs to know of a tensor: its dtype and shape, never its data. */
export interface TensorMeta {
  dtype: DType;
  shape: number[];
}

/** The contract's conv parameters, as received (defaults not yet applied). */
export interface ConvParams {
  stride?: number | number[];
  padding?: Padding;
  dilation?: number | number[];
  groups?: number;
  padding_mode?: PaddingMode;
  layout?: LayoutName;
}

/** The tensors of a conv request, by contract field name. */
export interface ConvOperands {
  input: TensorMeta;
  weight: TensorMeta;
  bias?: TensorMeta;
  grad_output?: TensorMeta;
}

/** One problem with a request, named by its field path (e.g. `weight.shape[1]`). */
export interface FieldError {
  path: string;
  message: string;
}

/**
 * Everything a kernel needs, resolved and validated. Plain data (structured-clonable), so it
 * travels to a worker as is. Spatial arrays have one entry per spatial dim (1, 2 or 3).
 */
export interface ConvGeometry {
  dtype: DType;
  layout: Layout;
  paddingMode: PaddingMode;
  batch: number;
  inChannels: number;
  outChannels: number;
  groups: number;
  inSpatial: number[];
  kernel: number[];
  outSpatial: number[];
  stride: number[];
  dilation: number[];
  padBefore: number[];
  padAfter: number[];
  /** Shapes in the request's layout. */
  inputShape: number[];
  weightShape: number[];
  outputShape: number[];
}
