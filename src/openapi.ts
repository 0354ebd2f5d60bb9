/**
 * The OpenAPI 3.1 document, generated from the routes' zod schemas by @fastify/swagger.
 * `openapiText` is what GET /openapi.json serves and `npm run openapi` writes to
 * openapi/openapi.json, byte for byte.
 */
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { fileURLToPath } from 'node:url';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

export const swaggerOptions: FastifyDynamicSwaggerOptions = {
  openapi: {
    openapi: '3.1.0',
    info: {
      title: 'convd',
      version: '1.0.0',
      description:
        'Convolution as an HTTP service: PyTorch-faithful conv1d/2d/3d forward and backward over msgpack or JSON. ' +
        'Every error is application/problem+json (RFC 9457).',
    },
    tags: [
      { name: 'conv', description: 'Convolution forward and backward, transposed convolution' },
      { name: 'pooling', description: 'Max and average pooling forward and backward' },
      { name: 'operations', description: 'Health, readiness and metrics' },
    ],
  },
  transform: jsonSchemaTransform,
  transformObject: jsonSchemaTransformObject,
};

/** openapi/openapi.json at the repository root (this module runs as dist/src/openapi.js). */
export const OPENAPI_FILE = fileURLToPath(new URL('../../openapi/openapi.json', import.meta.url));

export function openapiText(app: FastifyInstance): string {
  return `${JSON.stringify(app.swagger(), null, 2)}\n`;
}
