/** GET /openapi.json (the generated document, as committed in openapi/openapi.json) and GET /docs (Swagger UI). */
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsync } from 'fastify';
import { openapiText } from '../openapi.js';

/** What Swagger UI hands a request interceptor (the fields used here). */
export interface UiRequest {
  url?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
}

/**
 * Swagger UI's request interceptor on /docs. It runs in the browser, where it arrives as its
 * source text (Function.prototype.toString), so it names nothing outside itself.
 *
 * - Accept: until a media type is picked under Responses, Swagger UI sends the wildcard
 *   Accept, which the service answers with msgpack; the page asks instead for the media type
 *   it shows selected, application/json (the first listed).
 * - A msgpack Content-Type with the editor's text as body: the text is parsed as JSON and sent
 *   encoded as msgpack (integers as msgpack ints, other numbers as float64), as a File named
 *   request.msgpack. Text that is not JSON is sent as it is (and answers 400).
 */
export function docsRequestInterceptor(request: UiRequest): UiRequest {
  const headers = (request.headers ??= {});
  const header = (name: string) => Object.keys(headers).find((k) => k.toLowerCase() === name);
  const accept = header('accept');
  if (accept === undefined || headers[accept].trim() === '*/*') {
    if (accept !== undefined) delete headers[accept];
    headers.accept = 'application/json';
  }
  const contentType = header('content-type');
  const mediaType = contentType === undefined ? '' : headers[contentType].split(';')[0].trim().toLowerCase();
  if (
    !['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'].includes(mediaType) ||
    typeof request.body !== 'string'
  )
    return request;
  let value: unknown;
  try {
    value = JSON.parse(request.body);
  } catch {
    return request;
  }
  const out: number[] = [];
  const bigEndian = (n: number, bytes: number) => {
    for (let i = bytes - 1; i >= 0; i--) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
  };
  const sized = (length: number, fix: number | null, fixMax: number, codes: number[]) => {
    if (fix !== null && length <= fixMax) out.push(fix | length);
    else if (codes[0] !== 0 && length < 0x100) out.push(codes[0], length);
    else if (length < 0x10000) {
      out.push(codes[1]);
      bigEndian(length, 2);
    } else {
      out.push(codes[2]);
      bigEndian(length, 4);
    }
  };
  const write = (v: unknown): void => {
    if (v === null || v === undefined) out.push(0xc0);
    else if (v === false) out.push(0xc2);
    else if (v === true) out.push(0xc3);
    else if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) {
      if (v < 0x80) out.push(v);
      else if (v < 0x100) out.push(0xcc, v);
      else if (v < 0x10000) {
        out.push(0xcd);
        bigEndian(v, 2);
      } else {
        out.push(0xce);
        bigEndian(v, 4);
      }
    } else if (typeof v === 'number' && Number.isInteger(v) && v < 0 && v >= -0x80000000) {
      if (v >= -32) out.push(v & 0xff);
      else if (v >= -0x80) out.push(0xd0, v & 0xff);
      else if (v >= -0x8000) {
        out.push(0xd1);
        bigEndian(v & 0xffff, 2);
      } else {
        out.push(0xd2);
        bigEndian(v >>> 0, 4);
      }
    } else if (typeof v === 'number') {
      const bytes = new DataView(new ArrayBuffer(8));
      bytes.setFloat64(0, v);
      out.push(0xcb);
      for (let i = 0; i < 8; i++) out.push(bytes.getUint8(i));
    } else if (typeof v === 'string') {
      const utf8 = new TextEncoder().encode(v);
      sized(utf8.length, 0xa0, 31, [0xd9, 0xda, 0xdb]);
      for (const b of utf8) out.push(b);
    } else if (Array.isArray(v)) {
      sized(v.length, 0x90, 15, [0, 0xdc, 0xdd]);
      v.forEach(write);
    } else {
      const entries = Object.entries(v as Record<string, unknown>);
      sized(entries.length, 0x80, 15, [0, 0xde, 0xdf]);
      for (const [k, item] of entries) {
        write(k);
        write(item);
      }
    }
  };
  write(value);
  // a File: its bytes are the body, and the page's curl line shows a binary upload (--data-binary '@request.msgpack')
  request.body = new File([new Uint8Array(out)], 'request.msgpack', { type: mediaType });
  return request;
}

/** What Swagger UI hands a response interceptor (the fields used here). */
export interface UiResponse {
  headers?: Record<string, string>;
  text?: unknown;
  data?: unknown;
}

/**
 * Swagger UI's response interceptor on /docs (in the browser, as its source text, like
 * docsRequestInterceptor). A msgpack answer arrives as a Blob, which Swagger UI would show as
 * undecoded bytes; it is shown instead as its decoded map in JSON notation, under a line saying
 * so, each bin as the base64 of its bytes (as in the documented msgpack examples).
 */
export async function docsResponseInterceptor(response: UiResponse): Promise<UiResponse> {
  const headers = response.headers ?? {};
  const key = Object.keys(headers).find((k) => k.toLowerCase() === 'content-type');
  const mediaType = key === undefined ? '' : String(headers[key]).split(';')[0].trim().toLowerCase();
  const body = response.data;
  if (
    !['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'].includes(mediaType) ||
    !(body instanceof Blob)
  )
    return response;
  const bytes = new Uint8Array(await body.arrayBuffer());
  const view = new DataView(bytes.buffer);
  let at = 0;
  const take = (n: number) => {
    if (at + n > bytes.length) throw new Error('truncated');
    at += n;
    return at - n;
  };
  const uint = (n: number) => {
    const p = take(n);
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + bytes[p + i];
    return v;
  };
  const str = (n: number) => new TextDecoder().decode(bytes.subarray(take(n), at));
  const bin = (n: number) => {
    let binary = '';
    for (const b of bytes.subarray(take(n), at)) binary += String.fromCharCode(b);
    return btoa(binary);
  };
  const read = (): unknown => {
    const c = bytes[take(1)];
    if (c < 0x80) return c;
    if (c >= 0xe0) return c - 0x100;
    if (c >= 0xa0 && c <= 0xbf) return str(c & 0x1f);
    if ((c & 0xf0) === 0x90) return list(c & 0x0f);
    if ((c & 0xf0) === 0x80) return map(c & 0x0f);
    switch (c) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return bin(uint(1));
      case 0xc5:
        return bin(uint(2));
      case 0xc6:
        return bin(uint(4));
      case 0xca:
        return view.getFloat32(take(4));
      case 0xcb:
        return view.getFloat64(take(8));
      case 0xcc:
        return uint(1);
      case 0xcd:
        return uint(2);
      case 0xce:
        return uint(4);
      case 0xcf:
        return Number(view.getBigUint64(take(8)));
      case 0xd0:
        return view.getInt8(take(1));
      case 0xd1:
        return view.getInt16(take(2));
      case 0xd2:
        return view.getInt32(take(4));
      case 0xd3:
        return Number(view.getBigInt64(take(8)));
      case 0xd9:
        return str(uint(1));
      case 0xda:
        return str(uint(2));
      case 0xdb:
        return str(uint(4));
      case 0xdc:
        return list(uint(2));
      case 0xdd:
        return list(uint(4));
      case 0xde:
        return map(uint(2));
      case 0xdf:
        return map(uint(4));
      default:
        throw new Error(`msgpack type 0x${c.toString(16)} is not shown here`);
    }
  };
  const list = (n: number): unknown[] => Array.from({ length: n }, read);
  const map = (n: number) => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = String(read());
      out[k] = read();
    }
    return out;
  };
  let text: string;
  try {
    const value = read();
    text = `${mediaType}, ${bytes.length} bytes, decoded by this page (each bin shown as the base64 of its bytes):\n${JSON.stringify(value, null, 2)}`;
  } catch (err) {
    text = `${mediaType}, ${bytes.length} bytes; this page cannot decode them (${(err as Error).message})`;
  }
  response.text = text;
  response.data = text;
  return response;
}

export const docsRoutes: FastifyPluginAsync = async (app) => {
  let text: string | undefined;
  app.get('/openapi.json', { schema: { hide: true } }, async (_request, reply) => {
    text ??= openapiText(app);
    return reply.type('application/json').send(text);
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    theme: { title: 'convd API reference' },
    uiConfig: {
      // no top bar (a Swagger logo and a box to load other documents): the page is convd's reference
      layout: 'BaseLayout',
      deepLinking: true,
      displayRequestDuration: true,
      defaultModelRendering: 'example',
      defaultModelsExpandDepth: 0,
      requestInterceptor: docsRequestInterceptor,
      responseInterceptor: docsResponseInterceptor,
    },
  });
};
