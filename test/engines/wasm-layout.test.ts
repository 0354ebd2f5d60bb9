/**
 * The plan record the wasm engine writes (workers/engines/wasm.ts: PLAN_LAYOUT, PLAN_FIELDS,
 * planRecord) against what the AssemblyScript side reads (workers/wasm/im2col.ts: its field
 * indices, PLAN_FIELDS and the padding-mode numbers of sourceIndex), read from both sources and
 * from the built module, so that a field moved on one side only fails here rather than as wrong
 * numbers in a convolution.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { PADDING_MODES } from '../../src/shared/geometry/common.js';
import { lowerConv } from '../../workers/kernels/lowering.js';
import { PLAN_FIELDS, PLAN_LAYOUT, planRecord } from '../../workers/engines/wasm.js';
import { resolveConv } from '../../src/shared/geometry/conv.js';

const IM2COL_AS = readFileSync(new URL('../../../workers/wasm/im2col.ts', import.meta.url), 'utf8');
const WASM = new URL('../../workers/wasm/kernels.wasm', import.meta.url);

/** The `const NAME = <int>;` field indices of im2col.ts, in order. */
const asFields = (): [string, number][] =>
  [...IM2COL_AS.matchAll(/^const ([A-Z_]+) = (\d+);/gm)].map((m) => [m[1], Number(m[2])]);

test('the engine lays the plan record out field for field as workers/wasm/im2col.ts reads it', () => {
  assert.deepEqual(asFields(), Object.entries(PLAN_LAYOUT));
  assert.equal(Number(/export const PLAN_FIELDS: i32 = (\d+);/.exec(IM2COL_AS)?.[1]), PLAN_FIELDS);
  // the last field is one int and ends the record
  assert.equal(PLAN_LAYOUT.PADDING_MODE + 1, PLAN_FIELDS);
});

test('the built module declares the same record size', () => {
  const module = new WebAssembly.Module(readFileSync(WASM));
  const exports = new WebAssembly.Instance(module, { env: { abort: () => undefined } }).exports as {
    PLAN_FIELDS: WebAssembly.Global;
  };
  assert.equal(exports.PLAN_FIELDS.value, PLAN_FIELDS);
});

test('padding modes are numbered alike: the comment on the field and the branches of sourceIndex', () => {
  const comment = /PADDING_MODE = \d+; \/\/ (.*)$/m.exec(IM2COL_AS)?.[1];
  assert.equal(comment, PADDING_MODES.map((m, i) => `${i} ${m}`).join(', '));
  for (const [i, mode] of PADDING_MODES.entries()) {
    if (mode === 'zeros') assert.match(IM2COL_AS, new RegExp(`if \\(mode == ${i}\\) return -1;`));
    else if (mode !== 'circular') assert.match(IM2COL_AS, new RegExp(`if \\(mode == ${i}\\) return .*// ${mode}`));
  }
  // circular is the last branch, taken by every mode not tested before it
  assert.equal(PADDING_MODES.at(-1), 'circular');
  assert.match(IM2COL_AS, /return pos < 0 \? pos \+ extent : pos - extent; \/\/ circular/);
});

test('planRecord puts each dim of a lowered convolution at its field', () => {
  const dtype = 'float32';
  const g = resolveConv(
    { input: { dtype, shape: [2, 6, 9, 10, 11] }, weight: { dtype, shape: [4, 3, 2, 3, 4] } },
    { groups: 2, stride: [1, 2, 3], dilation: [2, 1, 1], padding: [1, 2, 3], padding_mode: 'replicate' },
  );
  const p = lowerConv(g);
  const r = planRecord(p);
  const at = (field: keyof typeof PLAN_LAYOUT, n = 3) => [...r.subarray(PLAN_LAYOUT[field], PLAN_LAYOUT[field] + n)];
  assert.deepEqual(at('IN_EXT'), p.inExt);
  assert.deepEqual(at('K_EXT'), p.kExt);
  assert.deepEqual(at('OUT_EXT'), p.outExt);
  assert.deepEqual(at('STRIDE'), p.stride);
  assert.deepEqual(at('DILATION'), p.dilation);
  assert.deepEqual(at('PAD_BEFORE'), p.padBefore);
  assert.deepEqual(at('X_SPATIAL'), p.xSpatial);
  assert.deepEqual(at('X_C', 1), [p.xC]);
  assert.deepEqual(at('CIN_G', 1), [p.cinG]);
  assert.deepEqual(at('ROW_PER_CHANNEL', 1), [p.rowPerChannel]);
  assert.deepEqual(at('ROW_PER_OFFSET', 1), [p.rowPerOffset]);
  assert.deepEqual(at('PADDING_MODE', 1), [PADDING_MODES.indexOf('replicate')]);
});
