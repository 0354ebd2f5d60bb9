/**
 * Request validation with zod, reporting every issue as a field error whose path reads like
 * the contract's (`weight.shape[1]`, `stride`, `input.data[7]`) and whose message shows the
 * offending value.
 *
 * fastify-type-provider-zod's validatorCompiler flattens zod's paths into JSON pointers (so
 * `shape/1` no longer says whether 1 is an index) and drops the input; this compiler keeps
 * both and hands Fastify a ready HttpProblem, which Fastify passes on to the error handler.
 */
import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';
import { layoutFamily } from '../shared/geometry/common.js';
import { batchHint } from '../shared/geometry/hints.js';
import type { FieldError } from '../shared/geometry/common.js';
import { fieldProblem } from './problem.js';

type Issue = z.core.$ZodIssue;
type PathKey = PropertyKey;

function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : `${out ? '.' : ''}${String(key)}`;
  return out || 'body';
}

function valueAt(input: unknown, path: readonly PathKey[]): unknown {
  let v = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** A short rendering of a (possibly huge) value for a message. */
function preview(v: unknown): string {
  if (v instanceof Uint8Array) return `a bin of ${v.byteLength} bytes`;
  if (v instanceof Float32Array || v instanceof Float64Array) return `a ${v.constructor.name} of ${v.length} elements`;
  if (typeof v === 'string' && v.length > 40) return `a string of ${v.length} characters`;
  if (Array.isArray(v) && v.length > 8) return `an array of ${v.length} elements`;
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch {
    // a cyclic value (msgpackr's structured-clone extension) or one nested too deep to print
    return `a ${Array.isArray(v) ? 'array' : typeof v} that cannot be shown (cyclic or nested too deeply)`;
  }
  return text === undefined ? String(v) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Zod reports a union that no branch accepted as one issue holding every branch's issues.
 * When exactly one branch got past the value's root (e.g. the number-array form of tensor
 * data, failing at `data[7]`), its issues say what is wrong; otherwise the union's own
 * message does. Paths come back absolute.
 */
function expandUnion(issue: Issue, prefix: readonly PathKey[] = []): Issue[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union') {
    const depth = (branch: Issue[]) => Math.max(...branch.map((i) => i.path.length));
    const depths = issue.errors.map(depth);
    const furthest = Math.max(...depths);
    if (furthest > 0 && depths.filter((d) => d === furthest).length === 1) {
      return issue.errors[depths.indexOf(furthest)].flatMap((i) => expandUnion(i, path));
    }
  }
  return [{ ...issue, path }];
}

const isShape = (v: unknown): v is number[] => Array.isArray(v) && v.every((e) => Number.isSafeInteger(e) && e >= 1);

/** Nested tensor data (`data: [[1, 2], [3, 4]]`), reported at the data field: flatten it, to prod(shape) numbers. */
function nestedData(issue: Issue, input: unknown): FieldError {
  const field = issue.path.slice(0, -1);
  const path = formatPath(field);
  const shape = valueAt(input, [...field.slice(0, -1), 'shape']);
  const count = isShape(shape)
    ? ` of ${shape.reduce((a, b) => a * b, 1)} numbers (shape [${shape.join(', ')}])`
    : ' of numbers';
  return {
    path,
    message: `${path} is nested (${formatPath(issue.path)} is ${preview(valueAt(input, issue.path))}): tensor data is one flat array; flatten it (row-major) into one array${count}`,
  };
}

/**
 * For an input shape short of rank 3: one sample without its batch dimension, when the
 * weight's rank (or kernel_size's length) says the input should have one more dim.
 */
function rankHint(issue: Issue, input: unknown): string | null {
  if (issue.code !== 'too_small' || formatPath(issue.path) !== 'input.shape') return null;
  const shape = valueAt(input, issue.path);
  if (!Array.isArray(shape)) return null;
  const layout = layoutFamily(valueAt(input, ['layout']));
  const weightShape = valueAt(input, ['weight', 'shape']);
  if (Array.isArray(weightShape)) {
    const hint = batchHint(shape, weightShape.length, layout, 'convolution');
    return hint && `with weight.shape of rank ${weightShape.length}, ${hint}`;
  }
  const kernel = valueAt(input, ['kernel_size']);
  if (Array.isArray(kernel)) {
    const hint = batchHint(shape, kernel.length + 2, layout, 'pooling');
    return hint && `with kernel_size of ${kernel.length} value${kernel.length === 1 ? '' : 's'}, ${hint}`;
  }
  return null;
}

function issueToFieldErrors(issue: Issue, input: unknown): FieldError[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const path = formatPath([...issue.path, key]);
      return { path, message: `${path} is not a field of this request` };
    });
  }
  if (issue.code === 'custom' && issue.params?.nested === true) return [nestedData(issue, input)];
  const path = formatPath(issue.path);
  const value = valueAt(input, issue.path);
  if (value === undefined && issue.code === 'invalid_type') return [{ path, message: `${path} is required` }];
  const hint = rankHint(issue, input);
  return [{ path, message: `${path} is ${preview(value)}: ${issue.message}${hint ? `; ${hint}` : ''}` }];
}

export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema }) =>
  (data) => {
    const result = schema.safeParse(data);
    if (result.success) return { value: result.data };
    const issues = result.error.issues.flatMap((i) => expandUnion(i));
    return {
      error: fieldProblem(
        'schema-violation',
        issues.flatMap((i) => issueToFieldErrors(i, data)),
      ),
    };
  };
