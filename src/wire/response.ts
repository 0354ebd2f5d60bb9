/**
 * Result tensors -> response bodies.
 *
 * msgpack: a map of `{ dtype, shape, data: bin }` tensors, written as a list of chunks in
 * which each tensor's data is its output buffer itself (never an extension, never copied).
 * JSON: number arrays (non-finite values as "NaN", "Infinity", "-Infinity") or, when the
 * request asked for it, base64 strings of the little-endian bytes.
 */
import { Readable } from 'node:stream';
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
  const chunks = [mapHeader(entries.length)];
  for (const [name, t] of entries) {
    const data = bytesOf(t.data);
    const head = [
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

export function encodeResult(
  tensors: Record<string, ResultTensor>,
  encoding: ResponseEncoding,
  dataAs: 'array' | 'base64',
): EncodedBody {
  if (encoding.format === 'json') {
    const body = jsonText(tensors, dataAs);
    return { contentType: 'application/json', body, length: Buffer.byteLength(body) };
  }
  const chunks = msgpackChunks(tensors);
  return {
    contentType: encoding.mediaType,
    body: Readable.from(chunks, { objectMode: false }),
    length: chunks.reduce((sum, c) => sum + c.byteLength, 0),
  };
}
