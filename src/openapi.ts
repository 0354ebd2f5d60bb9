/**
 * The OpenAPI 3.1 document, generated from the routes' zod schemas by @fastify/swagger.
 * `openapiText` is what GET /openapi.json serves and `npm run openapi` writes to
 * openapi/openapi.json, byte for byte.
 *
 * On top of what fastify-type-provider-zod generates, the document gets:
 * - each component schema once: the provider emits every registered schema twice, as `X`
 *   (its output form) and `XInput` (its input form); only the forms the operations use are
 *   kept, under the plain name where one form is used or both are the same (`dedupeSchemas`);
 * - the examples of every operation (src/ops/, with src/schemas/examples.ts) (`addExamples`): named request
 *   bodies, the JSON (and msgpack) answer to each, and the problem documents of each error
 *   status, all as components.examples;
 * - info.version from package.json.
 */
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createJsonSchemaTransformObject, jsonSchemaTransform } from 'fastify-type-provider-zod';
import { OPS } from './ops/index.js';
import {
  binBase64,
  ERROR_STATUSES,
  SHARED_PROBLEMS,
  type Example,
  type JsonTensorExample,
  type OperationExamples,
} from './schemas/examples.js';
import type { Problem } from './schemas/problem.js';

/** package.json at the repository root (this module runs as dist/src/openapi.js; the image has /app/package.json). */
const PACKAGE_JSON = fileURLToPath(new URL('../../package.json', import.meta.url));
export const SERVICE_VERSION: string = (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version;

/** openapi/openapi.json at the repository root. */
export const OPENAPI_FILE = fileURLToPath(new URL('../../openapi/openapi.json', import.meta.url));

/** Every compute operation (POST) by path: its examples and the prefix of their names in components.examples (from the registry, src/ops/). */
export const OPERATIONS: Record<string, { name: string; examples: OperationExamples }> = Object.fromEntries(
  OPS.map((op) => [op.route.path, { name: op.component, examples: op.examples }]),
);

/** The problem examples of one status of an operation: its own, then the shared ones. */
export function problemExamples(
  path: string,
  status: (typeof ERROR_STATUSES)[number],
): Record<string, Example<Problem>> {
  return { ...OPERATIONS[path].examples.problems[status as 400 | 413], ...SHARED_PROBLEMS[status] };
}

/** The msgpack answer to a request example, as the JSON example shows it: the same map, each bin as the base64 of its bytes. */
export function msgpackView(response: Record<string, JsonTensorExample>): Record<string, JsonTensorExample> {
  return Object.fromEntries(Object.entries(response).map(([name, t]) => [name, { ...t, data: binBase64(t) }]));
}

const SCHEMAS = '#/components/schemas/';
const EXAMPLES = '#/components/examples/';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** `node` with every `$ref` passed through `rename` (a deep copy). */
function mapRefs(node: Json, rename: (ref: string) => string): Json {
  if (Array.isArray(node)) return node.map((n) => mapRefs(n, rename));
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' ? rename(v) : mapRefs(v, rename)]),
  );
}

function forEachRef(node: Json, visit: (ref: string) => void): void {
  if (Array.isArray(node)) node.forEach((n) => forEachRef(n, visit));
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') visit(v);
      else forEachRef(v, visit);
    }
  }
}

/**
 * Keeps the component schemas the paths use (directly or through other schemas), each once:
 * `XInput` becomes `X` when `X` is unused or describes the same thing (compared with that
 * renaming applied throughout, largest consistent set of merges). An `X` / `XInput` pair that
 * really differs (a default that makes a field optional on input only) stays a pair.
 */
export function dedupeSchemas(doc: JsonObject): JsonObject {
  const components = (doc.components ?? {}) as JsonObject;
  const schemas = (components.schemas ?? {}) as JsonObject;
  const nameOf = (ref: string) => (ref.startsWith(SCHEMAS) ? ref.slice(SCHEMAS.length) : undefined);

  const used = new Set<string>();
  const use = (ref: string) => {
    const name = nameOf(ref);
    if (name === undefined || used.has(name) || !(name in schemas)) return;
    used.add(name);
    forEachRef(schemas[name], use);
  };
  forEachRef(doc.paths, use);

  // XInput -> X: where both are used, assume every such pair merges, then drop the pairs that differ under the current renaming until none does
  const rename = new Map<string, string>();
  const pairs: string[] = [];
  for (const name of used) {
    if (!name.endsWith('Input')) continue;
    const base = name.slice(0, -'Input'.length);
    if (!(base in schemas)) continue; // a schema whose own id ends in Input
    rename.set(name, base);
    if (used.has(base)) pairs.push(base);
  }
  const renamed = (ref: string) => {
    const name = nameOf(ref);
    return name !== undefined && rename.has(name) ? SCHEMAS + rename.get(name) : ref;
  };
  for (let changed = true; changed;) {
    changed = false;
    for (const base of pairs) {
      const input = `${base}Input`;
      if (
        rename.has(input) &&
        JSON.stringify(mapRefs(schemas[input], renamed)) !== JSON.stringify(mapRefs(schemas[base], renamed))
      ) {
        rename.delete(input);
        changed = true;
      }
    }
  }

  const kept: JsonObject = {};
  for (const name of [...used].sort()) {
    const final = rename.get(name) ?? name;
    if (final === name || !used.has(final)) kept[final] = mapRefs(schemas[name], renamed);
  }
  const sorted = Object.fromEntries(
    Object.keys(kept)
      .sort()
      .map((k) => [k, kept[k]]),
  );
  return { ...doc, paths: mapRefs(doc.paths, renamed), components: { ...components, schemas: sorted } };
}

const ref = (name: string) => ({ $ref: EXAMPLES + name });

const example = (e: { summary: string; description?: string }, value: unknown): Json =>
  JSON.parse(
    JSON.stringify({ summary: e.summary, ...(e.description ? { description: e.description } : {}), value }),
  ) as Json;

/** Puts OPERATIONS' examples on each operation, as references into components.examples. */
export function addExamples(doc: JsonObject): JsonObject {
  const paths = doc.paths as JsonObject;
  const components = (doc.components ?? {}) as JsonObject;
  const examples: JsonObject = { ...((components.examples ?? {}) as JsonObject) };
  for (const [status, byName] of Object.entries(SHARED_PROBLEMS)) {
    for (const [name, e] of Object.entries(byName)) examples[`Problem${status}.${name}`] = example(e, e.value);
  }
  for (const [path, { name: op, examples: docs }] of Object.entries(OPERATIONS)) {
    const operation = (paths[path] as JsonObject | undefined)?.post as JsonObject | undefined;
    if (!operation) throw new Error(`OPERATIONS lists POST ${path}, which is not a documented route`);
    const requests: JsonObject = {};
    const json: JsonObject = {};
    const msgpack: JsonObject = {};
    for (const [name, e] of Object.entries(docs.requests)) {
      examples[`${op}Request.${name}`] = example(e, e.request);
      examples[`${op}Response.${name}`] = example(
        { summary: e.summary, description: 'The answer to the request example of the same name.' },
        e.response,
      );
      examples[`${op}ResponseMsgpack.${name}`] = example(
        {
          summary: e.summary,
          description:
            'The answer to the request example of the same name, decoded, each bin shown as the base64 of its bytes.',
        },
        msgpackView(e.response),
      );
      requests[name] = ref(`${op}Request.${name}`);
      json[name] = ref(`${op}Response.${name}`);
      msgpack[name] = ref(`${op}ResponseMsgpack.${name}`);
    }
    for (const media of Object.values(((operation.requestBody as JsonObject).content ?? {}) as JsonObject))
      (media as JsonObject).examples = requests;
    const responses = operation.responses as JsonObject;
    const ok = (responses['200'] as JsonObject).content as JsonObject;
    (ok['application/json'] as JsonObject).examples = json;
    (ok['application/msgpack'] as JsonObject).examples = msgpack;
    for (const status of ERROR_STATUSES) {
      const response = responses[String(status)] as JsonObject | undefined;
      if (!response) throw new Error(`POST ${path} does not document status ${status}`);
      const own = docs.problems[status as 400 | 413] ?? {};
      for (const [name, e] of Object.entries(own)) examples[`${op}Problem${status}.${name}`] = example(e, e.value);
      const named: JsonObject = {};
      for (const name of Object.keys(own)) named[name] = ref(`${op}Problem${status}.${name}`);
      for (const name of Object.keys(SHARED_PROBLEMS[status])) named[name] = ref(`Problem${status}.${name}`);
      ((response.content as JsonObject)['application/problem+json'] as JsonObject).examples = named;
      if (status === 503) {
        response.headers = {
          'Retry-After': {
            description: 'Seconds to wait before retrying (CONVD_RETRY_AFTER_SECONDS, 1 by default).',
            schema: { type: 'integer', minimum: 1 },
          },
        };
      }
    }
  }
  const sorted = Object.fromEntries(
    Object.keys(examples)
      .sort()
      .map((k) => [k, examples[k]]),
  );
  return { ...doc, components: { ...components, examples: sorted } };
}

const zodTransformObject = createJsonSchemaTransformObject({});

export const swaggerOptions: FastifyDynamicSwaggerOptions = {
  openapi: {
    openapi: '3.1.0',
    info: {
      title: 'convd',
      version: SERVICE_VERSION,
      description:
        'convd computes convolutions over HTTP: PyTorch-faithful (torch.nn.functional) conv1d/2d/3d forward and backward, conv_transpose and max / average pooling, ' +
        'with msgpack (the default for API clients) or JSON bodies. Every error is application/problem+json (RFC 9457).\n\n' +
        'On this page, "Try it out" sends the selected example and shows the answer as JSON.',
    },
    tags: [
      { name: 'conv', description: 'Convolution forward and backward, transposed convolution' },
      { name: 'pooling', description: 'Max and average pooling forward and backward' },
      { name: 'operations', description: 'Health, readiness and metrics' },
    ],
  },
  transform: jsonSchemaTransform,
  transformObject: (input) => addExamples(dedupeSchemas(zodTransformObject(input) as unknown as JsonObject)),
};

export function openapiText(app: FastifyInstance): string {
  return `${JSON.stringify(app.swagger(), null, 2)}\n`;
}
