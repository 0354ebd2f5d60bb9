/**
 * The bench report: what one run measured (written as JSON to bench/results/) and the text
 * table printed from it.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMPL_ORDER, type ImplName } from './impl.js';
import type { Op, Shape } from './shapes.js';

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
  shape: string;
  op: Op;
  impl: ImplName;
  status: 'ok' | 'n/a' | 'error';
  reason?: string;
  layout?: string;
  /** '' for the full shape, else how the timed problem was reduced (e.g. 'N1'). */
  reduced?: string;
  flops?: number;
  runs?: number;
  medianMs?: number;
  gflops: number | null;
  samplesMs?: number[];
}

export interface TableRow {
  shape: string;
  op: Op;
  /** GFLOP/s per implementation (null: n/a or not run) and the two ratios. */
  gflops: Partial<Record<ImplName, number | null>>;
  reduced: Partial<Record<ImplName, string>>;
  /** Layout per implementation when it is not NCHW. */
  layout: Partial<Record<ImplName, string>>;
  'ours-wasm/tfjs-wasm': number | null;
  'ours-wasm/ort': number | null;
  'ours-wasm/ort-const': number | null;
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
  checks: CheckResult[];
  results: CellResult[];
  table: TableRow[];
}

export function tableRows(results: CellResult[], shapes: string[], ops: Op[]): TableRow[] {
  const rows: TableRow[] = [];
  for (const shape of shapes) {
    for (const op of ops) {
      const cells = results.filter((r) => r.shape === shape && r.op === op);
      if (cells.length === 0) continue;
      const gflops: TableRow['gflops'] = {};
      const reduced: TableRow['reduced'] = {};
      const layout: TableRow['layout'] = {};
      for (const c of cells) {
        gflops[c.impl] = c.gflops;
        if (c.reduced) reduced[c.impl] = c.reduced;
        if (c.layout && c.layout !== 'NCHW') layout[c.impl] = c.layout;
      }
      const ratio = (a: ImplName, b: ImplName) => {
        const x = gflops[a];
        const y = gflops[b];
        return x != null && y != null && y > 0 ? +(x / y).toFixed(2) : null;
      };
      rows.push({
        shape,
        op,
        gflops,
        reduced,
        layout,
        'ours-wasm/tfjs-wasm': ratio('ours-wasm', 'tfjs-wasm'),
        'ours-wasm/ort': ratio('ours-wasm', 'ort'),
        'ours-wasm/ort-const': ratio('ours-wasm', 'ort-const'),
      });
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

/** The table as fixed-width text: GFLOP/s per implementation, then the ratios. */
export function formatTable(report: BenchReport): string {
  const impls = IMPL_ORDER.filter((n) => report.implementations.some((i) => i.name === n));
  const ratios: (keyof TableRow & `ours-wasm/${string}`)[] = [];
  if (impls.includes('ours-wasm') && impls.includes('tfjs-wasm')) ratios.push('ours-wasm/tfjs-wasm');
  if (impls.includes('ours-wasm') && impls.includes('ort')) ratios.push('ours-wasm/ort');
  if (impls.includes('ours-wasm') && impls.includes('ort-const')) ratios.push('ours-wasm/ort-const');
  const header = ['shape', 'op', ...impls.map((n) => (n === 'tfjs-wasm' ? 'tfjs-wasm[NHWC]' : n)), ...ratios];
  const lines: string[][] = [header];
  for (const row of report.table) {
    const cells = impls.map((n) => {
      const v = row.gflops[n];
      if (v === undefined) return '';
      if (v === null) return 'n/a';
      const nhwc = row.layout[n] === 'NHWC' && n !== 'tfjs-wasm' ? '^' : '';
      return fmtGflops(v) + (row.reduced[n] ? '*' : '') + nhwc;
    });
    lines.push([row.shape, row.op, ...cells, ...ratios.map((k) => (row[k] == null ? 'n/a' : `${row[k].toFixed(2)}x`))]);
  }
  const widths = header.map((_, c) => Math.max(...lines.map((l) => l[c].length)));
  return lines
    .map((l) => l.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '))
    .join('\n');
}
