/**
 * The shared conformance error cases (../shared/conformance/cases/errors, read-only) run in
 * process, with the rules of their checker (check.mjs): the expected status, problem+json
 * with string type / title / detail and a matching status, errors[] of {path, message}, and
 * the expected field named in the body. Keeps a change of wording or path from breaking them
 * unnoticed between runs of the checker against a live server.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { testApp, type ConvdApp } from './helpers.js';

interface ErrorCase {
  name: string;
  op: string;
  content_type?: string;
  accept?: string;
  body_json?: unknown;
  body_b64?: string;
  expect_status: number | number[];
  expect_path?: string;
}

// tests run with cwd = repo root, as for the valid cases (test/reference/data.ts)
const dir = path.resolve(process.cwd(), '../shared/conformance/cases/errors');
const cases: ErrorCase[] = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')));

let convd: ConvdApp;
before(async () => {
  convd = await testApp();
});
after(() => convd.app.close());

test('the error cases are there', () => {
  assert.ok(cases.length >= 25, `${cases.length} error cases in ${dir}`);
});

for (const c of cases) {
  test(`error case ${c.name}`, async () => {
    let req = request(convd.app.server).post(`/conv/${c.op}`);
    if (c.content_type) req = req.set('content-type', c.content_type);
    if (c.accept) req = req.set('accept', c.accept);
    const res = await req.send(c.body_b64 !== undefined ? Buffer.from(c.body_b64, 'base64') : JSON.stringify(c.body_json));
    const want = [c.expect_status].flat();
    assert.ok(want.includes(res.status), `status ${res.status}, wanted ${want.join(' or ')}: ${res.text.slice(0, 300)}`);
    assert.equal(res.headers['content-type']?.split(';')[0], 'application/problem+json');
    const p = JSON.parse(res.text);
    for (const k of ['type', 'title', 'detail']) assert.equal(typeof p[k], 'string', `problem.${k}`);
    assert.equal(p.status, res.status);
    if (p.errors !== undefined) {
      assert.ok(Array.isArray(p.errors) && p.errors.every((e: { path: unknown; message: unknown }) => typeof e.path === 'string' && typeof e.message === 'string'));
    }
    if (c.expect_path) assert.ok(res.text.includes(c.expect_path), `names ${c.expect_path}: ${res.text.slice(0, 300)}`);
  });
}
