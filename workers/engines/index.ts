/**
 * Which engine a dtype runs on: `requested` (or CONVD_KERNEL); by default native when its addon
 * loads, else wasm when it loads, else ts.
 */
import type { DType } from '../../src/shared/tensor.js';
import type { EngineName, KernelEngine } from './engine.js';
import { nativeEngine, nativeLoadError } from './native.js';
import { tsEngine } from './ts.js';
import { wasmEngine } from './wasm.js';

export type { EngineName, KernelEngine } from './engine.js';
export { tsEngine } from './ts.js';

export const ENGINE_NAMES: readonly EngineName[] = ['native', 'wasm', 'ts'];

export function engineFor(dtype: DType, requested: EngineName | undefined = kernelFromEnv()): KernelEngine {
  if (requested === 'ts') return tsEngine;
  if (requested !== 'wasm') {
    const native = nativeEngine(dtype);
    if (native) return native;
    if (requested === 'native')
      throw new Error(`CONVD_KERNEL=native but the native addon could not be loaded: ${nativeLoadError()}`);
  }
  const wasm = wasmEngine(dtype);
  if (wasm) return wasm;
  if (requested === 'wasm') throw new Error('CONVD_KERNEL=wasm but the WebAssembly SIMD kernel could not be loaded');
  return tsEngine;
}

function kernelFromEnv(): EngineName | undefined {
  const v = process.env.CONVD_KERNEL;
  if (v === undefined || v === '') return undefined;
  if (!(ENGINE_NAMES as readonly string[]).includes(v))
    throw new Error(`CONVD_KERNEL is ${JSON.stringify(v)}; expected native, wasm or ts`);
  return v as EngineName;
}
