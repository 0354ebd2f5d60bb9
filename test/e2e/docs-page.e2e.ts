/**
 * GET /docs in a real browser: Debian's headless Chromium driven by playwright-core. The page
 * is titled convd and lists every compute operation; on each, "Try it out" and "Execute" with
 * nothing changed must send the documented first request example asking for JSON, and show the
 * answer as JSON equal to the documented 200 example. A msgpack request type and a msgpack
 * answer work too. A screenshot of the page down to the forward answer goes to
 * docs/img/docs-page.png, or to CONVD_DOCS_SCREENSHOT when set.
 *
 *   CONVD_URL=http://127.0.0.1:PORT node --test dist/test/e2e/docs-page.e2e.js
 *
 * (scripts/ci/docs-page.sh installs chromium, starts the server and runs this.) The browser may
 * only reach the server: any other request is aborted and fails the test.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const url = process.env.CONVD_URL;
if (!url) throw new Error('set CONVD_URL to a running convd');
const origin = new URL(url).origin;
const SCREENSHOT = resolve(
  process.env.CONVD_DOCS_SCREENSHOT ?? fileURLToPath(new URL('../../../docs/img/docs-page.png', import.meta.url)),
);

let profile: string;
let context: BrowserContext;
let page: Page;
const offsite: string[] = [];
/** The Accept and Content-Type of each POST the page sends, in order. */
const sent: { url: string; accept?: string; contentType?: string }[] = [];

before(async () => {
  profile = mkdtempSync(join(tmpdir(), 'convd-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
    timeout: 60_000,
  });
  // loopback only: the page is served with its assets, nothing may come from elsewhere
  await context.route('**/*', (route) => {
    const target = route.request().url();
    if (target.startsWith(origin) || target.startsWith('data:') || target.startsWith('blob:')) return route.continue();
    offsite.push(target);
    return route.abort();
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('request', (r) => {
    if (r.method() === 'POST')
      sent.push({ url: r.url(), accept: r.headers().accept, contentType: r.headers()['content-type'] });
  });
  await page.goto(`${url}/docs`, { waitUntil: 'networkidle', timeout: 30_000 });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

type Json = Record<string, any>;

/** The document the page renders, for the examples it must show and execute. */
async function documentFromServer(): Promise<Json> {
  const res = await fetch(`${url}/openapi.json`);
  assert.equal(res.status, 200);
  return (await res.json()) as Json;
}

let doc: Json;
const resolveExample = (e: Json): Json =>
  e.$ref ? doc.components.examples[e.$ref.slice('#/components/examples/'.length)] : e;

/** The first request example of POST `path` and the documented JSON answer to it. */
function firstExample(path: string): { request: Json; response: Json } {
  const op = doc.paths[path].post;
  const [name, request] = Object.entries(
    op.requestBody.content['application/json'].examples as Record<string, Json>,
  )[0];
  return {
    request: resolveExample(request).value,
    response: resolveExample(op.responses['200'].content['application/json'].examples[name]).value,
  };
}

const OPERATIONS = ['/conv/forward', '/conv/backward', '/conv/transpose', '/pool/forward', '/pool/backward'];

test('the page is titled convd and lists every operation', async () => {
  doc = await documentFromServer();
  assert.match(await page.title(), /convd/);
  await page.locator('.opblock').first().waitFor({ timeout: 20_000 });
  assert.equal(
    await page
      .locator('.info .title')
      .first()
      .innerText()
      .then((t) => t.startsWith('convd')),
    true,
  );
  assert.match(await page.locator('.info .description').first().innerText(), /^convd /);
  const paths = await page.locator('.opblock-post .opblock-summary-path').allInnerTexts();
  const clean = paths.map((p) => p.replace(/\u200b/g, '').trim());
  for (const path of OPERATIONS) assert.ok(clean.includes(path), `POST ${path} listed (found ${clean.join(', ')})`);
});

/**
 * Expands the operation, presses "Try it out" and "Execute" with its prefilled example,
 * changing nothing unless told to (the request media type, the response media type).
 */
async function tryItOut(
  path: string,
  choose: { requestType?: string; accept?: string } = {},
): Promise<{ status: string; body: string; requestBody: string; bottom: number }> {
  const block = page
    .locator('.opblock-post')
    .filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
  if ((await block.locator('button.try-out__btn').count()) === 0)
    await block.locator('.opblock-summary').first().click();
  const tryOut = block.locator('button.try-out__btn');
  if ((await tryOut.innerText()).trim() === 'Try it out') await tryOut.click();
  const editor = block.locator('textarea.body-param__text');
  await editor.waitFor({ timeout: 10_000 });
  // the request Content-Type defaults to the first listed, application/json
  const requestType = block.locator('.opblock-section-request-body select.content-type');
  if (choose.requestType) await requestType.selectOption(choose.requestType);
  else assert.equal(await requestType.inputValue(), 'application/json');
  if (choose.accept) await block.locator('.responses-wrapper select.content-type').first().selectOption(choose.accept);
  const requestBody = await editor.inputValue();
  // an earlier answer goes first, so that the one awaited below is this request's
  const clear = block.locator('button.btn-clear');
  if ((await clear.count()) > 0) {
    await clear.click();
    await block.locator('.live-responses-table').waitFor({ state: 'detached', timeout: 10_000 });
  }
  await block.locator('button.execute').click();
  const live = block.locator('.live-responses-table tr.response .response-col_status').first();
  await live.waitFor({ timeout: 20_000 });
  const status = (await live.innerText()).trim();
  const body = await block
    .locator('.live-responses-table tr.response .response-col_description pre')
    .first()
    .innerText();
  // the bottom of the live answer, in page coordinates (for the screenshot)
  const bottom = await block
    .locator('.live-responses-table')
    .first()
    .evaluate((el) => el.getBoundingClientRect().bottom + window.scrollY);
  return { status, body, requestBody, bottom };
}

for (const [i, path] of OPERATIONS.entries()) {
  test(`"Try it out" with the defaults on POST ${path}: the documented example, answered in JSON with the documented numbers`, async () => {
    const { request, response } = firstExample(path);
    const before = sent.length;
    const { status, body, requestBody, bottom } = await tryItOut(path);
    assert.deepEqual(JSON.parse(requestBody), request, 'the first request example is prefilled');
    assert.match(status, /^200/);
    assert.deepEqual(sent.slice(before), [
      { url: `${url}${path}`, accept: 'application/json', contentType: 'application/json' },
    ]);
    // the rendered answer is JSON, and it is the documented 200 example
    assert.deepEqual(JSON.parse(body), response);
    if (i === 0) {
      for (const t of Object.values(response)) assert.ok(t.shape.length >= 3);
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      // from the title down to the live 200 answer of the forward example
      await page.screenshot({
        path: SCREENSHOT,
        fullPage: true,
        clip: { x: 0, y: 0, width: 1280, height: Math.ceil(bottom) + 24 },
      });
    }
  });
}

test('a msgpack request type: the page sends the example as msgpack, and the JSON answer is the same', async () => {
  const { response } = firstExample('/conv/forward');
  const before = sent.length;
  const { status, body } = await tryItOut('/conv/forward', { requestType: 'application/msgpack' });
  assert.match(status, /^200/);
  assert.deepEqual(sent.slice(before), [
    { url: `${url}/conv/forward`, accept: 'application/json', contentType: 'application/msgpack' },
  ]);
  assert.deepEqual(JSON.parse(body), response);
});

test('a msgpack answer is shown decoded, as the documented msgpack example', async () => {
  const op = doc.paths['/conv/forward'].post;
  const [name] = Object.keys(op.requestBody.content['application/json'].examples);
  const documented = resolveExample(op.responses['200'].content['application/msgpack'].examples[name]).value;
  const { status, body } = await tryItOut('/conv/forward', {
    requestType: 'application/json',
    accept: 'application/msgpack',
  });
  assert.match(status, /^200/);
  const [head, ...rest] = body.split('\n');
  assert.match(head, /^application\/msgpack, \d+ bytes, decoded by this page/);
  assert.deepEqual(JSON.parse(rest.join('\n')), documented);
});

test('the browser asked nothing but the server', () => {
  assert.deepEqual(offsite, []);
});
