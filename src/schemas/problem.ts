/** RFC 9457 problem details, the body of every error response. */
import { z } from 'zod';

const FieldErrorSchema = z
  .strictObject({
    path: z.string().meta({ description: 'The offending field, e.g. "weight.shape[1]", "stride", "input.data".' }),
    message: z.string(),
  })
  .meta({ id: 'FieldError' });

export const ProblemSchema = z
  .strictObject({
    type: z.string().meta({ description: 'A URI reference naming the kind of problem.' }),
    title: z.string().meta({ description: 'Short summary of the kind of problem.' }),
    status: z.int().meta({ description: 'The HTTP status code.' }),
    detail: z.string().meta({ description: 'This occurrence, naming the field and the numbers involved.' }),
    errors: z
      .array(FieldErrorSchema)
      .optional()
      .meta({ description: 'Every problem found with the request, by field path.' }),
  })
  .meta({
    id: 'Problem',
    description:
      'RFC 9457 problem details. type is urn:convd:problem:<kind>; each error status of an operation lists its kinds as examples.',
  });

export type Problem = z.infer<typeof ProblemSchema>;

/** A response entry documenting a problem+json answer. */
export const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});
