/**
 * TensorFlow.js peers: @tensorflow/tfjs-backend-cpu (plain JavaScript) and
 * @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD; single thread: its threads do not work in
 * Node). Both share one tfjs-core engine, so each run first makes its backend the active one
 * (a no-op once initialised); tensors are created while that backend is active, so their
 * data lives in it (for wasm: in its heap), and the timed run is the kernel plus `await
 * y.data()`, the read-back a caller needs.
 *
 * Kernels: forward tf.conv2d / tf.depthwiseConv2d; grad_input Conv2DBackpropInput /
 * DepthwiseConv2dNativeBackpropInput; grad_weight Conv2DBackpropFilter /
 * DepthwiseConv2dNativeBackpropFilter (through the engine's runKernel, as tfjs' own
 * gradients call them). An op whose kernel the backend does not register is n/a.
 *
 * Layout: tfjs-cpu runs conv2d and both its gradients in NCHW; its depthwise kernels are
 * NHWC-only. tfjs-wasm's kernels are NHWC-only. Filters are HWIO ([kh, kw, in, out]; for
 * depthwise [kh, kw, C, multiplier]) in both. Conversions happen outside the clock.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type { ConvGeometry } from '../../src/shared/geometry/conv.js';
import { hwioToOihw, nchwToNhwc, nhwcToNchw, oihwToHwio, type Impl, type Prepared } from '../impl.js';
import { float32, isDepthwise, type Op, type Problem } from '../shapes.js';

type Tf = typeof TfCore;
type Backend = 'cpu' | 'wasm';

const KERNELS: Record<Op, [conv: string, depthwise: string]> = {
  forward: ['Conv2D', 'DepthwiseConv2dNative'],
  grad_input: ['Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropInput'],
  grad_weight: ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter'],
};

export async function tfjsImpls(): Promise<Impl[]> {
  const tf: Tf = await import('@tensorflow/tfjs-core');
  const cpu = await import('@tensorflow/tfjs-backend-cpu');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const impls: Impl[] = [];
  if (await tf.setBackend('cpu')) {
    // silence the one-time "install tfjs-node" banner the cpu backend prints on first use
    (tf.findBackend('cpu') as unknown as { firstUse: boolean }).firstUse = false;
    impls.push(
      tfjsImpl(
        tf,
        'cpu',
        `@tensorflow/tfjs-backend-cpu ${cpu.version_cpu} (tfjs-core ${tf.version_core})`,
        'plain JavaScript kernels, 1 thread; NCHW, depthwise NHWC',
      ),
    );
  }
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  if (await tf.setBackend('wasm')) {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    impls.push(
      tfjsImpl(
        tf,
        'wasm',
        `@tensorflow/tfjs-backend-wasm ${wasm.version_wasm}`,
        `XNNPACK${simd ? ' SIMD' : ' (no SIMD)'}, ${wasm.getThreadsCount()} thread; NHWC only`,
      ),
    );
  }
  return impls;
}

function tfjsImpl(tf: Tf, backend: Backend, version: string, notes: string): Impl {
  const use = async () => {
    if (tf.getBackend() !== backend) await tf.setBackend(backend);
  };
  const nhwc = (g: ConvGeometry) => backend === 'wasm' || isDepthwise(g);
  return {
    name: backend === 'cpu' ? 'tfjs-cpu' : 'tfjs-wasm',
    version,
    notes,
    layout: (g) => (nhwc(g) ? 'NHWC' : 'NCHW'),
    unsupported(g, op) {
      if (g.dtype !== 'float32' || g.layout !== 'channels_first')
        return 'the bench runs tfjs in the float32 channels_first rows only';
      if (g.inSpatial.length !== 2) return 'tfjs conv2d is 2-D';
      if (g.groups > 1 && !isDepthwise(g)) return 'tfjs has no grouped conv2d';
      if (op !== 'forward' && g.dilation.some((d) => d > 1)) return 'tfjs gradients do not support dilation';
      const kernel = KERNELS[op][isDepthwise(g) ? 1 : 0];
      if (!tf.getKernel(kernel, backend)) return `no ${kernel} kernel in this backend`;
      return null;
    },
    async prepare(p, op) {
      await use();
      return prepareTfjs(tf, p, op, nhwc(p.g), use);
    },
  };
}

function prepareTfjs(tf: Tf, p: Problem, op: Op, nhwc: boolean, use: () => Promise<void>): Prepared {
  const { g } = p;
  const { x: px, w: pw32, dy: pdy } = float32(p);
  const depthwise = isDepthwise(g);
  const [n, cin, h, w] = g.inputShape;
  const [cout, , kh, kw] = g.weightShape;
  const [oh, ow] = g.outSpatial;
  const xShape: [number, number, number, number] = nhwc ? [n, h, w, cin] : [n, cin, h, w];
  const dyShape: [number, number, number, number] = nhwc ? [n, oh, ow, cout] : [n, cout, oh, ow];
  const fShape: [number, number, number, number] = depthwise ? [kh, kw, cin, cout / cin] : [kh, kw, cin, cout];
  const dataFormat = nhwc ? 'NHWC' : 'NCHW';
  const strides: [number, number] = [g.stride[0], g.stride[1]];
  const dilations: [number, number] = [g.dilation[0], g.dilation[1]];
  const symmetric = g.padBefore.every((v, i) => v === g.padAfter[i] && v === g.padBefore[0]);
  const ph: [number, number] = [g.padBefore[0], g.padAfter[0]];
  const pw: [number, number] = [g.padBefore[1], g.padAfter[1]];
  const pad: number | TfCore.backend_util.ExplicitPadding = symmetric
    ? g.padBefore[0]
    : nhwc
      ? [[0, 0], ph, pw, [0, 0]]
      : [[0, 0], [0, 0], ph, pw];

  const x = tf.tensor4d(nhwc ? nchwToNhwc(px, g.inputShape) : px, xShape, 'float32');
  const f = tf.tensor4d(oihwToHwio(pw32, g.weightShape), fShape, 'float32');
  const dy = tf.tensor4d(nhwc ? nchwToNhwc(pdy, g.outputShape) : pdy, dyShape, 'float32');
  const run = (kernel: string, inputs: TfCore.NamedTensorMap, attrs: object): TfCore.Tensor =>
    tf.engine().runKernel<TfCore.Tensor>(kernel, inputs, attrs as TfCore.NamedAttrMap);

  let op1: () => TfCore.Tensor;
  if (op === 'forward') {
    op1 = depthwise
      ? () => tf.depthwiseConv2d(x, f, strides, pad, 'NHWC', dilations)
      : () => tf.conv2d(x, f, strides, pad, dataFormat, dilations);
  } else if (op === 'grad_input') {
    op1 = depthwise
      ? () =>
          run('DepthwiseConv2dNativeBackpropInput', { dy, filter: f }, { strides, dilations, pad, inputShape: xShape })
      : () => run('Conv2DBackpropInput', { dy, filter: f }, { strides, pad, dataFormat, inputShape: xShape });
  } else {
    op1 = depthwise
      ? () => run('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { strides, dilations, pad, filterShape: fShape })
      : () => run('Conv2DBackpropFilter', { x, dy }, { strides, pad, dataFormat, filterShape: fShape });
  }
  const expected = op === 'forward' ? dyShape : op === 'grad_input' ? xShape : fShape;
  const once = async (): Promise<Float32Array> => {
    await use();
    const y = op1();
    try {
      if (y.shape.join() !== expected.join())
        throw new Error(`tfjs ${op} gave shape [${y.shape.join(', ')}], expected [${expected.join(', ')}]`);
      return (await y.data()) as Float32Array;
    } finally {
      y.dispose();
    }
  };
  return {
    run: async () => {
      await once();
    },
    async result() {
      const out = await once();
      if (op === 'grad_weight') return hwioToOihw(out, g.weightShape);
      if (!nhwc) return out;
      return nhwcToNchw(out, op === 'forward' ? g.outputShape : g.inputShape);
    },
    dispose() {
      x.dispose();
      f.dispose();
      dy.dispose();
    },
  };
}
