/**
 * The OpenAPI document: valid OpenAPI 3.1, identical to openapi/openapi.json, served at
 * /openapi.json, rendered at /docs; each component schema once; info.version from
 * package.json; and every example true: each documented 200 example is what the service
 * answers to its request example (JSON and msgpack), each documented problem is what the
 * service answers when that problem is provoked.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import request, { type Response } from 'supertest';
import { clientErrorHandler } from '../../src/http/client-errors.js';
import { msgpackView, OPENAPI_FILE, OPERATIONS, openapiText } from '../../src/openapi.js';
import { docsRequestInterceptor, docsResponseInterceptor } from '../../src/routes/docs.js';
import { ERROR_STATUSES, SHARED_PROBLEMS } from '../../src/schemas/examples.js';
import { fakePool, packBin, rawBody, testApp, unpackr, type ConvdApp } from './helpers.js';

const PATHS = Object.keys(OPERATIONS);
const PACKAGE = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

type Json = Record<string, any>;

let convd: ConvdApp;
let doc: Json;
before(async () => {
  convd = await testApp();
  doc = JSON.parse(openapiText(convd.app));
});
after(() => convd.app.close());

/** `node` with its `$ref` to components.examples resolved. */
const resolve = (node: Json): Json =>
  node.$ref ? doc.components.examples[node.$ref.slice('#/components/examples/'.length)] : node;

/** The documented examples of one media type of a response (or of the request body), by name, resolved. */
function examplesOf(media: Json): Record<string, Json> {
  assert.ok(media.examples, 'the media type has examples');
  return Object.fromEntries(
    Object.entries(media.examples as Record<string, Json>).map(([name, e]) => [name, resolve(e)]),
  );
}

const problemExamples = (path: string, status: number) =>
  examplesOf(doc.paths[path].post.responses[String(status)].content['application/problem+json']);
const requestExamples = (path: string) => examplesOf(doc.paths[path].post.requestBody.content['application/json']);
const firstRequest = (path: string): Json => structuredClone(Object.values(requestExamples(path))[0].value);

test('the document validates as OpenAPI 3.1', async () => {
  assert.equal(doc.openapi, '3.1.0');
  await SwaggerParser.validate(structuredClone(doc) as never);
});

test('openapi/openapi.json is up to date (run `npm run openapi` after changing a schema)', () => {
  assert.equal(readFileSync(OPENAPI_FILE, 'utf8'), openapiText(convd.app));
});

test('GET /openapi.json serves the same bytes', async () => {
  const res = await request(convd.app.server).get('/openapi.json').expect(200);
  assert.match(res.headers['content-type'], /^application\/json/);
  assert.equal(res.text, readFileSync(OPENAPI_FILE, 'utf8'));
});

test("info: convd, package.json's version", () => {
  assert.equal(doc.info.title, 'convd');
  assert.equal(doc.info.version, PACKAGE.version);
  assert.match(doc.info.description, /^convd /);
});

test('each component schema appears once, and every one is used', () => {
  const names = Object.keys(doc.components.schemas);
  for (const name of names) {
    assert.ok(
      !(name.endsWith('Input') && names.includes(name.slice(0, -'Input'.length))),
      `${name} beside ${name.slice(0, -5)}`,
    );
  }
  const text = JSON.stringify(doc);
  for (const name of names) assert.ok(text.includes(`"#/components/schemas/${name}"`), `${name} is referenced`);
  assert.deepEqual(names, [
    'AdaptivePoolBackwardRequest',
    'AdaptivePoolBackwardResponseJson',
    'AdaptivePoolBackwardResponseMsgpack',
    'AdaptivePoolForwardRequest',
    'AdaptivePoolForwardResponseJson',
    'AdaptivePoolForwardResponseMsgpack',
    'ConvBackwardRequest',
    'ConvBackwardResponseJson',
    'ConvBackwardResponseMsgpack',
    'ConvForwardRequest',
    'ConvForwardResponseJson',
    'ConvForwardResponseMsgpack',
    'ConvTransposeBackwardRequest',
    'ConvTransposeBackwardResponseJson',
    'ConvTransposeBackwardResponseMsgpack',
    'ConvTransposeRequest',
    'ConvTransposeResponseJson',
    'ConvTransposeResponseMsgpack',
    'DType',
    'FieldError',
    'FoldRequest',
    'FoldResponseJson',
    'FoldResponseMsgpack',
    'JsonTensor',
    'MsgpackTensor',
    'PoolBackwardRequest',
    'PoolBackwardResponseJson',
    'PoolBackwardResponseMsgpack',
    'PoolForwardRequest',
    'PoolForwardResponseJson',
    'PoolForwardResponseMsgpack',
    'Problem',
    'TensorData',
    'UnfoldRequest',
    'UnfoldResponseJson',
    'UnfoldResponseMsgpack',
  ]);
});

test('the conv endpoints document both encodings (JSON first), defaults and every error', () => {
  for (const path of ['/conv/forward', '/conv/backward']) {
    const op = doc.paths[path].post;
    assert.deepEqual(Object.keys(op.requestBody.content), [
      'application/json',
      'application/msgpack',
      'application/x-msgpack',
      'application/vnd.msgpack',
    ]);
    assert.deepEqual(Object.keys(op.responses['200'].content), ['application/json', 'application/msgpack']);
    assert.deepEqual(Object.keys(op.responses), ['200', ...ERROR_STATUSES.map(String)]);
    for (const status of ERROR_STATUSES)
      assert.deepEqual(Object.keys(op.responses[status].content), ['application/problem+json'], `${path} ${status}`);
    assert.match(op.description, /No Accept \(or an empty one\), `\*\/\*` and `application\/\*` get msgpack/);
  }
  const forward = doc.components.schemas.ConvForwardRequest;
  const defaults = Object.fromEntries(
    Object.entries(forward.properties).map(([k, v]) => [k, (v as { default?: unknown }).default]),
  );
  assert.deepEqual(defaults, {
    input: undefined,
    weight: undefined,
    bias: undefined,
    stride: 1,
    padding: 0,
    dilation: 1,
    groups: 1,
    padding_mode: 'zeros',
    layout: 'channels_first',
    // the layout's own: no fixed default
    weight_layout: undefined,
    encoding: 'array',
  });
  assert.deepEqual(doc.components.schemas.ConvBackwardRequest.properties.grads.default, ['input', 'weight', 'bias']);
});

test('every operation has request examples on each request media type and a 200 example of each', () => {
  for (const path of PATHS) {
    const op = doc.paths[path].post;
    const names = Object.keys(requestExamples(path));
    assert.ok(names.length > 0, path);
    for (const media of Object.values(op.requestBody.content as Record<string, Json>))
      assert.deepEqual(Object.keys(examplesOf(media)), names);
    for (const media of ['application/json', 'application/msgpack'])
      assert.deepEqual(Object.keys(examplesOf(op.responses['200'].content[media])), names, `${path} 200 ${media}`);
  }
});

test('each error status has its own examples: the status in the example, none shared with another status', () => {
  for (const path of PATHS) {
    const seen = new Map<string, number>();
    for (const status of ERROR_STATUSES) {
      const examples = Object.values(problemExamples(path, status));
      assert.ok(examples.length > 0, `${path} ${status}`);
      for (const e of examples) {
        assert.equal(e.value.status, status, `${path} ${status}: ${e.summary}`);
        assert.equal(typeof e.summary, 'string');
        const key = JSON.stringify(e.value);
        assert.ok(!seen.has(key), `${path}: ${e.summary} documented under ${seen.get(key)} and ${status}`);
        seen.set(key, status);
      }
    }
  }
  // and the service has no single catch-all example left on the Problem schema
  assert.equal(doc.components.schemas.Problem.examples, undefined);
});

test('503 documents Retry-After', () => {
  for (const path of PATHS) assert.ok(doc.paths[path].post.responses['503'].headers['Retry-After'], path);
});

describe('200 examples are the real answers to the request examples', () => {
  for (const path of PATHS) {
    test(`${path}: JSON`, async () => {
      const ok = examplesOf(doc.paths[path].post.responses['200'].content['application/json']);
      for (const [name, e] of Object.entries(requestExamples(path))) {
        const res = await request(convd.app.server)
          .post(path)
          .set('content-type', 'application/json')
          .set('accept', 'application/json')
          .send(JSON.stringify(e.value));
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(JSON.parse(res.text), ok[name].value, `${path} ${name}`);
      }
    });

    test(`${path}: msgpack (each bin as the base64 of its bytes)`, async () => {
      const ok = examplesOf(doc.paths[path].post.responses['200'].content['application/msgpack']);
      for (const [name, e] of Object.entries(requestExamples(path))) {
        const res = await request(convd.app.server)
          .post(path)
          .set('content-type', 'application/msgpack')
          .send(Buffer.from(packBin.pack(e.value)))
          .buffer(true)
          .parse(rawBody);
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-type'], 'application/msgpack');
        const decoded = unpackr.unpack(res.body as Buffer) as Record<string, Json>;
        const view = Object.fromEntries(
          Object.entries(decoded).map(([k, t]) => [k, { ...t, data: Buffer.from(t.data).toString('base64') }]),
        );
        assert.deepEqual(view, ok[name].value, `${path} ${name}`);
      }
    });
  }
});

/** The problem in `res`, checked to be problem+json with the status it claims. */
function problemOf(res: Response | { status: number; headers: Record<string, string>; text: string }): Json {
  assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8', res.text);
  const problem = JSON.parse(res.text);
  assert.equal(problem.status, res.status);
  return problem;
}

const post = (app: ConvdApp, path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  request(app.app.server)
    .post(path)
    .set({ 'content-type': 'application/json', accept: 'application/json', ...headers })
    .send(body);

/** Each operation's own problem examples: the change to its first request example that provokes each. */
const OWN_TRIGGERS: Record<string, Record<string, (body: Json) => void>> = {
  '/conv/forward': {
    'schema-violation': (b) => (b.stride = 0),
    'invalid-geometry': (b) => (b.weight = { dtype: 'float32', shape: [1, 2, 2, 2], data: [1, 0, 0, -1, 1, 0, 0, -1] }),
    'invalid-tensor-data': (b) => (b.input.data = b.input.data.slice(1)),
    'limit-exceeded': (b) => (b.input.shape = [1, 1, 4097, 4097]),
  },
  '/conv/backward': {
    'schema-violation': (b) => (b.grads = ['input', 'input']),
    'invalid-geometry': (b) => (b.grad_output = { dtype: 'float32', shape: [1, 1, 3, 3], data: Array(9).fill(1) }),
    'invalid-tensor-data': (b) => (b.grad_output.data = b.grad_output.data.slice(1)),
    'limit-exceeded': (b) => {
      b.input.shape = [1, 1, 4097, 4097];
      b.grad_output.shape = [1, 1, 4096, 4096];
    },
  },
  '/conv/transpose': {
    'schema-violation': (b) => (b.groups = 0),
    'invalid-geometry': (b) => (b.output_padding = 2),
    'invalid-tensor-data': (b) => (b.input.data = b.input.data.slice(1)),
    'limit-exceeded': (b) => {
      b.input.shape = [1, 1, 4097, 4097];
      b.stride = 1;
    },
  },
  '/conv/transpose/backward': {
    'schema-violation': (b) => (b.grads = ['weight', 'weight']),
    'invalid-geometry': (b) => (b.grad_output = { dtype: 'float32', shape: [1, 1, 3, 3], data: Array(9).fill(1) }),
    'invalid-tensor-data': (b) => (b.grad_output.data = b.grad_output.data.slice(1)),
    'limit-exceeded': (b) => {
      b.input.shape = [1, 1, 4097, 4097];
      b.stride = 1;
      b.padding = 1;
      b.grad_output.shape = [1, 1, 4096, 4096];
    },
  },
  '/unfold': {
    'schema-violation': (b) => (b.kernel_size = 0),
    'invalid-geometry': (b) => (b.kernel_size = [4, 2]),
    'invalid-tensor-data': (b) => (b.input.data = b.input.data.slice(1)),
    'limit-exceeded': (b) => (b.input.shape = [1, 1, 4097, 4097]),
  },
  '/fold': {
    'schema-violation': (b) => (b.output_size = 0),
    'invalid-geometry': (b) => (b.output_size = [4, 3]),
    'invalid-tensor-data': (b) => (b.input.data = b.input.data.slice(1)),
    'limit-exceeded': (b) => {
      b.input.shape = [1, 1, 16785409];
      b.output_size = [4097, 4097];
      b.kernel_size = 1;
    },
  },
  '/pool/forward': {
    'schema-violation': (b) => (b.mode = 'min'),
    'invalid-geometry': (b) => (b.padding = 2),
    'invalid-tensor-data': (b) => (b.input.data = b.input.data.slice(1)),
    'limit-exceeded': (b) => (b.input.shape = [1, 1, 4097, 4097]),
  },
  '/pool/adaptive/forward': {
    'schema-violation': (b) => (b.output_size = 0),
    'invalid-geometry': (b) => (b.output_size = [1, 1, 1]),
    'invalid-tensor-data': (b) => (b.input.data = b.input.data.slice(1)),
    'limit-exceeded': (b) => (b.input.shape = [1, 1, 4097, 4097]),
  },
  '/pool/adaptive/backward': {
    'schema-violation': (b) => (b.mode = 'min'),
    'invalid-geometry': (b) => (b.grad_output = { dtype: 'float32', shape: [1, 1, 2, 2], data: Array(4).fill(1) }),
    'invalid-tensor-data': (b) => (b.grad_output.data = b.grad_output.data.slice(1)),
    'limit-exceeded': (b) => (b.input.shape = [1, 1, 4097, 4097]),
  },
  '/pool/backward': {
    'schema-violation': (b) => (b.kernel_size = 0),
    'invalid-geometry': (b) => (b.grad_output = { dtype: 'float32', shape: [1, 1, 4, 4], data: Array(16).fill(1) }),
    'invalid-tensor-data': (b) => (b.grad_output.data = b.grad_output.data.slice(1)),
    'limit-exceeded': (b) => {
      b.input.shape = [1, 1, 4097, 4097];
      b.grad_output.shape = [1, 1, 2048, 2048];
    },
  },
};

/** Sends raw bytes to a listening app and returns the answer, parsed enough to check a problem. */
async function rawExchange(
  port: number,
  bytes: string,
): Promise<{ status: number; headers: Record<string, string>; text: string }> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(bytes);
  // the answer comes with Connection: close, or before a body that will never come
  for (let i = 0; i < 100 && !/\r\n\r\n[\s\S]*\}$/.test(Buffer.concat(chunks).toString()); i++) await sleep(20);
  socket.destroy();
  const text = Buffer.concat(chunks).toString();
  const [head, body] = text.split('\r\n\r\n');
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(
    lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, text: body };
}

describe('problem examples are the real answers', () => {
  const covered = new Set<string>();
  const check = (
    path: string,
    status: number,
    name: string,
    actual: Json,
    expected = problemExamples(path, status)[name]?.value,
  ) => {
    assert.ok(expected, `${path} documents ${status} ${name}`);
    assert.deepEqual(actual, expected, `${path} ${status} ${name}`);
    covered.add(`${path} ${status} ${name}`);
  };

  test("each operation's own 400 and 413 examples", async () => {
    const wrong: string[] = [];
    for (const path of PATHS) {
      for (const [name, change] of Object.entries(OWN_TRIGGERS[path])) {
        const body = firstRequest(path);
        change(body);
        const res = await post(convd, path, JSON.stringify(body));
        try {
          check(path, res.status, name, problemOf(res));
        } catch {
          wrong.push(`${path} ${name}: the service answers ${res.status} ${res.text}`);
        }
      }
    }
    assert.deepEqual(wrong, []);
  });

  test('malformed bodies, Accept and Content-Type (400, 406, 415)', async () => {
    for (const path of PATHS) {
      const json = JSON.stringify(firstRequest(path));
      check(path, 400, 'malformed-json', problemOf(await post(convd, path, '{"input": ')));
      check(
        path,
        400,
        'json-sent-as-msgpack',
        problemOf(await post(convd, path, json, { 'content-type': 'application/msgpack' })),
      );
      check(path, 406, 'not-acceptable', problemOf(await post(convd, path, json, { accept: 'text/html' })));
      check(
        path,
        415,
        'unsupported-media-type',
        problemOf(await post(convd, path, json, { 'content-type': 'text/plain' })),
      );
    }
  });

  test('an unparseable HTTP request (400) and a body over the default limit (413), on the wire', async () => {
    const live = await testApp();
    try {
      await live.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = live.app.server.address() as AddressInfo;
      for (const path of PATHS) {
        const bad = await rawExchange(
          port,
          `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}`,
        );
        check(path, 400, 'malformed-request', problemOf(bad));
        // refused from Content-Length alone: the 100 MB never need to be sent
        const big = await rawExchange(
          port,
          `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: 100000000\r\n\r\n{`,
        );
        check(path, 413, 'body-too-large', problemOf(big));
      }
    } finally {
      await live.app.close();
    }
  });

  test('a request not received in time (408): what the HTTP layer writes', () => {
    // Node detects the timeout on its own schedule (every 30 s); its error goes to this handler
    let written = '';
    const socket = { destroyed: false, writable: true, write: (s: string) => (written += s), destroy: () => {} };
    clientErrorHandler(Object.assign(new Error('timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket as never);
    const [head, body] = written.split('\r\n\r\n');
    assert.match(
      head,
      /^HTTP\/1\.1 408 Request Timeout\r\nContent-Type: application\/problem\+json; charset=utf-8\r\n/,
    );
    for (const path of PATHS) check(path, 408, 'request-timeout', JSON.parse(body));
  });

  test('an unexpected failure (500) names only the request id', async () => {
    const { pool } = fakePool({ blockMs: 0, fail: true });
    const failing = await testApp({ pool });
    try {
      for (const path of PATHS) {
        const expected = problemExamples(path, 500).internal.value;
        const id = /request (\S+);/.exec(expected.detail)![1];
        const res = await post(failing, path, JSON.stringify(firstRequest(path)), { 'x-request-id': id });
        assert.equal(res.headers['x-request-id'], id);
        check(path, 500, 'internal', problemOf(res));
      }
    } finally {
      await failing.app.close();
    }
  });

  test('draining (503 not-ready) carries Retry-After', async () => {
    const draining = await testApp();
    try {
      draining.lifecycle.startDraining();
      for (const path of PATHS) {
        const res = await post(draining, path, JSON.stringify(firstRequest(path)));
        assert.equal(res.headers['retry-after'], '1');
        check(path, 503, 'not-ready', problemOf(res));
      }
    } finally {
      await draining.app.close();
    }
  });

  test('a full small-task lane (503 overloaded), with the default 1 thread and queue of 16', async () => {
    // fake workers that block their thread; past the deadline the held requests answer 504 and their tasks are cancelled
    const { pool } = fakePool({ threads: 1, maxQueue: 16, blockMs: 30_000, smallLane: { threads: 1, maxFlops: 1e7 } });
    const busy = await testApp({ pool, config: { maxQueue: 16, deadlineMs: 3000 } });
    try {
      await busy.app.listen({ port: 0, host: '127.0.0.1' });
      const path = '/conv/forward';
      const body = JSON.stringify(firstRequest(path));
      const held = Array.from({ length: 17 }, () => post(busy, path, body).then((r) => r));
      for (let i = 0; i < 250 && pool.stats().active + pool.stats().queued < 17; i++) await sleep(10);
      assert.equal(pool.stats().active + pool.stats().queued, 17, 'the small-task lane is full');
      for (const p of PATHS) {
        const res = await post(busy, p, JSON.stringify(firstRequest(p)));
        assert.equal(res.headers['retry-after'], '1');
        check(p, 503, 'overloaded', problemOf(res));
      }
      for (const res of await Promise.all(held)) assert.equal(res.status, 504);
    } finally {
      await busy.app.close();
    }
  });

  test('past the deadline (504); the example is for the default 60000 ms, the test runs with 200 ms', async () => {
    const { pool } = fakePool({ blockMs: 5000 });
    const slow = await testApp({ pool, config: { deadlineMs: 200 } });
    try {
      for (const path of PATHS) {
        const expected = structuredClone(problemExamples(path, 504)['deadline-exceeded'].value);
        expected.detail = expected.detail.replace('the 60000 ms deadline', 'the 200 ms deadline');
        const res = await post(slow, path, JSON.stringify(firstRequest(path)));
        check(path, 504, 'deadline-exceeded', problemOf(res), expected);
      }
    } finally {
      await slow.app.close();
    }
  });

  test('every documented problem example was provoked', () => {
    const documented = PATHS.flatMap((path) =>
      ERROR_STATUSES.flatMap((status) =>
        Object.keys(problemExamples(path, status)).map((name) => `${path} ${status} ${name}`),
      ),
    );
    assert.deepEqual([...covered].sort(), documented.sort());
    assert.ok(documented.length >= PATHS.length * Object.values(SHARED_PROBLEMS).flatMap(Object.keys).length);
  });
});

describe('the /docs page', () => {
  test('GET /docs renders the reference page, titled convd', async () => {
    const res = await request(convd.app.server).get('/docs').redirects(1).expect(200);
    assert.match(res.headers['content-type'], /^text\/html/);
    assert.match(res.text, /<title>convd API reference<\/title>/);
    const init = await request(convd.app.server).get('/docs/static/swagger-initializer.js').expect(200);
    assert.match(init.text, /"requestInterceptor":function docsRequestInterceptor\(/);
    assert.match(init.text, /"responseInterceptor":async function docsResponseInterceptor\(/);
    // msgpackr's browser build, loaded after the initializer: the interceptors' `msgpackr` global
    assert.match(res.text, /<script src="\/docs\/static\/theme\/msgpackr\.min\.js"/);
  });

  // The interceptors run in the browser from their source text, with the script the page loads
  // beside them: rebuilt from that text here, with the served script run as a page would (it
  // defines the global `msgpackr`), they must need nothing else.
  before(async () => {
    const script = await request(convd.app.server).get('/docs/static/theme/msgpackr.min.js').expect(200);
    assert.match(script.headers['content-type'], /javascript/);
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- runs the served script, as the page does
    new Function(script.text)();
    assert.equal(typeof (globalThis as { msgpackr?: { pack?: unknown } }).msgpackr?.pack, 'function');
  });
  after(() => {
    delete (globalThis as { msgpackr?: unknown }).msgpackr;
  });
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the point: run the source text the page gets
  const requestInterceptor = new Function(
    `return ${docsRequestInterceptor.toString()}`,
  )() as typeof docsRequestInterceptor;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- as above
  const responseInterceptor = new Function(
    `return ${docsResponseInterceptor.toString()}`,
  )() as typeof docsResponseInterceptor;

  test('the request interceptor asks for JSON instead of the wildcard, and leaves a chosen Accept alone', () => {
    assert.equal(requestInterceptor({ headers: { accept: '*/*' } }).headers!.accept, 'application/json');
    assert.deepEqual(requestInterceptor({ headers: {} }).headers, { accept: 'application/json' });
    assert.deepEqual(requestInterceptor({ headers: { Accept: 'application/msgpack' } }).headers, {
      Accept: 'application/msgpack',
    });
  });

  test('the request interceptor sends JSON typed under a msgpack Content-Type as msgpack, which the service computes', async () => {
    const example = firstRequest('/conv/forward');
    const value = {
      ...example,
      extra: [
        -1,
        -200,
        -40000,
        -3e9,
        255,
        65535,
        70000,
        5e9,
        0.25,
        null,
        true,
        false,
        'é'.repeat(40),
        Array(20).fill(1),
      ],
    };
    const intercepted = requestInterceptor({
      headers: { 'Content-Type': 'application/msgpack' },
      body: JSON.stringify(value, null, 2),
    });
    const body = intercepted.body as File;
    assert.ok(body instanceof File);
    assert.equal(body.name, 'request.msgpack');
    const bytes = Buffer.from(await body.arrayBuffer());
    assert.deepEqual(unpackr.unpack(bytes), value);
    const forward = Buffer.from(
      await (
        requestInterceptor({ headers: { 'content-type': 'application/x-msgpack' }, body: JSON.stringify(example) })
          .body as File
      ).arrayBuffer(),
    );
    const res = await post(convd, '/conv/forward', forward, { 'content-type': 'application/x-msgpack' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(
      JSON.parse(res.text),
      Object.values(examplesOf(doc.paths['/conv/forward'].post.responses['200'].content['application/json']))[0].value,
    );
    // text that is not JSON goes as it is
    assert.equal(
      requestInterceptor({ headers: { 'content-type': 'application/msgpack' }, body: '{"input": ' }).body,
      '{"input": ',
    );
  });

  test('the response interceptor shows a msgpack answer decoded, as the documented msgpack example', async () => {
    for (const path of PATHS) {
      const [name, e] = Object.entries(requestExamples(path))[0];
      const res = await request(convd.app.server)
        .post(path)
        .set('content-type', 'application/json')
        .send(JSON.stringify(e.value))
        .buffer(true)
        .parse(rawBody);
      const shown = await responseInterceptor({
        headers: { 'content-type': 'application/msgpack' },
        data: new Blob([Uint8Array.from(res.body as Buffer)]),
        text: '',
      });
      const [head, ...rest] = String(shown.text).split('\n');
      assert.equal(
        head,
        `application/msgpack, ${(res.body as Buffer).length} bytes, decoded by this page (each bin shown as the base64 of its bytes):`,
      );
      const documented = examplesOf(doc.paths[path].post.responses['200'].content['application/msgpack'])[name].value;
      assert.deepEqual(JSON.parse(rest.join('\n')), documented);
      assert.deepEqual(documented, msgpackView(OPERATIONS[path].examples.requests[name].response));
    }
    const json = { headers: { 'content-type': 'application/json' }, text: '{}', data: '{}' };
    assert.equal(await responseInterceptor(json), json);
  });
});
