/** GET /openapi.json (the generated document, as committed in openapi/openapi.json) and GET /docs (Swagger UI). */
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsync } from 'fastify';
import { openapiText } from '../openapi.js';

export const docsRoutes: FastifyPluginAsync = async (app) => {
  let text: string | undefined;
  app.get('/openapi.json', { schema: { hide: true } }, async (_request, reply) => {
    text ??= openapiText(app);
    return reply.type('application/json').send(text);
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
};
