/** The OpenAPI document: valid OpenAPI 3.1, identical to openapi/openapi.json, served at /openapi.json, rendered at /docs. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import request from 'supertest';
import { OPENAPI_FILE, openapiText } from '../../src/openapi.js';
import { testApp, type ConvdApp } from './helpers.js';

let convd: ConvdApp;
before(async () => {
  convd = await testApp();
});
after(() => convd.app.close());

test('the document validates as OpenAPI 3.1', async () => {
  const doc = JSON.parse(openapiText(convd.app));
  assert.equal(doc.openapi, '3.1.0');
  await SwaggerParser.validate(doc);
});

test('openapi/openapi.json is up to date (run `npm run openapi` after changing a schema)', () => {
  assert.equal(readFileSync(OPENAPI_FILE, 'utf8'), openapiText(convd.app));
});

test('GET /openapi.json serves the same bytes', async () => {
  const res = await request(convd.app.server).get('/openapi.json').expect(200);
  assert.match(res.headers['content-type'], /^application\/json/);
  assert.equal(res.text, readFileSync(OPENAPI_FILE, 'utf8'));
});

test('the conv endpoints document both encodings, defaults, every error and examples', () => {
  const doc = JSON.parse(openapiText(convd.app));
  for (const path of ['/conv/forward', '/conv/backward']) {
    const op = doc.paths[path].post;
    assert.deepEqual(Object.keys(op.requestBody.content), ['application/json', 'application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack']);
    assert.deepEqual(Object.keys(op.responses['200'].content), ['application/msgpack', 'application/json']);
    for (const status of ['400', '406', '413', '415', '500', '503', '504']) {
      assert.deepEqual(Object.keys(op.responses[status].content), ['application/problem+json'], `${path} ${status}`);
    }
  }
  const forward = doc.components.schemas.ConvForwardRequestInput;
  const defaults = Object.fromEntries(Object.entries(forward.properties).map(([k, v]) => [k, (v as { default?: unknown }).default]));
  assert.deepEqual(defaults, { input: undefined, weight: undefined, bias: undefined, stride: 1, padding: 0, dilation: 1, groups: 1, padding_mode: 'zeros', layout: 'channels_first', encoding: 'array' });
  assert.ok(forward.examples.length > 0);
  assert.deepEqual(doc.components.schemas.ConvBackwardRequestInput.properties.grads.default, ['input', 'weight', 'bias']);
});

test('GET /docs renders the reference page', async () => {
  const res = await request(convd.app.server).get('/docs').redirects(1).expect(200);
  assert.match(res.headers['content-type'], /^text\/html/);
  assert.match(res.text, /swagger/i);
});
