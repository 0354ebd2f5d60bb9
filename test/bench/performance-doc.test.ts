/**
 * docs/performance.md shows the measured numbers of the results files it names: its kernel
 * tables are those of bench/results/latest.json and its service-versus-PyTorch table that of
 * bench/results/http-latest.json, as bench/docs.ts writes them (`npm run bench:docs`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  KERNELS_MARKERS,
  PERFORMANCE_DOC,
  performanceDoc,
  SERVICE_MARKERS,
  type HttpReport,
} from '../../bench/docs.js';
import { RESULTS_DIR, type BenchReport } from '../../bench/report.js';

const readJson = <T>(file: string) => JSON.parse(readFileSync(join(RESULTS_DIR, file), 'utf8')) as T;

test('docs/performance.md has the tables of bench/results/latest.json and http-latest.json (npm run bench:docs)', () => {
  const doc = readFileSync(PERFORMANCE_DOC, 'utf8');
  const want = performanceDoc(doc, readJson<BenchReport>('latest.json'), readJson<HttpReport>('http-latest.json'));
  assert.equal(doc, want, 'docs/performance.md is out of date: npm run bench:docs');
});

test('the doc update writes between the markers and refuses a doc without them', () => {
  const latest = readJson<BenchReport>('latest.json');
  const http = readJson<HttpReport>('http-latest.json');
  const doc = `a\n${KERNELS_MARKERS[0]}\nold\n${KERNELS_MARKERS[1]}\nb\n${SERVICE_MARKERS[0]}\n${SERVICE_MARKERS[1]}\nc\n`;
  const out = performanceDoc(doc, latest, http);
  assert.ok(!out.includes('old'));
  assert.ok(out.startsWith(`a\n${KERNELS_MARKERS[0]}\nRun of `));
  assert.ok(out.endsWith(`${SERVICE_MARKERS[1]}\nc\n`));
  assert.equal(performanceDoc(out, latest, http), out, 'idempotent');
  assert.throws(() => performanceDoc('no markers', latest, http), /no <!-- bench:kernels:start -->/);
});
