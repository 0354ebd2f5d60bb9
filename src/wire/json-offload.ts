/**
 * Large JSON off the event loop: a small piscina pool (CONVD_JSON_THREADS, started on first
 * use) that parses JSON bodies and writes JSON answers of at least CONVD_JSON_OFFLOAD_BYTES
 * (workers/json-worker.ts). Smaller ones stay on the event loop, where a thread hop would cost
 * more than the work.
 *
 * A body parsed there comes back as Fastify's own JSON parser would have made it, except that
 * each request tensor's number array arrives as a typed array of its dtype (moved, never
 * copied). Those arrays are marked (tensor-data.ts, `markJsonNumbers`), so that validation, the
 * data-length checks and their messages treat them as the number arrays they were; they are
 * then the decoded tensors themselves, with no further copy.
 */
import { Piscina } from 'piscina';
import type { JsonParseResult, JsonTask } from '../shared/json.js';
import type { ResponseEncoding } from './accept.js';
import { encodeResult, type EncodedBody, type ResultTensor } from './response.js';
import { markJsonNumbers } from './tensor-data.js';

/** Bytes of JSON text per number, for deciding whether an answer is large enough to write off the event loop. */
const JSON_BYTES_PER_NUMBER = 16;

const JSON_WORKER = new URL('../../workers/json-worker.js', import.meta.url);

/** An ArrayBuffer holding exactly `bytes`: its own when it owns it whole (then moved), else a copy. */
function ownedBuffer(bytes: Uint8Array): ArrayBuffer {
  const { buffer } = bytes;
  if (buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength) return buffer;
  // (not bytes.slice(): on a Buffer that is a view, of Node's shared pool for small ones, which cannot be moved)
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

export interface JsonOffloadSettings {
  /** Bodies and answers of at least this many bytes go to the JSON threads. */
  jsonOffloadBytes: number;
  jsonThreads: number;
}

export class JsonOffload {
  private pool: Piscina | null = null;
  /** Bodies parsed and answers written on the JSON threads since start. */
  readonly counts = { parsed: 0, written: 0 };

  constructor(readonly settings: JsonOffloadSettings) {}

  /** Whether a JSON body of `length` bytes is parsed on the JSON threads. */
  offloadsBody(length: number): boolean {
    return length > 0 && length >= this.settings.jsonOffloadBytes;
  }

  private threads(): Piscina {
    this.pool ??= new Piscina({
      filename: JSON_WORKER.href,
      minThreads: this.settings.jsonThreads,
      maxThreads: this.settings.jsonThreads,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: 1,
    });
    return this.pool;
  }

  /**
   * Parses a JSON body, given as the chunks it arrived in, on a JSON thread. The chunks are moved
   * there, not copied (each socket read owns its memory), and joined there: the event loop
   * touches none of the body's bytes.
   */
  async parse(body: Uint8Array | Uint8Array[]): Promise<JsonParseResult> {
    const chunks = (Array.isArray(body) ? body : [body]).map(ownedBuffer);
    const result = (await this.threads().run({ op: 'parse', chunks } satisfies JsonTask, {
      transferList: chunks,
    })) as JsonParseResult;
    this.counts.parsed++;
    if (result.ok) {
      const value = result.value as Record<string, { data: Float32Array | Float64Array }>;
      for (const field of result.converted) markJsonNumbers(value[field].data);
    }
    return result;
  }

  /**
   * The encoded answer: a JSON number-array answer large enough is written on a JSON thread (the
   * result buffers are moved there), anything else as wire/response.ts does it here.
   */
  async encode(
    tensors: Record<string, ResultTensor>,
    encoding: ResponseEncoding,
    dataAs: 'array' | 'base64',
  ): Promise<EncodedBody> {
    const numbers = Object.values(tensors).reduce((sum, t) => sum + t.data.length, 0);
    if (
      encoding.format !== 'json' ||
      dataAs !== 'array' ||
      numbers * JSON_BYTES_PER_NUMBER < this.settings.jsonOffloadBytes
    ) {
      return encodeResult(tensors, encoding, dataAs);
    }
    const moved: Extract<JsonTask, { op: 'stringify' }>['tensors'] = {};
    for (const [name, t] of Object.entries(tensors)) {
      moved[name] = {
        dtype: t.dtype,
        shape: t.shape,
        buffer: ownedBuffer(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)),
      };
    }
    const transferList = Object.values(moved).map((t) => t.buffer);
    const bytes = (await this.threads().run({ op: 'stringify', tensors: moved } satisfies JsonTask, {
      transferList,
    })) as Uint8Array;
    this.counts.written++;
    const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // what Fastify makes of reply.type('application/json') with a string body, as the answers written here have
    return { contentType: 'application/json; charset=utf-8', body, length: body.byteLength };
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = null;
  }
}
