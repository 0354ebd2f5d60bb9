/**
 * The bench table as a chart: grouped bars of GFLOP/s per shape, one bar per
 * implementation, log scale, value on each bar, one panel per (op, variant): ops down
 * (forward on top), the variants across (float32 channels_first, float32 channels_last,
 * float64 ...). Vega-Lite compiled to Vega and rendered headless to SVG (no canvas: text is
 * measured by Vega's estimate).
 *
 *   node dist/bench/chart.js [bench/results/some-run.json [out.svg]]
 *
 * With no arguments it renders bench/results/latest.json into bench/results/latest.svg.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { IMPL_ORDER } from './impl.js';
import { RESULTS_DIR, type BenchReport } from './report.js';
import { OPS, variantName } from './shapes.js';

const COLORS: Record<string, string> = {
  'ours-ts': '#9ecae1',
  'ours-wasm': '#08519c',
  'ours-native': '#3f007d',
  'tfjs-cpu': '#fdae6b',
  'tfjs-wasm': '#e6550d',
  ort: '#31a354',
  'ort-const': '#006d2c',
  torch: '#cb181d',
};

export async function renderChart(report: BenchReport): Promise<string> {
  const vega = await import('vega');
  const vegaLite = await import('vega-lite');
  const impls = IMPL_ORDER.filter((name) => report.implementations.some((i) => i.name === name));
  const ops = OPS.filter((op) => report.results.some((r) => r.op === op));
  const variants = report.variants.map(variantName);
  const values = report.results
    .filter((r) => r.status === 'ok' && r.gflops !== null)
    .map((r) => ({
      variant: variantName(r),
      shape: r.shape,
      op: r.op.replace('_', ' '),
      impl: r.impl,
      gflops: r.gflops,
      timedOn: r.reduced ? 'reduced problem' : 'full shape',
    }));
  const shapes = [...new Set(report.results.map((r) => r.shape))];
  const layouts = report.implementations
    .filter((i) => i.layouts !== 'NCHW')
    .map((i) => `${i.name} ${i.layouts}`)
    .join(', ');
  const gflops = values.map((v) => v.gflops as number);
  // explicit log domain: whole decades around the data, with room below the slowest bar
  const lo = 10 ** Math.floor(Math.log10(Math.min(...gflops) / 2));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...gflops) * 1.5));
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: `convd vs peers: conv2d GFLOP/s, 1 thread (median of ${report.runs})`,
      subtitle: [
        `${report.cpu}, ${report.cores} cores, node ${report.node}, ${report.date.slice(0, 16).replace('T', ' ')} UTC` +
          (layouts ? `; channels_first runs NCHW except ${layouts}` : ''),
        'missing bar: n/a (no such kernel); paler bar: timed on a reduced problem (batch 1 or fewer channels), see the table',
      ],
      anchor: 'start',
    },
    data: { values },
    facet: {
      row: {
        field: 'op',
        type: 'nominal',
        sort: ops.map((o) => o.replace('_', ' ')),
        title: null,
        header: { labelFontSize: 14, labelFontWeight: 'bold', labelAngle: 0, labelAlign: 'left' },
      },
      column: {
        field: 'variant',
        type: 'nominal',
        sort: variants,
        title: null,
        header: { labelFontSize: 14, labelFontWeight: 'bold' },
      },
    },
    spec: {
      width: 90 * shapes.length,
      height: 220,
      encoding: {
        x: { field: 'shape', type: 'nominal', sort: shapes, title: null, axis: { labelAngle: 0, labelFontSize: 12 } },
        xOffset: { field: 'impl', type: 'nominal', sort: impls },
        y: {
          field: 'gflops',
          type: 'quantitative',
          stack: null,
          scale: { type: 'log', domain: [lo, hi] },
          title: 'GFLOP/s (log)',
          axis: { grid: true },
        },
      },
      layer: [
        {
          mark: { type: 'bar' },
          encoding: {
            color: {
              field: 'impl',
              type: 'nominal',
              sort: impls,
              scale: { domain: impls, range: impls.map((i) => COLORS[i]) },
              legend: { title: 'implementation', orient: 'top' },
            },
            opacity: {
              field: 'timedOn',
              type: 'ordinal',
              sort: ['full shape', 'reduced problem'],
              scale: { domain: ['full shape', 'reduced problem'], range: [1, 0.4] },
              legend: { title: 'timed on', orient: 'top' },
            },
          },
        },
        {
          mark: { type: 'text', angle: -90, align: 'left', baseline: 'middle', dx: 3, fontSize: 9, color: '#333' },
          encoding: { text: { field: 'gflops', type: 'quantitative', format: '.3~r' } },
        },
      ],
    },
    resolve: { scale: { y: 'shared', xOffset: 'independent' } },
    config: { font: 'DejaVu Sans, Helvetica, Arial, sans-serif', view: { stroke: '#ddd' } },
  };
  // The spec is plain JSON; vega-lite's TopLevelSpec type is a large union it matches at run time.
  const compiled = vegaLite.compile(spec as unknown as Parameters<typeof vegaLite.compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

async function main(): Promise<void> {
  const input = resolve(process.argv[2] ?? join(RESULTS_DIR, 'latest.json'));
  const output = resolve(process.argv[3] ?? input.replace(/\.json$/, '.svg'));
  const report = JSON.parse(readFileSync(input, 'utf8')) as BenchReport;
  writeFileSync(output, await renderChart(report));
  console.log(`wrote ${output}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main();
