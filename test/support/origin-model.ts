/**
 * What an RTMP origin executes, read from the bytes the edge forwards, the
 * way nginx-rtmp dispatches them (ngx_rtmp_receive.c): every message of
 * types 15-20 by its first string (typeless in shared-object messages, one
 * skipped byte in AMF3 ones), lowercased and cut at a NUL; aggregate (22)
 * sub-messages like messages of their own. Tests judge the edge against it.
 */
import { decodeFrom, type AmfObject } from '../../njs/amf0.ts';
import { feed, newReader, type RtmpMessage } from '../../njs/rtmp.ts';

export interface Executed {
  command: string;
  name: string | null;
  app?: string;
}

function dispatch(m: { type: number; body: Uint8Array }, out: Executed[]): void {
  if (m.type === 22) {
    let p = 0;
    const b = m.body;
    while (p + 11 <= b.length) {
      const type = b[p];
      const len = (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
      dispatch({ type, body: b.subarray(p + 11, p + 11 + len) }, out);
      p += 11 + len + 4;
    }
    return;
  }
  if (m.type < 15 || m.type > 20) return;
  let p = m.type === 15 || m.type === 16 || m.type === 17 ? 1 : 0;
  const b = m.body;
  if (m.type !== 16 && m.type !== 19) {
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
  else if (command === 'play2') out.push({ command, name: cstr((values[2] as AmfObject | undefined)?.streamName) ?? '' });
  else if (command === 'connect') out.push({ command, name: null, app: cstr((values[1] as AmfObject | undefined)?.app) ?? '' });
}

export function originModel() {
  const reader = newReader({ maxMessage: 1 << 24, maxChunkSize: 1 << 24, maxChunkStreams: 1 << 16 });
  const executed: Executed[] = [];
  let error: string | null = null;
  return {
    executed,
    get error() {
      return error;
    },
    feed(bytes: Uint8Array) {
      if (error) return;
      const r = feed(reader, bytes);
      if (r.error) error = r.error;
      r.messages.forEach((m: RtmpMessage) => dispatch(m, executed));
    },
  };
}
