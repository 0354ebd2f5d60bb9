/**
 * The kernel engines the kernel tests run on, picked explicitly (never through CONVD_KERNEL or
 * the default), plus a wrapper that counts the calls made on an engine (GEMMs and, when the
 * engine has them, direct depthwise kernels and library convolution passes) so a test can check that the engine it passed is
 * the one doing the work, and how many tiles it saw.
 */
import type fc from 'fast-check';
import { engineFor, tsEngine } from '../../workers/engines/index.js';
import { nativeEngine as loadNative, nativeLoadError } from '../../workers/engines/native.js';
import { wasmBuild } from '../../workers/engines/wasm.js';
import { DEFAULT_TILE_BUDGET_BYTES, setTileBudget } from '../../workers/kernels/workspace.js';

/** An engine as engineFor returns it. */
export type Engine = ReturnType<typeof engineFor>;

/**
 * The engines the tests name: ts, wasm (float32, the default wasm build: with relaxed-SIMD FMA
 * on this runtime), wasm-simd (float32, the plain SIMD128 build, what runtimes without relaxed
 * SIMD get), wasm-f64 (float64: the wasm dgemm with the TypeScript loops), native (float32:
 * oneDNN's convolution where the engine plans it, else the addon's OpenBLAS sgemm and C++
 * im2col), native-blas (float32, never oneDNN: im2col + sgemm throughout) and native-f64
 * (float64: dgemm; oneDNN has no float64 convolution).
 */
export type EngineName = 'ts' | 'wasm' | 'wasm-simd' | 'wasm-f64' | 'native' | 'native-blas' | 'native-f64';

/**
 * The WebAssembly SIMD engine. Throws (so every test that needs it fails loudly) when it did
 * not load: engineFor('float32', 'wasm') throws itself then, the name check guards a fallback.
 */
export function wasmEngine(): Engine {
  const e = engineFor('float32', 'wasm');
  if (e.name !== 'wasm')
    throw new Error(`engineFor('float32', 'wasm') returned the ${e.name} engine: the wasm kernel is not available`);
  return e;
}

/** The plain SIMD128 build of the wasm engine (throws when it did not load). */
export function wasmSimdEngine(): Engine {
  const e = wasmBuild('simd');
  if (!e) throw new Error('the plain SIMD build of the wasm kernels did not load');
  return e;
}

/** The float64 wasm engine (throws when it did not load). */
export function wasmF64Engine(): Engine {
  const e = engineFor('float64', 'wasm');
  if (e.name !== 'wasm' || e.elementBytes !== 8)
    throw new Error(`engineFor('float64', 'wasm') returned the ${e.name} engine`);
  return e;
}

/**
 * Why the native engine's tests do not run here, or false when they do: its addon is built
 * when the machine has a C++ compiler, OpenBLAS and oneDNN (npm run build says so otherwise).
 * Without them a local `npm test` skips those tests and says why; in CI (CI=true, where .ci/run
 * installs the libraries) they always run, and fail when the addon did not load.
 */
export const NATIVE_SKIP: string | false =
  process.env.CI !== 'true' && !loadNative('float32', true)
    ? `the native engine is not built on this machine (${nativeLoadError() || 'no addon'}): apt-get install g++ libopenblas-dev libdnnl-dev, then npm run build`
    : false;

/** The engines of `names` whose tests run here (all of them unless NATIVE_SKIP). */
export const runnable = <N extends string>(names: readonly N[]): N[] =>
  names.filter((n) => !(NATIVE_SKIP && n.startsWith('native')));

/**
 * The native engine of `dtype`. Throws (so every test that needs it fails loudly, never skips)
 * when the addon did not load: the test build compiles it (npm run build), and CI installs the
 * libraries it needs.
 */
export function nativeEngine(dtype: 'float32' | 'float64' = 'float32', convolutions = true): Engine {
  const e = loadNative(dtype, convolutions);
  if (!e) throw new Error(`the native engine did not load: ${nativeLoadError() || 'no addon'}`);
  return e;
}

export function engineNamed(name: EngineName): Engine {
  if (name === 'native') return nativeEngine('float32');
  if (name === 'native-f64') return nativeEngine('float64');
  if (name === 'native-blas') return nativeEngine('float32', false);
  if (name === 'wasm') return wasmEngine();
  if (name === 'wasm-f64') return wasmF64Engine();
  return name === 'wasm-simd' ? wasmSimdEngine() : tsEngine;
}

/** The dtype an engine's kernels compute in: float32 for the float32 wasm and native engines, float64 otherwise. */
export const engineDtype = (engine: Engine): 'float32' | 'float64' =>
  engine.name !== 'ts' && engine.elementBytes === 4 ? 'float32' : 'float64';

export interface Counted {
  engine: Engine;
  /** GEMM calls made through `engine` so far. */
  readonly gemm: number;
  /** Direct (depthwise) kernel calls made through `engine` so far. */
  readonly direct: number;
  /** Passes run by the engine's library convolution (oneDNN on native) so far. */
  readonly library: number;
  /** All three. */
  readonly calls: number;
}

type AnyFn = (...args: never[]) => unknown;

/** `engine` with its kernels counted; buffers / reads / sizes are the engine's own. */
export function counting(engine: Engine): Counted {
  const counts = { gemm: 0, direct: 0, library: 0 };
  const count = <F extends AnyFn>(f: F, key: keyof typeof counts): F =>
    ((...args: Parameters<F>) => {
      counts[key]++;
      return f(...args);
    }) as F;
  const wrapped: Engine = { ...engine, gemm: count(engine.gemm.bind(engine), 'gemm') };
  // The direct correlations (depthwise path), when this engine has them: count every one
  // (padZeros and unpadZeros only stage their input / fold back their gradient, so they are
  // passed through uncounted).
  const direct = (engine as unknown as { direct?: Record<string, AnyFn> }).direct;
  if (direct) {
    const counted: Record<string, AnyFn> = {};
    for (const [k, f] of Object.entries(direct))
      counted[k] = k === 'padZeros' || k === 'unpadZeros' ? f : count(f, 'direct');
    (wrapped as unknown as { direct?: Record<string, AnyFn> }).direct = counted;
  }
  // The library convolution's passes, when the engine plans one.
  const { convolution } = engine;
  if (convolution) {
    (wrapped as { convolution?: Engine['convolution'] }).convolution = (dims) => {
      const c = convolution(dims);
      if (!c) return null;
      const { gradInput } = c;
      // a pass the library declines (returns false) is not counted: the engine's kernels run it
      const ran = (r: boolean) => {
        if (r) counts.library++;
        return r;
      };
      return {
        forward: (...args: Parameters<typeof c.forward>) => ran(c.forward(...args)),
        gradWeight: (...args: Parameters<typeof c.gradWeight>) => ran(c.gradWeight(...args)),
        ...(gradInput ? { gradInput: count(gradInput, 'library') } : {}),
      };
    };
  }
  return {
    engine: wrapped,
    get gemm() {
      return counts.gemm;
    },
    get direct() {
      return counts.direct;
    },
    get library() {
      return counts.library;
    },
    get calls() {
      return counts.gemm + counts.direct + counts.library;
    },
  };
}

/**
 * Runs `f` with the thread's tile budget set so that `engine` tiles the output positions `tile`
 * at a time (0: the default budget). conv.ts sizes a tile as
 * floor((budget - engine.gemmScratchBytes) / (perPosition * engine.elementBytes)) with
 * perPosition = K + C_out/groups elements, so the budget is that product plus the scratch.
 */
export function withTilePositions<T>(engine: Engine, perPosition: number, tile: number, f: () => T): T {
  if (tile === 0) return f();
  setTileBudget(Math.max(1 << 16, engine.gemmScratchBytes + engine.elementBytes * perPosition * tile));
  try {
    return f();
  } finally {
    setTileBudget(DEFAULT_TILE_BUDGET_BYTES);
  }
}

/** One engine of a property suite: the cases it draws (its dtype forced where it has one) and their seed. */
export interface EngineRun<C> {
  name: EngineName;
  label: string;
  arb: fc.Arbitrary<C>;
  seed: number;
}

/**
 * A property suite's engines: ts on `cases` as drawn (float32 and float64), every other engine
 * on them with its dtype forced, each from its own seed after `seed` so the engines see
 * different geometries.
 */
export function engineRuns<C extends { dtype: 'float32' | 'float64' }>(
  cases: fc.Arbitrary<C>,
  seed: number,
): EngineRun<C>[] {
  const forced = (dtype: 'float32' | 'float64') => cases.map((c) => ({ ...c, dtype }));
  return [
    { name: 'ts', label: 'ts, float32 + float64', arb: cases, seed },
    { name: 'wasm', label: 'wasm, float32', arb: forced('float32'), seed: seed + 1 },
    { name: 'wasm-simd', label: 'wasm-simd, float32', arb: forced('float32'), seed: seed + 2 },
    { name: 'wasm-f64', label: 'wasm-f64, float64', arb: forced('float64'), seed: seed + 3 },
    { name: 'native', label: 'native, float32', arb: forced('float32'), seed: seed + 4 },
    { name: 'native-blas', label: 'native-blas, float32', arb: forced('float32'), seed: seed + 6 },
    { name: 'native-f64', label: 'native-f64, float64', arb: forced('float64'), seed: seed + 5 },
  ];
}
