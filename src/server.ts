/**
 * The service entry point: reads the environment, serves on HOST:PORT, and shuts down
 * gracefully on SIGTERM / SIGINT: readiness goes 503, the listener closes, in-flight requests
 * get CONVD_SHUTDOWN_GRACE_MS to finish, then the worker pool closes and the process exits 0
 * (1 when the grace period ran out first).
 */
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';

function configOrExit() {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(1);
  }
}

const { app, lifecycle, config } = await buildApp({ config: configOrExit() });
await app.listen({ port: config.port, host: config.host });

let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  app.log.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: draining in-flight requests');
  lifecycle.startDraining();
  setTimeout(() => {
    app.log.error({ graceMs: config.shutdownGraceMs }, 'grace period over with requests still in flight; exiting');
    process.exit(1);
  }, config.shutdownGraceMs).unref();
  await app.close();
  app.log.info('shut down cleanly');
  process.exit(0);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, (s) => void shutdown(s));
