/**
 * AMF0 (Adobe Action Message Format 0) decoding and encoding, for RTMP
 * command messages. Pure logic; runs in Node and njs.
 * Spec: https://rtmp.veriskope.com/pdf/amf0-file-format-specification.pdf
 *
 * Hostile input is expected: every length is checked against the bytes
 * present, nesting is bounded, and errors are values, never exceptions.
 */

import { utf8Decode, utf8Encode } from './utf8';

export type AmfValue = number | boolean | string | null | undefined | AmfObject | AmfValue[];
export interface AmfObject {
  [key: string]: AmfValue;
}

export interface AmfError {
  error: string;
}

/** Deepest object/array nesting we decode; real commands use 1-2 levels. */
export const MAX_DEPTH = 8;
/** Most properties/elements in one object/array. */
export const MAX_ITEMS = 1024;

interface Reader {
  b: Uint8Array;
  pos: number;
}

function u16(r: Reader): number {
  return (r.b[r.pos] << 8) | r.b[r.pos + 1];
}

function u32(r: Reader): number {
  return ((r.b[r.pos] << 24) >>> 0) + ((r.b[r.pos + 1] << 16) | (r.b[r.pos + 2] << 8) | r.b[r.pos + 3]);
}

function readString(r: Reader, long: boolean): string | AmfError {
  const need = long ? 4 : 2;
  if (r.pos + need > r.b.length) return { error: 'truncated string length' };
  const len = long ? u32(r) : u16(r);
  r.pos += need;
  if (r.pos + len > r.b.length) return { error: 'string longer than the message' };
  const s = utf8Decode(r.b, r.pos, r.pos + len) as string;
  r.pos += len;
  return s;
}

function isError(v: unknown): v is AmfError {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as AmfError).error === 'string' && Object.keys(v as object).length === 1;
}

function readProperties(r: Reader, depth: number, out: AmfObject): AmfError | null {
  for (let n = 0; ; n++) {
    if (n > MAX_ITEMS) return { error: 'too many properties' };
    if (r.pos + 3 > r.b.length) return { error: 'object without end marker' };
    if (r.b[r.pos] === 0 && r.b[r.pos + 1] === 0 && r.b[r.pos + 2] === 9) {
      r.pos += 3;
      return null;
    }
    const key = readString(r, false);
    if (typeof key !== 'string') return key;
    const v = readValue(r, depth + 1);
    if (isError(v)) return v;
    // Keys like __proto__ must not reach the prototype.
    Object.defineProperty(out, key, { value: v as AmfValue, enumerable: true, writable: true, configurable: true });
  }
}

function readValue(r: Reader, depth: number): AmfValue | AmfError {
  if (depth > MAX_DEPTH) return { error: 'nesting too deep' };
  if (r.pos >= r.b.length) return { error: 'truncated value' };
  const marker = r.b[r.pos++];
  switch (marker) {
    case 0: {
      if (r.pos + 8 > r.b.length) return { error: 'truncated number' };
      const v = new DataView(r.b.buffer, r.b.byteOffset + r.pos, 8).getFloat64(0);
      r.pos += 8;
      return v;
    }
    case 1:
      if (r.pos >= r.b.length) return { error: 'truncated boolean' };
      return r.b[r.pos++] !== 0;
    case 2:
      return readString(r, false);
    case 12:
      return readString(r, true);
    case 3: {
      const o: AmfObject = {};
      const e = readProperties(r, depth, o);
      return e === null ? o : e;
    }
    case 8: {
      // ECMA array: a count (advisory, often wrong), then properties.
      if (r.pos + 4 > r.b.length) return { error: 'truncated array count' };
      r.pos += 4;
      const o: AmfObject = {};
      const e = readProperties(r, depth, o);
      return e === null ? o : e;
    }
    case 10: {
      if (r.pos + 4 > r.b.length) return { error: 'truncated array count' };
      const n = u32(r);
      r.pos += 4;
      if (n > MAX_ITEMS) return { error: 'array too long' };
      const a: AmfValue[] = [];
      for (let i = 0; i < n; i++) {
        const v = readValue(r, depth + 1);
        if (isError(v)) return v;
        a.push(v as AmfValue);
      }
      return a;
    }
    case 5:
      return null;
    case 6:
      return undefined;
    case 11: {
      if (r.pos + 10 > r.b.length) return { error: 'truncated date' };
      const v = new DataView(r.b.buffer, r.b.byteOffset + r.pos, 8).getFloat64(0);
      r.pos += 10;
      return v;
    }
    default:
      return { error: 'unsupported AMF0 type ' + marker };
  }
}

/**
 * Decode the values of b from `start` on, with where each begins: a command
 * body is rewritten in place (a stream key cut out of a name), which needs
 * the name's byte offsets, not a re-encoding (that would change ECMA arrays
 * into objects and dates into numbers).
 */
export function decodeFrom(b: Uint8Array, start: number): { values: AmfValue[]; starts: number[] } | AmfError {
  const r: Reader = { b: b, pos: start };
  const values: AmfValue[] = [];
  const starts: number[] = [];
  while (r.pos < b.length) {
    if (values.length >= 64) return { error: 'too many values' };
    starts.push(r.pos);
    const v = readValue(r, 0);
    if (isError(v)) return v;
    values.push(v as AmfValue);
  }
  starts.push(r.pos);
  return { values: values, starts: starts };
}

/**
 * The keys of the object (or ECMA array) whose marker is at b[at], in order,
 * repeats included, each with where its value begins; null when there is
 * none there or it cannot be read. The decoder keeps the last of a repeated
 * key, nginx-rtmp the first: callers refuse repeats of keys that matter.
 */
export function objectKeys(b: Uint8Array, at: number): { key: string; at: number }[] | null {
  if (at >= b.length || (b[at] !== 3 && b[at] !== 8)) return null;
  const r: Reader = { b: b, pos: at + (b[at] === 8 ? 5 : 1) };
  const out: { key: string; at: number }[] = [];
  for (let n = 0; n <= MAX_ITEMS; n++) {
    if (r.pos + 3 > b.length) return null;
    if (b[r.pos] === 0 && b[r.pos + 1] === 0 && b[r.pos + 2] === 9) return out;
    const key = readString(r, false);
    if (typeof key !== 'string') return null;
    out.push({ key: key, at: r.pos });
    if (isError(readValue(r, 1))) return null;
  }
  return null;
}

/** Decode every value in a message body (a command: name, transaction id, args...). */
export function decodeAll(b: Uint8Array): AmfValue[] | AmfError {
  const d = decodeFrom(b, 0);
  return isError(d) ? d : (d as { values: AmfValue[] }).values;
}

function pushU16(out: number[], n: number): void {
  out.push((n >> 8) & 0xff, n & 0xff);
}

function encodeValue(v: AmfValue, out: number[]): void {
  if (typeof v === 'number') {
    const dv = new DataView(new ArrayBuffer(8));
    dv.setFloat64(0, v);
    out.push(0);
    for (let i = 0; i < 8; i++) out.push(dv.getUint8(i));
  } else if (typeof v === 'boolean') out.push(1, v ? 1 : 0);
  else if (typeof v === 'string') {
    const s = utf8Encode(v);
    out.push(2);
    pushU16(out, s.length);
    for (let i = 0; i < s.length; i++) out.push(s[i]);
  } else if (v === null) out.push(5);
  else if (v === undefined) out.push(6);
  else if (Array.isArray(v)) {
    out.push(10, (v.length >>> 24) & 0xff, (v.length >>> 16) & 0xff, (v.length >>> 8) & 0xff, v.length & 0xff);
    for (let i = 0; i < v.length; i++) encodeValue(v[i], out);
  } else {
    out.push(3);
    const keys = Object.keys(v);
    for (let i = 0; i < keys.length; i++) {
      const k = utf8Encode(keys[i]);
      pushU16(out, k.length);
      for (let j = 0; j < k.length; j++) out.push(k[j]);
      encodeValue(v[keys[i]], out);
    }
    out.push(0, 0, 9);
  }
}

export function encodeAll(values: AmfValue[]): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) encodeValue(values[i], out);
  return new Uint8Array(out);
}
