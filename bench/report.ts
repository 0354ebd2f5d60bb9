/**
 * The bench report: what one run measured (written as JSON to bench/results/), and the tables
 * printed from it: fixed-width text for the terminal, Markdown for docs/performance.md.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMPL_ORDER, type ImplName } from './impl.js';
import type { Layout } from '../src/shared/geometry/common.js';
import type { DType } from '../src/shared/tensor.js';
import { variantName, type Op, type Shape, type Variant } from './shapes.js';

/** bench/results in the source tree (this file runs from dist/bench/). */
export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../bench/results');

export interface ImplInfo {
  name: ImplName;
  version: string;
  notes: string;
  /** e.g. 'NCHW' or 'NCHW (S4: NHWC)' */
  layouts: string;
}

export interface CheckResult {
  dtype: DType;
  layout: Layout;
  check: string;
  op: Op;
  impl: ImplName;
  /** Max |impl - reference| over the output, null when n/a. */
  maxAbsDiff: number | null;
  /** Max |reference|, for scale. */
  maxAbsRef: number;
  reason?: string;
}

export interface CellResult {
  dtype: DType;
  layout: Layout;
  shape: string;
  op: Op;
  impl: ImplName;
  status: 'ok' | 'n/a' | 'error';
  reason?: string;
  /** The tensor layout the implementation ran (NCHW or NHWC). */
  tensorLayout?: string;
  /** '' for the full shape, else how the timed problem was reduced (e.g. 'N1'). */
  reduced?: string;
  flops?: number;
  runs?: number;
  medianMs?: number;
  gflops: number | null;
  samplesMs?: number[];
}

/** The ratio columns, `a/b` = GFLOP/s of a over b in the same row: > 1 means a is faster. */
export const RATIOS: [ImplName, ImplName][] = [
  ['ours-native', 'torch'],
  ['ours-native', 'ort'],
  ['ours-wasm', 'tfjs-wasm'],
  ['ours-wasm', 'ort'],
  ['ours-wasm', 'torch'],
];
export type RatioName = `${ImplName}/${ImplName}`;
const ratioName = ([a, b]: [ImplName, ImplName]): RatioName => `${a}/${b}`;

export interface TableRow {
  dtype: DType;
  layout: Layout;
  shape: string;
  op: Op;
  /** GFLOP/s per implementation (null: n/a or not run). */
  gflops: Partial<Record<ImplName, number | null>>;
  reduced: Partial<Record<ImplName, string>>;
  /** The tensor layout per implementation where it differs from the row's (NCHW channels_first, NHWC channels_last). */
  otherLayout: Partial<Record<ImplName, string>>;
  /** The RATIOS whose both sides ran (null: one of them is n/a). */
  ratios: Partial<Record<RatioName, number | null>>;
}

export interface BenchReport {
  date: string;
  node: string;
  cpu: string;
  cores: number;
  argv: string[];
  runs: number;
  budgetSeconds: number;
  threads: 1;
  loadavg: { start: number[]; end: number[] };
  wallSeconds: number;
  implementations: ImplInfo[];
  shapes: Shape[];
  variants: Variant[];
  checks: CheckResult[];
  results: CellResult[];
  table: TableRow[];
}

const rowLayout = (layout: Layout) => (layout === 'channels_last' ? 'NHWC' : 'NCHW');

export function tableRows(results: CellResult[], variants: Variant[], shapes: string[], ops: Op[]): TableRow[] {
  const rows: TableRow[] = [];
  for (const { dtype, layout } of variants) {
    for (const shape of shapes) {
      for (const op of ops) {
        const cells = results.filter(
          (r) => r.dtype === dtype && r.layout === layout && r.shape === shape && r.op === op,
        );
        if (cells.length === 0) continue;
        const gflops: TableRow['gflops'] = {};
        const reduced: TableRow['reduced'] = {};
        const otherLayout: TableRow['otherLayout'] = {};
        for (const c of cells) {
          gflops[c.impl] = c.gflops;
          if (c.reduced) reduced[c.impl] = c.reduced;
          if (c.tensorLayout && c.tensorLayout !== rowLayout(layout)) otherLayout[c.impl] = c.tensorLayout;
        }
        const ratios: TableRow['ratios'] = {};
        for (const [a, b] of RATIOS) {
          const x = gflops[a];
          const y = gflops[b];
          if (x === undefined || y === undefined) continue;
          ratios[ratioName([a, b])] = x != null && y != null && y > 0 ? +(x / y).toFixed(2) : null;
        }
        rows.push({ dtype, layout, shape, op, gflops, reduced, otherLayout, ratios });
      }
    }
  }
  return rows;
}

export function fmtGflops(v: number): string {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  if (v >= 0.1) return v.toFixed(2);
  return v.toPrecision(2);
}

/** One table per variant: its header and its rows of cells (GFLOP/s per implementation, then the ratios). */
export function variantTables(report: BenchReport): { variant: Variant; header: string[]; rows: string[][] }[] {
  return report.variants.flatMap((variant) => {
    const rows = report.table.filter((r) => r.dtype === variant.dtype && r.layout === variant.layout);
    if (rows.length === 0) return [];
    // only the implementations and ratios with a number in this variant (the others are n/a throughout)
    const impls = IMPL_ORDER.filter((n) => rows.some((r) => r.gflops[n] != null));
    const ratios = RATIOS.map(ratioName).filter((k) => rows.some((r) => r.ratios[k] != null));
    const header = ['shape', 'op', ...impls.map((n) => (n === 'tfjs-wasm' ? 'tfjs-wasm[NHWC]' : n)), ...ratios];
    const lines = rows.map((row) => [
      row.shape,
      row.op,
      ...impls.map((n) => {
        const v = row.gflops[n];
        if (v === undefined) return '';
        if (v === null) return 'n/a';
        const nhwc = row.otherLayout[n] === 'NHWC' && n !== 'tfjs-wasm' ? '^' : '';
        return fmtGflops(v) + (row.reduced[n] ? '*' : '') + nhwc;
      }),
      ...ratios.map((k) => {
        const r = row.ratios[k];
        return r == null ? 'n/a' : `${r.toFixed(2)}x`;
      }),
    ]);
    return [{ variant, header, rows: lines }];
  });
}

/** The tables as fixed-width text, one per variant under its name. */
export function formatTable(report: BenchReport): string {
  return variantTables(report)
    .map(({ variant, header, rows }) => {
      const lines = [header, ...rows];
      const widths = header.map((_, c) => Math.max(...lines.map((l) => l[c].length)));
      const body = lines
        .map((l) => l.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '))
        .join('\n');
      return `${variantName(variant)}\n${body}`;
    })
    .join('\n\n');
}

/** The tables as Markdown, one per variant under a bold line naming it (what docs/performance.md shows). */
export function markdownTables(report: BenchReport): string {
  return variantTables(report)
    .map(({ variant, header, rows }) => {
      const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
      return [
        `**${variantName(variant)}**`,
        '',
        line(header),
        line(header.map((_, c) => (c < 2 ? '---' : '---:'))),
        ...rows.map(line),
      ].join('\n');
    })
    .join('\n\n');
}
