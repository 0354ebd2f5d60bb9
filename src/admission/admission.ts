/**
 * Admission of requests by memory, and the connection-level limits.
 *
 * - At header time (onRequest) a request with a body reserves, from its Content-Length, what
 *   reading and parsing it will hold (admission/estimate.ts). When that does not fit in the
 *   memory budget now, it is answered 503 with Retry-After at once, its body unread, and its
 *   connection closed; when no budget could hold it, 413. A chunked body (no Content-Length)
 *   reserves as its bytes arrive, and is refused the same way mid-stream.
 * - Once the shapes have passed the work limits (limits.ts calls `reserve`), the reservation is
 *   resized to what the request holds from then on: its body (msgpack bins are views into it),
 *   its decoded tensors, its outputs, its encoded answer and what its tasks copy beyond their
 *   results (a weight permuted for weight_layout, once per task). Again 503 or 413 when that does not
 *   fit, before any tensor data is decoded.
 * - Every reservation is given back when the request's response closes: sent, failed, timed out
 *   or abandoned by the client.
 * - A body must keep arriving: over every CONVD_BODY_STALL_MS it must average
 *   CONVD_MIN_BODY_BYTES_PER_SECOND, else it is dropped with 408 (a stalled or trickling upload
 *   no longer holds its reservation until the request timeout).
 * - An answer sent before its body was read (503, 413, 408, 415...) closes the connection:
 *   the response goes out, the write side is shut, and what the client still sends is read and
 *   dropped, unparsed, for a short linger so that the client reads the answer instead of a
 *   reset; then the socket is destroyed.
 * - At most CONVD_MAX_CONNECTIONS connections are open (Node's server.maxConnections: one past
 *   it is closed at once); headers must arrive within CONVD_HEADERS_TIMEOUT_MS.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpProblem } from '../http/problem.js';
import type { WorkLimits, WorkNeed } from '../limits.js';
import { MemoryBudget, type Reservation } from './budget.js';
import { answerBytes, bodyBytes, bodyFormat, type BodyFormat } from './estimate.js';

export interface AdmissionSettings {
  memoryBudgetBytes: number;
  maxBodyBytes: number;
  maxJsonBodyBytes: number;
  retryAfterSeconds: number;
  bodyStallMs: number;
  minBodyBytesPerSecond: number;
  maxConnections: number;
}

/** Bodies of at most this many bytes (by Content-Length) are not watched for their arrival rate. */
export const METER_MIN_BYTES = 64 * 1024;

/** How long a connection answered before its body was read keeps draining what the client still sends. */
export const LINGER_MS = 2_000;

/** What admission keeps for a request with a body. */
interface RequestState {
  reservation: Reservation;
  format: BodyFormat;
  /** Content-Length, or null for a chunked body. */
  declared: number | null;
  /** Body bytes received so far. */
  received: number;
}

export interface AdmissionStats {
  /** Requests refused because the budget was spent (503). */
  refusedFull: number;
  /** Requests refused because no budget could hold them (413). */
  refusedTooLarge: number;
  /** Bodies dropped for arriving too slowly (408). */
  stalledBodies: number;
  /** Connections closed at once because CONVD_MAX_CONNECTIONS were open. */
  droppedConnections: number;
  /** Client connections open now. */
  openConnections: number;
}

const MiB = 2 ** 20;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

export class Admission {
  readonly budget: MemoryBudget;
  readonly stats: AdmissionStats = {
    refusedFull: 0,
    refusedTooLarge: 0,
    stalledBodies: 0,
    droppedConnections: 0,
    openConnections: 0,
  };
  private readonly states = new WeakMap<FastifyRequest, RequestState>();
  private readonly lingering = new WeakSet<Socket>();

  constructor(private readonly settings: AdmissionSettings) {
    this.budget = new MemoryBudget(settings.memoryBudgetBytes);
  }

  /** The hooks, on the root instance (before the routes are registered). */
  register(app: FastifyInstance): void {
    app.addHook('onRequest', async (request, reply) => this.admitBody(request, reply));
    app.addHook('preParsing', async (request, _reply, payload) => this.meterBody(request, payload));
    app.addHook('onSend', async (request, reply) => {
      // answered before its body was read: close the connection, never parse the rest
      if (!request.raw.complete) this.closeAfterAnswer(reply);
    });
  }

  /** The connection cap and count, on the listening server. */
  attach(server: Server): void {
    server.maxConnections = this.settings.maxConnections;
    server.on('drop', () => this.stats.droppedConnections++);
    server.on('connection', (socket: Socket) => {
      this.stats.openConnections++;
      socket.once('close', () => this.stats.openConnections--);
    });
  }

  /** `limits` with this request's work reservation (limits.ts calls it once the shapes pass the limits). */
  limitsFor<T extends WorkLimits>(request: FastifyRequest, limits: T): T {
    return { ...limits, reserve: (need: WorkNeed) => this.reserveWork(request, need) };
  }

  /** Bytes reserved now by `request` (0 when it holds none). */
  reservedBy(request: FastifyRequest): number {
    const state = this.states.get(request);
    return state?.reservation.active ? state.reservation.bytes : 0;
  }

  private full(what: string, bytes: number): HttpProblem {
    this.stats.refusedFull++;
    this.budget.refused.full++;
    return new HttpProblem(
      'memory-budget-full',
      `${what} needs about ${bytes} bytes (${mib(bytes)}) of memory in flight, and ${this.budget.inUse} of the ${this.budget.total} bytes of the memory budget ` +
        `(CONVD_MEMORY_BUDGET_BYTES) are reserved by requests in flight; retry later`,
      { headers: { 'retry-after': String(this.settings.retryAfterSeconds) } },
    );
  }

  private tooLarge(what: string, bytes: number): HttpProblem {
    this.stats.refusedTooLarge++;
    this.budget.refused.tooLarge++;
    return new HttpProblem(
      'memory-budget-exceeded',
      `${what} needs about ${bytes} bytes (${mib(bytes)}) of memory in flight, more than the whole memory budget of ${this.budget.total} bytes (CONVD_MEMORY_BUDGET_BYTES)`,
    );
  }

  private jsonTooLarge(bytes: number | null): HttpProblem {
    return new HttpProblem(
      'body-too-large',
      `the JSON request body${bytes === null ? '' : ` of ${bytes} bytes`} exceeds the limit of ${this.settings.maxJsonBodyBytes} bytes for JSON bodies (CONVD_MAX_JSON_BODY_BYTES); ` +
        'send large tensors as msgpack (Content-Type: application/msgpack, data as a bin of the raw bytes), which is about a third of the size and needs no parsing of numbers',
    );
  }

  private admitBody(request: FastifyRequest, reply: FastifyReply): void {
    const headers = request.headers;
    const length = headers['content-length'];
    const chunked = headers['transfer-encoding'] !== undefined;
    if (length === undefined && !chunked) {
      // a POST without a body still reserves its work once its shapes are known
      if (request.method !== 'GET' && request.method !== 'HEAD') this.track(request, reply, 0, 'other', 0);
      return;
    }
    const declared = chunked ? null : Number(length);
    if (declared === 0) {
      this.track(request, reply, 0, bodyFormat(headers['content-type']), 0);
      return;
    }
    // an unparseable length is the HTTP parser's to refuse; a body over the limit is Fastify's 413
    if (declared !== null && !(declared > 0 && declared <= this.settings.maxBodyBytes)) return;
    const format = bodyFormat(headers['content-type']);
    if (format === 'json' && declared !== null && declared > this.settings.maxJsonBodyBytes)
      throw this.jsonTooLarge(declared);
    const bytes = declared === null ? 0 : bodyBytes(declared, format);
    if (!this.budget.couldHold(bytes)) throw this.tooLarge(`the request body of ${declared} bytes`, bytes);
    if (!this.track(request, reply, bytes, format, declared))
      throw this.full(`the request body of ${declared} bytes`, bytes);
  }

  /** Reserves `bytes` for `request` until its response closes; false when they do not fit. */
  private track(
    request: FastifyRequest,
    reply: FastifyReply,
    bytes: number,
    format: BodyFormat,
    declared: number | null,
  ): boolean {
    const reservation = this.budget.tryReserve(bytes);
    if (!reservation) return false;
    this.states.set(request, { reservation, format, declared, received: 0 });
    reply.raw.once('close', () => reservation.release());
    return true;
  }

  private meterBody(request: FastifyRequest, payload: Readable): Readable {
    const state = this.states.get(request);
    // a small body (a packet or two) is not worth a stream and a timer; the request timeout still bounds it
    if (!state || (state.declared !== null && (this.settings.bodyStallMs === 0 || state.declared <= METER_MIN_BYTES)))
      return payload;
    return new BodyMeter(payload, state, this, request);
  }

  /** @internal (BodyMeter): `chunk` more bytes of a chunked body arrived; the problem to end it with, or null. */
  chunkArrived(state: RequestState, bytes: number): HttpProblem | null {
    state.received += bytes;
    if (state.declared !== null) return null;
    if (state.format === 'json' && state.received > this.settings.maxJsonBodyBytes) return this.jsonTooLarge(null);
    if (state.received > this.settings.maxBodyBytes) return null; // Fastify's 413
    const need = bodyBytes(state.received, state.format);
    if (!this.budget.couldHold(need))
      return this.tooLarge(`the chunked request body of at least ${state.received} bytes`, need);
    if (need > state.reservation.bytes && !state.reservation.resize(need))
      return this.full(`the chunked request body of at least ${state.received} bytes`, need);
    return null;
  }

  /** @internal (BodyMeter): a body fell below the minimum rate. */
  stalled(received: number, declared: number | null): HttpProblem {
    this.stats.stalledBodies++;
    const { bodyStallMs, minBodyBytesPerSecond } = this.settings;
    return new HttpProblem(
      'request-timeout',
      `the request body stopped arriving: ${received} of ${declared ?? 'an unknown number of'} bytes received, and less than ${minBodyBytesPerSecond} bytes per second ` +
        `(CONVD_MIN_BODY_BYTES_PER_SECOND) in the last ${bodyStallMs} ms (CONVD_BODY_STALL_MS)`,
    );
  }

  /** @internal */
  get stallSettings(): { windowMs: number; minRate: number } {
    return { windowMs: this.settings.bodyStallMs, minRate: this.settings.minBodyBytesPerSecond };
  }

  private reserveWork(request: FastifyRequest, need: WorkNeed): void {
    const state = this.states.get(request);
    const format = state?.format ?? 'other';
    const body = request.body as { encoding?: unknown } | undefined;
    const answer = answerBytes(
      need,
      request.responseEncoding?.format ?? 'msgpack',
      body?.encoding === 'base64' ? 'base64' : 'array',
    );
    // msgpack bins are views into the body, which stays alive with the request; a JSON body's
    // parsed arrays were replaced by the typed arrays counted in tensorBytes
    const held = format === 'json' ? 0 : (state?.received ?? 0);
    const bytes = held + need.tensorBytes + need.outputBytes + need.workspaceBytes + answer;
    const what =
      need.workspaceBytes > 0
        ? `the request (body, tensors, outputs, answer and ${need.workspaceBytes} bytes of weight copies permuted to the kernels' layout)`
        : 'the request (body, tensors, outputs and answer)';
    if (!this.budget.couldHold(bytes)) throw this.tooLarge(what, bytes);
    // every request that reaches a handler was tracked at onRequest; without a reservation
    // (its response already closed) there is nothing to hold, only the budget to respect
    if (!state?.reservation.active) {
      if (this.budget.inUse + bytes > this.budget.total) throw this.full(what, bytes);
      return;
    }
    if (!state.reservation.resize(bytes)) throw this.full(what, bytes);
  }

  /** Connection: close, and a lingering close of the socket once the answer is out. */
  private closeAfterAnswer(reply: FastifyReply): void {
    reply.header('connection', 'close');
    const socket = reply.raw.socket;
    if (!socket || this.lingering.has(socket)) return;
    this.lingering.add(socket);
    // Node ends a `Connection: close` answer with socket.destroySoon(): shut the write side and
    // destroy the socket as soon as the answer is flushed. A client still sending its body would
    // then get a reset, which may discard the answer before it is read. Instead: shut the write
    // side, keep reading (the unread request is dumped, nothing parses or holds it) until the
    // client closes or LINGER_MS pass, then destroy.
    socket.destroySoon = function lingeringClose(this: Socket) {
      if (this.writable) this.end();
      const timer = setTimeout(() => this.destroy(), LINGER_MS);
      timer.unref();
      this.once('close', () => clearTimeout(timer));
      this.once('end', () => this.destroy());
      this.resume();
    };
  }
}

/**
 * The body stream between the socket and Fastify's body reader: counts the bytes, reserves them
 * for a chunked body, and drops a body that arrives too slowly.
 */
class BodyMeter extends Transform {
  private timer: NodeJS.Timeout | undefined;
  /** (time, bytes received) every quarter span, the oldest first: the last span's progress. */
  private readonly samples: { at: number; received: number }[] = [];

  constructor(
    private readonly source: Readable,
    private readonly state: RequestState,
    private readonly admission: Admission,
    request: FastifyRequest,
  ) {
    super();
    // Fastify's body reader listens for errors until the body ends; one that comes later (the
    // client leaving once the answer is sent) has nobody to tell
    this.on('error', () => {});
    source.on('error', (err) => this.destroy(err));
    source.once('aborted', () =>
      this.destroy(
        Object.assign(new Error('the client closed the connection during the upload'), { code: 'ECONNRESET' }),
      ),
    );
    source.pipe(this);
    const { windowMs } = admission.stallSettings;
    if (windowMs > 0) {
      this.samples.push({ at: performance.now(), received: 0 });
      this.arm(windowMs);
    }
    request.raw.once('close', () => this.stop());
  }

  private arm(windowMs: number): void {
    this.timer = setTimeout(() => this.check(windowMs), Math.max(1, windowMs / 4));
    this.timer.unref();
  }

  /** Every quarter span: the bytes of the last whole span must average the minimum rate (a stall is caught within 1.25 spans). */
  private check(windowMs: number): void {
    const now = performance.now();
    const last = this.samples.at(-1)!;
    if (now - last.at > windowMs) {
      // the event loop was held past a whole span: the bytes may be waiting in the socket; judge nothing
      this.samples.length = 0;
    } else {
      const oldest = this.samples[0];
      const elapsed = now - oldest.at;
      const { minRate } = this.admission.stallSettings;
      if (elapsed >= windowMs && this.state.received - oldest.received < Math.max(1, (minRate * elapsed) / 1000)) {
        this.fail(this.admission.stalled(this.state.received, this.state.declared));
        return;
      }
      while (this.samples.length > 0 && now - this.samples[0].at >= windowMs) this.samples.shift();
    }
    this.samples.push({ at: now, received: this.state.received });
    this.arm(windowMs);
  }

  private stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fail(problem: HttpProblem): void {
    this.stop();
    this.source.unpipe(this);
    this.destroy(problem);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const problem = this.admission.chunkArrived(this.state, chunk.length);
    if (problem) {
      this.fail(problem);
      callback();
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.stop();
    callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.stop();
    callback(err);
  }
}
