/**
 * Kernel benchmark: GFLOP/s of forward, grad_input and grad_weight on the reference shapes
 * S1-S6 (single thread; float32 and float64, channels_first and channels_last) for our
 * kernels and, with --peers, for tfjs-backend-cpu, tfjs-backend-wasm and onnxruntime-node in
 * the same process and PyTorch in a child process, interleaved run by run on each (variant,
 * shape, op) so machine noise hits every implementation alike. Prints one table, writes it as
 * JSON to bench/results/ (timestamped, plus latest.json) and charts it (latest.svg).
 * See bench/README.md.
 *
 *   npm run bench [-- --peers] [-- --runs 7] [-- --shapes S1,S3] [-- --ops forward,grad_input]
 *                 [-- --dtypes float32] [-- --layouts channels_first] [-- --kernels ts,wasm,native] [-- --budget 10]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { EngineName } from '../workers/engines/index.js';
import { ours, IMPL_ORDER, type Impl, type Prepared } from './impl.js';
import {
  formatTable,
  RESULTS_DIR,
  tableRows,
  type BenchReport,
  type CellResult,
  type CheckResult,
  type ImplInfo,
} from './report.js';
import {
  CHECK_SHAPES,
  DTYPES,
  LAYOUTS,
  OPS,
  SHAPES,
  opFlops,
  problem,
  reductions,
  geometry,
  variantName,
  type Op,
  type Problem,
  type Shape,
  type Variant,
} from './shapes.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    shapes: { type: 'string' },
    ops: { type: 'string' },
    dtypes: { type: 'string' },
    layouts: { type: 'string' },
    kernels: { type: 'string', default: 'ts,wasm,native' },
    peers: { type: 'boolean', default: false },
    budget: { type: 'string', default: '10' },
  },
});

function list<T extends string>(value: string | undefined, all: readonly T[], what: string): T[] {
  if (!value) return [...all];
  const picked = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = picked.filter((p) => !all.includes(p as T));
  if (bad.length) throw new Error(`unknown ${what} ${bad.join(', ')}; expected some of ${all.join(', ')}`);
  return all.filter((a) => picked.includes(a));
}

const runs = Math.max(1, Math.floor(Number(values.runs)) || 5);
const budget = Math.max(0.1, Number(values.budget) || 10);
const shapes = list(
  values.shapes,
  SHAPES.map((s) => s.name),
  'shape',
).map((n) => SHAPES.find((s) => s.name === n) as Shape);
const ops = list(values.ops, OPS, 'op');
const variants: Variant[] = list(values.dtypes, DTYPES, 'dtype').flatMap((dtype) =>
  list(values.layouts, LAYOUTS, 'layout').map((layout) => ({ dtype, layout })),
);
const kernels = list(values.kernels, ['ts', 'wasm', 'native'] as const, 'kernel') as EngineName[];

const now = () => process.hrtime.bigint();
const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

/** Seconds of one run: the implementation's own measurement when it gives one (a peer process), else ours. */
async function timeOnce(p: Prepared): Promise<number> {
  const t0 = now();
  const own = await p.run();
  const t = seconds(t0);
  return typeof own === 'number' ? own : t;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function loadImpls(): Promise<Impl[]> {
  const version = (
    JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
  const impls: Impl[] = kernels.map((k) => ours(k, version));
  if (values.peers) {
    const loaders: [string, () => Promise<Impl[]>, string][] = [
      ['tfjs', async () => (await import('./peers/tfjs.js')).tfjsImpls(), ' (is it installed? npm ci)'],
      ['onnxruntime-node', async () => (await import('./peers/ort.js')).ortImpls(), ' (is it installed? npm ci)'],
      ['torch', async () => (await import('./peers/torch.js')).torchImpls(), ''],
    ];
    for (const [name, load, hint] of loaders) {
      try {
        impls.push(...(await load()));
      } catch (e) {
        console.warn(`peer ${name} skipped${hint}: ${(e as Error).message}`);
      }
    }
  }
  return IMPL_ORDER.flatMap((n) => impls.filter((i) => i.name === n));
}

/** Every implementation's output on the small check shapes against ours-ts (float64 accumulation), in every variant. */
async function checks(impls: Impl[]): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const reference = impls[0];
  for (const v of variants) {
    for (const shape of CHECK_SHAPES) {
      const p = problem(shape, v);
      for (const op of OPS) {
        const ref = await reference.prepare(p, op);
        const want = await ref.result();
        await ref.dispose();
        let maxAbsRef = 0;
        for (const x of want) maxAbsRef = Math.max(maxAbsRef, Math.abs(x));
        for (const impl of impls.slice(1)) {
          const cell = { ...v, check: shape.name, op, impl: impl.name, maxAbsRef };
          const why = impl.unsupported(p.g, op);
          if (why) {
            out.push({ ...cell, maxAbsDiff: null, reason: why });
            continue;
          }
          const prepared = await impl.prepare(p, op);
          const got = await prepared.result();
          await prepared.dispose();
          let diff = got.length === want.length ? 0 : Infinity;
          for (let i = 0; i < want.length && diff !== Infinity; i++) diff = Math.max(diff, Math.abs(got[i] - want[i]));
          out.push({ ...cell, maxAbsDiff: diff });
        }
      }
    }
  }
  return out;
}

function printChecks(results: CheckResult[], impls: Impl[], reference: string): void {
  const cols = CHECK_SHAPES.flatMap((s) => OPS.map((op) => ({ s: s.name, op })));
  console.log(
    `\nCheck: max |output - ${reference}| on small shapes (${CHECK_SHAPES.map((s) => `${s.name}: ${s.what}`).join('; ')})`,
  );
  const header = ['', '', ...cols.map((c) => `${c.s} ${c.op}`)];
  const lines = [header];
  for (const v of variants) {
    for (const impl of impls.slice(1)) {
      const cells = cols.map((c) =>
        results.find(
          (x) =>
            x.dtype === v.dtype && x.layout === v.layout && x.check === c.s && x.op === c.op && x.impl === impl.name,
        ),
      );
      if (cells.every((r) => !r || r.maxAbsDiff === null)) continue; // the variant is n/a for this implementation
      lines.push([
        variantName(v),
        impl.name,
        ...cells.map((r) => (!r || r.maxAbsDiff === null ? 'n/a' : r.maxAbsDiff.toExponential(1))),
      ]);
    }
  }
  const widths = header.map((_, c) => Math.max(...lines.map((l) => l[c].length)));
  for (const l of lines)
    console.log('  ' + l.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
  // float32 results are compared at float32's precision, float64 at (a generous bound on) float64's
  const tolerance = (r: CheckResult) => (r.dtype === 'float64' ? 1e-10 : 1e-4) * Math.max(1, r.maxAbsRef);
  const bad = results.filter((r) => r.maxAbsDiff !== null && !(r.maxAbsDiff <= tolerance(r)));
  for (const r of bad)
    console.log(
      `  WARNING: ${r.impl} ${variantName(r)} ${r.check} ${r.op} differs from ${reference} by ${r.maxAbsDiff} (max |ref| ${r.maxAbsRef.toFixed(2)})`,
    );
}

interface Entry {
  impl: Impl;
  prepared: Prepared;
  problem: Problem;
  runs: number;
  samples: number[];
}

/**
 * Times every implementation on one (variant, shape, op). Each climbs a ladder of problem sizes: it
 * runs once on the smallest reduction of the shape, then on each larger one while the
 * previous run says `min(runs, 3)` runs of it fit the per-implementation budget, so
 * anything fast ends on the full shape and a very slow peer on a reduced problem. The last
 * ladder run is its warm-up; then the timed runs go round-robin across implementations
 * (`runs` of them, fewer only for an implementation whose runs would overrun the budget).
 */
async function measure(v: Variant, shape: Shape, op: Op, impls: Impl[]): Promise<CellResult[]> {
  const levels = reductions(shape);
  const problems = new Map<number, Problem>();
  const at = (i: number) => {
    let p = problems.get(i);
    if (!p) problems.set(i, (p = problem(shape, v, levels[i].reduced, levels[i].shape)));
    return p;
  };
  const flopsAt = (i: number) => opFlops(geometry(levels[i].shape, v), op);
  const g = geometry(shape, v);
  const cell = { ...v, shape: shape.name, op };
  const minRuns = Math.min(runs, 3);
  const results: CellResult[] = [];
  const entries: Entry[] = [];
  for (const impl of impls) {
    const why = impl.unsupported(g, op);
    if (why) {
      results.push({ ...cell, impl: impl.name, status: 'n/a', reason: why, gflops: null });
      continue;
    }
    try {
      let level = levels.length - 1;
      let prepared = await impl.prepare(at(level), op);
      let t = await timeOnce(prepared);
      if (t < 0.05) t = await timeOnce(prepared); // the first call of a tiny problem is mostly one-off costs
      while (level > 0 && ((t * flopsAt(level - 1)) / flopsAt(level)) * minRuns <= budget) {
        await prepared.dispose();
        level--;
        prepared = await impl.prepare(at(level), op);
        t = await timeOnce(prepared);
      }
      const n = Math.min(runs, Math.max(minRuns, Math.floor(budget / t)));
      entries.push({ impl, prepared, problem: at(level), runs: n, samples: [] });
    } catch (e) {
      results.push({ ...cell, impl: impl.name, status: 'error', reason: (e as Error).message, gflops: null });
      console.warn(`  ${impl.name} ${variantName(v)} ${shape.name} ${op}: ${(e as Error).message}`);
    }
  }
  for (let r = 0; r < runs; r++) {
    for (const e of entries) if (r < e.runs) e.samples.push(await timeOnce(e.prepared));
  }
  for (const e of entries) {
    await e.prepared.dispose();
    const s = median(e.samples);
    const flops = opFlops(e.problem.g, op);
    results.push({
      ...cell,
      impl: e.impl.name,
      status: 'ok',
      tensorLayout: e.impl.layout(e.problem.g),
      reduced: e.problem.reduced,
      flops,
      runs: e.samples.length,
      medianMs: +(s * 1e3).toFixed(3),
      gflops: +(flops / s / 1e9).toFixed(3),
      samplesMs: e.samples.map((v) => +(v * 1e3).toFixed(3)),
    });
  }
  return IMPL_ORDER.flatMap((n) => results.filter((r) => r.impl === n));
}

const started = now();
const loadStart = loadavg();
const impls = await loadImpls();
console.log(
  `convd kernel bench: ${impls.map((i) => i.name).join(', ')}; 1 thread, ${variants.map(variantName).join(', ')}; median of ${runs} runs after a warm-up`,
);
for (const i of impls) console.log(`  ${i.name.padEnd(9)}  ${i.version}: ${i.notes}`);

const checkResults = await checks(impls);
if (impls.length > 1) printChecks(checkResults, impls, impls[0].name);

const results: CellResult[] = [];
for (const v of variants) {
  for (const shape of shapes) {
    const t0 = now();
    for (const op of ops) results.push(...(await measure(v, shape, op, impls)));
    console.log(`${variantName(v)} ${shape.name} done (${seconds(t0).toFixed(1)} s)`);
  }
}
for (const i of impls) i.close?.();

const implInfo: ImplInfo[] = impls.map((i) => {
  const byShape = shapes.map((s) => [s.name, i.layout(geometry(s))] as const);
  const main = byShape.some(([, l]) => l === 'NCHW') ? 'NCHW' : 'NHWC';
  const other = byShape.filter(([, l]) => l !== main);
  return {
    name: i.name,
    version: i.version,
    notes: i.notes,
    layouts: main + (other.length ? ` (${other.map(([s, l]) => `${s}: ${l}`).join(', ')})` : ''),
  };
});
const report: BenchReport = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown cpu',
  cores: cpus().length,
  argv: process.argv.slice(2),
  runs,
  budgetSeconds: budget,
  threads: 1,
  loadavg: { start: loadStart.map((v) => +v.toFixed(2)), end: loadavg().map((v) => +v.toFixed(2)) },
  wallSeconds: +seconds(started).toFixed(1),
  implementations: implInfo,
  shapes,
  variants,
  checks: checkResults,
  results,
  table: tableRows(
    results,
    variants,
    shapes.map((s) => s.name),
    ops,
  ),
};

console.log(
  `\nGFLOP/s, 1 thread, median of ${runs} runs (FLOPs = 2 N C_out prod(out) C_in/groups prod(k) for every op)`,
);
for (const s of shapes) console.log(`  ${s.name}: ${s.what}`);
console.log('');
console.log(formatTable(report));
console.log('');
const reducedCells = results.filter((r) => r.reduced);
if (reducedCells.length) {
  console.log(
    `* timed on a reduced problem (${Math.min(runs, 3)} runs of the full shape would not fit the ${budget} s budget): ` +
      reducedCells.map((r) => `${r.impl} ${variantName(r)} ${r.shape} ${r.op} at ${r.reduced}`).join('; '),
  );
}
for (const i of implInfo)
  if (i.layouts !== 'NCHW')
    console.log(`layout: ${i.name} ${i.layouts}${i.name === 'tfjs-cpu' ? ' (^ marks its NHWC cells)' : ''}`);
const notRun = new Map<string, CellResult[]>();
for (const r of results.filter((r) => r.status !== 'ok')) {
  const key = `${r.status}: ${r.impl} (${r.reason ?? 'no reason given'})`;
  notRun.set(key, [...(notRun.get(key) ?? []), r]);
}
for (const [key, cells] of notRun) {
  // a variant none of whose cells ran is named once, not cell by cell
  const listed = variants.flatMap((v) => {
    const inVariant = cells.filter((r) => r.dtype === v.dtype && r.layout === v.layout);
    if (inVariant.length === shapes.length * ops.length) return [`every ${variantName(v)} cell`];
    return inVariant.map((r) => `${variantName(r)} ${r.shape} ${r.op}`);
  });
  console.log(`${key}: ${listed.join(', ')}`);
}
const noisy = results.filter(
  (r) => r.samplesMs && r.samplesMs.length > 2 && Math.max(...r.samplesMs) > 1.5 * Math.min(...r.samplesMs),
);
if (noisy.length) {
  const timed = results.filter((r) => r.status === 'ok').length;
  console.log(
    `noise: slowest run > 1.5x the fastest in ${noisy.length} of ${timed} cells (samples in the JSON): ${noisy.map((r) => `${r.impl} ${variantName(r)} ${r.shape} ${r.op}`).join(', ')}`,
  );
}
console.log(
  `load average (1 min) ${report.loadavg.start[0]} at start, ${report.loadavg.end[0]} at end, on ${report.cores} cores; wall ${report.wallSeconds} s`,
);

mkdirSync(RESULTS_DIR, { recursive: true });
const stamp = report.date.replace(/[:.]/g, '-');
const json = JSON.stringify(report, null, 2) + '\n';
writeFileSync(join(RESULTS_DIR, `bench-${stamp}.json`), json);
console.log(`wrote bench/results/bench-${stamp}.json`);
// latest.* (shown in README) only ever holds a complete table: every variant, shape and op, with the peers.
if (
  values.peers &&
  shapes.length === SHAPES.length &&
  ops.length === OPS.length &&
  variants.length === DTYPES.length * LAYOUTS.length
) {
  writeFileSync(join(RESULTS_DIR, 'latest.json'), json);
  console.log('wrote bench/results/latest.json');
  try {
    const { renderChart } = await import('./chart.js');
    writeFileSync(join(RESULTS_DIR, 'latest.svg'), await renderChart(report));
    console.log('wrote bench/results/latest.svg');
  } catch (e) {
    console.warn(`chart not written: ${(e as Error).message}`);
  }
  (await import('./docs.js')).updatePerformanceDoc();
}

// The rows of the other ops on the same machinery (bench/pool-transpose.ts), then peak RSS of S1
// backward against 3 x (inputs + outputs) + the tile budget (bench/memory.ts, fresh processes).
for (const [script, ...args] of [['./pool-transpose.js', '--runs', String(runs)], ['./memory.js']]) {
  console.log('');
  execFileSync(process.execPath, [new URL(script, import.meta.url).pathname, ...args], { stdio: 'inherit' });
}
