/**
 * What an RTMP origin executes, read from the bytes the edge forwards the
 * way nginx-rtmp reads them (ngx_rtmp_handler.c, ngx_rtmp_receive.c), not
 * the way the edge's own reader does, so that a divergence shows:
 * - chunks: a Set Chunk Size is read from its first chunk only, as 32 bits,
 *   and ignored above 10485760 (ngx_rtmp_set_chunk_size's error is dropped);
 * - dispatch: every message of types 15-20 by its first string (typeless in
 *   shared-object messages, one skipped byte in AMF3 ones), lowercased and
 *   cut at a NUL and at 127 bytes; aggregate (22) sub-messages like
 *   messages of their own; play2's name is its object's streamName, the
 *   first one (nginx-rtmp skips a value of another type).
 * Tests judge the edge against it.
 */
import { decodeFrom, objectKeys } from '../../njs/amf0.ts';

export interface Executed {
  command: string;
  name: string | null;
}

function firstString(b: Uint8Array, at: number, key: string): string | null {
  const keys = objectKeys(b, at);
  if (!keys) return null;
  for (const k of keys) {
    if (k.key !== key || b[k.at] !== 2) continue;
    const len = (b[k.at + 1] << 8) | b[k.at + 2];
    return Buffer.from(b.subarray(k.at + 3, k.at + 3 + len)).toString('utf8');
  }
  return null;
}

function dispatch(type: number, b: Uint8Array, out: Executed[]): void {
  if (type === 22) {
    let p = 0;
    while (p + 11 <= b.length) {
      const t = b[p];
      const len = (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
      dispatch(t, b.subarray(p + 11, p + 11 + len), out);
      p += 11 + len + 4;
    }
    return;
  }
  if (type < 15 || type > 20) return;
  let p = type === 15 || type === 16 || type === 17 ? 1 : 0;
  if (type !== 16 && type !== 19) {
    if (b[p] !== 2) return;
    p++;
  }
  if (p + 2 > b.length) return;
  const len = (b[p] << 8) | b[p + 1];
  p += 2;
  let end = p;
  while (end < p + len && end < p + 127 && end < b.length && b[end] !== 0) end++;
  const command = Buffer.from(b.subarray(p, end)).toString('latin1').toLowerCase();
  const d = decodeFrom(b, Math.min(b.length, p + len));
  const values = 'error' in d ? [] : d.values;
  const cstr = (v: unknown) => (typeof v === 'string' ? v.split('\0')[0] : null);
  if (command === 'publish' || command === 'play') out.push({ command, name: cstr(values[2]) ?? '' });
  else if (command === 'play2') out.push({ command, name: 'error' in d ? '' : cstr(firstString(b, d.starts[2], 'streamName')) ?? '' });
  else if (command === 'connect') out.push({ command, name: null });
}

export function originModel() {
  const executed: Executed[] = [];
  let buf: number[] = [];
  let hs = 3073;
  let chunk = 128;
  const st: Record<number, { mlen: number; type: number; ext: boolean; len: number; body: number[]; first: number }> = {};
  const step = (): boolean => {
    if (buf.length < 1) return false;
    const fmt = buf[0] >> 6;
    let csid = buf[0] & 0x3f;
    let p = 1;
    if (csid === 0) {
      if (buf.length < 2) return false;
      csid = 64 + buf[1];
      p = 2;
    } else if (csid === 1) {
      if (buf.length < 3) return false;
      csid = 64 + buf[1] + 256 * buf[2];
      p = 3;
    }
    const s = st[csid] ?? (st[csid] = { mlen: 0, type: 0, ext: false, len: 0, body: [], first: 0 });
    let ext = s.ext;
    let mlen = s.mlen;
    let type = s.type;
    if (fmt <= 2) {
      if (buf.length < p + 3) return false;
      ext = ((buf[p] << 16) | (buf[p + 1] << 8) | buf[p + 2]) === 0xffffff;
      p += 3;
      if (fmt <= 1) {
        if (buf.length < p + 4) return false;
        mlen = (buf[p] << 16) | (buf[p + 1] << 8) | buf[p + 2];
        type = buf[p + 3];
        p += 4;
        if (fmt === 0) {
          if (buf.length < p + 4) return false;
          p += 4;
        }
      }
    }
    if (ext) {
      if (buf.length < p + 4) return false;
      p += 4;
    }
    const fsize = mlen - s.len;
    const need = Math.min(fsize, chunk);
    if (buf.length < p + need) return false;
    s.mlen = mlen;
    s.type = type;
    if (s.len === 0) {
      s.ext = ext;
      s.body = [];
    }
    const payload = buf.slice(p, p + need);
    if (s.len === 0) s.first = payload.length;
    s.body.push(...payload);
    buf = buf.slice(p + need);
    if (fsize > chunk) {
      s.len += chunk;
      return true;
    }
    s.len = 0;
    const body = Uint8Array.from(s.body);
    if (s.type === 1) {
      if (s.first >= 4) {
        const val = ((body[0] << 24) >>> 0) + ((body[1] << 16) | (body[2] << 8) | body[3]);
        if (val <= 10485760) chunk = val;
      }
    } else dispatch(s.type, body, executed);
    return true;
  };
  return {
    executed,
    feed(b: Uint8Array) {
      let i = 0;
      if (hs > 0) {
        const k = Math.min(hs, b.length);
        hs -= k;
        i = k;
      }
      for (let k = i; k < b.length; k++) buf.push(b[k]);
      while (step()) {
        /* next chunk */
      }
    },
  };
}
