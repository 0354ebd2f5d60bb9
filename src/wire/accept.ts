/**
 * Response encoding by `Accept`: msgpack when the header is absent or allows anything,
 * JSON when JSON is preferred, null (406) when neither is acceptable. q-values are honoured;
 * between equal q-values the earlier entry wins.
 */
import { MSGPACK_MEDIA_TYPES } from './msgpack.js';

export type ResponseEncoding = { format: 'msgpack' | 'json'; mediaType: string };

const MSGPACK: ResponseEncoding = { format: 'msgpack', mediaType: 'application/msgpack' };
const JSON_: ResponseEncoding = { format: 'json', mediaType: 'application/json' };

function encodingFor(range: string): ResponseEncoding | null {
  if (range === '*/*' || range === 'application/*') return MSGPACK;
  if (range === 'application/json') return JSON_;
  if ((MSGPACK_MEDIA_TYPES as readonly string[]).includes(range)) return { format: 'msgpack', mediaType: range };
  return null;
}

export function negotiateEncoding(accept: string | undefined): ResponseEncoding | null {
  if (accept === undefined || accept.trim() === '') return MSGPACK;
  let best: ResponseEncoding | null = null;
  let bestQ = 0;
  for (const entry of accept.split(',')) {
    const [range, ...params] = entry.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    const encoding = encodingFor(range);
    if (encoding && q > bestQ) {
      best = encoding;
      bestQ = q;
    }
  }
  return best;
}
