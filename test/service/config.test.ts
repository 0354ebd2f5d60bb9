/** Settings from the environment: safe defaults, overrides, refusals naming the variable. */
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';

test('defaults need no environment', () => {
  const config = loadConfig({});
  assert.equal(config.port, 8080);
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.maxBodyBytes, 64 * 2 ** 20);
  assert.equal(config.poolThreads, availableParallelism());
  assert.ok(
    config.maxQueue >= 1 &&
      config.deadlineMs >= 1000 &&
      config.maxFlops > 0 &&
      config.maxOutputBytes > 0 &&
      config.maxTensorElements > 0,
  );
});

test('variables override the defaults; blank ones count as unset', () => {
  const config = loadConfig({ PORT: '9000', CONVD_POOL_THREADS: '3', CONVD_MAX_FLOPS: '1e9', CONVD_DEADLINE_MS: ' ' });
  assert.deepEqual([config.port, config.poolThreads, config.maxFlops, config.deadlineMs], [9000, 3, 1e9, 60_000]);
});

test('invalid values are refused at start-up, each variable named', () => {
  assert.throws(
    () => loadConfig({ CONVD_POOL_THREADS: '0', CONVD_MAX_BODY_BYTES: 'lots', LOG_LEVEL: 'loud', CONVD_KERNEL: 'gpu' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /CONVD_POOL_THREADS="0"/.test(err.message) &&
      /CONVD_MAX_BODY_BYTES="lots"/.test(err.message) &&
      /LOG_LEVEL/.test(err.message) &&
      /CONVD_KERNEL="gpu"/.test(err.message),
  );
});
