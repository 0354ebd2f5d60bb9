/**
 * Service settings, read once from the environment at start-up and validated with zod.
 * Every setting has a safe default, so `npm start` needs no environment at all.
 *
 * | variable                     | default                    | meaning                                          |
 * | ---------------------------- | -------------------------- | ------------------------------------------------ |
 * | PORT                         | 8080                       | TCP port                                         |
 * | HOST                         | 0.0.0.0                    | listen address                                   |
 * | LOG_LEVEL                    | info                       | pino level (fatal … trace, silent)               |
 * | CONVD_MAX_BODY_BYTES         | 67108864 (64 MiB)          | request body size                                |
 * | CONVD_MAX_TENSOR_ELEMENTS    | 16777216 (2^24)            | elements of any one tensor, request or response  |
 * | CONVD_MAX_OUTPUT_BYTES       | 268435456 (256 MiB)        | bytes of all output tensors of one request       |
 * | CONVD_MAX_FLOPS              | 200000000000 (2e11)        | floating-point operations of one request         |
 * | CONVD_POOL_THREADS           | os.availableParallelism()  | worker threads running kernels                   |
 * | CONVD_MAX_QUEUE              | 16                         | requests waiting for a thread; more answer 503   |
 * | CONVD_DEADLINE_MS            | 60000                      | per-request compute deadline; past it 504        |
 * | CONVD_RETRY_AFTER_SECONDS    | 1                          | Retry-After sent with 503                        |
 * | CONVD_SHUTDOWN_GRACE_MS      | 8000                       | time in-flight requests get on SIGTERM / SIGINT  |
 * | CONVD_REQUEST_TIMEOUT_MS     | 60000                      | time to receive a whole request (0: none); 408   |
 * | CONVD_TILE_BUDGET_BYTES      | 67108864 (64 MiB)          | kernel scratch per worker thread                 |
 * | CONVD_SPLIT_MIN_FLOPS        | 10000000 (1e7)             | requests this big are split across threads       |
 * | CONVD_SMALL_LANE_THREADS     | 1                          | extra threads serving only small requests (0: none) |
 * | CONVD_SMALL_TASK_FLOPS       | 10000000 (1e7)             | requests this small run on the small-task lane   |
 * | CONVD_KERNEL                 | (auto)                     | ts or wasm: the kernel engine (read by the       |
 * |                              |                            | workers, workers/kernels/engine.ts; checked here) |
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';

const count = (min: number) => z.coerce.number().int().min(min);

const EnvSchema = z.object({
  PORT: count(0).max(65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CONVD_MAX_BODY_BYTES: count(1024).default(64 * 2 ** 20),
  CONVD_MAX_TENSOR_ELEMENTS: count(1).default(2 ** 24),
  CONVD_MAX_OUTPUT_BYTES: count(1).default(256 * 2 ** 20),
  CONVD_MAX_FLOPS: count(1).default(2e11),
  CONVD_POOL_THREADS: count(1).max(1024).default(() => availableParallelism()),
  CONVD_MAX_QUEUE: count(0).default(16),
  CONVD_DEADLINE_MS: count(1).default(60_000),
  CONVD_RETRY_AFTER_SECONDS: count(1).default(1),
  CONVD_SHUTDOWN_GRACE_MS: count(0).default(8_000),
  CONVD_REQUEST_TIMEOUT_MS: count(0).default(60_000),
  CONVD_TILE_BUDGET_BYTES: count(2 ** 16).default(64 * 2 ** 20),
  CONVD_SPLIT_MIN_FLOPS: z.coerce.number().min(0).default(1e7),
  CONVD_SMALL_LANE_THREADS: count(0).default(1),
  CONVD_SMALL_TASK_FLOPS: z.coerce.number().min(0).default(1e7),
  CONVD_KERNEL: z.enum(['ts', 'wasm']).optional(),
});

export interface Config {
  port: number;
  host: string;
  logLevel: z.infer<typeof EnvSchema>['LOG_LEVEL'];
  maxBodyBytes: number;
  maxTensorElements: number;
  maxOutputBytes: number;
  maxFlops: number;
  poolThreads: number;
  maxQueue: number;
  deadlineMs: number;
  retryAfterSeconds: number;
  shutdownGraceMs: number;
  /** Time to receive a whole request, headers and body (0: no limit); past it 408. */
  requestTimeoutMs: number;
  tileBudgetBytes: number;
  /** Requests of at least this many FLOPs (and 2+ images) are split by batch across threads. */
  splitMinFlops: number;
  /** Extra threads that serve only requests of at most smallTaskFlops (0: no small-task lane). */
  smallLaneThreads: number;
  smallTaskFlops: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads the settings from `env` (blank values count as unset); throws ConfigError naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}=${JSON.stringify(env[String(i.path[0])])}: ${i.message}`);
    throw new ConfigError(`invalid environment:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    maxBodyBytes: e.CONVD_MAX_BODY_BYTES,
    maxTensorElements: e.CONVD_MAX_TENSOR_ELEMENTS,
    maxOutputBytes: e.CONVD_MAX_OUTPUT_BYTES,
    maxFlops: e.CONVD_MAX_FLOPS,
    poolThreads: e.CONVD_POOL_THREADS,
    maxQueue: e.CONVD_MAX_QUEUE,
    deadlineMs: e.CONVD_DEADLINE_MS,
    retryAfterSeconds: e.CONVD_RETRY_AFTER_SECONDS,
    shutdownGraceMs: e.CONVD_SHUTDOWN_GRACE_MS,
    requestTimeoutMs: e.CONVD_REQUEST_TIMEOUT_MS,
    tileBudgetBytes: e.CONVD_TILE_BUDGET_BYTES,
    splitMinFlops: e.CONVD_SPLIT_MIN_FLOPS,
    smallLaneThreads: e.CONVD_SMALL_LANE_THREADS,
    smallTaskFlops: e.CONVD_SMALL_TASK_FLOPS,
  };
}
