/**
 * Where the time of a request goes: S1, S2 and S6 forward and S1 backward (every gradient),
 * float32 msgpack over HTTP against the real server (`dist/src/server.js`, default settings,
 * a child process), one client at a time over a keep-alive node:http connection.
 *
 * For each request it records the server's own stages (its `Server-Timing` header:
 * receive, decode, validate, copy_in, queue, kernel, return, encode), what the client sees
 * (time to the first answer byte, and from it to the last one: the answer's write and
 * transfer), and the server process's minor page faults during the request (from
 * /proc/<pid>/stat, all threads) and CPU time by server thread (/proc/<pid>/task: what a stage
 * costs, whatever else runs on the machine). The `write` stage (answer to socket), which the
 * header cannot carry, is read per request from the server's convd_request_stage_seconds
 * histogram (its sum before and after). Between two requests the bench waits `--settle` ms,
 * out of the clock, so that one request's leftovers (the other server's included) do not land
 * in the next. Prints the medians per stage and the load average, and writes them to
 * bench/results/wire-path-<label>.json.
 *
 * Several servers (`--servers a.js,b.js`, e.g. a build of main beside this one) are measured
 * in one run, their requests interleaved, so that they share the machine's noise.
 *
 *   npm run bench:wire -- [--runs 40] [--settle 30] [--servers dist/src/server.js,...] [--labels after,...]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Packr } from 'msgpackr';
import { numel } from '../src/shared/tensor.js';
import { geometry, random, SHAPES } from './shapes.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '40' },
    warmup: { type: 'string', default: '5' },
    servers: { type: 'string', default: join(here, '../src/server.js') },
    labels: { type: 'string' },
    settle: { type: 'string', default: '30' },
  },
});
const runs = Number(values.runs);
const warmup = Number(values.warmup);
const settleMs = Number(values.settle);
const servers = values.servers.split(',').map((s) => resolve(s));
const labels = values.labels?.split(',') ?? servers.map((_, i) => (servers.length === 1 ? 'latest' : `server${i}`));
if (labels.length !== servers.length) throw new Error('--labels needs one label per server');

const packr = new Packr({ useRecords: false });
const shape = (name: string) => SHAPES.find((s) => s.name === name)!;
const bin = (a: Float32Array | Float64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const tensor = (dims: number[]) => ({ dtype: 'float32', shape: dims, data: bin(random(numel(dims))) });
/** A forward request of `name`, or a backward one asking for every gradient. */
function request(name: string, backward = false) {
  const s = shape(name);
  const g = geometry(s);
  const common = { input: tensor(g.inputShape), weight: tensor(g.weightShape), ...s.params };
  return {
    what: `${s.name}: ${s.what}`,
    op: backward ? 'backward' : 'forward',
    path: backward ? '/conv/backward' : '/conv/forward',
    body: packr.pack(backward ? { ...common, grad_output: tensor(g.outputShape) } : common),
  };
}
const REQUESTS = {
  'S1 forward': request('S1'),
  'S2 forward': request('S2'),
  'S6 forward': request('S6'),
  'S1 backward': request('S1', true),
};
type Kind = keyof typeof REQUESTS;
const KINDS = Object.keys(REQUESTS) as Kind[];

/** The fields of a /proc stat file after its `(comm)`: [2] is field 3 of proc(5). */
function statFields(file: string): string[] {
  const stat = readFileSync(file, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Minor page faults of process `pid` so far, all its threads (field 10 of /proc/<pid>/stat). */
const minorFaults = (pid: number) => Number(statFields(`/proc/${pid}/stat`)[7]);

const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/**
 * CPU time (user + system, page faults included) of process `pid`'s threads so far, ms, by
 * thread name: MainThread (the event loop), WorkerThread (kernels, JSON), V8Worker (garbage
 * collection helpers), and the others. Unlike wall time, it does not grow when other processes
 * take the cores.
 */
function threadCpuMs(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const fields = statFields(`/proc/${pid}/task/${tid}/stat`);
      const group = ['MainThread', 'WorkerThread', 'V8Worker'].includes(name) ? name : 'other';
      out[group] = (out[group] ?? 0) + ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
    } catch {
      /* the thread ended meanwhile */
    }
  }
  return out;
}

async function start(script: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'silent' },
    stdio: 'inherit',
  });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) return child;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`${script} did not come up on port ${port}`);
}

interface Sample {
  /** Server-Timing stages, ms. */
  stages: Record<string, number>;
  clientTotal: number;
  firstByte: number;
  /** From the first answer byte to the last. */
  answerTransfer: number;
  faults: number;
  /** The server's `write` stage of this request (from its /metrics histogram), ms; null when not observed. */
  write: number | null;
  /** CPU time of the server's threads during the request, ms, by thread name (clock-tick resolution: meaningful summed). */
  cpu: Record<string, number>;
}

function serverTiming(header: string | string[] | undefined): Record<string, number> {
  const stages: Record<string, number> = {};
  for (const metric of String(header ?? '').split(',')) {
    const [name, ...params] = metric.trim().split(';');
    const dur = params.find((p) => p.startsWith('dur='));
    if (name && dur) stages[name] = Number(dur.slice(4));
  }
  return stages;
}

function post(agent: http.Agent, port: number, pid: number, kind: Kind): Promise<Sample> {
  const { path, body } = REQUESTS[kind];
  return new Promise((resolveSample, reject) => {
    const faults0 = minorFaults(pid);
    const cpu0 = threadCpuMs(pid);
    const t0 = performance.now();
    let firstByte = 0;
    const req = http.request(
      { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/msgpack' } },
      (res) => {
        if (res.statusCode !== 200) reject(new Error(`${path} answered ${res.statusCode}`));
        res.on('data', () => {
          firstByte ||= performance.now() - t0;
        });
        res.on('end', () => {
          const clientTotal = performance.now() - t0;
          resolveSample({
            stages: serverTiming(res.headers['server-timing']),
            clientTotal,
            firstByte,
            answerTransfer: clientTotal - firstByte,
            faults: minorFaults(pid) - faults0,
            write: null,
            cpu: Object.fromEntries(Object.entries(threadCpuMs(pid)).map(([k, ms]) => [k, ms - (cpu0[k] ?? 0)])),
          });
        });
      },
    );
    req.on('error', reject);
    req.setHeader('content-length', body.length);
    req.end(body);
  });
}

/** Sum and count of the `write` stage by op label, from the server's /metrics. */
async function writeStage(port: number): Promise<Record<string, { sum: number; count: number }>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out: Record<string, { sum: number; count: number }> = {};
  for (const m of text.matchAll(/^convd_request_stage_seconds_(sum|count)\{op="(\w+)",stage="write"\} (\S+)$/gm)) {
    out[m[2]] ??= { sum: 0, count: 0 };
    out[m[2]][m[1] as 'sum' | 'count'] = Number(m[3]);
  }
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number, digits = 2) => +x.toFixed(digits);

const STAGE_ORDER = ['receive', 'decode', 'validate', 'copy_in', 'queue', 'kernel', 'return', 'encode', 'total'];

const report0 = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');

function summary(samples: Sample[]) {
  const stages = Object.fromEntries(
    STAGE_ORDER.filter((s) => samples.some((x) => s in x.stages)).map((s) => [
      s,
      round(median(samples.map((x) => x.stages[s] ?? 0))),
    ]),
  );
  const clientTotal = median(samples.map((s) => s.clientTotal));
  return {
    stages_ms: stages,
    write_ms: samples.some((x) => x.write !== null)
      ? round(median(samples.filter((x) => x.write !== null).map((x) => x.write!)))
      : null,
    client_total_ms: round(clientTotal),
    first_byte_ms: round(median(samples.map((s) => s.firstByte))),
    answer_transfer_ms: round(median(samples.map((s) => s.answerTransfer))),
    minor_faults: median(samples.map((s) => s.faults)),
    /** Mean CPU time per request by server thread (sums over the requests, divided by their count). */
    cpu_ms_per_request: Object.fromEntries(
      ['MainThread', 'WorkerThread', 'V8Worker', 'other'].map((k) => [
        k,
        round(samples.reduce((sum, x) => sum + (x.cpu[k] ?? 0), 0) / samples.length),
      ]),
    ),
    total_over_kernel: stages.kernel ? round(clientTotal / stages.kernel) : null,
  };
}

/**
 * What first touch costs here: ms to write S1's output size (6.4 MB) into a fresh ArrayBuffer,
 * a fresh SharedArrayBuffer and memory already mapped (medians of 30, in this process).
 */
function firstTouchMs(bytes: number) {
  const fresh: number[] = [];
  const shared: number[] = [];
  const mapped: number[] = [];
  const kept = new Uint8Array(bytes);
  const time = (into: number[], make: () => Uint8Array) => {
    const t0 = performance.now();
    make().fill(1);
    into.push(performance.now() - t0);
  };
  for (let i = 0; i < 30; i++) {
    time(fresh, () => new Uint8Array(bytes));
    time(shared, () => new Uint8Array(new SharedArrayBuffer(bytes)));
    time(mapped, () => kept);
  }
  return {
    bytes,
    fresh_array_buffer: round(median(fresh)),
    fresh_shared: round(median(shared)),
    mapped: round(median(mapped)),
  };
}

const s1 = geometry(shape('S1'));
const touch = firstTouchMs(numel(s1.outputShape) * 4);
console.log(
  `writing ${(touch.bytes / 1e6).toFixed(1)} MB: fresh ArrayBuffer ${touch.fresh_array_buffer} ms, fresh SharedArrayBuffer ${touch.fresh_shared} ms, memory already mapped ${touch.mapped} ms`,
);

const basePort = 19000 + Math.floor(Math.random() * 1000);
const children = await Promise.all(servers.map((script, i) => start(script, basePort + i)));
const agents = servers.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
const samples = servers.map(() => Object.fromEntries(KINDS.map((k) => [k, [] as Sample[]])) as Record<Kind, Sample[]>);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const loadBefore = loadavg();
try {
  for (let i = 0; i < warmup + runs; i++) {
    for (const kind of KINDS) {
      for (const [s, child] of children.entries()) {
        const { op } = REQUESTS[kind];
        const before = (await writeStage(basePort + s))[op] ?? { sum: 0, count: 0 };
        // the last request's bookkeeping (and the other server's) out of this one's way
        await sleep(settleMs);
        const sample = await post(agents[s], basePort + s, child.pid!, kind);
        await sleep(5);
        const after = (await writeStage(basePort + s))[op] ?? { sum: 0, count: 0 };
        if (after.count === before.count + 1) sample.write = (after.sum - before.sum) * 1000;
        if (i >= warmup) samples[s][kind].push(sample);
      }
    }
  }
} finally {
  for (const agent of agents) agent.destroy();
  for (const child of children) child.kill('SIGTERM');
}
const loadAfter = loadavg();

const outDir = join(here, '../../bench/results');
mkdirSync(outDir, { recursive: true });

for (const [s, label] of labels.entries()) {
  const report = {
    date: new Date().toISOString(),
    server: servers[s],
    runs,
    settle_ms: settleMs,
    load_average: { before: loadBefore.map((x) => round(x)), after: loadAfter.map((x) => round(x)) },
    first_touch_ms: touch,
    cases: Object.fromEntries(
      KINDS.map((k) => [k, { what: `${REQUESTS[k].what}, float32, msgpack`, ...summary(samples[s][k]) }]),
    ),
  };
  console.log(`\n${label} (${servers[s]}), medians of ${runs}, ms:`);
  console.table(
    Object.fromEntries(
      KINDS.map((kind) => {
        const r = report.cases[kind];
        return [
          kind,
          {
            ...r.stages_ms,
            write: r.write_ms,
            client: r.client_total_ms,
            first_byte: r.first_byte_ms,
            answer_transfer: r.answer_transfer_ms,
            faults: r.minor_faults,
            'x kernel': r.total_over_kernel,
          },
        ];
      }),
    ),
  );
  console.log('CPU per request (ms, mean), by server thread:');
  console.table(Object.fromEntries(KINDS.map((k) => [k, report.cases[k].cpu_ms_per_request])));
  writeFileSync(join(outDir, `wire-path-${label}.json`), JSON.stringify(report, null, 2) + '\n');
}
console.log(`load average (1, 5, 15 min): ${report0(loadBefore)} before, ${report0(loadAfter)} after`);
