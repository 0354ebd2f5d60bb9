/**
 * Tensors on the wire: `{ dtype, shape, data }`, row-major, little-endian.
 *
 * `data` takes one of four forms, by encoding: a msgpack bin (or msgpackr's typed-array
 * extension) of the raw bytes, a JSON number array (non-finite values as the strings "NaN",
 * "Infinity", "-Infinity"), or a base64 string of the raw bytes. Whether its length fits the
 * shape is checked by the wire layer once the shapes have passed geometry and limits.
 */
import { z } from 'zod';
import { MAX_PARAM } from '../shared/geometry/common.js';
import { WIRE_DTYPES } from '../shared/tensor.js';

const DTypeSchema = z.enum(WIRE_DTYPES).meta({
  id: 'DType',
  description:
    'Element type, little-endian: IEEE-754 binary32, binary64 or binary16, or bfloat16 (the top 16 bits of a binary32). ' +
    'All operands of a request share one dtype; the outputs have it too. float16 and bfloat16 are computed in float32 and each result is rounded once to the dtype (to nearest, ties to even).',
});

const NON_FINITE = ['NaN', 'Infinity', '-Infinity'] as const;
type JsonNumber = number | (typeof NON_FINITE)[number];
const isJsonNumber = (v: unknown): v is JsonNumber =>
  typeof v === 'number' || (NON_FINITE as readonly unknown[]).includes(v);

/**
 * A flat number array, scanned in one loop that stops at its first bad element. (As
 * `z.array(z.union(...))`, zod would build an issue with nested branch issues for every bad
 * element: about 1 GB per million, so a garbage body within the size limit could exhaust memory.)
 */
const NumberArrayData = z
  .custom<JsonNumber[]>((v) => Array.isArray(v))
  .superRefine((values, ctx) => {
    const bad = values.findIndex((v) => !isJsonNumber(v));
    if (bad < 0) return;
    if (Array.isArray(values[bad])) {
      // nested arrays (data as [[...], [...]]): the validator reports it at the data field itself
      ctx.addIssue({
        code: 'custom',
        path: [bad],
        input: values[bad],
        params: { nested: true },
        message: 'is an array: tensor data is one flat array; flatten it (row-major)',
      });
    } else {
      ctx.addIssue({
        code: 'custom',
        path: [bad],
        input: values[bad],
        message: 'must be a number or one of "NaN", "Infinity", "-Infinity"',
      });
    }
  })
  .meta({
    type: 'array',
    items: { anyOf: [{ type: 'number' }, { type: 'string', enum: [...NON_FINITE] }] },
    description:
      'Flat row-major array of prod(shape) numbers; NaN and infinities as the strings "NaN", "Infinity", "-Infinity". ' +
      'For float16 and bfloat16 each number is rounded to the dtype (to nearest, ties to even).',
  });

const Base64Data = z.base64({ error: 'is not base64 (standard alphabet, padded)' }).meta({
  description: 'base64 of the prod(shape) * itemsize little-endian bytes (itemsize 2 for float16 and bfloat16).',
});

/** What msgpackr decodes a msgpack bin (Buffer) or a typed-array extension (Float32Array / Float64Array) to. */
type BinaryData = Uint8Array | Float32Array | Float64Array;
const isBinaryData = (v: unknown): v is BinaryData =>
  v instanceof Uint8Array || v instanceof Float32Array || v instanceof Float64Array;

const BinaryDataSchema = z.custom<BinaryData>(isBinaryData).meta({
  type: 'string',
  contentMediaType: 'application/octet-stream',
  description:
    'msgpack only: a bin of exactly prod(shape) * itemsize little-endian bytes (what Python msgpack.packb makes of arr.tobytes(); itemsize 2 for float16 and bfloat16). ' +
    'A msgpackr typed-array extension (Float32Array / Float64Array) is accepted when its element type matches dtype. Responses always use bin.',
});

const TensorDataSchema = z
  .union([NumberArrayData, Base64Data, BinaryDataSchema], {
    error: 'must be a number array, a base64 string or (msgpack) a bin of the raw bytes',
  })
  .meta({ id: 'TensorData', description: 'The elements in row-major order, in one of three forms.' });

const ExtentSchema = z.int().min(0, { error: 'must be an integer >= 0' }).max(MAX_PARAM);

/**
 * A request tensor whose rank lies in [minRank, maxRank]. Every extent is >= 1 but the first
 * of a tensor of rank 3 or more, which may be 0: an empty batch (N = 0) of input or grad_output
 * (geometry refuses a weight extent of 0).
 */
export function tensorSchema(minRank: number, maxRank: number, description: string) {
  const rank = `must have rank ${minRank === maxRank ? minRank : `${minRank} to ${maxRank}`}`;
  return z
    .strictObject({
      dtype: DTypeSchema,
      shape: z
        .array(ExtentSchema)
        .min(minRank, { error: rank })
        .max(maxRank, { error: rank })
        .superRefine((shape, ctx) => {
          shape.forEach((e, i) => {
            if (e === 0 && (i > 0 || minRank < 3))
              ctx.addIssue({ code: 'custom', path: [i], input: e, message: 'must be an integer >= 1' });
          });
        })
        .meta({
          description:
            'Extents, row-major (C order), each >= 1; the batch extent N (the first of input and grad_output) may be 0, which answers empty results.',
        }),
      data: TensorDataSchema,
    })
    .meta({ description });
}

export type RequestTensor = z.infer<ReturnType<typeof tensorSchema>>;

/** Tensors the service returns, as documented per response encoding. */
function outputTensor(id: string, data: z.ZodType, description: string) {
  return z.strictObject({ dtype: DTypeSchema, shape: z.array(ExtentSchema), data }).meta({ id, description });
}

export const MsgpackTensorSchema = outputTensor(
  'MsgpackTensor',
  BinaryDataSchema,
  'A result tensor in a msgpack response: data is a bin of the raw little-endian bytes.',
);

export const JsonTensorSchema = outputTensor(
  'JsonTensor',
  z.union([NumberArrayData, Base64Data]),
  'A result tensor in a JSON response: data is a number array, or a base64 string when the request had "encoding": "base64".',
);
