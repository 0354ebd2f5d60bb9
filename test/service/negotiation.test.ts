/** Content negotiation: request Content-Type (415) and response Accept (406), msgpack responses in bin. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { negotiateEncoding } from '../../src/wire/accept.js';
import { exampleForward, packBin, rawBody, testApp, type ConvdApp } from './helpers.js';

let convd: ConvdApp;
before(async () => {
  convd = await testApp();
});
after(() => convd.app.close());

const forwardJson = JSON.stringify(exampleForward());

test('Accept picks the response encoding; msgpack when absent, */* or application/*', () => {
  const cases: [string | undefined, string | null][] = [
    [undefined, 'application/msgpack'],
    ['', 'application/msgpack'],
    ['*/*', 'application/msgpack'],
    ['application/*', 'application/msgpack'],
    ['application/json', 'application/json'],
    ['application/x-msgpack', 'application/x-msgpack'],
    ['application/vnd.msgpack', 'application/vnd.msgpack'],
    ['text/html, application/json;q=0.5, */*;q=0.1', 'application/json'],
    ['application/msgpack;q=0.2, application/json;q=0.9', 'application/json'],
    ['application/json;q=0, */*;q=0.1', 'application/msgpack'],
    ['text/html', null],
    ['application/xml, text/*', null],
  ];
  for (const [accept, mediaType] of cases)
    assert.equal(negotiateEncoding(accept)?.mediaType ?? null, mediaType, `Accept ${accept}`);
});

test('every msgpack media type is accepted as request and echoed as response type', async () => {
  for (const type of ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack']) {
    const res = await request(convd.app.server)
      .post('/conv/forward')
      .set('content-type', type)
      .set('accept', type)
      .buffer(true)
      .parse(rawBody)
      .send(Buffer.from(packBin.pack(exampleForward('float32', 'bin'))));
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], type);
  }
});

test('msgpack responses carry tensor data as bin (0xc4-0xc6), never an extension, with an exact Content-Length', async () => {
  const res = await request(convd.app.server)
    .post('/conv/forward')
    .set('content-type', 'application/json')
    .buffer(true)
    .parse(rawBody)
    .send(forwardJson);
  const body = res.body as Buffer;
  assert.equal(Number(res.headers['content-length']), body.length);
  const dataKey = body.indexOf(Buffer.from([0xa4, ...Buffer.from('data')]));
  assert.ok(dataKey > 0);
  assert.equal(body[dataKey + 5], 0xc4, 'bin 8 header follows "data"');
  assert.equal(body[dataKey + 6], 16, '4 float32 values');
});

test('JSON with a charset parameter is JSON', async () => {
  const res = await request(convd.app.server)
    .post('/conv/forward')
    .set('content-type', 'application/json; charset=utf-8')
    .set('accept', 'application/json')
    .send(forwardJson);
  assert.equal(res.status, 200);
});

test('an unsupported Accept answers 406 before the body is read', async () => {
  const res = await request(convd.app.server)
    .post('/conv/forward')
    .set('content-type', 'application/json')
    .set('accept', 'text/html')
    .send('{ not even json');
  assert.equal(res.status, 406);
  assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
  assert.equal(res.body.status, 406);
  assert.match(res.body.detail, /text\/html/);
});

test('an unsupported Content-Type answers 415, text/plain included', async () => {
  for (const type of ['text/plain', 'application/xml', 'application/octet-stream']) {
    const res = await request(convd.app.server)
      .post('/conv/forward')
      .set('content-type', type)
      .set('accept', 'application/json')
      .send(forwardJson);
    assert.equal(res.status, 415, type);
    assert.equal(res.body.type, 'urn:convd:problem:unsupported-media-type');
    assert.match(res.body.detail, new RegExp(type.replace('/', '\\/')));
  }
});
