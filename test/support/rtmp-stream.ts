/** Builds client-side RTMP byte streams for tests: handshake, chunks, AMF0 commands. */
import { encodeAll, type AmfValue } from '../../njs/amf0.ts';

export function handshake(): number[] {
  const out = [3];
  for (let i = 0; i < 1536 * 2; i++) out.push((i * 7) & 0xff);
  return out;
}

export interface ChunkSpec {
  fmt: 0 | 1 | 2 | 3;
  csid: number;
  /** Absolute timestamp (fmt 0) or delta (fmt 1, 2); written extended when >= 0xFFFFFF. */
  ts?: number;
  length?: number;
  type?: number;
  streamId?: number;
  /** Repeat the extended timestamp on a type-3 chunk. */
  ext?: number;
  payload: number[];
}

export function chunk(c: ChunkSpec): number[] {
  const out: number[] = [];
  if (c.csid < 64) out.push((c.fmt << 6) | c.csid);
  else if (c.csid < 320) out.push(c.fmt << 6, c.csid - 64);
  else out.push((c.fmt << 6) | 1, (c.csid - 64) & 0xff, (c.csid - 64) >> 8);
  const ts = c.ts ?? 0;
  const field = ts >= 0xffffff ? 0xffffff : ts;
  if (c.fmt <= 2) out.push((field >> 16) & 0xff, (field >> 8) & 0xff, field & 0xff);
  if (c.fmt <= 1) {
    const l = c.length ?? c.payload.length;
    out.push((l >> 16) & 0xff, (l >> 8) & 0xff, l & 0xff, c.type ?? 20);
  }
  if (c.fmt === 0) {
    const s = c.streamId ?? 0;
    out.push(s & 0xff, (s >> 8) & 0xff, (s >> 16) & 0xff, (s >>> 24) & 0xff);
  }
  const ext = c.fmt <= 2 ? (ts >= 0xffffff ? ts : null) : c.ext ?? null;
  if (ext !== null) out.push((ext >>> 24) & 0xff, (ext >> 16) & 0xff, (ext >> 8) & 0xff, ext & 0xff);
  out.push(...c.payload);
  return out;
}

/** One message as fmt-0 + fmt-3 chunks of `size`. */
export function message(csid: number, type: number, streamId: number, body: number[], size = 128, ts = 0): number[] {
  const out: number[] = [];
  for (let i = 0; i < Math.max(1, body.length); i += size) {
    const part = body.slice(i, i + size);
    out.push(...(i === 0 ? chunk({ fmt: 0, csid, ts, length: body.length, type, streamId, payload: part }) : chunk({ fmt: 3, csid, ext: ts >= 0xffffff ? ts : undefined, payload: part })));
  }
  return out;
}

export const amf = (...v: AmfValue[]): number[] => Array.from(encodeAll(v));

export function setChunkSize(n: number): number[] {
  return message(2, 1, 0, [(n >>> 24) & 0x7f, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

/** What ffmpeg sends to publish `name` on `app`, with chunk size `size`. */
export function publishSession(app: string, name: string, size = 4096): number[] {
  return [
    ...handshake(),
    ...setChunkSize(size),
    ...message(3, 20, 0, amf('connect', 1, { app, flashVer: 'FMLE/3.0', tcUrl: `rtmp://127.0.0.1/${app}`, type: 'nonprivate' }), size),
    ...message(3, 20, 0, amf('releaseStream', 2, null, name), size),
    ...message(3, 20, 0, amf('FCPublish', 3, null, name), size),
    ...message(3, 20, 0, amf('createStream', 4, null), size),
    ...message(8, 20, 1, amf('publish', 5, null, name, 'live'), size),
  ];
}
