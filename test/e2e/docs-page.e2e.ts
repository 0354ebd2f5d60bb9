/**
 * GET /docs in a real browser: Debian's headless Chromium driven by playwright-core. The page
 * must list both conv operations, and "Try it out" with each one's example request must get
 * 200 from the live server, with the README's numbers for the forward example. A screenshot of
 * the page goes to docs/img/docs-page.png, or to CONVD_DOCS_SCREENSHOT when set.
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
const SCREENSHOT = resolve(process.env.CONVD_DOCS_SCREENSHOT ?? fileURLToPath(new URL('../../../docs/img/docs-page.png', import.meta.url)));

let profile: string;
let context: BrowserContext;
let page: Page;
const offsite: string[] = [];

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
  await page.goto(`${url}/docs`, { waitUntil: 'networkidle', timeout: 30_000 });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('the page lists both operations', async () => {
  await page.locator('.opblock').first().waitFor({ timeout: 20_000 });
  const paths = await page.locator('.opblock-post .opblock-summary-path').allInnerTexts();
  const clean = paths.map((p) => p.replace(/\u200b/g, '').trim());
  assert.ok(clean.includes('/conv/forward'), `POST /conv/forward listed (found ${clean.join(', ')})`);
  assert.ok(clean.includes('/conv/backward'), `POST /conv/backward listed (found ${clean.join(', ')})`);
  assert.equal(await page.locator('.info .title').first().innerText().then((t) => t.startsWith('convd')), true);
});

/** Expands the operation, presses "Try it out" and "Execute" with its prefilled example, asking for JSON back. */
async function tryItOut(path: string): Promise<{ status: string; body: string; requestBody: string; bottom: number }> {
  const block = page.locator('.opblock-post').filter({ has: page.locator('.opblock-summary-path', { hasText: path }) });
  await block.locator('.opblock-summary').first().click();
  await block.locator('button.try-out__btn').click();
  const editor = block.locator('textarea.body-param__text');
  await editor.waitFor({ timeout: 10_000 });
  const requestBody = await editor.inputValue();
  // request Content-Type: the first listed, application/json; response: JSON rather than the msgpack default
  const requestType = block.locator('.opblock-section-request-body select');
  if ((await requestType.count()) > 0) assert.equal(await requestType.first().inputValue(), 'application/json');
  const accept = block.locator('.responses-wrapper select').first();
  if ((await accept.count()) > 0) await accept.selectOption('application/json');
  await block.locator('button.execute').click();
  const live = block.locator('.live-responses-table tr.response .response-col_status').first();
  await live.waitFor({ timeout: 20_000 });
  const status = (await live.innerText()).trim();
  const body = await block.locator('.live-responses-table tr.response .response-col_description pre').first().innerText();
  // the bottom of the live answer, in page coordinates (for the screenshot)
  const bottom = await block
    .locator('.live-responses-table')
    .first()
    .evaluate((el) => el.getBoundingClientRect().bottom + window.scrollY);
  return { status, body, requestBody, bottom };
}

test('"Try it out" with the forward example returns 200 and the right numbers', async () => {
  const { status, body, requestBody, bottom } = await tryItOut('/conv/forward');
  assert.ok(JSON.parse(requestBody).input, 'the example request is prefilled');
  assert.match(status, /^200/);
  const { output } = JSON.parse(body) as { output: { shape: number[]; data: number[] } };
  assert.deepEqual(output.shape, [1, 1, 2, 2]);
  assert.deepEqual(output.data, [-3.5, -3.5, -3.5, -3.5]);
  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  // from the title down to the live 200 answer of the forward example
  await page.screenshot({ path: SCREENSHOT, fullPage: true, clip: { x: 0, y: 0, width: 1280, height: Math.ceil(bottom) + 24 } });
});

test('"Try it out" with the backward example returns 200', async () => {
  const { status, body } = await tryItOut('/conv/backward');
  assert.match(status, /^200/);
  const grads = JSON.parse(body) as Record<string, { shape: number[] }>;
  assert.deepEqual(Object.keys(grads).sort(), ['grad_input', 'grad_weight']);
});

test('the browser asked nothing but the server', () => {
  assert.deepEqual(offsite, []);
});
