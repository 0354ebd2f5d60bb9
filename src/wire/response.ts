/**
 * Result tensors -> response bodies.
 *
 * msgpack: a map of `{ dtype, shape, data: bin }` tensors, written as a list of chunks in
 * which each tensor's data is its output buffer itself (never an extension, never copied).
 * JSON: number arrays (non-finite values as "NaN", "Infinity", "-Infinity") or, when the
 * request asked for it, base64 strings of the little-endian bytes.
 */
import { Readable, type Writable } from 'node:stream';
import type { WireArray, WireDType } from '../shared/tensor.js';
import { jsonText } from '../shared/json.js';
import type { ResponseEncoding } from './accept.js';
import { packr } from './msgpack.js';

export interface ResultTensor {
  dtype: WireDType;
  shape: number[];
  data: WireArray;
}

export interface EncodedBody {
  contentType: string;
  body: string | Buffer | Readable;
  length: number;
}

/** The bytes of `a`, viewed (not copied). */
const bytesOf = (a: WireArray) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function mapHeader(entries: number): Uint8Array {
  if (entries > 15) throw new RangeError(`msgpack fixmap holds at most 15 entries, not ${entries}`);
  return Uint8Array.of(0x80 | entries);
}

function binHeader(length: number): Uint8Array {
  if (length < 0x100) return Uint8Array.of(0xc4, length);
  if (length < 0x10000) return Uint8Array.of(0xc5, length >> 8, length & 0xff);
  const header = new Uint8Array(5);
  header[0] = 0xc6;
  new DataView(header.buffer).setUint32(1, length);
  return header;
}

/** msgpackr writes into a buffer it reuses: copy its (small) output before packing again. */
const packSmall = (value: unknown) => Uint8Array.from(packr.pack(value));

function msgpackChunks(tensors: Record<string, ResultTensor>): Uint8Array[] {
  const entries = Object.entries(tensors);
  const chunks: Uint8Array[] = [];
  for (const [i, [name, t]] of entries.entries()) {
    const data = bytesOf(t.data);
    const head = [
      ...(i === 0 ? [mapHeader(entries.length)] : []),
      packSmall(name),
      mapHeader(3),
      packSmall('dtype'),
      packSmall(t.dtype),
      packSmall('shape'),
      packSmall(t.shape),
      packSmall('data'),
      binHeader(data.byteLength),
    ];
    chunks.push(Buffer.concat(head), data);
  }
  return chunks;
}

/**
 * An answer's chunks (small heads and the results' own bytes) as a stream that hands them
 * over all at once, when first read. `corking(res)` corks the response until they are all
 * written to it (the next tick after that first read), so that the HTTP head and every chunk
 * leave in one writev instead of one write each. (Corked until the stream's end instead, a
 * chunk larger than the response's buffer would wait for a drain that never comes.)
 */
export class ChunkStream extends Readable {
  private corked: Writable | null = null;

  constructor(private readonly chunks: readonly Uint8Array[]) {
    super();
  }

  /** Corks `res` until this stream's chunks are written to it (the writer must be piping this stream to it). */
  corking(res: Writable): this {
    res.cork();
    this.corked = res;
    return this;
  }

  override _read(): void {
    for (const chunk of this.chunks) this.push(chunk);
    this.push(null);
    this.uncorkSoon();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.uncorkSoon();
    callback(err);
  }

  /** The pipe writes what was just pushed within this tick: uncorked on the next one. */
  private uncorkSoon(): void {
    const res = this.corked;
    this.corked = null;
    if (res) process.nextTick(() => res.uncork());
  }
}

export function encodeResult(
  tensors: Record<string, ResultTensor>,
  encoding: ResponseEncoding,
  dataAs: 'array' | 'base64',
): EncodedBody {
  if (encoding.format === 'json') {
    const body = jsonText(tensors, dataAs);
    return { contentType: 'application/json', body, length: Buffer.byteLength(body) };
  }
  const chunks = Object.keys(tensors).length === 0 ? [mapHeader(0)] : msgpackChunks(tensors);
  return {
    contentType: encoding.mediaType,
    body: new ChunkStream(chunks),
    length: chunks.reduce((sum, c) => sum + c.byteLength, 0),
  };
}
