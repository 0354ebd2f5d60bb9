/** GET /healthz (liveness), GET /readyz (readiness) and GET /metrics (Prometheus). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HttpProblem } from '../http/problem.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Metrics } from '../metrics.js';
import { problemResponse } from '../schemas/problem.js';

export interface OpsRouteDeps {
  lifecycle: Lifecycle;
  metrics: Metrics;
  retryAfterSeconds: number;
}

export const opsRoutes: FastifyPluginAsyncZod<OpsRouteDeps> = async (
  app,
  { lifecycle, metrics, retryAfterSeconds },
) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process serves HTTP',
        response: { 200: z.strictObject({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Readiness: the worker pool has started and the server is not shutting down',
        response: {
          200: z.strictObject({ status: z.literal('ready') }),
          503: problemResponse('Starting or shutting down; carries Retry-After.'),
        },
      },
    },
    async () => {
      if (lifecycle.state !== 'ready') {
        throw new HttpProblem('not-ready', `the server is ${lifecycle.state}`, {
          headers: { 'retry-after': String(retryAfterSeconds) },
        });
      }
      return { status: 'ready' as const };
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        produces: ['text/plain'],
        response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } } },
      },
    },
    async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
};
