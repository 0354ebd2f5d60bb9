/**
 * Requests that scripts/verify-deploy.sh sends through nginx to the compose stack, each
 * bounded in count and time and only to the URL given (a port published on 127.0.0.1).
 *
 *   node dist/scripts/deploy/probe.js check URL             forward + backward, JSON and msgpack, right numbers; docs pages
 *   node dist/scripts/deploy/probe.js spread URL N TAG      N forwards with x-request-id TAG-i (the replicas' logs tell who served each)
 *   node dist/scripts/deploy/probe.js stream URL SECONDS CONCURRENCY [READY_FILE]
 *                                                           forwards until SECONDS pass, every answer checked; exit 1 on any failure
 *   node dist/scripts/deploy/probe.js oversize URL BYTES    a body of BYTES must be refused with 413
 */
import { writeFileSync } from 'node:fs';
import { Packr, Unpackr } from 'msgpackr';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'number' });

interface JsonTensor {
  dtype: string;
  shape: number[];
  data: number[];
}

function fail(message: string): never {
  console.error(`probe: ${message}`);
  process.exit(1);
}

function assertClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-5): void {
  if (got.length !== want.length) fail(`${what}: ${got.length} values, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol * (1 + Math.abs(want[i]))))
      fail(`${what}[${i}] is ${got[i]}, expected ${want[i]}`);
  }
}

async function postJson(
  url: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
}

// README's example: a 3x3 image, a 2x2 kernel [[1, 0], [0, -1]], bias 0.5 -> four times -3.5
const example = {
  input: { dtype: 'float32', shape: [1, 1, 3, 3], data: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
  weight: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 0, 0, -1] },
  bias: { dtype: 'float32', shape: [1], data: [0.5] },
};

async function check(url: string): Promise<void> {
  // JSON forward
  let res = await postJson(url, '/conv/forward', example);
  if (res.status !== 200) fail(`forward (JSON): ${res.status} ${await res.text()}`);
  const { output } = (await res.json()) as { output: JsonTensor };
  if (JSON.stringify(output.shape) !== '[1,1,2,2]') fail(`forward shape ${JSON.stringify(output.shape)}`);
  assertClose('forward output', output.data, [-3.5, -3.5, -3.5, -3.5]);

  // JSON backward: grad_output of ones -> grad_input is the kernel summed over the windows
  // covering each input position, grad_weight the sum of each kernel tap's window, grad_bias 4
  res = await postJson(url, '/conv/backward', {
    input: example.input,
    weight: example.weight,
    grad_output: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 1, 1, 1] },
  });
  if (res.status !== 200) fail(`backward (JSON): ${res.status} ${await res.text()}`);
  const grads = (await res.json()) as Record<string, JsonTensor>;
  assertClose('grad_input', grads.grad_input.data, [1, 1, 0, 1, 0, -1, 0, -1, -1]);
  assertClose('grad_weight', grads.grad_weight.data, [12, 16, 24, 28]);
  assertClose('grad_bias', grads.grad_bias.data, [4]);

  // msgpack forward, float64, tensor data as raw little-endian bytes
  const bytes = (values: number[]) => new Uint8Array(Float64Array.from(values).buffer);
  res = await fetch(`${url}/conv/forward`, {
    method: 'POST',
    headers: { 'content-type': 'application/msgpack', accept: 'application/msgpack' },
    body: Uint8Array.from(
      packr.pack({
        input: { dtype: 'float64', shape: [1, 1, 5], data: bytes([1, 2, 3, 4, 5]) },
        weight: { dtype: 'float64', shape: [1, 1, 3], data: bytes([1, 1, 1]) },
        padding: 'same',
      }),
    ),
    signal: AbortSignal.timeout(30_000),
  });
  if (res.status !== 200) fail(`forward (msgpack): ${res.status} ${await res.text()}`);
  const packed = unpackr.unpack(new Uint8Array(await res.arrayBuffer())) as {
    output: { shape: number[]; data: Uint8Array };
  };
  assertClose('msgpack forward output', new Float64Array(Uint8Array.from(packed.output.data).buffer), [3, 6, 9, 12, 9]);

  for (const path of ['/healthz', '/readyz', '/openapi.json', '/docs']) {
    const r = await fetch(url + path, { signal: AbortSignal.timeout(10_000) });
    if (r.status !== 200) fail(`GET ${path}: ${r.status}`);
    await r.arrayBuffer();
  }
  console.log(
    'probe check: forward (JSON, msgpack) and backward (JSON) through nginx return the right numbers; /healthz /readyz /openapi.json /docs answer 200',
  );
}

async function spread(url: string, n: number, tag: string): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const res = await postJson(url, '/conv/forward', example, { 'x-request-id': `${tag}-${i}` });
      if (res.status !== 200) fail(`spread request ${i}: ${res.status} ${await res.text()}`);
      if (res.headers.get('x-request-id') !== `${tag}-${i}`)
        fail(`spread request ${i}: x-request-id ${res.headers.get('x-request-id')}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  console.log(`probe spread: ${n} requests answered 200, ids ${tag}-0..${n - 1}`);
}

// a request with a few milliseconds of work: ones(1, 4, 48, 48) * ones(8, 4, 3, 3), padding 1
const H = 48;
const streamBody = JSON.stringify({
  input: { dtype: 'float32', shape: [1, 4, H, H], data: new Array(4 * H * H).fill(1) },
  weight: { dtype: 'float32', shape: [8, 4, 3, 3], data: new Array(8 * 4 * 9).fill(1) },
  padding: 1,
});
const streamWant = (() => {
  const want = new Float64Array(8 * H * H);
  const valid = (i: number) => 1 + (i > 0 ? 1 : 0) + (i < H - 1 ? 1 : 0);
  for (let o = 0; o < 8; o++)
    for (let i = 0; i < H; i++) for (let j = 0; j < H; j++) want[(o * H + i) * H + j] = 4 * valid(i) * valid(j);
  return want;
})();

async function stream(url: string, seconds: number, concurrency: number, readyFile?: string): Promise<void> {
  const until = Date.now() + seconds * 1000;
  const maxRequests = 20_000; // a bound whatever the speed
  let sent = 0;
  let ok = 0;
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  const worker = async () => {
    while (Date.now() < until && sent < maxRequests) {
      sent++;
      try {
        const res = await fetch(`${url}/conv/forward`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: streamBody,
          signal: AbortSignal.timeout(30_000),
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const text = await res.text();
        if (res.status !== 200) {
          failures.push(`${res.status} ${text.slice(0, 200)}`);
          continue;
        }
        const { output } = JSON.parse(text) as { output: JsonTensor };
        const got = output.data;
        let right = got.length === streamWant.length;
        for (let i = 0; right && i < got.length; i++) right = got[i] === streamWant[i];
        if (right) ok++;
        else failures.push('wrong numbers');
      } catch (err) {
        failures.push(`network: ${(err as Error).message}`);
      }
      if (readyFile && sent === concurrency * 2) writeFileSync(readyFile, 'streaming\n');
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const summary = {
    sent,
    ok,
    failed: failures.length,
    statuses: Object.fromEntries(statuses),
    firstFailures: failures.slice(0, 5),
  };
  console.log(`probe stream: ${JSON.stringify(summary)}`);
  if (failures.length > 0 || ok === 0) process.exit(1);
}

async function oversize(url: string, bytes: number): Promise<void> {
  const res = await fetch(`${url}/conv/forward`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: new Uint8Array(bytes),
    signal: AbortSignal.timeout(30_000),
  });
  await res.arrayBuffer();
  if (res.status !== 413) fail(`a ${bytes}-byte body answered ${res.status}, expected 413`);
  console.log(`probe oversize: a ${bytes}-byte body is refused with 413`);
}

const [command, url, ...rest] = process.argv.slice(2);
if (!url?.startsWith('http://127.0.0.1:')) fail('the URL must be http://127.0.0.1:PORT (a port published on loopback)');
switch (command) {
  case 'check':
    await check(url);
    break;
  case 'spread':
    await spread(url, Number(rest[0]), rest[1]);
    break;
  case 'stream':
    await stream(url, Number(rest[0]), Number(rest[1]), rest[2]);
    break;
  case 'oversize':
    await oversize(url, Number(rest[0]));
    break;
  default:
    fail(`unknown command ${command}`);
}
