/**
 * The route table: every registered path answers a method it does not serve with 405
 * problem+json and an Allow header listing the methods it does serve (HEAD beside GET, as
 * Fastify registers it); unknown paths answer 404; GET / is the service index.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { assertProblem, testApp, type ConvdApp } from './helpers.js';

let convd: ConvdApp;
before(async () => {
  convd = await testApp();
});
after(() => convd.app.close());

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

/** A request path that the pattern matches: `:param` filled in, and `*` (only /docs/static/* has one) a file that exists. */
const concrete = (url: string) => url.replace(/\*$/, 'index.css').replace(/:[^/]+/g, 'x');

/** The route table's patterns with the methods registered for each. */
function byUrl(): Map<string, string[]> {
  const table = new Map<string, Set<string>>();
  for (const { method, url } of convd.routes.entries) table.set(url, (table.get(url) ?? new Set()).add(method));
  return new Map([...table].map(([url, methods]) => [url, [...methods].sort()]));
}

describe('405 Method Not Allowed with Allow, for every registered route', () => {
  test('the table holds every route, HEAD beside each GET', () => {
    const urls = byUrl();
    for (const url of [
      '/',
      '/conv/forward',
      '/conv/backward',
      '/conv/transpose',
      '/conv/transpose/backward',
      '/pool/forward',
      '/pool/backward',
      '/unfold',
      '/fold',
      '/healthz',
      '/readyz',
      '/metrics',
      '/openapi.json',
      '/docs',
    ]) {
      assert.ok(urls.has(url), `${url} in ${[...urls.keys()].join(' ')}`);
    }
    for (const [url, methods] of urls) {
      if (methods.includes('GET')) assert.ok(methods.includes('HEAD'), `${url}: HEAD beside GET`);
    }
    assert.deepEqual(urls.get('/conv/forward'), ['POST']);
    assert.deepEqual(urls.get('/healthz'), ['GET', 'HEAD']);
  });

  /** The methods `path` serves: those answering neither 404 nor 405. */
  async function served(path: string): Promise<string[]> {
    const out: string[] = [];
    for (const method of METHODS) {
      const res = await convd.app.inject({ method: method as 'GET', url: path });
      if (res.statusCode !== 404 && res.statusCode !== 405) out.push(method);
    }
    return out;
  }

  test('each route, each method it does not serve: 405 with Allow = the methods it serves', async () => {
    let checked = 0;
    for (const [url, methods] of byUrl()) {
      const path = concrete(url);
      const allowed = await served(path);
      for (const m of methods) assert.ok(allowed.includes(m), `${path}: ${m} registered but not served`);
      for (const method of METHODS.filter((m) => !allowed.includes(m))) {
        const res = await convd.app.inject({ method: method as 'GET', url: path });
        assert.equal(res.statusCode, 405, `${method} ${path}: ${res.body}`);
        assert.equal(res.headers.allow, allowed.join(', '), `${method} ${path}`);
        assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
        if (method !== 'HEAD') {
          const p = res.json();
          assert.equal(p.status, 405);
          assert.equal(p.type, 'urn:convd:problem:method-not-allowed');
          assert.equal(p.detail, `${path} does not accept ${method}; it accepts ${allowed.join(', ')}`);
        }
        checked++;
      }
    }
    assert.ok(checked >= 60, `${checked} path and method pairs`);
  });

  test('Allow lists POST only for the compute routes, GET and HEAD for the others', async () => {
    for (const [url, methods] of byUrl()) {
      assert.deepEqual(await served(concrete(url)), methods.includes('POST') ? ['POST'] : ['GET', 'HEAD'], url);
    }
  });

  test('over HTTP: GET /conv/forward', async () => {
    const res = await request(convd.app.server).get('/conv/forward');
    assertProblem(res, 405);
    assert.equal(res.headers.allow, 'POST');
    assert.equal(res.body.detail, '/conv/forward does not accept GET; it accepts POST');
  });

  test('the query string is not part of the path', async () => {
    const res = await convd.app.inject({ method: 'POST', url: '/healthz?verbose=1' });
    assert.equal(res.statusCode, 405);
    assert.equal(res.headers.allow, 'GET, HEAD');
    assert.equal(res.json().detail, '/healthz does not accept POST; it accepts GET, HEAD');
  });
});

describe('404 stays 404', () => {
  test('unknown paths, any method, without Allow', async () => {
    for (const [method, url] of [
      ['GET', '/conv/sideways'],
      ['POST', '/conv/forward/extra'],
      ['DELETE', '/nothing'],
      ['GET', '/docs/elsewhere'],
    ]) {
      const res = await convd.app.inject({ method: method as 'GET', url });
      assert.equal(res.statusCode, 404, `${method} ${url}`);
      assert.equal(res.headers.allow, undefined);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(res.json().detail, `there is no route ${method} ${url}`);
    }
  });

  test('a route that finds nothing to serve (a missing static file) answers 404, not 405', async () => {
    const res = await convd.app.inject({ method: 'GET', url: '/docs/static/no-such-file.js' });
    assert.equal(res.statusCode, 404);
    assert.equal(res.headers.allow, undefined);
    assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
  });
});

describe('GET /', () => {
  test('the service index: name, version from package.json, links', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
    const res = await request(convd.app.server).get('/').expect(200);
    assert.match(res.headers['content-type'], /^application\/json/);
    const index = res.body;
    assert.equal(index.name, 'convd');
    assert.equal(index.version, pkg.version);
    assert.equal(index.docs, '/docs');
    assert.equal(index.openapi, '/openapi.json');
    assert.equal(index.health, '/healthz');
    assert.equal(index.ready, '/readyz');
    assert.equal(index.metrics, '/metrics');
  });

  test('its links resolve', async () => {
    const index = (await request(convd.app.server).get('/')).body;
    for (const link of [index.openapi, index.health, index.ready, index.metrics])
      await request(convd.app.server).get(link).expect(200);
    await request(convd.app.server).get(index.docs).redirects(1).expect(200);
  });

  test('endpoints: exactly the documented operations of the OpenAPI document, with their summaries', async () => {
    const index = (await request(convd.app.server).get('/')).body;
    const doc = JSON.parse((await request(convd.app.server).get('/openapi.json')).text);
    const documented = Object.entries(doc.paths as Record<string, Record<string, { summary: string }>>).flatMap(
      ([path, ops]) =>
        Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, summary: op.summary })),
    );
    const key = (e: { method: string; path: string }) => `${e.method} ${e.path}`;
    assert.deepEqual(
      [...index.endpoints].sort((a, b) => key(a).localeCompare(key(b))),
      documented.sort((a, b) => key(a).localeCompare(key(b))),
    );
    assert.ok(index.endpoints.some((e: { path: string }) => e.path === '/conv/forward'));
  });

  test('it is not in the OpenAPI document', async () => {
    const doc = JSON.parse((await request(convd.app.server).get('/openapi.json')).text);
    assert.equal(doc.paths['/'], undefined);
  });
});
