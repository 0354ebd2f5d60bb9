/**
 * The service's route table as Fastify builds it, and the methods a path accepts.
 *
 * `trackRoutes` adds an onRoute hook, so it must run before any route is registered; the hook
 * sees every route of every plugin, the HEAD routes Fastify adds beside GET routes
 * (exposeHeadRoutes) included. `allowedMethods` asks Fastify's router, for each method some
 * route uses, whether it matches a request path: what answers 405 (with Allow) rather than 404.
 */
import type { FastifyInstance } from 'fastify';

export interface RouteEntry {
  method: string;
  /** The route's URL pattern, prefix included (e.g. "/conv/forward", "/docs/*"). */
  url: string;
  /** The OpenAPI summary, when the route has one and is documented. */
  summary?: string;
  /** Hidden from the OpenAPI document (schema.hide). */
  hidden: boolean;
}

export interface RouteTable {
  /**
   * Every route in the order registered, one entry per method, as onRoute reports them. (A
   * plugin's root route serves both "/prefix" and "/prefix/", but Fastify reports it once:
   * ask `allowedMethods`, which asks the router, what a path serves.)
   */
  readonly entries: readonly RouteEntry[];
  /** The methods some route accepts, sorted. */
  methods(): string[];
  /** The methods Fastify's router serves at `path` (a request URL, query string allowed), sorted; [] for an unknown path. */
  allowedMethods(app: FastifyInstance, path: string): string[];
}

export function trackRoutes(app: FastifyInstance): RouteTable {
  const entries: RouteEntry[] = [];
  app.addHook('onRoute', (route) => {
    const schema = route.schema;
    for (const method of [route.method].flat()) {
      entries.push({
        method: method.toUpperCase(),
        url: route.url,
        summary: schema?.summary,
        hidden: schema?.hide === true,
      });
    }
  });
  const methods = () => [...new Set(entries.map((e) => e.method))].sort();
  return {
    entries,
    methods,
    allowedMethods: (instance, path) =>
      methods().filter((method) => instance.findRoute({ method, url: path }) !== null),
  };
}
