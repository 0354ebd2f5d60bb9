/**
 * Tiny ONNX models built in code, for the onnxruntime peer of the bench: a minimal protobuf
 * writer (varints and length-delimited fields only, which is all a ModelProto of a few nodes
 * needs) and the three graphs the bench runs.
 *
 *   forward      y  = Conv(x, w)            (w a graph input, or optionally a constant)
 *   grad_input   dx = ConvTranspose(dy, w) with the forward's strides, pads, dilations and
 *                group, and output_padding so dx has the input's spatial shape
 *   grad_weight  dw = Transpose(Conv(Transpose(x), Transpose(dy))): the weight gradient as a
 *                convolution of the input with the output gradient as its kernel (batch and
 *                channel axes swapped, the kernel dilated by the forward stride). Supported for
 *                groups = 1 and for depthwise (one input channel per group).
 *
 * Field numbers are from onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto,
 * ValueInfoProto, TypeProto, TensorShapeProto, TensorProto, OperatorSetIdProto).
 */

const IR_VERSION = 8;
const OPSET = 17;
const FLOAT = 1; // TensorProto.DataType
const INT64 = 7;
const ATTR_INT = 2; // AttributeProto.AttributeType
const ATTR_INTS = 7;

/** Protobuf bytes of one message, written field by field. */
class Message {
  private readonly parts: number[] = [];

  private varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint out of range: ${value}`);
    let v = value;
    while (v >= 0x80) {
      this.parts.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.parts.push(v);
  }

  private key(field: number, wireType: 0 | 2): void {
    this.varint(field * 8 + wireType);
  }

  int(field: number, value: number): this {
    this.key(field, 0);
    this.varint(value);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.key(field, 2);
    this.varint(value.length);
    for (const b of value) this.parts.push(b);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, value: Message): this {
    return this.bytes(field, value.encode());
  }

  encode(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

type Attr = number | number[];

function attribute(name: string, value: Attr): Message {
  const m = new Message().string(1, name);
  if (typeof value === 'number') return m.int(3, value).int(20, ATTR_INT);
  for (const v of value) m.int(8, v); // repeated int64 ints = 8 (unpacked, as proto2 writes it)
  return m.int(20, ATTR_INTS);
}

function node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, Attr> = {}): Message {
  const m = new Message();
  for (const i of inputs) m.string(1, i);
  for (const o of outputs) m.string(2, o);
  m.string(3, `${opType}_${outputs[0]}`).string(4, opType);
  for (const [name, value] of Object.entries(attrs)) m.message(5, attribute(name, value));
  return m;
}

function valueInfo(name: string, shape: readonly number[]): Message {
  const dims = new Message();
  for (const d of shape) dims.message(1, new Message().int(1, d));
  const tensorType = new Message().int(1, FLOAT).message(2, dims);
  return new Message().string(1, name).message(2, new Message().message(1, tensorType));
}

/** An int64 initializer (Reshape's shape operand). */
function int64Tensor(name: string, values: readonly number[]): Message {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return new Message().int(1, values.length).int(2, INT64).string(8, name).bytes(9, raw);
}

interface Graph {
  nodes: Message[];
  inputs: [string, readonly number[]][];
  outputs: [string, readonly number[]][];
  initializers?: Message[];
}

function model(g: Graph): Uint8Array {
  const graph = new Message();
  for (const n of g.nodes) graph.message(1, n);
  graph.string(2, 'convd_bench');
  for (const t of g.initializers ?? []) graph.message(5, t);
  for (const [name, shape] of g.inputs) graph.message(11, valueInfo(name, shape));
  for (const [name, shape] of g.outputs) graph.message(12, valueInfo(name, shape));
  return new Message()
    .int(1, IR_VERSION)
    .string(2, 'convd-bench')
    .message(7, graph)
    .message(8, new Message().string(1, '').int(2, OPSET))
    .encode();
}

/** A 2-D (or 1-D/3-D) convolution in NCHW, PyTorch-style parameters with explicit pads. */
export interface OnnxConv {
  input: readonly number[]; // [N, C_in, ...spatial]
  weight: readonly number[]; // [C_out, C_in / groups, ...kernel]
  output: readonly number[]; // [N, C_out, ...outSpatial]
  stride: readonly number[];
  dilation: readonly number[];
  padBefore: readonly number[];
  padAfter: readonly number[];
  groups: number;
}

function convAttrs(c: OnnxConv): Record<string, Attr> {
  return {
    kernel_shape: c.weight.slice(2),
    strides: [...c.stride],
    dilations: [...c.dilation],
    pads: [...c.padBefore, ...c.padAfter],
    group: c.groups,
  };
}

/** A float32 initializer (a constant the session may pre-pack). */
function floatTensor(name: string, dims: readonly number[], values: Float32Array): Message {
  const m = new Message();
  for (const d of dims) m.int(1, d);
  const raw = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  return m.int(2, FLOAT).string(8, name).bytes(9, raw);
}

/**
 * y = Conv(x, w); inputs `x`, `w`, output `y`. With `constWeights` the weights are baked
 * into the model as an initializer instead (input `x` only), which lets ORT pre-pack them
 * (and its layout transformer pick NCHWc kernels) once per session.
 */
export function forwardModel(c: OnnxConv, constWeights?: Float32Array): Uint8Array {
  return model({
    nodes: [node('Conv', ['x', 'w'], ['y'], convAttrs(c))],
    inputs: constWeights
      ? [['x', c.input]]
      : [
          ['x', c.input],
          ['w', c.weight],
        ],
    outputs: [['y', c.output]],
    initializers: constWeights ? [floatTensor('w', c.weight, constWeights)] : [],
  });
}

/** dx = ConvTranspose(dy, w); inputs `dy`, `w` (or `w` baked in), output `dx` (the input's shape). */
export function gradInputModel(c: OnnxConv, constWeights?: Float32Array): Uint8Array {
  const spatial = c.input.length - 2;
  const outputPadding: number[] = [];
  for (let d = 0; d < spatial; d++) {
    const reach = c.stride[d] * (c.output[d + 2] - 1) + c.dilation[d] * (c.weight[d + 2] - 1) + 1;
    outputPadding.push(c.input[d + 2] + c.padBefore[d] + c.padAfter[d] - reach);
  }
  return model({
    nodes: [node('ConvTranspose', ['dy', 'w'], ['dx'], { ...convAttrs(c), output_padding: outputPadding })],
    inputs: constWeights
      ? [['dy', c.output]]
      : [
          ['dy', c.output],
          ['w', c.weight],
        ],
    outputs: [['dx', c.input]],
    initializers: constWeights ? [floatTensor('w', c.weight, constWeights)] : [],
  });
}

/**
 * Why the weight gradient cannot be expressed by `gradWeightModel`, or null when it can: it
 * needs groups = 1 or one input channel per group, and end pads that cover the remainder
 * of the last stride.
 */
export function gradWeightUnsupported(c: OnnxConv): string | null {
  const cinPerGroup = c.input[1] / c.groups;
  if (c.groups !== 1 && cinPerGroup !== 1) return 'grouped conv with several input channels per group';
  for (let d = 0; d < c.input.length - 2; d++) {
    if (trimmedPadAfter(c, d) < 0) return 'end padding shorter than the stride remainder';
  }
  return null;
}

/** The end pad of the weight-gradient conv: its output must be exactly the kernel extent. */
function trimmedPadAfter(c: OnnxConv, d: number): number {
  // output extent of the gradient conv = (in + pads - stride * (out - 1) - 1) / dilation + 1
  const span = c.input[d + 2] + c.padBefore[d] + c.padAfter[d] - c.stride[d] * (c.output[d + 2] - 1) - 1;
  const extra = span - c.dilation[d] * (c.weight[d + 2] - 1);
  return c.padAfter[d] - extra;
}

/**
 * dw as one Conv on transposed operands; inputs `x`, `dy`, output `dw` (the weight's shape).
 *
 * dw[co, ci, k] = sum_{n, o} dy[n, co, o] x[n, ci, o * stride + k * dilation - pad]: a conv
 * whose batch axis is C_in, whose channel axis is N and whose kernel is dy (C_out filters of
 * N channels, dilated by the forward stride), with the forward dilation as its stride.
 * Depthwise: x becomes one sample of C * N channels in C groups of N, each group meeting
 * its own channel of dy.
 */
export function gradWeightModel(c: OnnxConv): Uint8Array {
  const why = gradWeightUnsupported(c);
  if (why) throw new Error(`gradWeightModel: ${why}`);
  const spatial = c.input.length - 2;
  const [n, cin] = c.input;
  const perm = [1, 0, ...Array.from({ length: spatial }, (_, d) => d + 2)];
  const attrs: Record<string, Attr> = {
    kernel_shape: c.output.slice(2),
    strides: [...c.dilation],
    dilations: [...c.stride],
    pads: [...c.padBefore, ...Array.from({ length: spatial }, (_, d) => trimmedPadAfter(c, d))],
  };
  const nodes = [node('Transpose', ['x'], ['xt'], { perm }), node('Transpose', ['dy'], ['dyt'], { perm })];
  const initializers: Message[] = [];
  if (c.groups === 1) {
    nodes.push(node('Conv', ['xt', 'dyt'], ['dwt'], { ...attrs, group: 1 }));
    nodes.push(node('Transpose', ['dwt'], ['dw'], { perm }));
  } else {
    const inSpatial = c.input.slice(2);
    initializers.push(int64Tensor('x_shape', [1, cin * n, ...inSpatial]), int64Tensor('w_shape', c.weight));
    nodes.push(node('Reshape', ['xt', 'x_shape'], ['xg']));
    nodes.push(node('Conv', ['xg', 'dyt'], ['dwg'], { ...attrs, group: c.groups }));
    nodes.push(node('Reshape', ['dwg', 'w_shape'], ['dw']));
  }
  return model({
    nodes,
    initializers,
    inputs: [
      ['x', c.input],
      ['dy', c.output],
    ],
    outputs: [['dw', c.weight]],
  });
}
