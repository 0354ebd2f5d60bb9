/**
 * The public conformance checker (test/fixtures/conformance/check.mjs, vendored with its cases)
 * against this service listening on a loopback port: every valid case in all six wire variants,
 * every error case, /healthz and /openapi.json. The checker runs as a child process, so the
 * server's event loop stays free to answer it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { CONFORMANCE_DIR } from '../reference/data.js';
import { testApp } from './helpers.js';

const run = promisify(execFile);

test('the conformance checker passes every case in every encoding against a live server', async () => {
  const { app } = await testApp({ config: { poolThreads: 2, maxQueue: 64 } });
  try {
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const checker = path.join(CONFORMANCE_DIR, 'check.mjs');
    const cases = path.join(CONFORMANCE_DIR, 'cases');
    const { stdout } = await run(process.execPath, [checker, '--url', url, '--cases', cases], {
      maxBuffer: 16 * 2 ** 20,
    }).catch((error: { stdout?: string; stderr?: string }) => {
      assert.fail(`checker failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
    });
    const summary = /conformance: (\d+) passed, (\d+) failed/.exec(stdout);
    assert.ok(summary, `no summary line in:\n${stdout}`);
    assert.equal(Number(summary[2]), 0, stdout);
    // 120 valid cases x 6 variants + 25 error cases + 3 service checks
    assert.ok(Number(summary[1]) >= 748, `only ${summary[1]} checks ran`);
  } finally {
    await app.close();
  }
});
