/**
 * JSON off the event loop (src/wire/json-offload.ts, workers/json-worker.ts): the same bodies
 * sent to a server that parses and writes every JSON body and answer on its JSON threads
 * (CONVD_JSON_OFFLOAD_BYTES=0) and to one that does it all inline give byte-identical answers:
 * the same results, and the same problems (status, type, detail, errors[]) for every kind of
 * 400 and 413; hand-made cases (non-finite names, dtype mismatches, length errors, `__proto__`,
 * BOM, duplicate keys, empty and malformed bodies) and random and mutated fuzz bodies alike.
 * A large body on the default threshold goes to the JSON threads.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  byteMutationArb,
  encode,
  mutateBytes,
  mutateStructure,
  requestOf,
  specArb,
  structuralMutationArb,
  wireValue,
} from '../fuzz/requests.js';
import { send, type Answer } from '../fuzz/support.js';
import { exampleBackward, exampleForward, tensor, testApp, type ConvdApp } from './helpers.js';

const LIMITS = {
  maxTensorElements: 2 ** 17,
  maxOutputBytes: 1024 * 1024,
  maxFlops: 2e6,
  maxBodyBytes: 4 * 1024 * 1024,
};

let inline: { convd: ConvdApp; port: number };
let offloaded: { convd: ConvdApp; port: number };

async function start(jsonOffloadBytes: number) {
  const convd = await testApp({ config: { ...LIMITS, jsonOffloadBytes } });
  await convd.app.listen({ port: 0, host: '127.0.0.1' });
  return { convd, port: (convd.app.server.address() as AddressInfo).port };
}

before(async () => {
  [inline, offloaded] = await Promise.all([start(2 ** 40), start(0)]);
});
after(() => Promise.all([inline.convd.app.close(), offloaded.convd.app.close()]));

/** What must be equal between the two servers: status, content type, Retry-After and the body bytes. */
const comparable = (a: Answer) => ({
  status: a.status,
  type: a.headers['content-type'],
  retryAfter: a.headers['retry-after'],
  body: a.body.toString('utf8'),
});

async function both(path: string, body: string | Buffer, accept = 'application/json') {
  const headers = { 'content-type': 'application/json', accept };
  const [a, b] = await Promise.all([inline, offloaded].map((s) => send({ port: s.port, path, headers, body })));
  return { inline: comparable(a), offloaded: comparable(b) };
}

async function assertSame(path: string, body: string | Buffer, label: string, accept?: string) {
  const r = await both(path, body, accept);
  assert.deepEqual(r.offloaded, r.inline, label);
  return r.inline;
}

describe('hand-made bodies: identical answers inline and on the JSON threads', () => {
  const fwd = exampleForward();
  const bwd = exampleBackward();
  const json = (v: unknown) => JSON.stringify(v);
  const cases: [string, string, string][] = [
    ['forward', '/conv/forward', json(fwd)],
    [
      'forward float64 with bias',
      '/conv/forward',
      json({ ...exampleForward('float64'), bias: tensor('float64', [1], [0.25]) }),
    ],
    ['backward', '/conv/backward', json(bwd)],
    [
      'non-finite names in data',
      '/conv/forward',
      json({ ...fwd, input: tensor('float32', [1, 1, 3, 3], [1, NaN, 3, Infinity, 5, -Infinity, 7, 8, -0]) }),
    ],
    ['base64 data', '/conv/forward', json(exampleForward('float32', 'base64'))],
    ['base64 answer', '/conv/forward', json({ ...fwd, encoding: 'base64' })],
    [
      'pool forward',
      '/pool/forward',
      json({
        input: tensor(
          'float32',
          [1, 1, 4, 4],
          Array.from({ length: 16 }, (_, i) => i),
        ),
        mode: 'max',
        kernel_size: 2,
      }),
    ],
    [
      'pool backward',
      '/pool/backward',
      json({
        input: tensor(
          'float32',
          [1, 1, 4, 4],
          Array.from({ length: 16 }, (_, i) => i),
        ),
        grad_output: tensor('float32', [1, 1, 2, 2], [1, 2, 3, 4]),
        mode: 'avg',
        kernel_size: 2,
      }),
    ],
    [
      'transpose',
      '/conv/transpose',
      json({
        input: tensor('float32', [1, 1, 2, 2], [1, 2, 3, 4]),
        weight: tensor('float32', [1, 1, 2, 2], [1, 0, 0, 1]),
        stride: 2,
      }),
    ],
    ['data one short', '/conv/forward', json({ ...fwd, input: { ...fwd.input, data: fwd.input.data.slice(1) } })],
    ['data one long', '/conv/forward', json({ ...fwd, weight: { ...fwd.weight, data: [...fwd.weight.data, 1] } })],
    [
      'float64 data declared float32 (still numbers)',
      '/conv/forward',
      json({ ...fwd, weight: tensor('float64', [1, 1, 2, 2], [1, 0, 0, -1]) }),
    ],
    ['a bad element', '/conv/forward', json({ ...fwd, input: { ...fwd.input, data: [1, 2, 'x', 4, 5, 6, 7, 8, 9] } })],
    [
      'a null element',
      '/conv/forward',
      json({ ...fwd, input: { ...fwd.input, data: [1, 2, null, 4, 5, 6, 7, 8, 9] } }),
    ],
    ['unknown dtype with numeric data', '/conv/forward', json({ ...fwd, input: { ...fwd.input, dtype: 'float16' } })],
    ['missing dtype', '/conv/forward', json({ ...fwd, input: { shape: fwd.input.shape, data: fwd.input.data } })],
    ['extra tensor key', '/conv/forward', json({ ...fwd, input: { ...fwd.input, layout: 'NCHW' } })],
    [
      'tensor-like object in an unknown field',
      '/conv/forward',
      json({ ...fwd, extra: { dtype: 'float32', shape: [2], data: [1, 2] } }),
    ],
    [
      'tensor-like object in grads',
      '/conv/backward',
      json({ ...bwd, grads: { dtype: 'float32', shape: [2], data: [1, 2] } }),
    ],
    [
      'weight on a pooling route',
      '/pool/forward',
      json({
        input: tensor('float32', [1, 1, 4, 4], Array(16).fill(1)),
        weight: tensor('float32', [1], [1]),
        kernel_size: 2,
      }),
    ],
    [
      'huge shapes, tiny data',
      '/conv/forward',
      json({ ...fwd, input: { ...fwd.input, shape: [1, 1, 100000, 100000] } }),
    ],
    [
      'output limit',
      '/conv/forward',
      json({
        input: tensor('float64', [1, 1, 200], Array(200).fill(1)),
        weight: tensor('float64', [100, 1, 1], Array(100).fill(1)),
      }),
    ],
    ['stride 0', '/conv/forward', json({ ...fwd, stride: 0 })],
    ['geometry', '/conv/forward', json({ ...fwd, weight: tensor('float32', [1, 2, 2, 2], Array(8).fill(1)) })],
    ['body is an array', '/conv/forward', '[1,2,3]'],
    ['body is a number', '/conv/forward', '42'],
    ['body is null', '/conv/forward', 'null'],
    ['empty body', '/conv/forward', ''],
    ['whitespace body', '/conv/forward', '   '],
    ['malformed', '/conv/forward', '{"input": {"dtype": '],
    ['trailing garbage', '/conv/forward', json(fwd) + 'x'],
    ['__proto__ key', '/conv/forward', '{"__proto__": {"polluted": 1}, "input": 1}'],
    ['constructor.prototype key', '/conv/forward', '{"constructor": {"prototype": {"polluted": 1}}}'],
    ['constructor without prototype', '/conv/forward', json({ ...fwd, constructor: { x: 1 } })],
    ['byte order mark', '/conv/forward', '\ufeff' + json(fwd)],
    [
      'duplicate keys (the last wins)',
      '/conv/forward',
      json(fwd).replace('{"input":', `{"input":${json(tensor('float32', [1, 1, 2, 2], [1, 2, 3, 4]))},"input":`),
    ],
    ['1e999 in data', '/conv/forward', json(fwd).replace('[1,2,3,4,5,6,7,8,9]', '[1e999,2,3,4,5,6,7,8,9]')],
    ['deep nesting', '/conv/forward', `{"input":${'['.repeat(5000)}${']'.repeat(5000)}}`],
    [
      'invalid UTF-8 in a string',
      '/conv/forward',
      Buffer.concat([Buffer.from('{"input":{"dtype":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')]).toString(
        'latin1',
      ),
    ],
  ];
  for (const [name, path, body] of cases) {
    test(name, async () => {
      const answer = await assertSame(
        path,
        name === 'invalid UTF-8 in a string' ? Buffer.from(body, 'latin1') : body,
        name,
      );
      assert.ok(
        answer.status === 200 || (answer.status >= 400 && answer.status < 500),
        `${name}: ${answer.status} ${answer.body}`,
      );
    });
  }

  test('the offloading server used its JSON threads for every body and answer', () => {
    const { parsed, written } = offloaded.convd.json.counts;
    assert.ok(parsed >= cases.length - 3, `${parsed} bodies parsed on the JSON threads`);
    assert.ok(written >= 5, `${written} answers written on the JSON threads`);
    assert.deepEqual(inline.convd.json.counts, { parsed: 0, written: 0 });
  });
});

describe('fuzz bodies: identical answers inline and on the JSON threads', () => {
  const pathFor = (op: string) => `/conv/${op}`;
  test('valid requests in JSON (arrays and base64)', async () => {
    await fc.assert(
      fc.asyncProperty(specArb, fc.constantFrom('json-array' as const, 'json-base64' as const), async (spec, form) => {
        await assertSame(
          pathFor(spec.op),
          encode(wireValue(requestOf(spec), form), form),
          `${form} ${JSON.stringify(spec).slice(0, 200)}`,
        );
      }),
      { seed: 4242, numRuns: 150 },
    );
  });

  test('structurally mutated requests', async () => {
    await fc.assert(
      fc.asyncProperty(specArb, structuralMutationArb, async (spec, mutation) => {
        let body: Buffer;
        try {
          body = encode(mutateStructure(wireValue(requestOf(spec), 'json-array'), mutation), 'json-array');
        } catch {
          return; // not encodable as JSON (a BigInt)
        }
        await assertSame(pathFor(spec.op), body, JSON.stringify(mutation).slice(0, 200));
      }),
      { seed: 4243, numRuns: 300 },
    );
  });

  test('byte-mutated requests', async () => {
    await fc.assert(
      fc.asyncProperty(specArb, byteMutationArb, async (spec, mutations) => {
        await assertSame(
          pathFor(spec.op),
          mutateBytes(encode(wireValue(requestOf(spec), 'json-array'), 'json-array'), mutations),
          JSON.stringify(mutations).slice(0, 200),
        );
      }),
      { seed: 4244, numRuns: 300 },
    );
  });
});

test('with the default threshold a large body and its answer go to the JSON threads, small ones stay inline, with identical answers', async () => {
  const convd = await testApp({ config: { maxTensorElements: 2 ** 20 } });
  try {
    await convd.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (convd.app.server.address() as AddressInfo).port;
    const values = Array.from({ length: 256 * 256 }, (_, i) => Math.fround(Math.sin(i)));
    const big = JSON.stringify({
      input: tensor('float32', [1, 1, 256, 256], values),
      weight: tensor('float32', [1, 1, 1, 1], [2]),
    });
    assert.ok(big.length > convd.config.jsonOffloadBytes);
    const headers = { 'content-type': 'application/json', accept: 'application/json' };
    const a = await send({ port, path: '/conv/forward', headers, body: big });
    assert.equal(a.status, 200, a.body.toString().slice(0, 300));
    assert.deepEqual(convd.json.counts, { parsed: 1, written: 1 });
    const out = JSON.parse(a.body.toString()).output;
    assert.deepEqual(out.shape, [1, 1, 256, 256]);
    for (let i = 0; i < values.length; i += 997) assert.equal(out.data[i], Math.fround(values[i] * 2));
    const small = await send({ port, path: '/conv/forward', headers, body: JSON.stringify(exampleForward()) });
    assert.equal(small.status, 200);
    assert.deepEqual(convd.json.counts, { parsed: 1, written: 1 });
    // the same body parsed inline answers the same bytes
    const same = await both('/conv/forward', big);
    assert.deepEqual(same.offloaded, same.inline);
  } finally {
    await convd.app.close();
  }
});
