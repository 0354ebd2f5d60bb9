/**
 * The registry of operations (src/ops/index.ts) is what the service is made from: one POST route
 * per operation in registry order, each with its OpenAPI operation and examples, one metrics
 * label each, and a worker runner for each task op.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OPS } from '../../src/ops/index.js';
import { OPERATIONS } from '../../src/openapi.js';
import request from 'supertest';
import { ERROR_STATUSES } from '../../src/schemas/examples.js';
import { runners } from '../../workers/runners.js';
import { assertProblem, testApp, type ConvdApp } from '../service/helpers.js';

let convd: ConvdApp;
before(async () => {
  convd = await testApp();
});
after(() => convd.app.close());

test('names, paths, labels and component names are each unique', () => {
  for (const key of ['name', 'metricLabel', 'component'] as const)
    assert.equal(new Set(OPS.map((op) => op[key])).size, OPS.length, key);
  assert.equal(new Set(OPS.map((op) => op.route.path)).size, OPS.length, 'path');
});

test('the compute routes are the registry, in its order, and nothing else', () => {
  const posts = convd.routes.entries.filter((r) => r.method === 'POST').map((r) => r.url);
  assert.deepEqual(
    posts,
    OPS.map((op) => op.route.path),
  );
  const summaries = new Map(convd.routes.entries.map((r) => [r.url, r.summary]));
  for (const op of OPS) assert.equal(summaries.get(op.route.path), op.route.summary);
});

test('the OpenAPI operations and examples come from the registry', () => {
  assert.deepEqual(
    Object.keys(OPERATIONS),
    OPS.map((op) => op.route.path),
  );
  const doc = convd.app.swagger() as { paths: Record<string, { post?: { tags?: string[] } }> };
  for (const op of OPS) assert.deepEqual(doc.paths[op.route.path].post?.tags, op.route.tags, op.route.path);
});

test('every operation has its runner on the worker, and no runner is left without an operation', () => {
  assert.deepEqual(Object.keys(runners).sort(), OPS.map((op) => op.name).sort());
});

test('every operation takes JSON and the three msgpack types, answers JSON or msgpack, and documents each error status as problem+json', () => {
  const doc = convd.app.swagger() as {
    paths: Record<
      string,
      { post: { requestBody: { content: object }; responses: Record<string, { content: object }> } }
    >;
  };
  for (const op of OPS) {
    const { requestBody, responses } = doc.paths[op.route.path].post;
    assert.deepEqual(
      Object.keys(requestBody.content),
      ['application/json', 'application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'],
      op.route.path,
    );
    assert.deepEqual(Object.keys(responses['200'].content), ['application/json', 'application/msgpack'], op.route.path);
    for (const status of ERROR_STATUSES)
      assert.deepEqual(
        Object.keys(responses[status].content),
        ['application/problem+json'],
        `${op.route.path} ${status}`,
      );
  }
});

test('every operation answers 406 to an Accept it cannot meet and 415 to a body type it does not read', async () => {
  for (const op of OPS) {
    const example = JSON.stringify(Object.values(op.examples.requests)[0].request);
    const refused = await request(convd.app.server)
      .post(op.route.path)
      .set('content-type', 'application/json')
      .set('accept', 'text/csv')
      .send(example);
    assertProblem(refused, 406);
    assertProblem(
      await request(convd.app.server).post(op.route.path).set('content-type', 'application/xml').send('<x/>'),
      415,
    );
  }
});
