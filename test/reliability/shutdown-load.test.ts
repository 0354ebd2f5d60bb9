/**
 * SIGTERM under load, on the real server process: every request accepted before the signal
 * (its headers read: the server logged it) completes with the right answer; requests still in
 * transit when the signal comes are answered (200, or 503 with Retry-After), never reset; new
 * connections are refused once the listener closes; the process exits 0 within the grace period.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import { refGeometry, referenceForward } from '../reference/naive-conv.js';
import { checkClose } from '../reference/tolerance.js';
import { oracleUnpackr, problemDefect, type Answer } from '../fuzz/support.js';

const REQUESTS = 24;
const GRACE_MS = 20_000;

/** Sends a body and resolves once the whole body is on the wire; `answer` resolves with the response. */
function startRequest(port: number, body: Buffer) {
  let sent!: () => void;
  const flushed = new Promise<void>((resolve) => (sent = resolve));
  const answer = new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/conv/forward',
        agent: false,
        headers: { 'content-type': 'application/msgpack', 'content-length': body.byteLength },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body, () => sent());
  });
  answer.catch(() => {}); // examined later, with allSettled
  return { flushed, answer };
}

/** 'refused' when nothing listens any more, else the status a fresh connection's /healthz gets. */
function probeNewConnection(port: number): Promise<'refused' | number | 'closed'> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let got = '';
    socket.on('data', (c) => (got += c.toString()));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'refused' : 'closed'));
    socket.on('close', () => resolve(got ? Number(got.slice(9, 12)) : 'closed'));
    socket.on('connect', () => socket.end('GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
  });
}

async function shutdownUnderLoad(waitUntilAccepted: boolean) {
  const server = spawn(process.execPath, [fileURLToPath(new URL('../../src/server.js', import.meta.url))], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      CONVD_POOL_THREADS: '2',
      CONVD_MAX_QUEUE: '64',
      CONVD_SHUTDOWN_GRACE_MS: String(GRACE_MS),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let log = '';
  server.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = once(server, 'exit');
  try {
    while (!/Server listening at http:\/\/[\d.]+:(\d+)/.test(log)) {
      assert.equal(server.exitCode, null, 'the server exited while starting');
      await sleep(20);
    }
    const port = Number(/Server listening at http:\/\/[\d.]+:(\d+)/.exec(log)![1]);

    // about 85 MFLOP each in float64: ~20-40 ms of one thread, so the 24 keep both threads busy for a while
    const [n, cin, h, w, cout, k] = [1, 32, 48, 48, 64, 3];
    const x = Float64Array.from({ length: n * cin * h * w }, (_, i) => Math.sin(i));
    const wt = Float64Array.from({ length: cout * cin * k * k }, (_, i) => Math.cos(i));
    const body = Buffer.from(
      new Packr({ useRecords: false }).pack({
        input: { dtype: 'float64', shape: [n, cin, h, w], data: Buffer.from(x.buffer) },
        weight: { dtype: 'float64', shape: [cout, cin, k, k], data: Buffer.from(wt.buffer) },
        padding: 1,
      }),
    );
    const requests = Array.from({ length: REQUESTS }, () => startRequest(port, body));
    await Promise.race([
      Promise.all(requests.map((r) => r.flushed)),
      Promise.allSettled(requests.map((r) => r.answer)),
    ]);
    const accepted = () =>
      (log.match(/"method":"POST","url":"\/conv\/forward"[^\n]*"msg":"incoming request"/g) ?? []).length;
    if (waitUntilAccepted) while (accepted() < REQUESTS) await sleep(5);

    const signalled = performance.now();
    server.kill('SIGTERM');
    // new connections: served until the signal is handled, 503 while draining, then refused
    const probes: (string | number)[] = [];
    while (performance.now() - signalled < 5000) {
      const p = await probeNewConnection(port);
      probes.push(p);
      if (p === 'refused') break;
      await sleep(20);
    }
    assert.equal(probes.at(-1), 'refused', `new connections after SIGTERM: ${probes.join(', ')}`);
    assert.ok(
      probes.every((p) => p === 'refused' || p === 200 || p === 503 || p === 'closed'),
      `new connections after SIGTERM: ${probes.join(', ')}`,
    );

    const settled = await Promise.allSettled(requests.map((r) => r.answer));
    const lost = settled.flatMap((r, i) =>
      r.status === 'rejected' ? [`request ${i}: ${(r.reason as Error).message}`] : [],
    );
    assert.deepEqual(
      lost,
      [],
      `requests sent before SIGTERM got no answer (probes: ${probes.join(', ')}); server log:\n${log.slice(-3000)}`,
    );
    const answers = settled.map(
      (r) => (r as PromiseFulfilledResult<{ status: number; headers: Record<string, unknown>; body: Buffer }>).value,
    );
    const [code] = await exited;
    const exitMs = performance.now() - signalled;

    const statuses = answers.map((a) => a.status);
    if (waitUntilAccepted) assert.deepEqual(statuses, Array(REQUESTS).fill(200), `statuses: ${statuses.join(' ')}`);
    const g = refGeometry([n, cin, h, w], [cout, cin, k, k], { padding: 1 });
    const ref = referenceForward(g, x, wt, null);
    for (const a of answers) {
      if (a.status === 503) {
        assert.ok(a.headers['retry-after'], 'a 503 carries Retry-After');
        assert.equal(problemDefect(a as Answer), null);
        continue;
      }
      assert.equal(a.status, 200);
      const out = oracleUnpackr.unpack(a.body).output;
      const got = new Float64Array(Uint8Array.from(out.data).buffer);
      const report = checkClose(got, ref.ref, ref.absBound, ref.nTerms, 'float64', { float64Reference: true });
      assert.ok(report.ok, report.message);
    }
    assert.equal(code, 0, 'exit code');
    assert.ok(exitMs < GRACE_MS, `exited ${exitMs.toFixed(0)} ms after SIGTERM`);
    assert.match(log, /shut down cleanly/);
    const ok = statuses.filter((s) => s === 200).length;
    console.log(
      `# SIGTERM with ${REQUESTS} requests ${waitUntilAccepted ? 'accepted' : 'in transit'}: ${ok} answered 200 and correct, ${REQUESTS - ok} 503 with Retry-After, ` +
        `none reset; new connections refused after ${probes.length} probe(s); exit 0 after ${exitMs.toFixed(0)} ms`,
    );
  } finally {
    server.kill('SIGKILL');
  }
}

test('SIGTERM under load: every accepted request completes correctly, new connections are refused, exit 0 within the grace period', () =>
  shutdownUnderLoad(true));

test('SIGTERM with requests still in transit: each is answered (200, or 503 with Retry-After), none is reset', () =>
  shutdownUnderLoad(false));

test('SIGTERM with a stalled upload open: the accepted request completes, the stalled connection is dropped, exit 0 at once', async () => {
  const server = spawn(process.execPath, [fileURLToPath(new URL('../../src/server.js', import.meta.url))], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      CONVD_POOL_THREADS: '1',
      CONVD_SHUTDOWN_GRACE_MS: String(GRACE_MS),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let log = '';
  server.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = once(server, 'exit');
  try {
    while (!/Server listening at http:\/\/[\d.]+:(\d+)/.test(log)) await sleep(20);
    const port = Number(/Server listening at http:\/\/[\d.]+:(\d+)/.exec(log)![1]);
    // a client that sends its headers and part of its body, then goes quiet (it never leaves)
    const stalled = connect({ host: '127.0.0.1', port });
    stalled.on('error', () => {});
    await once(stalled, 'connect');
    stalled.write(
      'POST /conv/forward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"input":',
    );
    const stalledClosed = once(stalled, 'close');
    // and a real request that takes a while (about 0.3 GFLOP in float64 on one thread)
    const x = Buffer.alloc(1 * 64 * 64 * 64 * 8, 1);
    const w = Buffer.alloc(64 * 64 * 3 * 3 * 8, 1);
    const body = Buffer.from(
      new Packr({ useRecords: false }).pack({
        input: { dtype: 'float64', shape: [1, 64, 64, 64], data: x },
        weight: { dtype: 'float64', shape: [64, 64, 3, 3], data: w },
        padding: 1,
      }),
    );
    const request = startRequest(port, body);
    while (
      !/"url":"\/conv\/forward"[^\n]*"msg":"incoming request"[\s\S]*"url":"\/conv\/forward"[^\n]*"msg":"incoming request"/.test(
        log,
      )
    )
      await sleep(5);
    const signalled = performance.now();
    server.kill('SIGTERM');
    const answer = await request.answer;
    assert.equal(answer.status, 200);
    assert.deepEqual(oracleUnpackr.unpack(answer.body).output.shape, [1, 64, 64, 64]);
    await stalledClosed;
    const [code] = await exited;
    const exitMs = performance.now() - signalled;
    assert.equal(code, 0);
    assert.ok(exitMs < GRACE_MS / 2, `exited ${exitMs.toFixed(0)} ms after SIGTERM (grace ${GRACE_MS} ms)`);
    console.log(
      `# SIGTERM with a stalled upload: the accepted request answered 200, the stalled connection dropped, exit 0 after ${exitMs.toFixed(0)} ms`,
    );
  } finally {
    server.kill('SIGKILL');
  }
});
