/**
 * The service's msgpack codec settings, shared by request parsing and response framing:
 * plain maps (no msgpackr records, which other libraries cannot read) and 64-bit integers
 * as numbers (shapes must be numbers, not bigints). Decoded bins are views into the body.
 */
import { Packr, Unpackr } from 'msgpackr';

export const MSGPACK_MEDIA_TYPES = ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'] as const;

export const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** Packs small values (keys, dtypes, shapes); moreTypes stays off so no msgpackr extension is ever written. */
export const packr = new Packr({ useRecords: false });
