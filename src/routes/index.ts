/**
 * GET /: what this service is and where to go from here: name and version (package.json,
 * read at startup), the reference page, the OpenAPI document, and every documented endpoint
 * with its summary, taken from the route table so that it never lists a route that is gone.
 * Hidden from the OpenAPI document: it describes the API rather than being part of it.
 */
import { readFileSync } from 'node:fs';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteTable } from '../http/routes.js';

/** package.json at the repository root; this module runs as dist/src/routes/index.js (/app/dist/src/routes in the image). */
const PACKAGE_JSON = new URL('../../../package.json', import.meta.url);

export interface IndexRouteDeps {
  routes: RouteTable;
}

const IndexSchema = z.strictObject({
  name: z.string(),
  version: z.string(),
  description: z.string(),
  docs: z.string(),
  openapi: z.string(),
  health: z.string(),
  ready: z.string(),
  metrics: z.string(),
  endpoints: z.array(z.strictObject({ method: z.string(), path: z.string(), summary: z.string() })),
});

export const indexRoutes: FastifyPluginAsyncZod<IndexRouteDeps> = async (app, { routes }) => {
  const pkg = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { name: string; version: string; description?: string };
  let index: z.infer<typeof IndexSchema> | undefined;
  app.get('/', { schema: { hide: true, response: { 200: IndexSchema } } }, async () => {
    // built on first use, when every route is registered
    index ??= {
      name: pkg.name,
      version: pkg.version,
      description: pkg.description ?? '',
      docs: '/docs',
      openapi: '/openapi.json',
      health: '/healthz',
      ready: '/readyz',
      metrics: '/metrics',
      endpoints: routes.entries
        .filter((r) => !r.hidden && r.summary !== undefined && r.method !== 'HEAD')
        .map((r) => ({ method: r.method, path: r.url, summary: r.summary! })),
    };
    return index;
  });
};
