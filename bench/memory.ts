/**
 * Memory bench: peak RSS of one S1 backward (grad_input, grad_weight and grad_bias, float32)
 * in a fresh process per engine, against the bound 3 x (inputs + outputs) + the tile budget.
 * The baseline is the RSS just before the operands are allocated (Node, the modules and, for
 * wasm, the compiled kernels); the peak is the process's maxRSS after the call.
 *
 *   npm run build && node dist/bench/memory.js
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { numel } from '../src/shared/tensor.js';
import { resolveConv } from '../src/shared/geometry/conv.js';
import { convBackward } from '../workers/kernels/conv.js';
import { engineFor, type EngineName } from '../workers/engines/index.js';
import { tileBudget } from '../workers/kernels/workspace.js';

const MiB = 2 ** 20;

function measure(engineName: EngineName) {
  const engine = engineFor('float32', engineName);
  const g = resolveConv(
    { input: { dtype: 'float32', shape: [8, 64, 56, 56] }, weight: { dtype: 'float32', shape: [64, 64, 3, 3] } },
    { padding: 1 },
  );
  const baseline = process.memoryUsage().rss;
  const x = new Float32Array(numel(g.inputShape)).fill(0.5);
  const w = new Float32Array(numel(g.weightShape)).fill(0.25);
  const dy = new Float32Array(numel(g.outputShape)).fill(1);
  const grads = {
    input: new Float32Array(x.length),
    weight: new Float32Array(w.length),
    bias: new Float32Array(g.outChannels),
  };
  convBackward(g, x, w, dy, grads, engine);
  const peak = process.resourceUsage().maxRSS * 1024;
  const operandBytes =
    4 * (x.length + w.length + dy.length + grads.input.length + grads.weight.length + grads.bias.length);
  const bound = 3 * operandBytes + tileBudget();
  return {
    engine: engine.name,
    baseline_mib: +(baseline / MiB).toFixed(1),
    peak_mib: +(peak / MiB).toFixed(1),
    extra_mib: +((peak - baseline) / MiB).toFixed(1),
    operands_mib: +(operandBytes / MiB).toFixed(1),
    bound_mib: +(bound / MiB).toFixed(1),
    within: peak - baseline <= bound,
  };
}

const child = process.argv[2] as EngineName | undefined;
if (child) {
  console.log(JSON.stringify(measure(child)));
} else {
  const rows = (['ts', 'wasm', 'native'] as EngineName[]).map((name) =>
    JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), name], { encoding: 'utf8' })),
  );
  console.log(
    'S1 backward (grad_input + grad_weight + grad_bias), float32, one fresh process per engine; bound = 3 x (inputs + outputs) + tile budget',
  );
  console.table(rows);
}
