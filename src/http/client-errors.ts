/**
 * Answers to requests that never reach Fastify's routing because the HTTP parser refused them
 * (bad framing, conflicting Content-Length, header block over the limit, request timeout):
 * problem+json like every other error, instead of Fastify's default JSON shape. The socket is
 * closed afterwards, as Node and Fastify do.
 */
import type { Socket } from 'node:net';
import { HttpProblem } from './problem.js';

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  // a reset connection has nobody left to answer
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const problem =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new HttpProblem('request-timeout', 'the request was not received in time')
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? new HttpProblem('headers-too-large', 'the request line and headers exceed the allowed size')
        : new HttpProblem('malformed-request', `the HTTP request cannot be parsed (${err.code ?? 'client error'})`);
  const body = JSON.stringify(problem);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${problem.status} ${REASONS[problem.status]}\r\nContent-Type: application/problem+json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
