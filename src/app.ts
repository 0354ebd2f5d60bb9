/**
 * buildApp: the whole HTTP service as a Fastify instance, not yet listening (tests use it
 * with supertest, scripts/openapi.ts to write the document, server.ts to serve).
 */
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { Admission } from './admission/admission.js';
import { registerAdmissionMetrics } from './admission/metrics.js';
import { BufferPool } from './buffer-pool.js';
import { loadConfig, type Config } from './config.js';
import { clientErrorHandler } from './http/client-errors.js';
import { registerErrorHandling } from './http/errors.js';
import { trackRoutes, type RouteTable } from './http/routes.js';
import { zodValidatorCompiler } from './http/validation.js';
import { Lifecycle } from './lifecycle.js';
import { collectedGauge, createMetrics } from './metrics.js';
import { swaggerOptions } from './openapi.js';
import { WorkerPool } from './worker-pool.js';
import { computeRoutes } from './routes/compute.js';
import { docsRoutes } from './routes/docs.js';
import { indexRoutes } from './routes/index.js';
import { opsRoutes } from './routes/ops.js';
import { registerBodyParsers } from './wire/body-parsers.js';
import { JsonOffload } from './wire/json-offload.js';

export interface BuildOptions {
  /** Overrides of the defaults (the environment is not read here; server.ts does that). */
  config?: Partial<Config>;
  /** The worker pool; by default one is made from the config. The app closes it on close. */
  pool?: WorkerPool;
}

export interface ConvdApp {
  app: FastifyInstance;
  config: Config;
  lifecycle: Lifecycle;
  pool: WorkerPool;
  /** Every registered route, HEAD routes included (what 405 answers and GET / are made from). */
  routes: RouteTable;
  admission: Admission;
  json: JsonOffload;
  /** Memory reused by compute requests (buffer-pool.ts). */
  buffers: BufferPool;
}

export async function buildApp(options: BuildOptions = {}): Promise<ConvdApp> {
  const config: Config = { ...loadConfig({}), ...options.config };
  const pool =
    options.pool ??
    new WorkerPool({
      threads: config.poolThreads,
      maxQueue: config.maxQueue,
      workerData: { tileBudgetBytes: config.tileBudgetBytes },
      smallLane: { threads: config.smallLaneThreads, maxFlops: config.smallTaskFlops },
    });
  const lifecycle = new Lifecycle();
  const metrics = createMetrics(pool);
  const admission = new Admission(config);
  const json = new JsonOffload(config);
  registerAdmissionMetrics(metrics.registry, admission, json);
  // memory reused by compute requests (buffer-pool.ts), idle at most a quarter of the memory budget
  const buffers = new BufferPool(Math.floor(config.memoryBudgetBytes / 4));
  collectedGauge(
    metrics.registry,
    'convd_buffer_pool_idle_bytes',
    'Bytes of tensor memory kept for reuse by the next requests',
    () => buffers.idleByteLength,
  );

  const app = Fastify({
    logger: { level: config.logLevel },
    bodyLimit: config.maxBodyBytes,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // draining is answered by our own onRequest hooks, as problem+json with Retry-After
    return503OnClosing: false,
    // HTTP parser errors answer problem+json too
    clientErrorHandler,
    // a body that never finishes arriving (a stalled or slowloris upload) is cut off: 408
    requestTimeout: config.requestTimeoutMs,
    http: {
      // request line and headers; Node checks both timeouts every connectionsCheckingInterval
      headersTimeout:
        config.requestTimeoutMs > 0 && config.headersTimeoutMs > 0
          ? Math.min(config.headersTimeoutMs, config.requestTimeoutMs)
          : config.headersTimeoutMs,
      connectionsCheckingInterval: 1_000,
    },
  }).withTypeProvider<ZodTypeProvider>();
  admission.attach(app.server);

  // first, so that it sees every route registered below
  const routes = trackRoutes(app);
  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app, routes);
  registerBodyParsers(app, json);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // memory budget, body rate, closing connections whose body was not read (admission/)
  admission.register(app);
  app.addHook('onSend', async (_request, reply) => {
    // while draining, answers close their keep-alive connection so that close() can finish
    if (lifecycle.state === 'draining') reply.header('connection', 'close');
  });
  app.addHook('preValidation', async (request, reply) => {
    // its body has arrived; it counts until its answer is sent or its connection closes
    lifecycle.accepted.add(request);
    reply.raw.once('close', () => lifecycle.accepted.delete(request));
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeRequest(
      request.method,
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
  });
  app.addHook('onReady', async () => {
    await pool.started;
    // what the workers run each dtype on; fails start-up when CONVD_KERNEL=wasm cannot be honoured
    metrics.setKernels(await pool.describe());
    lifecycle.markReady();
  });
  app.addHook('preClose', (done) => {
    lifecycle.startDraining();
    done();
  });
  app.addHook('onClose', async () => {
    await Promise.all([pool.close(), json.close()]);
  });

  await app.register(swagger, swaggerOptions);
  await app.register(computeRoutes, { config, pool, metrics, lifecycle, admission, json, buffers });
  await app.register(opsRoutes, { lifecycle, metrics, retryAfterSeconds: config.retryAfterSeconds });
  await app.register(docsRoutes);
  await app.register(indexRoutes, { routes });

  return { app, config, lifecycle, pool, routes, admission, json, buffers };
}
