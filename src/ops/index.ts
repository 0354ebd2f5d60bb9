/**
 * Every operation the service computes, one OpSpec each. The routes (src/routes/compute.ts),
 * the OpenAPI operations (src/openapi.ts), the metrics' op labels and the tests' coverage of
 * endpoints are made from this list; the order is the routes' order (that of the paths in the
 * OpenAPI document and of GET /'s endpoints).
 */
import { convBackward } from './conv-backward.js';
import { convForward } from './conv-forward.js';
import { convTranspose } from './conv-transpose.js';
import { convTransposeBackward } from './conv-transpose-backward.js';
import { foldOp } from './fold.js';
import { adaptivePoolBackward } from './pool-adaptive-backward.js';
import { adaptivePoolForward } from './pool-adaptive-forward.js';
import { poolBackward } from './pool-backward.js';
import { poolForward } from './pool-forward.js';
import type { Operation } from './spec.js';
import { unfoldOp } from './unfold.js';

export const OPS: readonly Operation[] = [
  convForward,
  convBackward,
  poolForward,
  poolBackward,
  adaptivePoolForward,
  adaptivePoolBackward,
  convTranspose,
  convTransposeBackward,
  unfoldOp,
  foldOp,
];

/** The operation served at `path`. */
export function opAt(path: string): Operation | undefined {
  return OPS.find((op) => op.route.path === path);
}
