/**
 * PyTorch peer: Debian's /usr/bin/python3 with torch (oneDNN on CPU) running
 * bench/peers/torch_peer.py as a child process, spoken to in length-framed msgpack over its
 * stdin and stdout. The operands are sent once per (problem, op), outside the clock; each
 * run is one op timed by the peer itself (perf_counter around the call), so the time is
 * PyTorch's own and not the pipe's. Forward is torch.nn.functional.conv2d, grad_input and
 * grad_weight are aten::convolution_backward with one output of its mask (what autograd
 * calls), under torch.no_grad().
 *
 * Layout: channels_first runs contiguous NCHW tensors; channels_last runs
 * torch.channels_last tensors (NHWC in memory, weights converted to channels_last outside the
 * clock), PyTorch's own NHWC path. float32 and float64 alike.
 *
 * CONVD_BENCH_PYTHON names another interpreter than /usr/bin/python3.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pack, unpack } from 'msgpackr';
import type { ConvGeometry } from '../../src/shared/geometry/conv.js';
import type { Real } from '../../src/shared/tensor.js';
import type { Impl, Prepared } from '../impl.js';
import type { Op, Problem } from '../shapes.js';

/** bench/peers/torch_peer.py in the source tree (this file runs from dist/bench/peers/). */
export const TORCH_PEER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '../../../bench/peers/torch_peer.py');
export const TORCH_PYTHON = process.env.CONVD_BENCH_PYTHON || '/usr/bin/python3';

export interface TorchHello {
  torch: string;
  python: string;
  threads: number;
  mkldnn: boolean;
  blas: string;
}

/** What the peer runs: one of the bench's ops, or `all` (grad_input and grad_weight in one backward call). */
export type TorchOp = Op | 'all';

type Reply = Record<string, unknown> & { error?: string };

/** One python process running torch_peer.py; requests are answered in order. */
export class TorchPeer {
  private readonly child: ChildProcess;
  private readonly waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private buffered = Buffer.alloc(0);
  private exited: Error | null = null;
  private nextId = 1;
  private stderr = '';

  private constructor(threads: number, python: string) {
    this.child = spawn(python, [TORCH_PEER_SCRIPT, '--threads', String(threads)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (chunk: Buffer) => this.receive(chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-2000)));
    const fail = (e: Error) => {
      this.exited = e;
      for (const w of this.waiting.splice(0)) w.reject(e);
    };
    this.child.on('error', (e) => fail(new Error(e.message)));
    this.child.on('exit', (code, signal) =>
      fail(new Error(`torch_peer.py exited (${signal ?? code}) ${this.stderr.trim().split('\n').pop()}`.trim())),
    );
    this.child.stdin!.on('error', () => {}); // a dead peer is reported by 'exit'
  }

  /** Starts the peer with `threads` intra-op threads; rejects with one line saying why when torch is missing. */
  static async start(threads: number, python = TORCH_PYTHON): Promise<{ peer: TorchPeer; hello: TorchHello }> {
    const peer = new TorchPeer(threads, python);
    try {
      const hello = (await peer.request({ cmd: 'hello' })) as unknown as TorchHello;
      return { peer, hello };
    } catch (e) {
      peer.close();
      throw new Error(
        `${python} cannot run torch (${(e as Error).message}); on Debian: apt-get install python3-torch python3-msgpack`,
        { cause: e },
      );
    }
  }

  private receive(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 4) {
      const length = this.buffered.readUInt32LE(0);
      if (this.buffered.length < 4 + length) return;
      const reply = unpack(this.buffered.subarray(4, 4 + length)) as Reply;
      this.buffered = this.buffered.subarray(4 + length);
      const w = this.waiting.shift();
      if (!w) continue;
      if (reply.error !== undefined) w.reject(new Error(`torch: ${reply.error}`));
      else w.resolve(reply);
    }
  }

  request(message: Record<string, unknown>): Promise<Reply> {
    if (this.exited) return Promise.reject(this.exited);
    const body = pack(message);
    const header = Buffer.alloc(4);
    header.writeUInt32LE(body.length);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin!.write(Buffer.concat([header, body]));
    });
  }

  /** Sends one problem's operands (in its layout) for `op`; returns the id to run it by. */
  async prepare(g: ConvGeometry, op: TorchOp, x: Real, w: Real, dy: Real): Promise<number> {
    const id = this.nextId++;
    const bytes = (a: Real) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    await this.request({
      cmd: 'prepare',
      id,
      op,
      dtype: g.dtype,
      layout: g.layout,
      input: g.inputShape,
      weight: g.weightShape,
      output: g.outputShape,
      stride: g.stride,
      padding: g.padBefore,
      dilation: g.dilation,
      groups: g.groups,
      x: bytes(x),
      w: bytes(w),
      dy: bytes(dy),
    });
    return id;
  }

  /** Runs a prepared op once; resolves to the seconds the peer measured around the call. */
  async run(id: number): Promise<number> {
    return (await this.request({ cmd: 'run', id })).seconds as number;
  }

  /** The prepared op's output in the problem's layout, as bytes. */
  async result(id: number): Promise<Uint8Array> {
    return (await this.request({ cmd: 'result', id })).data as Uint8Array;
  }

  async dispose(id: number): Promise<void> {
    await this.request({ cmd: 'dispose', id });
  }

  close(): void {
    this.child.stdin!.end();
    this.child.kill();
  }
}

/** Why the peer cannot run a geometry as convd does, or null. */
export function torchUnsupported(g: ConvGeometry): string | null {
  if (g.paddingMode !== 'zeros') return 'bench runs torch with zero padding only';
  if (g.padBefore.some((v, i) => v !== g.padAfter[i])) return 'torch conv pads symmetrically';
  if (g.layout === 'channels_last' && g.inSpatial.length !== 2 && g.inSpatial.length !== 3)
    return 'torch has channels_last for 2-D and 3-D only';
  return null;
}

export function asReal(bytes: Uint8Array, dtype: ConvGeometry['dtype']): Real {
  const copy = new Uint8Array(bytes); // a copy at offset 0 of its own buffer (msgpackr's are views into the reply)
  return dtype === 'float64'
    ? new Float64Array(copy.buffer, 0, copy.byteLength / 8)
    : new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}

/** The bench peer `torch`: one thread, in a peer process of its own (ended by `close`). */
export async function torchImpls(): Promise<Impl[]> {
  const { peer, hello } = await TorchPeer.start(1);
  return [
    {
      name: 'torch',
      version: `PyTorch ${hello.torch} (python ${hello.python}, ${TORCH_PYTHON})`,
      notes:
        `${hello.threads} thread (torch.set_num_threads), oneDNN ${hello.mkldnn ? 'on' : 'off'}, BLAS ${hello.blas}; ` +
        'F.conv2d and aten::convolution_backward, no_grad; timed in the peer process; channels_last = torch.channels_last',
      layout: (g) => (g.layout === 'channels_last' ? 'NHWC' : 'NCHW'),
      unsupported: (g) => torchUnsupported(g),
      async prepare(p: Problem, op: Op): Promise<Prepared> {
        const id = await peer.prepare(p.g, op, p.x, p.w, p.dy);
        return {
          run: () => peer.run(id),
          result: async () => asReal(await peer.result(id), p.g.dtype),
          dispose: () => peer.dispose(id),
        };
      },
      close: () => peer.close(),
    },
  ];
}
