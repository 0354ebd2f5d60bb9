/**
 * The service entry point: reads the environment, serves on HOST:PORT, and shuts down
 * gracefully on SIGTERM / SIGINT: readiness goes 503, requests already sent are read (and
 * answered 503 when they arrive after the signal), the listener closes, in-flight requests
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

/** Time between readiness going 503 and the listener closing (a quarter of the grace period at most). */
const DRAIN_DELAY_MS = 500;

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
  // Requests already on the wire but not yet read get a moment to be read and answered (503 with
  // Retry-After while draining): closing the listener at once would also close their connections,
  // which look idle until their bytes are read, and reset them.
  await new Promise((resolve) => setTimeout(resolve, Math.min(DRAIN_DELAY_MS, config.shutdownGraceMs / 4)));
  const closing = app.close();
  // A connection whose body never finished arriving (a stalled or abandoned upload) would hold
  // close() until the grace period ends: once every accepted request is answered, drop them.
  const sweep = setInterval(() => {
    if (lifecycle.accepted.size === 0) app.server.closeAllConnections();
  }, 50);
  await closing;
  clearInterval(sweep);
  app.log.info('shut down cleanly');
  process.exit(0);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, (s) => void shutdown(s));
