/** GET /openapi.json (the generated document, as committed in openapi/openapi.json) and GET /docs (Swagger UI). */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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

/** msgpackr's browser build (UMD): the page loads it before the interceptors run, as the global `msgpackr`. */
interface PageMsgpackr {
  pack(value: unknown): Uint8Array;
  unpack(bytes: Uint8Array): unknown;
}
// beside the package's exported eval-free build (dist/index-no-eval.cjs), minified, for browsers
const MSGPACKR_BROWSER_BUILD = join(
  dirname(createRequire(import.meta.url).resolve('msgpackr/index-no-eval')),
  'index-no-eval.min.js',
);

/**
 * Swagger UI's request interceptor on /docs. It runs in the browser, where it arrives as its
 * source text (Function.prototype.toString), so it names nothing outside itself but the
 * page's `msgpackr` global (the library's browser build, served with the page).
 *
 * - Accept: until a media type is picked under Responses, Swagger UI sends the wildcard
 *   Accept, which the service answers with msgpack; the page asks instead for the media type
 *   it shows selected, application/json (the first listed).
 * - A msgpack Content-Type with the editor's text as body: the text is parsed as JSON and sent
 *   packed by msgpackr (integers as msgpack ints, other numbers as float64), as a File named
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
  const { msgpackr } = globalThis as unknown as { msgpackr: PageMsgpackr };
  // a File: its bytes are the body, and the page's curl line shows a binary upload (--data-binary '@request.msgpack')
  request.body = new File([msgpackr.pack(value) as Uint8Array<ArrayBuffer>], 'request.msgpack', { type: mediaType });
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
 * undecoded bytes; it is shown instead unpacked by msgpackr, in JSON notation, under a line
 * saying so, each bin as the base64 of its bytes (as in the documented msgpack examples).
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
  const { msgpackr } = globalThis as unknown as { msgpackr: PageMsgpackr };
  const base64 = (bin: Uint8Array) => {
    let binary = '';
    for (const b of bin) binary += String.fromCharCode(b);
    return btoa(binary);
  };
  let text: string;
  try {
    const value = msgpackr.unpack(bytes);
    // the holder's own value: in Node a bin unpacks as a Buffer, whose toJSON would run first
    const shown = JSON.stringify(
      value,
      function (this: Record<string, unknown>, key: string, v: unknown) {
        const raw = this[key];
        return raw instanceof Uint8Array ? base64(raw) : v;
      },
      2,
    );
    text = `${mediaType}, ${bytes.length} bytes, decoded by this page (each bin shown as the base64 of its bytes):\n${shown}`;
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
    theme: {
      title: 'convd API reference',
      js: [{ filename: 'msgpackr.min.js', content: readFileSync(MSGPACKR_BROWSER_BUILD, 'utf8') }],
    },
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
