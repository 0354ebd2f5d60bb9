/**
 * `npm run soak -- --minutes N`: a server under a steady mixed workload for N minutes, its RSS
 * (/proc) and V8 heap (/metrics) sampled every few seconds; reports the least-squares slope of
 * each after a warm-up (the first 20% of the run), in MiB per minute.
 *
 * The workload, on `--connections` concurrent loops (default 4) against 127.0.0.1: tiny forward
 * (JSON, answer checked), a medium forward and backward (msgpack), S1 now and then, and the
 * error paths: a geometry 400, a 413 from huge declared shapes, a 415, and a client that
 * leaves mid-compute. Exits 1 on a 5xx, a wrong answer, a server that does not exit 0, or a heap
 * or RSS that keeps growing.
 *
 *   npm run soak -- [--minutes 5] [--interval 5] [--connections 4] [--out docs/reliability/soak.json]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Packr } from 'msgpackr';
import { fmt, makeS1, parseArgs, rssOf, slope, startServer, TINY } from './common.js';

const packr = new Packr({ useRecords: false });
const MiB = 2 ** 20;

function medium(op: 'forward' | 'backward'): Uint8Array {
  const input = { dtype: 'float32', shape: [2, 16, 32, 32], data: Buffer.alloc(2 * 16 * 32 * 32 * 4, 0x3c) };
  const weight = { dtype: 'float32', shape: [32, 16, 3, 3], data: Buffer.alloc(32 * 16 * 9 * 4, 0x3c) };
  const gradOutput = { dtype: 'float32', shape: [2, 32, 32, 32], data: Buffer.alloc(2 * 32 * 32 * 32 * 4, 0x3c) };
  return new Uint8Array(
    packr.pack(
      op === 'forward' ? { input, weight, padding: 1 } : { input, weight, padding: 1, grad_output: gradOutput },
    ),
  );
}

interface Step {
  name: string;
  path: string;
  contentType: string;
  body: Uint8Array | string;
  expect: number;
  /** Leave after this many ms (the answer is never read). */
  abortAfterMs?: number;
  check?: (body: Uint8Array) => string | null;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const minutes = Number(args.minutes ?? 5);
  const intervalS = Number(args.interval ?? (minutes <= 1 ? 2 : 5));
  const connections = Number(args.connections ?? 4);
  if (!(minutes > 0 && minutes <= 240)) throw new Error('--minutes must be in (0, 240]');
  const s1 = makeS1();
  const tinyAnswer = TINY.answer;
  const steps: Step[] = [
    {
      name: 'tiny',
      path: '/conv/forward',
      contentType: 'application/json',
      body: TINY.body,
      expect: 200,
      check: (b) => (Buffer.from(b).toString() === tinyAnswer ? null : 'wrong tiny answer'),
    },
    {
      name: 'medium forward',
      path: '/conv/forward',
      contentType: 'application/msgpack',
      body: medium('forward'),
      expect: 200,
    },
    {
      name: 'medium backward',
      path: '/conv/backward',
      contentType: 'application/msgpack',
      body: medium('backward'),
      expect: 200,
    },
    {
      name: 'bad geometry',
      path: '/conv/forward',
      contentType: 'application/json',
      body: TINY.body.replace('[1,1,2,2]', '[1,2,2,2]'),
      expect: 400,
    },
    {
      name: 'huge shapes',
      path: '/conv/forward',
      contentType: 'application/json',
      body: TINY.body.replace('[1,1,3,3]', '[2147483647,1,3,3]'),
      expect: 413,
    },
    { name: 'wrong type', path: '/conv/forward', contentType: 'text/plain', body: TINY.body, expect: 415 },
    {
      name: 'client leaves',
      path: '/conv/backward',
      contentType: 'application/msgpack',
      body: medium('backward'),
      expect: 0,
      abortAfterMs: 3,
    },
    {
      name: 'tiny',
      path: '/conv/forward',
      contentType: 'application/json',
      body: TINY.body,
      expect: 200,
      check: (b) => (Buffer.from(b).toString() === tinyAnswer ? null : 'wrong tiny answer'),
    },
  ];

  const server = await startServer({});
  const pid = server.child.pid!;
  const statuses = new Map<string, number>();
  const problems: string[] = [];
  let requests = 0;
  const endAt = Date.now() + minutes * 60_000;

  async function loop(id: number): Promise<void> {
    for (let i = id; Date.now() < endAt; i++) {
      const step =
        i % 25 === 24
          ? ({
              name: 'S1',
              path: '/conv/forward',
              contentType: 'application/msgpack',
              body: s1.body,
              expect: 200,
              check: s1.defect,
            } as Step)
          : steps[i % steps.length];
      const controller = new AbortController();
      const timer = step.abortAfterMs ? setTimeout(() => controller.abort(), step.abortAfterMs) : undefined;
      try {
        const res = await fetch(`${server.url}${step.path}`, {
          method: 'POST',
          headers: {
            'content-type': step.contentType,
            accept: step.contentType === 'application/json' ? 'application/json' : 'application/msgpack',
          },
          body: typeof step.body === 'string' ? step.body : new Uint8Array(step.body),
          signal: AbortSignal.any([controller.signal, AbortSignal.timeout(60_000)]),
        });
        const body = new Uint8Array(await res.arrayBuffer());
        requests++;
        statuses.set(`${step.name} ${res.status}`, (statuses.get(`${step.name} ${res.status}`) ?? 0) + 1);
        if (res.status >= 500 && res.status !== 503)
          problems.push(`${step.name}: ${res.status} ${Buffer.from(body).toString().slice(0, 200)}`);
        else if (step.expect && res.status !== step.expect && res.status !== 503)
          problems.push(`${step.name}: ${res.status}, expected ${step.expect}`);
        else if (res.status === 200 && step.check) {
          const defect = step.check(body);
          if (defect) problems.push(`${step.name}: ${defect}`);
        }
      } catch (err) {
        if (!controller.signal.aborted) problems.push(`${step.name}: ${(err as Error).message}`);
        else statuses.set(`${step.name} (left)`, (statuses.get(`${step.name} (left)`) ?? 0) + 1);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  const samples: { t: number; rss: number; heap: number; requests: number }[] = [];
  const started = Date.now();
  async function sample(): Promise<void> {
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const heap = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN);
    samples.push({ t: (Date.now() - started) / 60_000, rss: rssOf(pid), heap, requests });
  }

  console.error(
    `soak: ${minutes} min, ${connections} connections, a sample every ${intervalS} s (the machine is shared: figures are noisy)`,
  );
  const loops = Array.from({ length: connections }, (_, i) => loop(i * 3));
  const sampler = (async () => {
    while (Date.now() < endAt) {
      await sample();
      await sleep(intervalS * 1000);
    }
  })();
  await Promise.all([...loops, sampler]);
  await sample();
  const exitCode = await server.stop();

  const steady = samples.filter((s) => s.t >= 0.2 * minutes);
  const xs = steady.map((s) => s.t);
  const rssSlope = slope(
    xs,
    steady.map((s) => s.rss / MiB),
  );
  const heapSlope = slope(
    xs,
    steady.map((s) => s.heap / MiB),
  );
  const rssRange = [Math.min(...steady.map((s) => s.rss)), Math.max(...steady.map((s) => s.rss))].map((v) => v / MiB);
  const heapRange = [Math.min(...steady.map((s) => s.heap)), Math.max(...steady.map((s) => s.heap))].map(
    (v) => v / MiB,
  );
  const summary = {
    date: new Date().toISOString(),
    minutes,
    connections,
    requests,
    requestsPerSecond: requests / (minutes * 60),
    samples: samples.length,
    rssSlopeMiBPerMin: rssSlope,
    heapSlopeMiBPerMin: heapSlope,
    rssMiB: {
      first: samples[0].rss / MiB,
      steadyMin: rssRange[0],
      steadyMax: rssRange[1],
      last: samples.at(-1)!.rss / MiB,
    },
    heapMiB: {
      first: samples[0].heap / MiB,
      steadyMin: heapRange[0],
      steadyMax: heapRange[1],
      last: samples.at(-1)!.heap / MiB,
    },
    statuses: Object.fromEntries([...statuses.entries()].sort()),
    problems: problems.slice(0, 20),
    problemCount: problems.length,
    serverExitCode: exitCode,
    series: samples.map((s) => ({
      min: Number(s.t.toFixed(3)),
      rssMiB: Number((s.rss / MiB).toFixed(1)),
      heapMiB: Number((s.heap / MiB).toFixed(1)),
    })),
  };
  console.log(
    `soak: ${requests} requests in ${minutes} min (${fmt(summary.requestsPerSecond, 1)}/s); after warm-up RSS ${fmt(rssRange[0])}-${fmt(rssRange[1])} MiB, ` +
      `slope ${fmt(rssSlope, 2)} MiB/min; heap ${fmt(heapRange[0], 1)}-${fmt(heapRange[1], 1)} MiB, slope ${fmt(heapSlope, 2)} MiB/min; ` +
      `${problems.length} problems; server exit ${exitCode}`,
  );
  const out = typeof args.out === 'string' ? args.out : undefined;
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(summary, null, 2) + '\n');
  }
  // A leak is growth that noise cannot explain: a positive slope and the median of the last third
  // of the steady samples well above that of the first third (RSS swings by a hundred MiB with the
  // S1 buffers, so its margin is wide); RSS must also stay bounded outright.
  const third = Math.max(1, Math.floor(steady.length / 3));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rise = (pick: (s: (typeof steady)[number]) => number) =>
    (median(steady.slice(-third).map(pick)) - median(steady.slice(0, third).map(pick))) / MiB;
  const heapLeak = heapSlope > 2 && rise((s) => s.heap) > 16;
  const rssLeak = (rssSlope > 10 && rise((s) => s.rss) > 128) || rssRange[1] > 1536;
  if (exitCode !== 0) console.error(`-- server log (tail)\n${server.log().split('\n').slice(-30).join('\n')}`);
  if (problems.length || exitCode !== 0 || heapLeak || rssLeak) {
    console.error(
      `soak: FAILED${heapLeak ? ' (heap keeps growing)' : ''}${rssLeak ? ' (RSS keeps growing)' : ''}\n  ${problems.slice(0, 10).join('\n  ')}`,
    );
    process.exit(1);
  }
}

await main();
