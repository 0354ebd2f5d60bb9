/**
 * Service overhead bench, over loopback with autocannon, in one run:
 *   - a tiny forward (N1 C1 8x8 k3, msgpack) and an S5 forward, against a bare Fastify route
 *     that answers a constant: p50 / p99 latency and throughput at `--connections` for
 *     `--seconds` each;
 *   - S5 forward (N32 C1 28x28 -> 32 k5, msgpack): end-to-end latency of one client at a time
 *     against the kernel alone on one thread in this process (median of `--runs`).
 * The servers run as child processes (the real `dist/src/server.js` and a bare Fastify), so
 * the client does not share their event loop.
 *
 *   npm run build && node dist/bench/http.js [--seconds 10] [--connections 16] [--runs 30]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Packr } from 'msgpackr';
import { numel, resolveConv } from '../src/conv/geometry.js';
import { convForward } from '../workers/kernels/conv.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '16' }, runs: { type: 'string', default: '30' } },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const runs = Number(values.runs);
const packr = new Packr({ useRecords: false });

function random(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() - 0.5);
}

const tensor = (shape: number[], data: Float32Array) => ({ dtype: 'float32', shape, data: new Uint8Array(data.buffer) });
const tinyBody = packr.pack({ input: tensor([1, 1, 8, 8], random(64)), weight: tensor([1, 1, 3, 3], random(9)) });
const s5 = { input: random(32 * 28 * 28), weight: random(32 * 25) };
const s5Body = packr.pack({ input: tensor([32, 1, 28, 28], s5.input), weight: tensor([32, 1, 5, 5], s5.weight) });

async function start(script: string, port: number, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, [script], { env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...env }, stdio: 'inherit' });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`${script} did not come up on port ${port}`);
}

async function load(url: string, body?: Buffer) {
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    method: body ? 'POST' : 'GET',
    headers: body ? { 'content-type': 'application/msgpack' } : {},
    body,
  });
  return { rps: Math.round(result.requests.average), p50_ms: result.latency.p50, p99_ms: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

async function sequentialMs(url: string, body: Buffer): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/msgpack" }, body: new Uint8Array(body) });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    if (i >= 3) ms.push(performance.now() - t0);
  }
  return median(ms);
}

function kernelMs(): number {
  const g = resolveConv({ input: { dtype: 'float32', shape: [32, 1, 28, 28] }, weight: { dtype: 'float32', shape: [32, 1, 5, 5] } }, {});
  const y = new Float32Array(numel(g.outputShape));
  const ms: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    convForward(g, s5.input, s5.weight, null, y);
    if (i >= 3) ms.push(performance.now() - t0);
  }
  return median(ms);
}

const servicePort = 18000 + Math.floor(Math.random() * 1000);
const barePort = servicePort + 1000;
const service = await start(join(here, '../src/server.js'), servicePort);
const bare = await start(join(here, 'bare-server.js'), barePort);
try {
  const tiny = await load(`http://127.0.0.1:${servicePort}/conv/forward`, tinyBody);
  const s5Load = await load(`http://127.0.0.1:${servicePort}/conv/forward`, s5Body);
  const constant = await load(`http://127.0.0.1:${barePort}/constant`);
  const s5Http = await sequentialMs(`http://127.0.0.1:${servicePort}/conv/forward`, s5Body);
  const s5Kernel = kernelMs();
  const report = {
    date: new Date().toISOString(),
    seconds,
    connections,
    tiny_forward: tiny,
    s5_forward: s5Load,
    bare_fastify_constant: constant,
    tiny_p50_ratio: +(tiny.p50_ms / Math.max(constant.p50_ms, 1e-3)).toFixed(2),
    s5_forward_http_ms: +s5Http.toFixed(2),
    s5_forward_kernel_ms: +s5Kernel.toFixed(2),
    s5_http_over_kernel: +(s5Http / s5Kernel).toFixed(2),
  };
  console.table({ 'tiny forward (msgpack)': tiny, 'S5 forward (msgpack)': s5Load, 'bare Fastify constant': constant });
  console.log(`S5 forward: ${report.s5_forward_http_ms} ms over HTTP (one client, median of ${runs}) vs ${report.s5_forward_kernel_ms} ms kernel alone: ${report.s5_http_over_kernel}x`);
  const outDir = join(here, '../../bench/results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'http-latest.json'), JSON.stringify(report, null, 2) + '\n');
} finally {
  service.kill('SIGTERM');
  bare.kill('SIGTERM');
}
