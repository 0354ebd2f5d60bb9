/**
 * Request and response fields every compute operation's schema draws on (src/ops/*.ts): value
 * ranges only; how fields relate is the geometry's job (src/shared/geometry/).
 */
import { z } from 'zod';
import { LAYOUT_NAMES, MAX_PARAM } from '../shared/geometry/common.js';
import { JsonTensorSchema, MsgpackTensorSchema } from './tensor.js';

export const intFrom = (min: number) =>
  z
    .int()
    .min(min, { error: `must be an integer >= ${min}` })
    .max(MAX_PARAM);

/** An int, or one int per spatial dim (each operation adds its default and description). */
export const intsPerDim = (min: number) =>
  z.union([intFrom(min), z.array(intFrom(min)).min(1).max(3)], {
    error: `must be an integer >= ${min} or an array of one per spatial dim`,
  });

/** An int, or one int per spatial dim, 1 by default (stride, dilation). */
export const perDim = (min: number, description: string) => intsPerDim(min).default(1).meta({ description });

/** The layout field, channels_first by default; `description` says what it lays out for the operation. */
export const layoutSchema = (description: string) =>
  z.enum(LAYOUT_NAMES).default('channels_first').meta({ description });

/** padding as convolution and pooling take it (per dim, [[before, after], ...] or auto); `description` says what it does there. */
export const paddingSchema = (description: string) =>
  z
    .union(
      [
        intFrom(0),
        z.array(intFrom(0)).min(1).max(3),
        z
          .array(z.tuple([intFrom(0), intFrom(0)]))
          .min(1)
          .max(3),
        z.enum(['valid', 'same', 'same_lower']),
      ],
      {
        error:
          'must be an int >= 0, one int per spatial dim, [[before, after], ...] per spatial dim, "valid", "same" or "same_lower"',
      },
    )
    .default(0)
    .meta({ description });

export const EncodingSchema = z.enum(['array', 'base64']).default('array').meta({
  description:
    'JSON responses only: tensor data as number arrays ("array") or base64 strings ("base64"). msgpack responses always use bin.',
});

/** The two response encodings of a compute endpoint, each with its tensor form (JSON first: what /docs asks for). */
export function responses(id: string, shape: (tensor: z.ZodType) => z.ZodRawShape, description: string) {
  return {
    description,
    content: {
      'application/json': { schema: z.strictObject(shape(JsonTensorSchema)).meta({ id: `${id}Json` }) },
      'application/msgpack': { schema: z.strictObject(shape(MsgpackTensorSchema)).meta({ id: `${id}Msgpack` }) },
    },
  };
}

export type ResponseDoc = ReturnType<typeof responses>;
