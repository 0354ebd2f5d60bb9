/**
 * `npm run load`: overload behaviour under autocannon, on loopback, bounded in time.
 *
 * For each connection count, autocannon sends a mix where every connection cycles through
 * [S1, tiny, tiny, tiny] (S1 = N8 C64 56x56 -> 64 k3 p1 float32, 1.85 GFLOP and 6.4 MB each
 * way in msgpack; tiny = a 3x3 conv in JSON). Per request kind it records throughput and
 * latency percentiles, and it counts 503s (each must carry Retry-After), 504s, other 5xx,
 * socket errors and timeouts. Every tiny answer is compared with its exact result; S1 answers
 * are spot-checked (64 sampled outputs against direct sums) by a separate client once a second.
 * A tiny-only run first gives the unloaded baseline for the tiny latency.
 *
 *   npm run load -- [--duration 10] [--connections 1,4,16,64] [--url http://127.0.0.1:8080]
 *                   [--threads N] [--out docs/reliability/load.json] [--ci] [--env K=V,...]
 *
 * Without --url a server is started (dist/src/server.js, default settings, CONVD_POOL_THREADS
 * from --threads, plus --env; e.g. `--env CONVD_SMALL_LANE_THREADS=0` measures the pool without
 * its small-task lane, i.e. with head-of-line blocking). Exits 1 on any 5xx other than 503/504, a 503 without Retry-After, a wrong
 * answer, or socket errors.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import autocannon from 'autocannon';
import {
  fmt,
  makeS1,
  parseArgs,
  percentile,
  S1_FLOPS,
  SERVER_JS,
  startServer,
  TINY,
  type ServerProcess,
} from './common.js';

type Kind = 'S1' | 'tiny';

export interface KindStats {
  /** Answers 200, and their rate. */
  count: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
  statuses: Record<string, number>;
}

export interface ScenarioResult {
  name: string;
  connections: number;
  durationS: number;
  requestsPerSecond: number;
  s1GflopsPerSecond: number;
  kinds: Partial<Record<Kind, KindStats>>;
  status503: number;
  status503WithoutRetryAfter: number;
  status504: number;
  otherServerErrors: number;
  socketErrors: number;
  timeouts: number;
  wrongAnswers: number;
  s1SpotChecks: number;
}

export interface LoadOptions {
  url: string;
  durationS: number;
  mix: Kind[];
  connections: number;
  name: string;
  /** Spot-check S1 answers with a separate client while the run lasts. */
  spotCheckS1?: boolean;
}

const s1 = makeS1();

/** One autocannon run of `mix` on `connections` connections for `durationS` seconds. */
export async function runScenario(o: LoadOptions): Promise<ScenarioResult> {
  const latencies: Record<Kind, number[]> = { S1: [], tiny: [] };
  const statuses: Record<Kind, Record<string, number>> = { S1: {}, tiny: {} };
  let wrong = 0;
  let noRetryAfter = 0;
  const firstWrong: string[] = [];
  const request = (kind: Kind): autocannon.Request => ({
    method: 'POST',
    path: '/conv/forward',
    headers: kind === 'S1' ? s1.headers : TINY.headers,
    body: kind === 'S1' ? s1.body : TINY.body,
    onResponse(status: number, body: string, context: object, headers: autocannon.Request['headers']) {
      (context as { kind?: Kind }).kind = kind; // read by the 'response' handler below, which fires right after this
      statuses[kind][status] = (statuses[kind][status] ?? 0) + 1;
      if (status === 503 && !headers?.['retry-after']) noRetryAfter++;
      if (kind === 'tiny' && status === 200 && body !== TINY.answer) {
        wrong++;
        if (firstWrong.length < 3) firstWrong.push(body.slice(0, 200));
      }
    },
  });
  let instance!: autocannon.Instance;
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      { url: o.url, connections: o.connections, duration: o.durationS, timeout: 60, requests: o.mix.map(request) },
      (err, result) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(result)),
    );
  });
  // latency percentiles are of the 200 answers (a 503 is answered at once and says nothing about service time)
  instance.on('response', (client, status, _bytes, ms) => {
    const kind = (client as unknown as { requestIterator?: { context?: { kind?: Kind } } }).requestIterator?.context
      ?.kind;
    if (kind && status === 200) latencies[kind].push(ms);
  });

  let spotChecks = 0;
  let checking = o.spotCheckS1 ?? o.mix.includes('S1');
  const checker = (async () => {
    while (checking) {
      await new Promise((r) => setTimeout(r, 1000));
      if (!checking) break;
      try {
        const res = await fetch(`${o.url}/conv/forward`, {
          method: 'POST',
          headers: s1.headers,
          body: new Uint8Array(s1.body),
          signal: AbortSignal.timeout(60_000),
        });
        const bytes = new Uint8Array(await res.arrayBuffer());
        if (res.status === 200) {
          spotChecks++;
          const defect = s1.defect(bytes);
          if (defect) {
            wrong++;
            if (firstWrong.length < 3) firstWrong.push(`S1: ${defect}`);
          }
        } else if (res.status === 503 && !res.headers.get('retry-after')) noRetryAfter++;
      } catch {
        // a socket error here shows in the autocannon counts too; the check is only about answers
      }
    }
  })();
  const result = await finished;
  checking = false;
  await checker;

  const kinds: Partial<Record<Kind, KindStats>> = {};
  for (const kind of new Set(o.mix)) {
    const sorted = latencies[kind].sort((a, b) => a - b);
    kinds[kind] = {
      count: sorted.length,
      perSecond: sorted.length / result.duration,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted.at(-1) ?? NaN,
      statuses: statuses[kind],
    };
  }
  const codes = (result.statusCodeStats ?? {}) as Record<string, { count?: number }>;
  const count = (status: number) => codes[status]?.count ?? 0;
  const serverErrors = Object.entries(codes).filter(([s]) => Number(s) >= 500 && s !== '503' && s !== '504');
  if (firstWrong.length) console.error(`wrong answers in ${o.name}:`, firstWrong);
  return {
    name: o.name,
    connections: o.connections,
    durationS: result.duration,
    requestsPerSecond: result.requests.total / result.duration,
    s1GflopsPerSecond: ((statuses.S1[200] ?? 0) * S1_FLOPS) / result.duration / 1e9,
    kinds,
    status503: count(503),
    status503WithoutRetryAfter: noRetryAfter,
    status504: count(504),
    otherServerErrors: serverErrors.reduce((s, [, v]) => s + (v.count ?? 0), 0),
    socketErrors: result.errors,
    timeouts: result.timeouts,
    wrongAnswers: wrong,
    s1SpotChecks: spotChecks,
  };
}

export function failures(r: ScenarioResult): string[] {
  const f: string[] = [];
  if (r.otherServerErrors) f.push(`${r.otherServerErrors} 5xx other than 503/504`);
  if (r.status503WithoutRetryAfter) f.push(`${r.status503WithoutRetryAfter} 503 without Retry-After`);
  if (r.wrongAnswers) f.push(`${r.wrongAnswers} wrong answers`);
  if (r.socketErrors) f.push(`${r.socketErrors} socket errors`);
  if (r.timeouts) f.push(`${r.timeouts} timeouts`);
  return f;
}

const latency = (k?: KindStats) => (k ? `${fmt(k.p50)} / ${fmt(k.p99)}` : '-');

export function markdownTable(results: ScenarioResult[]): string {
  const rows = results.map((r) =>
    [
      r.name,
      r.connections,
      fmt(r.requestsPerSecond, 1),
      fmt(r.kinds.S1?.perSecond ?? NaN, 1),
      fmt(r.s1GflopsPerSecond, 1),
      latency(r.kinds.S1),
      fmt(r.kinds.tiny?.perSecond ?? NaN, 0),
      latency(r.kinds.tiny),
      r.status503 ? `${r.status503} (${r.status503 - r.status503WithoutRetryAfter} with Retry-After)` : '0',
      r.status504,
      r.otherServerErrors,
      r.socketErrors + r.timeouts,
      `${r.wrongAnswers} (${r.s1SpotChecks} S1 checked)`,
    ].join(' | '),
  );
  return [
    '| run | connections | answers/s | S1 200/s | S1 GFLOP/s | S1 p50 / p99 ms | tiny 200/s | tiny p50 / p99 ms | 503 | 504 | other 5xx | errors + timeouts | wrong answers |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r} |`),
  ].join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const ci = args.ci === true;
  const durationS = Number(args.duration ?? (ci ? 4 : 10));
  const connections = String(args.connections ?? (ci ? '1,8,32' : '1,4,16,64'))
    .split(',')
    .map(Number);
  let server: ServerProcess | undefined;
  let url = typeof args.url === 'string' ? args.url : undefined;
  if (!url) {
    const env: Record<string, string> = args.threads ? { CONVD_POOL_THREADS: String(args.threads) } : {};
    // --env A=1,B=2: extra server environment
    if (typeof args.env === 'string')
      for (const kv of args.env.split(',')) env[kv.split('=')[0]] = kv.split('=').slice(1).join('=');
    server = await startServer(env, undefined, SERVER_JS);
    url = server.url;
  }
  const results: ScenarioResult[] = [];
  try {
    console.error(
      `load: ${url}, ${durationS} s per run, connections ${connections.join(', ')} (the machine is shared: figures are noisy)`,
    );
    results.push(
      await runScenario({
        url,
        durationS: Math.min(durationS, 5),
        mix: ['tiny'],
        connections: 4,
        name: 'tiny only (baseline)',
      }),
    );
    for (const c of connections) {
      const r = await runScenario({
        url,
        durationS,
        mix: ['S1', 'tiny', 'tiny', 'tiny'],
        connections: c,
        name: 'S1 + 3 tiny',
      });
      results.push(r);
      console.error(
        `  ${c} connections: ${fmt(r.requestsPerSecond, 1)} req/s, S1 p99 ${fmt(r.kinds.S1?.p99 ?? NaN)} ms, tiny p99 ${fmt(r.kinds.tiny?.p99 ?? NaN)} ms, 503 ${r.status503}, 504 ${r.status504}`,
      );
    }
  } finally {
    const code = await server?.stop();
    if (server && code !== 0) console.error(`server exited with ${code}`);
  }
  const table = markdownTable(results);
  console.log(table);
  const out = typeof args.out === 'string' ? args.out : undefined;
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(
      out,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          server: server ? 'dist/src/server.js' : url,
          env: args.env ?? null,
          durationS,
          results,
          table,
        },
        null,
        2,
      ) + '\n',
    );
  }
  const failed = results.flatMap((r) => failures(r).map((f) => `${r.name} @ ${r.connections}: ${f}`));
  if (failed.length) {
    console.error(`load: FAILED\n  ${failed.join('\n  ')}`);
    process.exit(1);
  }
  console.error('load: ok (no 5xx other than 503/504, every 503 with Retry-After, no wrong answer, no socket error)');
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
