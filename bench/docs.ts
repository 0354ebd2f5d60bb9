/**
 * The measured parts of docs/performance.md, written from the results files: the kernel
 * tables (bench/results/latest.json, written by a full `npm run bench -- --peers`) and the
 * service-versus-PyTorch table (bench/results/http-latest.json, written by bench/http.ts),
 * each between its pair of markers. Both benches call this after writing their results; on
 * its own it also redraws bench/results/latest.svg:
 *
 *   npm run bench:docs
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { markdownTables, RESULTS_DIR, type BenchReport } from './report.js';
import { endToEndMarkdown, type EndToEndReport } from './service-vs-torch.js';

export const PERFORMANCE_DOC = join(RESULTS_DIR, '../../docs/performance.md');
export const KERNELS_MARKERS = ['<!-- bench:kernels:start -->', '<!-- bench:kernels:end -->'] as const;
export const SERVICE_MARKERS = [
  '<!-- bench:service-vs-torch:start -->',
  '<!-- bench:service-vs-torch:end -->',
] as const;

/** The subset of bench/results/http-latest.json the doc shows. */
export interface HttpReport {
  date: string;
  service_vs_torch?: EndToEndReport;
}

const utc = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;

export function kernelsBlock(r: BenchReport): string {
  const load = `${r.loadavg.start[0]} at start, ${r.loadavg.end[0]} at end`;
  return [
    `Run of ${utc(r.date)}: \`npm run bench -- ${r.argv.join(' ')}\`, ${r.cpu}, ${r.cores} cores, node ${r.node}, ` +
      `1-minute load average ${load}; median of ${r.runs} runs per cell.`,
    '',
    '![GFLOP/s of convd and its peers](../bench/results/latest.svg)',
    '',
    markdownTables(r),
  ].join('\n');
}

export function serviceBlock(r: HttpReport): string {
  const e = r.service_vs_torch;
  if (!e) return `Run of ${utc(r.date)}: no service-versus-PyTorch measurement in bench/results/http-latest.json.`;
  const version = 'skipped' in e.torch ? `PyTorch (skipped: ${e.torch.skipped})` : `PyTorch ${e.torch.torch}`;
  return [
    `Run of ${utc(r.date)}: \`node dist/bench/http.js\`, ${e.threads} threads for the service and for ${version}; ` +
      `median of ${e.runs} runs, one request at a time.`,
    '',
    endToEndMarkdown(e),
  ].join('\n');
}

function replaceBetween(doc: string, [start, end]: readonly [string, string], body: string): string {
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) throw new Error(`docs/performance.md has no ${start} ... ${end} block`);
  return `${doc.slice(0, i + start.length)}\n${body}\n${doc.slice(j)}`;
}

/** docs/performance.md with both measured blocks written from the given reports. */
export function performanceDoc(doc: string, kernels: BenchReport, http: HttpReport): string {
  return replaceBetween(
    replaceBetween(doc, KERNELS_MARKERS, kernelsBlock(kernels)),
    SERVICE_MARKERS,
    serviceBlock(http),
  );
}

const readJson = <T>(file: string) => JSON.parse(readFileSync(file, 'utf8')) as T;

/** Rewrites docs/performance.md from bench/results/latest.json and http-latest.json. */
export function updatePerformanceDoc(): void {
  const latest = join(RESULTS_DIR, 'latest.json');
  const http = join(RESULTS_DIR, 'http-latest.json');
  if (!existsSync(latest) || !existsSync(http))
    throw new Error('bench/results/latest.json or http-latest.json missing');
  const doc = readFileSync(PERFORMANCE_DOC, 'utf8');
  writeFileSync(PERFORMANCE_DOC, performanceDoc(doc, readJson<BenchReport>(latest), readJson<HttpReport>(http)));
  console.log('wrote docs/performance.md');
}

async function main(): Promise<void> {
  const { renderChart } = await import('./chart.js');
  writeFileSync(
    join(RESULTS_DIR, 'latest.svg'),
    await renderChart(readJson<BenchReport>(join(RESULTS_DIR, 'latest.json'))),
  );
  console.log('wrote bench/results/latest.svg');
  updatePerformanceDoc();
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main();
