/**
 * Wire fuzzing: random, mutated and hand-made hostile request bodies against a live server on
 * loopback (real worker pool, small limits). Every answer must be a well-formed problem+json
 * 4xx, or a 200 whose tensors match the naive reference for what the body says; never a 5xx,
 * a hang (15 s) or a crash; RSS stays bounded.
 *
 * Seeded and bounded for `npm test`; `npm run fuzz -- --scale 20 --seed 123` runs longer
 * (CONVD_FUZZ_SCALE multiplies every property's run count, CONVD_FUZZ_SEED picks the seed).
 */
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { OPS } from '../../src/ops/index.js';
import { testApp, type ConvdApp } from '../service/helpers.js';
import {
  acceptArb,
  byteMutationArb,
  contentTypeArb,
  contentTypeOf,
  deepJson,
  deepMsgpack,
  encode,
  FORMS,
  mapWithEntries,
  mutateBytes,
  mutateStructure,
  packBin,
  packClone,
  packTyped,
  requestOf,
  specArb,
  structuralMutationArb,
  tensorWithRawData,
  typedExt,
  wireValue,
} from './requests.js';
import { answerDefect, expectConv, problemDefect, send, type Answer, type Limits } from './support.js';

const SEED = Number(process.env.CONVD_FUZZ_SEED ?? 20261101);
const SCALE = Number(process.env.CONVD_FUZZ_SCALE ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

const LIMITS: Limits = { maxBodyBytes: 256 * 1024, maxTensorElements: 4096, maxOutputBytes: 64 * 1024, maxFlops: 2e6 };
const x = { dtype: 'float32', shape: [1, 2, 4, 4], data: Array.from({ length: 32 }, (_, i) => i / 8) };

/**
 * How the suite covers each operation of the registry (src/ops/), by path: with the naive
 * reference as oracle (valid requests in every encoding must get its answer), or through
 * mutants of valid requests (problem+json 4xx or 200, never 5xx), which between them use every field. Every operation also gets
 * garbage. A test below fails when the registry has an operation missing here, or this lists
 * one the registry (or the server) does not have.
 */
const grad2x2 = { dtype: 'float32', shape: [1, 2, 2, 2], data: Array(8).fill(1) };
const COVERAGE: Record<string, { oracle: 'reference' } | { mutants: Record<string, unknown>[] }> = {
  '/conv/forward': { oracle: 'reference' },
  '/conv/backward': { oracle: 'reference' },
  '/pool/forward': {
    mutants: [
      {
        input: x,
        mode: 'max',
        kernel_size: 3,
        stride: 2,
        padding: [
          [1, 0],
          [0, 1],
        ],
        ceil_mode: true,
        return_indices: true,
        storage_order: 1,
      },
      {
        input: x,
        mode: 'avg',
        kernel_size: 2,
        padding: 'same',
        dilation: 2,
        count_include_pad: false,
        divisor_override: 3,
        layout: 'NCHW',
      },
      {
        input: x,
        mode: 'lp',
        p: 3,
        lp_abs: true,
        kernel_size: 2,
        stride: 1,
        padding: 'valid',
        ceil_mode: false,
        encoding: 'base64',
      },
    ],
  },
  '/pool/backward': {
    mutants: [
      {
        input: x,
        mode: 'avg',
        kernel_size: 2,
        dilation: 1,
        count_include_pad: false,
        divisor_override: 2,
        layout: 'NCHW',
        grad_output: grad2x2,
      },
      {
        input: x,
        mode: 'lp',
        p: 3,
        lp_abs: true,
        kernel_size: 2,
        padding: 'same_lower',
        encoding: 'base64',
        grad_output: grad2x2,
      },
      {
        input: x,
        mode: 'max',
        kernel_size: 3,
        stride: 2,
        ceil_mode: true,
        return_indices: false,
        storage_order: 0,
        grad_output: grad2x2,
      },
    ],
  },
  '/pool/adaptive/forward': {
    mutants: [
      { input: x, mode: 'max', output_size: [3, null], return_indices: true, storage_order: 1, layout: 'NCHW' },
      { input: x, mode: 'lp', p: 1.5, lp_abs: true, output_size: 1, encoding: 'base64' },
    ],
  },
  '/pool/adaptive/backward': {
    mutants: [
      { input: x, mode: 'avg', output_size: 2, grad_output: grad2x2 },
      {
        input: x,
        mode: 'lp',
        p: 2,
        lp_abs: false,
        output_size: [2, 2],
        return_indices: false,
        storage_order: 0,
        layout: 'channels_first',
        encoding: 'base64',
        grad_output: grad2x2,
      },
    ],
  },
  '/conv/transpose': {
    mutants: [
      {
        input: x,
        weight: { dtype: 'float32', shape: [2, 3, 3, 3], data: Array(54).fill(0.5) },
        stride: 2,
        padding: 1,
      },
      {
        input: x,
        weight: { dtype: 'float32', shape: [2, 1, 3, 3], data: Array(18).fill(0.25) },
        bias: { dtype: 'float32', shape: [2], data: [1, -1] },
        stride: 2,
        padding: 1,
        output_padding: 1,
        dilation: 1,
        groups: 2,
        layout: 'channels_first',
        encoding: 'base64',
      },
      {
        input: x,
        weight: { dtype: 'float32', shape: [2, 3, 3, 3], data: Array(54).fill(0.5) },
        stride: 2,
        padding: 'same',
        output_size: [9, 8],
      },
    ],
  },
  '/conv/transpose/backward': {
    mutants: [
      {
        input: x,
        weight: { dtype: 'float32', shape: [2, 3, 3, 3], data: Array(54).fill(0.5) },
        stride: 2,
        padding: 1,
        grad_output: { dtype: 'float32', shape: [1, 3, 7, 7], data: Array(147).fill(0.25) },
      },
      {
        input: x,
        weight: { dtype: 'float32', shape: [2, 1, 3, 3], data: Array(18).fill(0.25) },
        bias: { dtype: 'float32', shape: [2], data: [1, -1] },
        stride: 2,
        padding: 1,
        output_padding: 1,
        dilation: 1,
        groups: 2,
        layout: 'channels_first',
        encoding: 'base64',
        grads: ['weight', 'bias'],
        grad_output: { dtype: 'float32', shape: [1, 2, 8, 8], data: Array(128).fill(0.5) },
      },
      {
        input: x,
        weight: { dtype: 'float32', shape: [2, 3, 3, 3], data: Array(54).fill(0.5) },
        stride: 2,
        padding: 1,
        output_size: [1, 3, 8, 7],
        grad_output: { dtype: 'float32', shape: [1, 3, 8, 7], data: Array(168).fill(0.25) },
      },
    ],
  },
  '/unfold': {
    mutants: [
      { input: x, kernel_size: 2, stride: [1, 2], padding: 1, dilation: 2 },
      { input: x, kernel_size: [2, 1], layout: 'channels_first', encoding: 'base64' },
    ],
  },
  '/fold': {
    mutants: [
      {
        input: { dtype: 'float32', shape: [1, 8, 9], data: Array(72).fill(0.5) },
        output_size: [4, 4],
        kernel_size: 2,
        padding: 1,
        stride: 2,
      },
      {
        input: { dtype: 'float32', shape: [1, 4, 9], data: Array(36).fill(0.5) },
        output_size: [4, 4],
        kernel_size: 2,
        dilation: 2,
        layout: 'channels_first',
        encoding: 'base64',
      },
    ],
  },
};

/** Every compute route: the registry's. */
const postRoutes = OPS.map((op) => op.route.path);

let convd: ConvdApp;
let port: number;
const stats = {
  inputs: 0,
  byStatus: new Map<number, number>(),
  validRefused: 0,
  answered200: 0,
  rssAfterWarmup: 0,
  rssPeak: 0,
};

before(async () => {
  convd = await testApp({
    // splitMinFlops (when the service splits big requests across threads): split even small ones, so that path is fuzzed too
    // jsonOffloadBytes: JSON bodies and answers of 1 KiB or more are parsed / written on the JSON threads, smaller ones inline: both paths are fuzzed
    config: {
      ...LIMITS,
      poolThreads: 2,
      maxQueue: 64,
      deadlineMs: 10_000,
      jsonOffloadBytes: 1024,
      ...({ splitMinFlops: 1e4 } as object),
    },
  });
  await convd.app.listen({ port: 0, host: '127.0.0.1' });
  port = (convd.app.server.address() as AddressInfo).port;
});

after(async () => {
  await convd.app.close();
  const statuses = [...stats.byStatus.entries()]
    .sort(([a], [b]) => a - b)
    .map(([s, n]) => `${s}: ${n}`)
    .join(', ');
  console.log(
    `# fuzz: ${stats.inputs} inputs tried (seed ${SEED}, scale ${SCALE}); answers ${statuses}; ` +
      `${stats.validRefused} oracle-valid mutants refused; RSS after warm-up ${mb(stats.rssAfterWarmup)}, peak ${mb(stats.rssPeak)}`,
  );
});

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

interface Input {
  path: string;
  contentType?: string;
  accept?: string;
  body: Uint8Array | string;
  /** The body is an unmutated valid-generator request: an oracle-valid one must be answered 200. */
  strict?: boolean;
}

/** Sends one input and checks the answer; throws (fails the property) with what went wrong. */
async function check(input: Input): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (input.contentType !== undefined) headers['content-type'] = input.contentType;
  if (input.accept !== undefined) headers.accept = input.accept;
  const body = typeof input.body === 'string' ? Buffer.from(input.body) : input.body;
  stats.inputs++;
  const answer = await send({ port, path: input.path, headers, body });
  stats.byStatus.set(answer.status, (stats.byStatus.get(answer.status) ?? 0) + 1);
  const rss = process.memoryUsage.rss();
  if (rss > stats.rssPeak) stats.rssPeak = rss;

  const expected = expectConv(input.path, { contentType: input.contentType, accept: input.accept }, body, LIMITS);
  const where = `${input.path} (${input.contentType}, accept ${input.accept}, ${body.byteLength} bytes; oracle: ${expected.kind}${'why' in expected ? ` ${expected.why}` : ''})`;
  if (answer.status >= 400 && answer.status < 500) {
    const defect = problemDefect(answer);
    if (defect) throw new Error(`${answer.status} is not a well-formed problem: ${defect} — ${where}`);
    if (expected.kind === 'valid') {
      if (input.strict)
        throw new Error(
          `valid request refused with ${answer.status}: ${answer.body.toString().slice(0, 300)} — ${where}`,
        );
      stats.validRefused++;
    }
    return answer;
  }
  if (answer.status === 200) {
    stats.answered200++;
    if (expected.kind === 'invalid') throw new Error(`invalid request answered 200 — ${where}`);
    if (expected.kind === 'valid') {
      const defect = answerDefect(answer, expected);
      if (defect) throw new Error(`wrong answer: ${defect} — ${where}`);
    }
    return answer;
  }
  throw new Error(`answered ${answer.status}: ${answer.body.toString().slice(0, 300)} — ${where}`);
}

const formArb = fc.constantFrom(...FORMS);
const pathFor = (op: 'forward' | 'backward') => `/conv/${op}`;

test('the suite covers exactly the operations of the registry, each served by the app', () => {
  assert.deepEqual(
    Object.keys(COVERAGE).sort(),
    [...postRoutes].sort(),
    'COVERAGE lists each operation of src/ops/ once',
  );
  for (const url of postRoutes) assert.ok(convd.app.hasRoute({ method: 'POST', url }), `POST ${url} is served`);
  // the mutants of an operation start from requests that use every one of its fields
  for (const op of OPS) {
    const how = COVERAGE[op.route.path];
    if (!how || !('mutants' in how)) continue;
    const used = new Set(how.mutants.flatMap((body) => Object.keys(body)));
    const fields = Object.keys((op.request as unknown as { shape: Record<string, unknown> }).shape);
    assert.deepEqual(
      fields.filter((f) => !used.has(f)),
      [],
      `${op.route.path}: fields no mutant base uses`,
    );
  }
  // the reference oracle knows exactly the operations marked for it
  for (const [path, how] of Object.entries(COVERAGE)) {
    const known =
      expectConv(path, { contentType: 'application/json', accept: 'application/json' }, Buffer.from('{}'), LIMITS)
        .kind !== 'unknown';
    assert.equal(known, 'oracle' in how, `${path}: ${'oracle' in how ? 'has' : 'has no'} reference oracle`);
  }
});

test('valid requests in every encoding: 200 with the reference answer (or the 4xx the oracle expects)', async () => {
  await fc.assert(
    fc.asyncProperty(
      specArb,
      formArb,
      acceptArb,
      fc.nat(5),
      fc.boolean(),
      async (spec, form, accept, variant, base64Out) => {
        const value = wireValue(requestOf(spec), form);
        if (base64Out) value.encoding = 'base64';
        await check({
          path: pathFor(spec.op),
          contentType: contentTypeOf(form, variant),
          accept,
          body: encode(value, form),
          strict: true,
        });
      },
    ),
    { seed: SEED, numRuns: runs(500) },
  );
  stats.rssAfterWarmup = process.memoryUsage.rss();
});

test('byte-mutated bodies (truncated, flipped, inserted, deleted, duplicated bytes, JSON tokens): problem+json 4xx or a correct 200', async () => {
  await fc.assert(
    fc.asyncProperty(specArb, formArb, acceptArb, byteMutationArb, async (spec, form, accept, mutations) => {
      const body = mutateBytes(encode(wireValue(requestOf(spec), form), form), mutations);
      await check({ path: pathFor(spec.op), contentType: contentTypeOf(form), accept, body });
    }),
    { seed: SEED + 1, numRuns: runs(1500) },
  );
});

test('structurally mutated requests (wrong types, NaN / Infinity, 2^31 and 2^53 values, huge shapes with tiny data, deep nesting): problem+json 4xx or a correct 200', async () => {
  await fc.assert(
    fc.asyncProperty(specArb, formArb, structuralMutationArb, async (spec, form, mutation) => {
      const value = mutateStructure(wireValue(requestOf(spec), form), mutation);
      let body: Buffer;
      try {
        body = encode(value, form);
      } catch {
        return; // not encodable in this form (e.g. a BigInt in JSON): nothing to send
      }
      await check({ path: pathFor(spec.op), contentType: contentTypeOf(form), accept: 'application/json', body });
    }),
    { seed: SEED + 2, numRuns: runs(1500) },
  );
});

test('garbage: random bytes, random JSON and msgpack values, any content type, every POST route', async () => {
  const bodyArb = fc.oneof(
    fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
    fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? '')),
    fc
      .anything({ maxDepth: 3, withTypedArray: true, withBigInt: true, withDate: true, withMap: true, withSet: true })
      .map((v) => Buffer.from(packTyped.pack(v))),
    fc.constant(Buffer.alloc(0)),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...postRoutes),
      fc.option(contentTypeArb, { nil: undefined }),
      bodyArb,
      async (path, contentType, body) => {
        await check({ path, contentType, accept: 'application/json', body });
      },
    ),
    { seed: SEED + 3, numRuns: runs(1000) },
  );
});

test('mutated requests of the operations without an oracle: problem+json 4xx or 200, never 5xx', async () => {
  const valid = Object.entries(COVERAGE).flatMap(([path, how]) =>
    'mutants' in how ? how.mutants.map((body) => ({ path, body })) : [],
  );
  const mutants = fc.oneof(
    fc.record({ kind: fc.constant('bytes' as const), form: formArb, bytes: byteMutationArb }),
    fc.record({ kind: fc.constant('structure' as const), form: formArb, structure: structuralMutationArb }),
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...valid), mutants, async ({ path, body: value }, m) => {
      // its tensor data stays a number array in every form
      let body: Buffer;
      try {
        body =
          m.kind === 'bytes'
            ? mutateBytes(encode(value, m.form), m.bytes)
            : encode(mutateStructure(value, m.structure), m.form);
      } catch {
        return;
      }
      await check({ path, contentType: contentTypeOf(m.form), accept: 'application/json', body });
    }),
    { seed: SEED + 4, numRuns: runs(600) },
  );
});

/** A valid forward request's fields, to build hand-made bodies around. */
const GOOD = {
  input: { dtype: 'float32', shape: [1, 1, 3, 3], data: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
  weight: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 0, 0, -1] },
};
const goodJson = (extra: string) =>
  `{"input":${JSON.stringify(GOOD.input)},"weight":${JSON.stringify(GOOD.weight)}${extra}}`;
const f32 = (values: number[]) => Buffer.from(Float32Array.from(values).buffer);

test('hand-made hostile corpus', async () => {
  const msgpack = 'application/msgpack';
  const json = 'application/json';
  const input = (data: Buffer) => tensorWithRawData('float32', [1, 1, 3, 3], data);
  const forwardWithRawInput = (data: Buffer) =>
    Buffer.concat([
      Buffer.of(0x82),
      Buffer.from(packBin.pack('input')),
      input(data),
      Buffer.from(packBin.pack('weight')),
      Buffer.from(packBin.pack(GOOD.weight)),
    ]);
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  const selfTensor: Record<string, unknown> = { dtype: 'float32', shape: [1, 1, 3, 3] };
  selfTensor.data = selfTensor;
  const cases: [string, Input][] = [
    ['empty JSON body', { path: '/conv/forward', contentType: json, body: '' }],
    ['empty msgpack body', { path: '/conv/forward', contentType: msgpack, body: '' }],
    ['empty body, no content type', { path: '/conv/forward', body: '' }],
    ['JSON null', { path: '/conv/forward', contentType: json, body: 'null' }],
    ['JSON array', { path: '/conv/forward', contentType: json, body: '[1,2]' }],
    [
      'JSON NaN literal in data',
      { path: '/conv/forward', contentType: json, body: goodJson('').replace('[1,2,3', '[NaN,2,3') },
    ],
    [
      'JSON 1e999 in data (parses as Infinity)',
      { path: '/conv/forward', contentType: json, body: goodJson('').replace('[1,2,3', '[1e999,2,3') },
    ],
    [
      'JSON "NaN" in shape',
      { path: '/conv/forward', contentType: json, body: goodJson('').replace('[1,1,3,3]', '[1,1,"NaN",3]') },
    ],
    ['JSON 1e999 stride', { path: '/conv/forward', contentType: json, body: goodJson(',"stride":1e999') }],
    [
      'JSON stride nested 100000 deep',
      { path: '/conv/forward', contentType: json, body: goodJson(`,"stride":${deepJson(100_000)}`) },
    ],
    [
      'JSON data nested 100000 deep',
      {
        path: '/conv/forward',
        contentType: json,
        body: goodJson('').replace('[1,2,3,4,5,6,7,8,9]', deepJson(100_000)),
      },
    ],
    [
      'JSON unknown field nested 100000 deep',
      { path: '/conv/forward', contentType: json, body: goodJson(`,"zzz":${deepJson(100_000)}`) },
    ],
    ['JSON unterminated 1e6 brackets', { path: '/conv/forward', contentType: json, body: '['.repeat(1_000_000) }],
    [
      'JSON duplicated keys (last wins)',
      { path: '/conv/forward', contentType: json, body: goodJson(',"stride":7,"stride":1') },
    ],
    [
      'JSON duplicated tensor keys',
      {
        path: '/conv/forward',
        contentType: json,
        body: goodJson(`,"input":${JSON.stringify({ ...GOOD.input, shape: [1, 1, 9, 1] })}`),
      },
    ],
    ['JSON __proto__ key', { path: '/conv/forward', contentType: json, body: goodJson(',"__proto__":{"stride":2}') }],
    [
      'JSON constructor.prototype',
      { path: '/conv/forward', contentType: json, body: goodJson(',"constructor":{"prototype":{"x":1}}') },
    ],
    [
      'JSON 100000-digit number shape',
      {
        path: '/conv/forward',
        contentType: json,
        body: goodJson('').replace('[1,1,3,3]', `[1,1,${'9'.repeat(100_000)},3]`),
      },
    ],
    [
      'JSON huge declared shapes, tiny data',
      {
        path: '/conv/forward',
        contentType: json,
        body: goodJson('').replace('[1,1,3,3]', '[2147483647,2147483647,2147483647,2147483647]'),
      },
    ],
    [
      'JSON shape 2^31',
      { path: '/conv/forward', contentType: json, body: goodJson('').replace('[1,1,3,3]', '[1,1,2147483648,3]') },
    ],
    [
      'JSON output too big from padding',
      { path: '/conv/forward', contentType: json, body: goodJson(',"padding":2147483647') },
    ],
    [
      'JSON body over the limit',
      { path: '/conv/forward', contentType: json, body: goodJson(`,"pad":"${'x'.repeat(LIMITS.maxBodyBytes)}"`) },
    ],
    [
      'JSON charset=latin1',
      { path: '/conv/forward', contentType: 'application/json; charset=latin1', body: goodJson('') },
    ],
    ['uppercase content type', { path: '/conv/forward', contentType: 'APPLICATION/JSON', body: goodJson('') }],
    ['text/plain JSON', { path: '/conv/forward', contentType: 'text/plain', body: goodJson('') }],
    ['msgpack as JSON', { path: '/conv/forward', contentType: json, body: packBin.pack(GOOD) }],
    ['JSON as msgpack', { path: '/conv/forward', contentType: msgpack, body: goodJson('') }],
    [
      'msgpack 200000-deep arrays',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: Buffer.concat([Buffer.of(0x81), Buffer.from(packBin.pack('stride')), deepMsgpack(200_000)]),
      },
    ],
    [
      'msgpack 200000-deep maps',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: Buffer.concat([Buffer.alloc(200_000 * 3).map((_, i) => [0x81, 0xa1, 0x61][i % 3]), Buffer.of(0x01)]),
      },
    ],
    [
      'msgpack duplicated keys (last wins)',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: mapWithEntries([
          ['input', GOOD.input],
          ['weight', GOOD.weight],
          ['stride', 5],
          ['stride', 1],
        ]),
      },
    ],
    [
      'msgpack duplicated input key',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: mapWithEntries([
          ['input', { dtype: 'float64', shape: [1], data: [1] }],
          ['weight', GOOD.weight],
          ['input', GOOD.input],
        ]),
      },
    ],
    [
      'msgpack __proto__ key',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: mapWithEntries([
          ['input', GOOD.input],
          ['weight', GOOD.weight],
          ['__proto__', { stride: 2 }],
        ]),
      },
    ],
    [
      'msgpack Float32 ext with 37 bytes (unaligned)',
      { path: '/conv/forward', contentType: msgpack, body: forwardWithRawInput(typedExt(7, Buffer.alloc(37))) },
    ],
    [
      'msgpack Float64 ext with 36 bytes',
      { path: '/conv/forward', contentType: msgpack, body: forwardWithRawInput(typedExt(8, Buffer.alloc(36))) },
    ],
    [
      'msgpack Float64 ext for float32 dtype',
      { path: '/conv/forward', contentType: msgpack, body: forwardWithRawInput(typedExt(8, Buffer.alloc(72))) },
    ],
    [
      'msgpack Float32 ext, right length',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: forwardWithRawInput(typedExt(7, f32([1, 2, 3, 4, 5, 6, 7, 8, 9]))),
      },
    ],
    [
      'msgpack Int32 ext',
      { path: '/conv/forward', contentType: msgpack, body: forwardWithRawInput(typedExt(5, Buffer.alloc(36))) },
    ],
    [
      'msgpack BigInt64 ext with 36 bytes',
      { path: '/conv/forward', contentType: msgpack, body: forwardWithRawInput(typedExt(9, Buffer.alloc(36))) },
    ],
    [
      'msgpack ArrayBuffer ext',
      { path: '/conv/forward', contentType: msgpack, body: forwardWithRawInput(typedExt(16, Buffer.alloc(36))) },
    ],
    [
      'msgpack DataView ext',
      { path: '/conv/forward', contentType: msgpack, body: forwardWithRawInput(typedExt(17, Buffer.alloc(36))) },
    ],
    [
      'msgpack unknown typed ext code',
      { path: '/conv/forward', contentType: msgpack, body: forwardWithRawInput(typedExt(99, Buffer.alloc(36))) },
    ],
    [
      'msgpack empty typed ext',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: forwardWithRawInput(Buffer.of(0xd4, 0x74, 0x07).subarray(0, 3)),
      },
    ],
    [
      'msgpack bin of 35 bytes',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: forwardWithRawInput(Buffer.concat([Buffer.of(0xc4, 35), Buffer.alloc(35)])),
      },
    ],
    [
      'msgpack bin32 declaring 4 GiB',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: forwardWithRawInput(Buffer.concat([Buffer.of(0xc6, 0xff, 0xff, 0xff, 0xff), Buffer.alloc(36)])),
      },
    ],
    [
      'msgpack array32 declaring 2^32-1 elements',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: forwardWithRawInput(Buffer.of(0xdd, 0xff, 0xff, 0xff, 0xff, 0x01)),
      },
    ],
    [
      'msgpack map32 declaring 2^32-1 entries',
      { path: '/conv/forward', contentType: msgpack, body: Buffer.of(0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61, 0x01) },
    ],
    [
      'msgpack str32 declaring 4 GiB',
      { path: '/conv/forward', contentType: msgpack, body: Buffer.of(0x81, 0xdb, 0xff, 0xff, 0xff, 0xff, 0x61) },
    ],
    [
      'msgpack uint64 max in shape',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: Buffer.concat([
          Buffer.of(0x82),
          Buffer.from(packBin.pack('input')),
          Buffer.of(0x83),
          Buffer.from(packBin.pack('dtype')),
          Buffer.from(packBin.pack('float32')),
          Buffer.from(packBin.pack('shape')),
          Buffer.of(0x94, 1, 1, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 3),
          Buffer.from(packBin.pack('data')),
          Buffer.from(packBin.pack(f32([1, 2, 3]))),
          Buffer.from(packBin.pack('weight')),
          Buffer.from(packBin.pack(GOOD.weight)),
        ]),
      },
    ],
    [
      'msgpack int64 shape',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: mapWithEntries([
          ['input', GOOD.input],
          ['weight', GOOD.weight],
          ['groups', 2n ** 63n - 1n],
        ]),
      },
    ],
    [
      'msgpack NaN stride',
      { path: '/conv/forward', contentType: msgpack, body: packBin.pack({ ...GOOD, stride: NaN }) },
    ],
    [
      'msgpack -Infinity padding',
      { path: '/conv/forward', contentType: msgpack, body: packBin.pack({ ...GOOD, padding: -Infinity }) },
    ],
    [
      'msgpack float shape 3.5',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: packBin.pack({ ...GOOD, input: { ...GOOD.input, shape: [1, 1, 3.5, 3] } }),
      },
    ],
    [
      'msgpack Date as data',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: packBin.pack({ ...GOOD, input: { ...GOOD.input, data: new Date(0) } }),
      },
    ],
    [
      'msgpack Map as tensor',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: packBin.pack({ ...GOOD, input: new Map(Object.entries(GOOD.input)) }),
      },
    ],
    [
      'msgpack Set as shape',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: packTyped.pack({ ...GOOD, input: { ...GOOD.input, shape: new Set([1, 2, 3]) } }),
      },
    ],
    [
      'msgpack RegExp as layout',
      { path: '/conv/forward', contentType: msgpack, body: packTyped.pack({ ...GOOD, layout: /(a+)+$/ }) },
    ],
    [
      'msgpack Error ext as stride',
      { path: '/conv/forward', contentType: msgpack, body: packTyped.pack({ ...GOOD, stride: new RangeError('x') }) },
    ],
    [
      'msgpack cyclic stride (structured clone)',
      { path: '/conv/forward', contentType: msgpack, body: packClone.pack({ ...GOOD, stride: cyclic }) },
    ],
    [
      'msgpack cyclic tensor (structured clone)',
      { path: '/conv/forward', contentType: msgpack, body: packClone.pack({ ...GOOD, input: selfTensor }) },
    ],
    [
      'msgpack dangling pointer ext',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: Buffer.concat([Buffer.of(0x81), Buffer.from(packBin.pack('stride')), Buffer.of(0xd6, 0x70, 0, 0, 0, 7)]),
      },
    ],
    [
      'msgpack bundled-strings ext with absurd size',
      { path: '/conv/forward', contentType: msgpack, body: Buffer.of(0xd6, 0x62, 0x7f, 0xff, 0xff, 0xff, 0xa1, 0x61) },
    ],
    [
      'msgpack record definition',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: Buffer.of(0xd4, 0x72, 0x40, 0x92, 0xa5, ...Buffer.from('input'), 0xa6, ...Buffer.from('weight')),
      },
    ],
    [
      'msgpack trailing bytes',
      {
        path: '/conv/forward',
        contentType: msgpack,
        body: Buffer.concat([Buffer.from(packBin.pack(GOOD)), Buffer.of(0xc0)]),
      },
    ],
    ['msgpack a lone nil', { path: '/conv/forward', contentType: msgpack, body: Buffer.of(0xc0) }],
    ['msgpack reserved byte 0xc1', { path: '/conv/forward', contentType: msgpack, body: Buffer.of(0xc1) }],
    [
      'msgpack typed data for every tensor, backward',
      {
        path: '/conv/backward',
        contentType: msgpack,
        body: packTyped.pack({
          input: { ...GOOD.input, data: Float32Array.from(GOOD.input.data) },
          weight: { ...GOOD.weight, data: Float32Array.from(GOOD.weight.data) },
          grad_output: { dtype: 'float32', shape: [1, 1, 2, 2], data: new Float32Array(4).fill(1) },
        }),
      },
    ],
    ['unknown route', { path: '/conv/sideways', contentType: json, body: goodJson('') }],
  ];
  for (const [name, input] of cases) {
    await check({ accept: 'application/json', ...input }).catch((err: Error) => {
      throw new Error(`${name}: ${err.message}`);
    });
  }
});

test('HTTP-level garbage on a raw socket: a problem+json 4xx, and the server keeps serving', async () => {
  const raw = [
    'POST /conv/forward HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
    'POST /conv/forward HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    'POST /conv/forward HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    'POST /conv/forward HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
    'GARBAGE\r\n\r\n',
    `GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    `POST /conv/forward HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(100_000)}\r\n\r\n`,
    'POST /conv/forward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}',
  ];
  for (const text of raw) {
    stats.inputs++;
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port });
      let got = '';
      socket.setTimeout(10_000, () => reject(new Error(`raw request hung: ${JSON.stringify(text.slice(0, 80))}`)));
      socket.on('data', (c) => (got += c.toString('latin1')));
      socket.on('end', () => resolve(got));
      socket.on('close', () => resolve(got));
      socket.on('error', () => resolve(got));
      socket.end(text);
    });
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0);
    stats.byStatus.set(status, (stats.byStatus.get(status) ?? 0) + 1);
    const what = `raw request ${JSON.stringify(text.slice(0, 80))} answered ${JSON.stringify(reply.slice(0, 300))}`;
    assert.ok(status >= 400 && status < 500, what);
    const [head, ...rest] = reply.split('\r\n\r\n');
    const headers = Object.fromEntries(
      head
        .split('\r\n')
        .slice(1)
        .map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
    );
    assert.equal(problemDefect({ status, headers, body: Buffer.from(rest.join('\r\n\r\n'), 'latin1') }), null, what);
  }
  const health = await send({ port, path: '/healthz', method: 'GET' });
  assert.equal(health.status, 200);
});

test('after the fuzz: the server is healthy, the pool idle, RSS bounded', async () => {
  const health = await send({ port, path: '/readyz', method: 'GET' });
  assert.equal(health.status, 200);
  const stats_ = convd.pool.stats();
  assert.deepEqual({ active: stats_.active, queued: stats_.queued }, { active: 0, queued: 0 });
  const rss = process.memoryUsage.rss();
  assert.ok(
    rss - stats.rssAfterWarmup < 256 * 2 ** 20,
    `RSS grew from ${mb(stats.rssAfterWarmup)} after warm-up to ${mb(rss)}`,
  );
  // and a valid request still gets the right answer
  const ok = await check({
    path: '/conv/forward',
    contentType: 'application/json',
    accept: 'application/json',
    body: goodJson(''),
    strict: true,
  });
  assert.equal(ok.status, 200);
  assert.ok(
    stats.answered200 > 100,
    `only ${stats.answered200} answers were 200: the generators hardly reach the kernels`,
  );
});
