/** Which engine a dtype runs on: `requested` (or CONVD_KERNEL), by default wasm when it loads, else ts. */
import type { DType } from '../../src/shared/tensor.js';
import type { EngineName, KernelEngine } from './engine.js';
import { tsEngine } from './ts.js';
import { wasmEngine } from './wasm.js';

export type { EngineName, KernelEngine } from './engine.js';
export { tsEngine } from './ts.js';

export function engineFor(dtype: DType, requested: EngineName | undefined = kernelFromEnv()): KernelEngine {
  if (requested !== 'ts') {
    const wasm = wasmEngine(dtype);
    if (wasm) return wasm;
    if (requested === 'wasm') throw new Error('CONVD_KERNEL=wasm but the WebAssembly SIMD kernel could not be loaded');
  }
  return tsEngine;
}

function kernelFromEnv(): EngineName | undefined {
  const v = process.env.CONVD_KERNEL;
  if (v === undefined || v === '') return undefined;
  if (v !== 'ts' && v !== 'wasm') throw new Error(`CONVD_KERNEL is ${JSON.stringify(v)}; expected ts or wasm`);
  return v;
}
