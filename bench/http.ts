/**
 * Service overhead bench, over loopback with autocannon, in one run:
 *   - a tiny forward (N1 C1 8x8 k3, msgpack) and an S5 forward, against a bare Fastify route
 *     that answers a constant: p50 / p99 latency and throughput at `--connections` for
 *     `--seconds` each (S5 also from node:http clients, see nodeLoad);
 *   - S5 forward (N32 C1 28x28 -> 32 k5, msgpack): end-to-end latency of one client at a time
 *     (node:http, keep-alive) against the kernel alone on one thread in this process (median
 *     of `--runs`);
 *   - S1, S2, S6 forward and S1 backward end to end against PyTorch in-process on as many
 *     threads as the service has, and S1 against the service's kernel alone
 *     (bench/service-vs-torch.ts).
 * The servers run as child processes (the real `dist/src/server.js` and a bare Fastify), so
 * the client does not share their event loop.
 *
 *   npm run build && node dist/bench/http.js [--seconds 10] [--connections 16] [--runs 30]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Packr } from 'msgpackr';
import { numel } from '../src/shared/tensor.js';
import { resolveConv } from '../src/shared/geometry/conv.js';
import { convForward } from '../workers/kernels/conv.js';
import { updatePerformanceDoc } from './docs.js';
import { post, serviceVersusTorch } from './service-vs-torch.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    runs: { type: 'string', default: '30' },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const runs = Number(values.runs);
const packr = new Packr({ useRecords: false });

function random(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() - 0.5);
}

const tensor = (shape: number[], data: Float32Array) => ({
  dtype: 'float32',
  shape,
  data: new Uint8Array(data.buffer),
});
const tinyBody = packr.pack({ input: tensor([1, 1, 8, 8], random(64)), weight: tensor([1, 1, 3, 3], random(9)) });
const s5 = { input: random(32 * 28 * 28), weight: random(32 * 25) };
const s5Body = packr.pack({ input: tensor([32, 1, 28, 28], s5.input), weight: tensor([32, 1, 5, 5], s5.weight) });

async function start(script: string, port: number, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...env },
    stdio: 'inherit',
  });
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
  return {
    rps: Math.round(result.requests.average),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/**
 * One client at a time over a keep-alive node:http connection (undici's fetch adds ~2.5 ms
 * reading a 2.4 MB body, autocannon ~30 ms): median total and time to the first response byte.
 */
async function sequentialMs(url: string, body: Buffer): Promise<{ total: number; firstByte: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const samples: { total: number; firstByte: number }[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const s = await post(agent, url, body);
    if (i >= 3) samples.push(s);
  }
  agent.destroy();
  return { total: median(samples.map((s) => s.total)), firstByte: median(samples.map((s) => s.firstByte)) };
}

/**
 * The same load as autocannon's but from `connections` keep-alive node:http clients: with a
 * 2.4 MB answer autocannon's own response parsing is the bottleneck (about 30 req/s).
 */
async function nodeLoad(url: string, body: Buffer) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  let non2xx = 0;
  const end = performance.now() + seconds * 1000;
  const client = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(
          url,
          { method: 'POST', agent, headers: { 'content-type': 'application/msgpack', 'content-length': body.length } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      if (status === 200) latencies.push(performance.now() - t0);
      else non2xx++;
    }
  };
  await Promise.all(Array.from({ length: connections }, client));
  agent.destroy();
  const sorted = latencies.sort((x, y) => x - y);
  const at = (q: number) => +sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(1);
  return { rps: Math.round(latencies.length / seconds), p50_ms: at(0.5), p99_ms: at(0.99), non2xx, errors: 0 };
}

function kernelMs(): number {
  const g = resolveConv(
    { input: { dtype: 'float32', shape: [32, 1, 28, 28] }, weight: { dtype: 'float32', shape: [32, 1, 5, 5] } },
    {},
  );
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
  const s5NodeLoad = await nodeLoad(`http://127.0.0.1:${servicePort}/conv/forward`, s5Body);
  const constant = await load(`http://127.0.0.1:${barePort}/constant`);
  const s5Http = await sequentialMs(`http://127.0.0.1:${servicePort}/conv/forward`, s5Body);
  const s5Kernel = kernelMs();
  const versusTorch = await serviceVersusTorch(`http://127.0.0.1:${servicePort}`, runs);
  const report = {
    date: new Date().toISOString(),
    seconds,
    connections,
    tiny_forward: tiny,
    s5_forward: s5Load,
    s5_forward_node_http: s5NodeLoad,
    bare_fastify_constant: constant,
    tiny_p50_ratio: +(tiny.p50_ms / Math.max(constant.p50_ms, 1e-3)).toFixed(2),
    s5_forward_http_ms: +s5Http.total.toFixed(2),
    s5_forward_first_byte_ms: +s5Http.firstByte.toFixed(2),
    s5_forward_kernel_ms: +s5Kernel.toFixed(2),
    s5_http_over_kernel: +(s5Http.total / s5Kernel).toFixed(2),
    service_vs_torch: versusTorch,
  };
  console.table({
    'tiny forward (msgpack)': tiny,
    'S5 forward (msgpack)': s5Load,
    'S5 forward (node:http clients)': s5NodeLoad,
    'bare Fastify constant': constant,
  });
  console.log(
    `S5 forward: ${report.s5_forward_http_ms} ms over HTTP (one client, median of ${runs}; first byte after ${report.s5_forward_first_byte_ms} ms) vs ${report.s5_forward_kernel_ms} ms kernel alone: ${report.s5_http_over_kernel}x`,
  );
  console.log(
    `\nEnd to end (one client, msgpack, default settings) vs PyTorch in-process, ${versusTorch.threads} threads each, median of ${runs}:`,
  );
  console.table(versusTorch.cases);
  const outDir = join(here, '../../bench/results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'http-latest.json'), JSON.stringify(report, null, 2) + '\n');
  updatePerformanceDoc();
} finally {
  service.kill('SIGTERM');
  bare.kill('SIGTERM');
}
