/**
 * PROTOTYPE server for the load comparison: src/server.ts with the small-request lane of
 * laned-pool.ts (CONVD_SMALL_TASK_FLOPS, default 1e7; one extra thread). Same environment,
 * same graceful shutdown.
 */
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { LanedPool } from './laned-pool.js';

const config = loadConfig(process.env);
const pool = new LanedPool({
  threads: config.poolThreads,
  maxQueue: config.maxQueue,
  workerData: { tileBudgetBytes: config.tileBudgetBytes },
  smallTaskFlops: Number(process.env.CONVD_SMALL_TASK_FLOPS ?? 1e7),
  smallThreads: 1,
  smallMaxQueue: 4 * config.maxQueue,
});
const { app, lifecycle } = await buildApp({ config, pool });

await app.listen({ port: config.port, host: config.host });

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, async () => {
    if (stopping) return;
    stopping = true;
    lifecycle.startDraining();
    setTimeout(() => process.exit(1), config.shutdownGraceMs).unref();
    await app.close();
    process.exit(0);
  });
}
