/**
 * The assertion every geometry test makes about a refused request: `resolve` throws a
 * GeometryError with an error at `path` whose message contains every one of `parts`
 * (and so does the error's own message, which the API's problem detail is made from).
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { GeometryError } from '../../src/shared/geometry/common.js';

export function expectGeometryError(resolve: () => unknown, path: string | RegExp, ...parts: string[]): void {
  let err: unknown;
  try {
    resolve();
  } catch (e) {
    err = e;
  }
  assert.ok(
    err instanceof GeometryError,
    `expected GeometryError, got ${err === undefined ? 'no error' : inspect(err)}`,
  );
  const hit = err.errors.filter((e) => (typeof path === 'string' ? e.path === path : path.test(e.path)));
  assert.ok(hit.length > 0, `no error at path ${path}; errors: ${JSON.stringify(err.errors)}`);
  assert.ok(
    hit.some((e) => parts.every((p) => e.message.includes(p))),
    `error at ${path} should mention ${JSON.stringify(parts)}; got ${JSON.stringify(hit)}`,
  );
  for (const p of parts) assert.ok(err.message.includes(p), `Error.message should carry "${p}": ${err.message}`);
}
