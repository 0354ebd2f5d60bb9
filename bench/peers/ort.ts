/**
 * onnxruntime-node peer (native MLAS kernels), single thread: intraOpNumThreads 1,
 * interOpNumThreads 1, sequential execution, all graph optimisations, CPU provider.
 *
 * Each (problem, op) gets a tiny ONNX model built in code (bench/onnx-model.ts): forward
 * Conv, grad_input ConvTranspose with the same parameters, grad_weight a Conv on transposed
 * operands. NCHW throughout; the timed run is `await session.run(feeds)`, which returns the
 * output copied into a JavaScript typed array. Two variants:
 *   ort        every operand, weights included, is a graph input fed on each run: the same
 *              work as ours, which gets new weights with every request;
 *   ort-const  the weights are a constant initializer of the model, so the session
 *              pre-packs them (and may switch to its NCHWc kernels) once, outside the clock:
 *              ORT's best case, as in inference with a fixed model (forward, grad_input).
 */
import type * as Ort from 'onnxruntime-node';
import type { Impl, Prepared } from '../impl.js';
import { forwardModel, gradInputModel, gradWeightModel, gradWeightUnsupported, type OnnxConv } from '../onnx-model.js';
import { float32, type Op, type Problem } from '../shapes.js';
import type { ConvGeometry } from '../../src/shared/geometry/conv.js';

type OrtModule = typeof Ort;

function onnxConv(g: ConvGeometry): OnnxConv {
  return {
    input: g.inputShape,
    weight: g.weightShape,
    output: g.outputShape,
    stride: g.stride,
    dilation: g.dilation,
    padBefore: g.padBefore,
    padAfter: g.padAfter,
    groups: g.groups,
  };
}

export async function ortImpls(): Promise<Impl[]> {
  return [await ortImpl(false), await ortImpl(true)];
}

async function ortImpl(constWeights: boolean): Promise<Impl> {
  const ort: OrtModule = await import('onnxruntime-node');
  const options: Ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  return {
    name: constWeights ? 'ort-const' : 'ort',
    version: `onnxruntime-node ${ort.env.versions.node ?? '?'}`,
    notes: constWeights
      ? 'as ort, but the weights are a constant of the model (pre-packed once per session, outside the clock)'
      : 'MLAS, 1 intra-op + 1 inter-op thread; NCHW; grad_input = ConvTranspose, grad_weight = Conv on transposed operands; weights fed per run',
    layout: () => 'NCHW',
    unsupported(g, op) {
      if (g.dtype !== 'float32' || g.layout !== 'channels_first')
        return 'the bench runs ORT in the float32 channels_first rows only';
      if (g.paddingMode !== 'zeros') return 'ONNX Conv pads with zeros only';
      if (op === 'grad_weight')
        return constWeights ? 'grad_weight has no weight operand (see ort)' : gradWeightUnsupported(onnxConv(g));
      return null;
    },
    async prepare(p: Problem, op: Op): Promise<Prepared> {
      const c = onnxConv(p.g);
      const { x, w, dy } = float32(p);
      const t = (data: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', data, dims);
      let model: Uint8Array;
      let feeds: Record<string, Ort.Tensor>;
      let output: string;
      const weights: Record<string, Ort.Tensor> = constWeights ? {} : { w: t(w, c.weight) };
      if (op === 'forward') {
        model = forwardModel(c, constWeights ? w : undefined);
        feeds = { x: t(x, c.input), ...weights };
        output = 'y';
      } else if (op === 'grad_input') {
        model = gradInputModel(c, constWeights ? w : undefined);
        feeds = { dy: t(dy, c.output), ...weights };
        output = 'dx';
      } else {
        model = gradWeightModel(c);
        feeds = { x: t(x, c.input), dy: t(dy, c.output) };
        output = 'dw';
      }
      const session = await ort.InferenceSession.create(model, options);
      const expected = op === 'forward' ? c.output : op === 'grad_input' ? c.input : c.weight;
      const once = async (): Promise<Float32Array> => {
        const out = (await session.run(feeds))[output];
        if (out.dims.join() !== expected.join())
          throw new Error(`ort ${op} gave shape [${out.dims.join(', ')}], expected [${expected.join(', ')}]`);
        return out.data as Float32Array;
      };
      return {
        run: async () => {
          await once();
        },
        result: once,
        dispose: () => session.release(),
      };
    },
  };
}
