/**
 * RTMP chunk stream reader and writer (pure logic; Node and njs).
 * Spec: Adobe RTMP 1.0, section 5.3 (chunking) and 5.4 (control messages).
 * https://rtmp.veriskope.com/docs/spec/
 *
 * The reader is incremental: feed it bytes as they arrive (one at a time if
 * need be) and it returns the messages completed so far. Hostile input gets
 * an error value: unsupported version, absurd chunk or message sizes, more
 * than a bounded number of chunk streams.
 */

export interface RtmpMessage {
  csid: number;
  type: number;
  streamId: number;
  timestamp: number;
  body: Uint8Array;
}

interface ChunkStream {
  timestamp: number;
  delta: number;
  length: number;
  type: number;
  streamId: number;
  extended: boolean;
  body: Uint8Array | null;
  got: number;
  seen: boolean;
}

export interface Limits {
  /** Largest message accepted (commands before publish are small). */
  maxMessage: number;
  /** Largest Set Chunk Size accepted. */
  maxChunkSize: number;
  /** Most chunk streams in use at once. */
  maxChunkStreams: number;
}

export const DEFAULT_LIMITS: Limits = { maxMessage: 64 * 1024, maxChunkSize: 65536, maxChunkStreams: 16 };

/** Handshake bytes each side sends before chunks: C0/S0 (1) + C1/S1 (1536) + C2/S2 (1536). */
export const HANDSHAKE_BYTES = 1 + 1536 + 1536;

export interface Reader {
  limits: Limits;
  handshakeLeft: number;
  chunkSize: number;
  pending: Uint8Array;
  streams: { [csid: string]: ChunkStream };
  streamCount: number;
  /** Chunk streams with a message begun but not complete. */
  partial: number;
  error: string | null;
}

export function newReader(limits?: Limits): Reader {
  return {
    limits: limits || DEFAULT_LIMITS,
    handshakeLeft: HANDSHAKE_BYTES,
    chunkSize: 128,
    pending: new Uint8Array(0),
    streams: {},
    streamCount: 0,
    partial: 0,
    error: null,
  };
}

/** True when no message is half-received: a safe point to forward or inject. */
export function atBoundary(r: Reader): boolean {
  return r.handshakeLeft === 0 && r.partial === 0 && r.pending.length === 0;
}

/**
 * A copy of some bytes. Not TypedArray.prototype.slice: on njs 0.7.9, slice
 * of a subarray view ignores the view's offset and copies the wrong bytes
 * (test/njs runs the reader in the real njs to keep it honest).
 */
export function copyBytes(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  out.set(b, 0);
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Big-endian 24 and 32 bits (chunk headers, control messages). */
export function u24(b: Uint8Array, i: number): number {
  return (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
}

export function u32be(b: Uint8Array, i: number): number {
  return ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
}

/** The size a Set Chunk Size message (type 1, section 5.4.1) sets: 31 bits. */
export function chunkSizeOf(body: Uint8Array): number {
  return body.length < 4 ? 0 : u32be(body, 0) & 0x7fffffff;
}

function fail(r: Reader, why: string): { messages: RtmpMessage[]; error: string } {
  r.error = why;
  return { messages: [], error: why };
}

/** Feed bytes; returns the messages they completed, or an error (final). */
export function feed(r: Reader, data: Uint8Array): { messages: RtmpMessage[]; error: string | null } {
  if (r.error) return { messages: [], error: r.error };
  let b = concat(r.pending, data);
  let pos = 0;
  const messages: RtmpMessage[] = [];
  if (r.handshakeLeft > 0) {
    // C0: version 3 is plain RTMP; 6 is RTMPE (encrypted), which we cannot read.
    if (r.handshakeLeft === HANDSHAKE_BYTES && b.length > 0 && b[0] !== 3) return fail(r, 'unsupported RTMP version ' + b[0]);
    const n = Math.min(r.handshakeLeft, b.length);
    r.handshakeLeft -= n;
    pos = n;
  }
  while (r.handshakeLeft === 0 && pos < b.length) {
    // Basic header: fmt (2 bits) and chunk stream id (6 bits, or 1-2 more bytes).
    const fmt = b[pos] >> 6;
    let csid = b[pos] & 0x3f;
    let h = 1;
    if (csid === 0) {
      if (pos + 2 > b.length) break;
      csid = 64 + b[pos + 1];
      h = 2;
    } else if (csid === 1) {
      if (pos + 3 > b.length) break;
      csid = 64 + b[pos + 1] + b[pos + 2] * 256;
      h = 3;
    }
    const mh = fmt === 0 ? 11 : fmt === 1 ? 7 : fmt === 2 ? 3 : 0;
    if (pos + h + mh > b.length) break;
    let cs = r.streams[csid];
    if (!cs) {
      if (fmt !== 0) return fail(r, 'chunk stream ' + csid + ' starts without a full header');
      if (r.streamCount >= r.limits.maxChunkStreams) return fail(r, 'too many chunk streams');
      cs = { timestamp: 0, delta: 0, length: 0, type: 0, streamId: 0, extended: false, body: null, got: 0, seen: false };
      r.streams[csid] = cs;
      r.streamCount++;
    }
    const m = pos + h;
    let tsField = 0;
    let length = cs.length;
    let type = cs.type;
    let streamId = cs.streamId;
    if (fmt <= 2) tsField = u24(b, m);
    if (fmt <= 1) {
      length = u24(b, m + 3);
      type = b[m + 6];
    }
    if (fmt === 0) streamId = b[m + 7] | (b[m + 8] << 8) | (b[m + 9] << 16) | ((b[m + 10] << 24) >>> 0);
    // Extended timestamp: when the field is 0xFFFFFF, and on type-3 chunks of
    // a stream whose last header had one (as librtmp and ffmpeg write them).
    const extended = fmt <= 2 ? tsField === 0xffffff : cs.extended;
    let p = m + mh;
    let ext = 0;
    if (extended) {
      if (p + 4 > b.length) break;
      ext = u32be(b, p);
      p += 4;
    }
    if (fmt <= 1 && length > r.limits.maxMessage) return fail(r, 'message of ' + length + ' bytes is larger than allowed before publish');
    const beginning = cs.body === null;
    const payload = Math.min(r.chunkSize, (beginning ? length : cs.length - cs.got));
    if (p + payload > b.length) break;
    // The whole chunk is here: commit its header.
    const tsValue = extended ? ext : tsField;
    if (fmt === 0) {
      cs.timestamp = tsValue;
      cs.delta = 0;
    } else if (fmt <= 2) {
      cs.delta = tsValue;
      if (beginning) cs.timestamp = (cs.timestamp + tsValue) >>> 0;
    } else if (beginning && cs.seen) {
      cs.timestamp = (cs.timestamp + cs.delta) >>> 0;
    }
    if (fmt <= 2) cs.extended = extended;
    cs.length = length;
    cs.type = type;
    cs.streamId = streamId;
    cs.seen = true;
    if (!beginning && fmt <= 1) return fail(r, 'new message header on chunk stream ' + csid + ' before its message ended');
    if (beginning) {
      cs.body = new Uint8Array(length);
      cs.got = 0;
      if (length > 0) r.partial++;
    }
    cs.body!.set(b.subarray(p, p + payload), cs.got);
    cs.got += payload;
    pos = p + payload;
    if (cs.got === cs.length) {
      const msg: RtmpMessage = { csid: csid, type: cs.type, streamId: cs.streamId, timestamp: cs.timestamp, body: cs.body! };
      cs.body = null;
      cs.got = 0;
      if (length > 0) r.partial--;
      if (msg.type === 1) {
        // Set Chunk Size (5.4.1): 31 bits; applies to the chunks that follow.
        if (msg.body.length < 4) return fail(r, 'short Set Chunk Size');
        const size = chunkSizeOf(msg.body);
        if (size < 1 || size > r.limits.maxChunkSize) return fail(r, 'chunk size ' + size + ' out of range');
        r.chunkSize = size;
      } else if (msg.type === 2 && msg.body.length >= 4) {
        // Abort (5.4.2): drop the partial message of that chunk stream.
        const a = r.streams[u32be(msg.body, 0)];
        if (a && a.body) {
          a.body = null;
          a.got = 0;
          r.partial--;
        }
      }
      messages.push(msg);
    }
  }
  r.pending = copyBytes(b.subarray(pos));
  return { messages: messages, error: null };
}

/**
 * Chunk one message: a type-0 header on its chunk stream, then type-3
 * continuations every `chunkSize` bytes (extended timestamp repeated on each,
 * as librtmp and ffmpeg expect).
 */
export function writeMessage(m: RtmpMessage, chunkSize: number): Uint8Array {
  const out: number[] = [];
  const basic = (fmt: number) => {
    if (m.csid < 64) out.push((fmt << 6) | m.csid);
    else if (m.csid < 320) out.push(fmt << 6, m.csid - 64);
    else out.push((fmt << 6) | 1, (m.csid - 64) & 0xff, ((m.csid - 64) >> 8) & 0xff);
  };
  const ext = m.timestamp >= 0xffffff;
  const ts = ext ? 0xffffff : m.timestamp;
  const len = m.body.length;
  basic(0);
  out.push((ts >> 16) & 0xff, (ts >> 8) & 0xff, ts & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff, m.type);
  out.push(m.streamId & 0xff, (m.streamId >> 8) & 0xff, (m.streamId >> 16) & 0xff, (m.streamId >>> 24) & 0xff);
  const extBytes = [(m.timestamp >>> 24) & 0xff, (m.timestamp >> 16) & 0xff, (m.timestamp >> 8) & 0xff, m.timestamp & 0xff];
  if (ext) out.push(extBytes[0], extBytes[1], extBytes[2], extBytes[3]);
  for (let i = 0; i < len; i += chunkSize) {
    if (i > 0) {
      basic(3);
      if (ext) out.push(extBytes[0], extBytes[1], extBytes[2], extBytes[3]);
    }
    const end = Math.min(len, i + chunkSize);
    for (let j = i; j < end; j++) out.push(m.body[j]);
  }
  return new Uint8Array(out);
}
