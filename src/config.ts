/**
 * Service settings, read once from the environment at start-up and validated with zod.
 * Every setting has a safe default, so `npm start` needs no environment at all.
 *
 * This file is the one source of the settings table in README.md (between its
 * `<!-- config:start -->` and `<!-- config:end -->` markers): `SETTINGS` says what each
 * variable means, the zod defaults below say what it defaults to, `settingsTable()` renders
 * both, `npm run docs:config` writes the table into README.md, and test/service/readme.test.ts
 * fails when README.md's table differs from it.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { defaultBudgetBytes } from './admission/budget.js';

const count = (min: number) => z.coerce.number().int().min(min);

const EnvSchema = z.object({
  PORT: count(0).max(65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CONVD_MAX_BODY_BYTES: count(1024).default(64 * 2 ** 20),
  CONVD_MAX_TENSOR_ELEMENTS: count(1).default(2 ** 24),
  CONVD_MAX_OUTPUT_BYTES: count(1).default(256 * 2 ** 20),
  CONVD_MAX_FLOPS: count(1).default(2e11),
  CONVD_POOL_THREADS: count(1)
    .max(1024)
    .default(() => availableParallelism()),
  CONVD_MAX_QUEUE: count(0).default(16),
  CONVD_DEADLINE_MS: count(1).default(60_000),
  CONVD_RETRY_AFTER_SECONDS: count(1).default(1),
  CONVD_SHUTDOWN_GRACE_MS: count(0).default(8_000),
  CONVD_REQUEST_TIMEOUT_MS: count(0).default(60_000),
  CONVD_TILE_BUDGET_BYTES: count(2 ** 16).default(64 * 2 ** 20),
  CONVD_SPLIT_MIN_FLOPS: z.coerce.number().min(0).default(1e7),
  CONVD_SMALL_LANE_THREADS: count(0).default(1),
  CONVD_SMALL_TASK_FLOPS: z.coerce.number().min(0).default(1e7),
  CONVD_KERNEL: z.enum(['native', 'wasm', 'ts']).optional(),
  CONVD_MEMORY_BUDGET_BYTES: count(2 ** 20).optional(),
  CONVD_MAX_JSON_BODY_BYTES: count(1024).default(64 * 2 ** 20),
  CONVD_JSON_OFFLOAD_BYTES: count(0).default(256 * 1024),
  CONVD_JSON_THREADS: count(1).max(64).default(1),
  CONVD_MAX_CONNECTIONS: count(1).default(1024),
  CONVD_HEADERS_TIMEOUT_MS: count(0).default(10_000),
  CONVD_BODY_STALL_MS: count(0).default(5_000),
  CONVD_MIN_BODY_BYTES_PER_SECOND: count(0).default(64 * 1024),
});

export type SettingName = keyof typeof EnvSchema.shape;

/** Every variable the service reads. */
export const SETTING_NAMES = Object.keys(EnvSchema.shape) as SettingName[];

/** One row of the settings table: what a variable means to the person running convd. */
export interface SettingDoc {
  variable: SettingName;
  meaning: string;
  /** `bytes`: the default is shown in MiB / KiB as well. */
  unit?: 'bytes';
  /** How the default reads when it is not a fixed value of the schema (it depends on the machine, or there is none). */
  shownDefault?: string;
}

/** Every variable of EnvSchema, in the order of the table. Markdown, no `|`. */
export const SETTINGS: readonly SettingDoc[] = [
  { variable: 'PORT', meaning: 'TCP port to listen on' },
  { variable: 'HOST', meaning: 'listen address: `0.0.0.0` is every interface, `127.0.0.1` this machine only' },
  {
    variable: 'LOG_LEVEL',
    meaning:
      'pino log level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`; logs are JSON lines carrying the request id',
  },
  { variable: 'CONVD_MAX_BODY_BYTES', unit: 'bytes', meaning: 'largest request body (at least 1024); past it 413' },
  { variable: 'CONVD_MAX_TENSOR_ELEMENTS', meaning: 'elements of any one request tensor; past it 413' },
  {
    variable: 'CONVD_MAX_OUTPUT_BYTES',
    unit: 'bytes',
    meaning: 'bytes of all output tensors of one request; past it 413',
  },
  {
    variable: 'CONVD_MAX_FLOPS',
    meaning: 'floating-point operations of one request (2 per multiply-add); past it 413',
  },
  {
    variable: 'CONVD_POOL_THREADS',
    shownDefault: 'number of CPUs (`os.availableParallelism()`)',
    meaning: 'worker threads running kernels (1 to 1024)',
  },
  {
    variable: 'CONVD_MAX_QUEUE',
    meaning: 'requests that may wait for a thread, per lane; past it 503 with `Retry-After`',
  },
  {
    variable: 'CONVD_DEADLINE_MS',
    meaning:
      'compute deadline of a request; past it 504 and the work is cancelled (a busy thread is stopped and replaced)',
  },
  { variable: 'CONVD_RETRY_AFTER_SECONDS', meaning: '`Retry-After` sent with 503 answers' },
  {
    variable: 'CONVD_SHUTDOWN_GRACE_MS',
    meaning: 'on SIGTERM / SIGINT, time in-flight requests get to finish before the process exits',
  },
  {
    variable: 'CONVD_REQUEST_TIMEOUT_MS',
    meaning: 'time to receive a whole request, headers and body (0: no limit); past it 408',
  },
  {
    variable: 'CONVD_TILE_BUDGET_BYTES',
    unit: 'bytes',
    meaning: 'kernel scratch memory per worker thread (at least 64 KiB)',
  },
  {
    variable: 'CONVD_SPLIT_MIN_FLOPS',
    meaning:
      'a request of at least this many FLOPs with 2 or more images is split by batch across the idle threads (pooling, unfold and fold count 50 a touched element)',
  },
  {
    variable: 'CONVD_SMALL_LANE_THREADS',
    meaning: 'extra threads that serve only small requests, so they never wait behind big ones (0: one queue for all)',
  },
  {
    variable: 'CONVD_SMALL_TASK_FLOPS',
    meaning: 'requests of at most this many FLOPs run on the small-request threads',
  },
  {
    variable: 'CONVD_KERNEL',
    shownDefault: 'automatic',
    meaning:
      '`native`, `wasm` or `ts` forces the kernel engine; by default native (OpenBLAS) when its addon was built and loads, else WebAssembly SIMD. Any other value, or an engine that cannot load, stops start-up',
  },
  {
    variable: 'CONVD_MEMORY_BUDGET_BYTES',
    unit: 'bytes',
    shownDefault:
      "half the memory limit: cgroup v2 `memory.max`, cgroup v1 `memory.limit_in_bytes`, else the machine's memory",
    meaning:
      'memory for requests in flight (at least 1 MiB): each reserves its body from `Content-Length` before reading it, then its tensors, outputs and encoded answer from the shapes; ' +
      'a request that does not fit now is answered 503 with `Retry-After` at once, one that could never fit 413',
  },
  {
    variable: 'CONVD_MAX_JSON_BODY_BYTES',
    unit: 'bytes',
    meaning: 'largest JSON request body (at least 1024); past it 413 pointing to msgpack',
  },
  {
    variable: 'CONVD_JSON_OFFLOAD_BYTES',
    unit: 'bytes',
    meaning:
      'JSON bodies and JSON answers of at least this size are parsed and written on the JSON threads, not on the event loop (0: all of them)',
  },
  { variable: 'CONVD_JSON_THREADS', meaning: 'threads that parse and write large JSON bodies (1 to 64)' },
  { variable: 'CONVD_MAX_CONNECTIONS', meaning: 'open client connections; a connection past it is closed at once' },
  {
    variable: 'CONVD_HEADERS_TIMEOUT_MS',
    meaning: 'time to receive the request line and headers (0: only `CONVD_REQUEST_TIMEOUT_MS`); past it 408',
  },
  {
    variable: 'CONVD_BODY_STALL_MS',
    meaning:
      'a request body must keep arriving: in every span of this many ms it must bring `CONVD_MIN_BODY_BYTES_PER_SECOND` per second, or it is dropped with 408 (0: no check)',
  },
  {
    variable: 'CONVD_MIN_BODY_BYTES_PER_SECOND',
    unit: 'bytes',
    meaning: 'slowest body upload that is kept, averaged over each `CONVD_BODY_STALL_MS` span',
  },
];

/** The schema's defaults (what an empty environment reads as). */
export function settingDefaults(): Record<SettingName, unknown> {
  return EnvSchema.parse({}) as Record<SettingName, unknown>;
}

const MiB = 2 ** 20;

/** A default as the settings table shows it: 67108864 (64 MiB), 16777216 (2^24), 200000000000 (2e11), 60000. */
export function formatDefault(value: unknown, unit?: 'bytes'): string {
  if (typeof value !== 'number') return `\`${String(value)}\``;
  const exact = `\`${value}\``;
  if (unit === 'bytes' && value >= MiB && value % MiB === 0) return `${exact} (${value / MiB} MiB)`;
  if (unit === 'bytes' && value >= 1024 && value % 1024 === 0) return `${exact} (${value / 1024} KiB)`;
  if (value >= 1024 && Number.isInteger(Math.log2(value))) return `${exact} (2^${Math.log2(value)})`;
  if (value >= 1e6 && /^[1-9]e\+\d+$/.test(value.toExponential()))
    return `${exact} (${value.toExponential().replace('+', '')})`;
  return exact;
}

/** The settings table in Markdown, from SETTINGS and the schema's defaults. */
export function settingsTable(defaults: Record<SettingName, unknown> = settingDefaults()): string {
  const rows = SETTINGS.map(
    (s) => `| \`${s.variable}\` | ${s.shownDefault ?? formatDefault(defaults[s.variable], s.unit)} | ${s.meaning} |`,
  );
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

export const SETTINGS_START = '<!-- config:start -->';
export const SETTINGS_END = '<!-- config:end -->';

/** `markdown` with the text between the settings markers replaced by `table` (the markers must be there). */
export function withSettingsTable(markdown: string, table: string = settingsTable()): string {
  const start = markdown.indexOf(SETTINGS_START);
  const end = markdown.indexOf(SETTINGS_END);
  if (start < 0 || end < start) throw new Error(`the markers ${SETTINGS_START} and ${SETTINGS_END} are missing`);
  return `${markdown.slice(0, start + SETTINGS_START.length)}\n${table}\n${markdown.slice(end)}`;
}

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
  /** Requests of at least this many FLOPs (Work.splitFlops, and 2+ images) are split by batch across threads. */
  splitMinFlops: number;
  /** Extra threads that serve only requests of at most smallTaskFlops (0: no small-task lane). */
  smallLaneThreads: number;
  smallTaskFlops: number;
  /** Bytes that requests in flight may reserve (src/admission/budget.ts). */
  memoryBudgetBytes: number;
  maxJsonBodyBytes: number;
  /** JSON bodies and answers of at least this many bytes are parsed / written on the JSON threads. */
  jsonOffloadBytes: number;
  jsonThreads: number;
  maxConnections: number;
  headersTimeoutMs: number;
  /** Span over which a body upload must average minBodyBytesPerSecond (0: no check). */
  bodyStallMs: number;
  minBodyBytesPerSecond: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads the settings from `env` (blank values count as unset); throws ConfigError naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (i) => `${i.path.join('.')}=${JSON.stringify(env[String(i.path[0])])}: ${i.message}`,
    );
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
    memoryBudgetBytes: e.CONVD_MEMORY_BUDGET_BYTES ?? defaultBudgetBytes(),
    maxJsonBodyBytes: e.CONVD_MAX_JSON_BODY_BYTES,
    jsonOffloadBytes: e.CONVD_JSON_OFFLOAD_BYTES,
    jsonThreads: e.CONVD_JSON_THREADS,
    maxConnections: e.CONVD_MAX_CONNECTIONS,
    headersTimeoutMs: e.CONVD_HEADERS_TIMEOUT_MS,
    bodyStallMs: e.CONVD_BODY_STALL_MS,
    minBodyBytesPerSecond: e.CONVD_MIN_BODY_BYTES_PER_SECOND,
  };
}
