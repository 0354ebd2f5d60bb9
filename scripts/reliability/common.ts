/**
 * Shared by the reliability scripts (load, soak, replicas): a convd server process on a
 * loopback port, the two request kinds of the workload (tiny, and S1 = N8 C64 56x56 -> 64
 * k3 p1 float32) with their answer checks, percentiles, and argument parsing.
 *
 * Traffic goes to 127.0.0.1 only; every loop is bounded by a duration or a count.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Packr, Unpackr } from 'msgpackr';

export const SERVER_JS = fileURLToPath(new URL('../../src/server.js', import.meta.url));

const packr = new Packr({ useRecords: false });
export const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** `--name value` and `--flag` arguments. */
export function parseArgs(argv: string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const [name, inline] = a.slice(2).split('=', 2);
    if (inline !== undefined) out[name] = inline;
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[name] = argv[++i];
    else out[name] = true;
  }
  return out;
}

/** Processes this script started: killed when it exits, however it exits (no orphaned servers). */
const children = new Set<ChildProcess>();
export function ownChild(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => process.exit(signal === 'SIGINT' ? 130 : 143));

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the server logged (JSON lines). */
  log(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/** Starts `node dist/src/server.js` (or `script`) on 127.0.0.1:`port` and waits for /readyz. */
export async function startServer(
  env: Record<string, string> = {},
  port?: number,
  script = SERVER_JS,
): Promise<ServerProcess> {
  const p = port ?? (await freePort());
  const child = ownChild(
    spawn(process.execPath, [script], {
      env: { ...process.env, LOG_LEVEL: 'warn', ...env, PORT: String(p), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let log = '';
  child.stdout!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-1_000_000)));
  child.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-1_000_000)));
  const url = `http://127.0.0.1:${p}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} while starting:\n${log}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server not ready within 30 s:\n${log}`);
    }
    await sleep(50);
  }
  return {
    url,
    port: p,
    child,
    log: () => log,
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const [code] = await exited;
      clearTimeout(timer);
      return code as number | null;
    },
  };
}

/** Resident set size of a process in bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

// ---------------------------------------------------------------------------------------------
// The workload

/** Deterministic values in [-1, 1). */
function pseudoRandom(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

/** The tiny request (JSON both ways) and its exact answer. */
export const TINY = {
  body: JSON.stringify({
    input: { dtype: 'float32', shape: [1, 1, 3, 3], data: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
    weight: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 0, 0, -1] },
    bias: { dtype: 'float32', shape: [1], data: [0.5] },
  }),
  headers: { 'content-type': 'application/json', accept: 'application/json' },
  answer: JSON.stringify({ output: { dtype: 'float32', shape: [1, 1, 2, 2], data: [-3.5, -3.5, -3.5, -3.5] } }),
};

/** S1 = N8 C64 56x56 -> 64, k3 p1, float32: 1.85 GFLOP, 6.4 MB in and out (msgpack). */
export const S1_SHAPE = { n: 8, c: 64, h: 56, w: 56, cout: 64, k: 3, pad: 1 };
export const S1_FLOPS = 2 * S1_SHAPE.n * S1_SHAPE.cout * S1_SHAPE.h * S1_SHAPE.w * S1_SHAPE.c * S1_SHAPE.k * S1_SHAPE.k;

export interface S1 {
  body: Buffer;
  headers: Record<string, string>;
  /** Why a 200 body is not S1's answer (64 sampled outputs against direct sums), or null. */
  defect: (body: Uint8Array) => string | null;
}

export function makeS1(seed = 1): S1 {
  const { n, c, h, w, cout, k, pad } = S1_SHAPE;
  const x = pseudoRandom(n * c * h * w, seed);
  const wt = pseudoRandom(cout * c * k * k, seed + 1);
  const body = Buffer.from(
    packr.pack({
      input: { dtype: 'float32', shape: [n, c, h, w], data: Buffer.from(x.buffer) },
      weight: { dtype: 'float32', shape: [cout, c, k, k], data: Buffer.from(wt.buffer) },
      padding: pad,
    }),
  );
  const samples = Array.from({ length: 64 }, (_, s) => {
    const [b, co, i, j] = [s % n, (s * 7) % cout, (s * 13) % h, (s * 29 + (s % 3) * 27) % w];
    let sum = 0;
    let abs = 0;
    for (let ci = 0; ci < c; ci++)
      for (let a = 0; a < k; a++)
        for (let d = 0; d < k; d++) {
          const r = i - pad + a;
          const q = j - pad + d;
          if (r < 0 || r >= h || q < 0 || q >= w) continue;
          const p = x[((b * c + ci) * h + r) * w + q] * wt[((co * c + ci) * k + a) * k + d];
          sum += p;
          abs += Math.abs(p);
        }
    return { index: ((b * cout + co) * h + i) * w + j, value: sum, tol: 2 ** -24 * (c * k * k + 2) * abs + 1e-30 };
  });
  return {
    body,
    headers: { 'content-type': 'application/msgpack', accept: 'application/msgpack' },
    defect(bytes) {
      let out: { dtype: string; shape: number[]; data: Uint8Array };
      try {
        out = unpackr.unpack(bytes).output;
      } catch (err) {
        return `undecodable: ${(err as Error).message}`;
      }
      if (out?.dtype !== 'float32' || out.shape.join() !== [n, cout, h, w].join())
        return `output ${out?.dtype} [${out?.shape}]`;
      const y = new Float32Array(Uint8Array.from(out.data).buffer);
      for (const s of samples)
        if (!(Math.abs(y[s.index] - s.value) <= s.tol)) return `y[${s.index}] = ${y[s.index]}, expected ${s.value}`;
      return null;
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Least-squares slope of y over x. */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export const fmt = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
