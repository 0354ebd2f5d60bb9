/**
 * The service end to end against PyTorch in-process on the same cores: S1, S2, S6 forward
 * and S1 backward (grad_input and grad_weight; S1 has no bias), float32 channels_first.
 *
 *   service  one client at a time, msgpack over a keep-alive node:http connection to a server
 *            with default settings (all cores), from the request's first byte to the
 *            answer's last;
 *   torch    F.conv2d / aten::convolution_backward in bench/peers/torch_peer.py with
 *            torch.set_num_threads(cores), timed inside the peer process (no pipe);
 *   kernel   (S1 only) the service's kernel without its wire: the same task through a
 *            WorkerPool of the service's default size, split by batch as the service splits
 *            it, operands already in shared memory, its per-sample results written into
 *            reused memory (a BufferPool lease, as the service's are).
 * Round-robin per case (service, torch, kernel, service, ...) after `warmup` runs of each;
 * medians of `runs`. Between two timed runs the bench waits `settleMs` (out of the clock):
 * PyTorch's OpenMP threads spin-wait for a few milliseconds after each op (GNU libgomp's
 * default wait policy: 5-6 ms of CPU measured), and the server finishes a request's
 * bookkeeping after its last byte; timed back to back, whatever runs next shares the two
 * cores with that and is charged for it (S1's kernel alone measured 16.4 ms right after
 * PyTorch against 8.5 ms in bench/split.ts).
 */
import http from 'node:http';
import { Packr } from 'msgpackr';
import { loadConfig } from '../src/config.js';
import { convWork, type ConvGeometry } from '../src/shared/geometry/conv.js';
import { allocShared, numel, realView, type Real } from '../src/shared/tensor.js';
import type { Task } from '../src/shared/task.js';
import { BufferPool } from '../src/buffer-pool.js';
import { batchSlices, runSplit } from '../src/split.js';
import { WorkerPool } from '../src/worker-pool.js';
import { TorchPeer, type TorchHello, type TorchOp } from './peers/torch.js';
import { SHAPES, geometry } from './shapes.js';

export interface EndToEndCase {
  case: string;
  /** Median ms of one request over HTTP (msgpack). */
  service_ms: number;
  /** Median ms of the same op in PyTorch, in-process, on as many threads as the service has. */
  torch_ms: number | null;
  /** torch_ms / service_ms: the service's speed relative to PyTorch's (> 1: the service is faster). */
  service_vs_torch: number | null;
  /** Median ms of the service's kernel alone (S1 only). */
  kernel_ms?: number;
  /** service_ms / kernel_ms: what the wire path adds on top of the compute. */
  service_over_kernel?: number;
}

export interface EndToEndReport {
  threads: number;
  runs: number;
  torch: TorchHello | { skipped: string };
  cases: EndToEndCase[];
}

const packr = new Packr({ useRecords: false });

/** One POST over `agent`: ms to the answer's first byte and to its end. */
export function post(
  agent: http.Agent,
  url: string,
  body: Buffer,
): Promise<{ total: number; firstByte: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let firstByte = 0;
    let bytes = 0;
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/msgpack', 'content-length': body.length } },
      (res) => {
        if (res.statusCode !== 200) reject(new Error(`${url} answered ${res.statusCode}`));
        res.on('data', (chunk: Buffer) => {
          firstByte ||= performance.now() - t0;
          bytes += chunk.length;
        });
        res.on('end', () => resolve({ total: performance.now() - t0, firstByte, bytes }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function sharedRandom(n: number): { buffer: SharedArrayBuffer; data: Real } {
  const buffer = allocShared('float32', n);
  const data = realView('float32', buffer);
  for (let i = 0; i < n; i++) data[i] = Math.random() * 2 - 1;
  return { buffer, data };
}

interface Case {
  name: string;
  g: ConvGeometry;
  path: string;
  body: Buffer;
  torchOp: TorchOp;
  task: Task;
  withKernel: boolean;
  operands: { x: Real; w: Real; dy: Real };
}

function cases(): Case[] {
  const tensor = (g: ConvGeometry, shape: number[], data: Real) => ({
    dtype: g.dtype,
    shape,
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
  const shape = (name: string) => SHAPES.find((s) => s.name === name)!;
  const make = (name: string, backward: boolean): Case => {
    const s = shape(name);
    const g = geometry(s);
    const x = sharedRandom(numel(g.inputShape));
    const w = sharedRandom(numel(g.weightShape));
    const dy = sharedRandom(numel(g.outputShape));
    const common = { input: tensor(g, g.inputShape, x.data), weight: tensor(g, g.weightShape, w.data), ...s.params };
    const task: Task = backward
      ? {
          op: 'conv_backward',
          geometry: g,
          tensors: { input: x.buffer, weight: w.buffer, grad_output: dy.buffer },
          results: {
            grad_input: { shape: g.inputShape, perSample: true },
            grad_weight: { shape: g.weightShape, perSample: false },
          },
        }
      : {
          op: 'conv_forward',
          geometry: g,
          tensors: { input: x.buffer, weight: w.buffer },
          results: { output: { shape: g.outputShape, perSample: true } },
        };
    return {
      name: `${name} ${backward ? 'backward (grad_input + grad_weight)' : 'forward'}`,
      g,
      path: backward ? '/conv/backward' : '/conv/forward',
      body: packr.pack(
        backward ? { ...common, grad_output: tensor(g, g.outputShape, dy.data), grads: ['input', 'weight'] } : common,
      ),
      torchOp: backward ? 'all' : 'forward',
      task,
      withKernel: name === 'S1',
      operands: { x: x.data, w: w.data, dy: dy.data },
    };
  };
  return [make('S1', false), make('S2', false), make('S6', false), make('S1', true)];
}

/**
 * Times every case on the service at `baseUrl` (already up, default settings), PyTorch and, for
 * S1, the kernel alone, pausing `settleMs` between two timed runs.
 */
export async function serviceVersusTorch(
  baseUrl: string,
  runs: number,
  warmup = 3,
  settleMs = 50,
): Promise<EndToEndReport> {
  const config = loadConfig({});
  const threads = config.poolThreads;
  let torch: { peer: TorchPeer; hello: TorchHello } | null = null;
  let skipped = '';
  try {
    torch = await TorchPeer.start(threads);
  } catch (e) {
    skipped = (e as Error).message;
    console.warn(`PyTorch column skipped: ${skipped}`);
  }
  const pool = new WorkerPool({
    threads,
    maxQueue: 16,
    workerData: { tileBudgetBytes: config.tileBudgetBytes },
  });
  await pool.started;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const signal = new AbortController().signal;
  // the kernel's results go to reused memory, as the service's do (a fresh 6.4 MB output costs its first touch)
  const buffers = new BufferPool(256 * 2 ** 20);
  const out: EndToEndCase[] = [];
  try {
    for (const c of cases()) {
      const { x, w, dy } = c.operands;
      const torchId = torch ? await torch.peer.prepare(c.g, c.torchOp, x, w, dy) : null;
      const slices = batchSlices(
        c.g.batch,
        convWork(c.g, c.task.op === 'conv_backward' ? ['input', 'weight'] : undefined).flops,
        config,
      );
      const timers: [key: 'service' | 'torch' | 'kernel', run: () => Promise<number>][] = [
        ['service', async () => (await post(agent, baseUrl + c.path, c.body)).total],
      ];
      if (torch && torchId !== null) timers.push(['torch', async () => (await torch.peer.run(torchId)) * 1e3]);
      if (c.withKernel)
        timers.push([
          'kernel',
          async () => {
            const lease = buffers.lease();
            lease.lend();
            const t0 = performance.now();
            await runSplit(pool, c.task, slices, signal, { allocate: (bytes) => lease.takeZeroed(bytes) });
            const ms = performance.now() - t0;
            lease.settle(true);
            lease.release();
            return ms;
          },
        ]);
      const samples = { service: [] as number[], torch: [] as number[], kernel: [] as number[] };
      for (let i = 0; i < warmup + runs; i++) {
        for (const [key, run] of timers) {
          await new Promise((r) => setTimeout(r, settleMs));
          const ms = await run();
          if (i >= warmup) samples[key].push(ms);
        }
      }
      if (torch && torchId !== null) await torch.peer.dispose(torchId);
      const service = median(samples.service);
      const torchMs = samples.torch.length ? median(samples.torch) : null;
      const row: EndToEndCase = {
        case: c.name,
        service_ms: +service.toFixed(2),
        torch_ms: torchMs === null ? null : +torchMs.toFixed(2),
        service_vs_torch: torchMs === null ? null : +(torchMs / service).toFixed(2),
      };
      if (samples.kernel.length) {
        const kernel = median(samples.kernel);
        row.kernel_ms = +kernel.toFixed(2);
        row.service_over_kernel = +(service / kernel).toFixed(2);
      }
      out.push(row);
    }
  } finally {
    agent.destroy();
    await pool.close();
    torch?.peer.close();
  }
  return { threads, runs, torch: torch ? torch.hello : { skipped }, cases: out };
}

/** The report as a Markdown table (what docs/performance.md shows). */
export function endToEndMarkdown(r: EndToEndReport): string {
  const ms = (v: number | null | undefined) => (v == null ? 'n/a' : v.toFixed(1));
  const ratio = (v: number | null | undefined) => (v == null ? 'n/a' : `${v.toFixed(2)}x`);
  const lines = [
    '| case | service over HTTP (ms) | PyTorch in-process (ms) | service speed / PyTorch | service kernel alone (ms) | HTTP / kernel |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...r.cases.map(
      (c) =>
        `| ${c.case} | ${ms(c.service_ms)} | ${ms(c.torch_ms)} | ${ratio(c.service_vs_torch)} | ${ms(c.kernel_ms)} | ${ratio(c.service_over_kernel)} |`,
    ),
  ];
  return lines.join('\n');
}
