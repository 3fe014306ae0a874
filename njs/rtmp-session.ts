/**
 * The client side of one RTMP session, judged as the origin will read it
 * (pure logic; Node and njs). The stream filter (./stream.ts) feeds it every
 * byte the client sends, for the whole session, and forwards what it
 * returns; it never steps aside, because any later message can start a
 * publish or a play.
 *
 * What the origin acts on, from nginx-rtmp's source (ngx_rtmp_receive.c,
 * ngx_rtmp_amf_message_handler; ngx_rtmp_handler.c) and Wowza's docs:
 * - messages of types 15-20 are all dispatched by their first string, the
 *   "command name": AMF0 commands (20), AMF3 commands (17: one byte of any
 *   value, then AMF0), data (18, 15) and shared-object messages (19, 16,
 *   whose name has no type marker). nginx-rtmp lowercases the name and reads
 *   it as a C string (a NUL ends it, 127 bytes at most), so `Publish`,
 *   `PUBLISH` and `publish\0x` all start a publish;
 * - an aggregate message (22) carries sub-messages of any type, each
 *   dispatched like a message of its own;
 * - `publish`, `play` and `play2` (whose name is the `streamName` of an
 *   object) start a stream; `connect` names the application, which
 *   nginx-rtmp reads up to `?`, without a trailing `/` or `/_definst_`, and
 *   Wowza up to its first `/` (the rest is the instance);
 * - Abort (2) is ignored by nginx-rtmp and honoured by others, so a client
 *   that aborts a message in progress is refused: the two readings differ.
 *
 * So: every message of those types is read whole before any byte of it is
 * forwarded; every publish/play/play2, of any spelling, on any stream id, at
 * any time, is handed to the caller to decide (`ask`), and nothing after it
 * is forwarded until it is decided; names with NUL, control characters or
 * invalid UTF-8 are refused, not normalised; media before the first allowed
 * publish or play is refused. Audio and video (8, 9) and the small control
 * messages pass as they are, without being copied: only chunk headers are
 * read, so the framing the origin sees is the client's own.
 *
 * Keys are cut out of stream names in place: the shorter name is followed by
 * as many AMF0 nulls as it lost bytes, so every chunk header stays true
 * (a null reads as an absent optional argument in nginx-rtmp's reader).
 *
 * Spec: Adobe RTMP 1.0, sections 5.3 (chunks), 5.4 (control), 7.1 (message
 * types), 7.2 (commands). https://rtmp.veriskope.com/docs/spec/
 */
import { decodeFrom, objectKeys, type AmfObject, type AmfValue } from './amf0';
import { chunkSizeOf, copyBytes, HANDSHAKE_BYTES, u24, u32be } from './rtmp';
import { utf8Decode, utf8Encode } from './utf8';

/** A publish or play the caller must decide before anything after it is forwarded. */
export interface Ask {
  /** `play2` counts as play. */
  kind: 'publish' | 'play';
  /** The application as the origin resolves it: before `?` and the first `/`. */
  app: string;
  tcUrl: string;
  flashVer: string;
  /** The stream name with its query (the key), as sent. */
  name: string;
  streamId: number;
}

export interface Refusal {
  code: string;
  reason: string;
  streamId: number;
  stream: string;
}

export interface Step {
  /** Client bytes to forward to the origin, in order. */
  out: Uint8Array[];
  ask: Ask | null;
  refuse: Refusal | null;
}

export interface SessionLimits {
  /** Most client bytes (after the handshake) before the first allowed publish or play. */
  preauthBytes: number;
  /** Most bytes held while a decision is pending once the session is live. */
  liveHeldBytes: number;
}

/** Largest command, data or shared-object message read (commands are small). */
export const MAX_COMMAND = 65536;
/** Largest aggregate message read (nginx-rtmp's max_message is 1 MB). */
export const MAX_AGGREGATE = 1 << 20;
/** Largest audio/video message (only counted, never held). */
export const MAX_MEDIA = 1 << 24;
/** Largest Set Chunk Size accepted: below nginx-rtmp's 10485760, which it would ignore. */
export const MAX_CHUNK_SIZE = 1 << 20;
export const MAX_CHUNK_STREAMS = 64;

interface Cs {
  timestamp: number;
  delta: number;
  length: number;
  type: number;
  streamId: number;
  extended: boolean;
  /** Payload bytes of the current message so far; -1: no message open. */
  got: number;
  /** Assembled body (read types only). */
  body: Uint8Array | null;
  /** Window indices of this message's payload pieces (held types only). */
  pieces: number[];
  held: boolean;
  /** The byte a type-3 chunk header of this chunk stream is (csid < 64), else -1. */
  hb: number;
}

interface Held {
  type: number;
  streamId: number;
  body: Uint8Array;
  pieces: number[];
}

/** One direction's chunk framing: enough to know where every chunk starts. */
export interface Framing {
  handshakeLeft: number;
  chunkSize: number;
  streams: { [csid: string]: Cs };
  streamCount: number;
  /** Header bytes of a chunk whose header is not complete yet. */
  carry: Uint8Array;
  cur: Cs | null;
  /** Payload bytes left in the current chunk. */
  curLeft: number;
  /** Read command types (the client side) or only Set Chunk Size (the origin's side). */
  client: boolean;
}

export interface Session {
  f: Framing;
  limits: SessionLimits;
  /** Allowed to publish or play: media may flow. */
  live: boolean;
  connected: boolean;
  app: string;
  tcUrl: string;
  flashVer: string;
  /** Client bytes after the handshake, counted until live. */
  counted: number;
  /** Holding from the first chunk of a read message until none is open. */
  holding: boolean;
  open: number;
  window: Uint8Array[];
  windowBytes: number;
  /** Declared bytes of the read messages now open. */
  declared: number;
  cmds: Held[];
  /** Next command of the window to judge. */
  next: number;
  /** The ask waiting for resume(); what it rewrites when allowed. */
  pending: { ask: Ask; rewrite: Uint8Array | null; cmd: Held } | null;
  /** Client bytes not scanned yet (arrived while deciding). */
  backlog: Uint8Array[];
  backlogBytes: number;
  error: Refusal | null;
}

export function newFraming(client: boolean): Framing {
  return { handshakeLeft: HANDSHAKE_BYTES, chunkSize: 128, streams: {}, streamCount: 0, carry: new Uint8Array(0), cur: null, curLeft: 0, client: client };
}

export function newSession(limits: SessionLimits): Session {
  return {
    f: newFraming(true),
    limits: limits,
    live: false,
    connected: false,
    app: '',
    tcUrl: '',
    flashVer: '',
    counted: 0,
    holding: false,
    open: 0,
    window: [],
    windowBytes: 0,
    declared: 0,
    cmds: [],
    next: 0,
    pending: null,
    backlog: [],
    backlogBytes: 0,
    error: null,
  };
}

/** Types whose messages are read whole: the origin dispatches them by name (or they hold sub-messages). */
export function isCommandType(t: number): boolean {
  return (t >= 15 && t <= 20) || t === 22;
}

function isMedia(t: number): boolean {
  return t === 8 || t === 9;
}

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Where a chunk stream's last message or chunk ended: a message may be injected there. */
export function atChunkBoundary(f: Framing): boolean {
  return f.handshakeLeft === 0 && f.curLeft === 0 && f.carry.length === 0;
}

/** A chunk stream id no message is open on, for a message of our own. */
export function freeCsid(f: Framing): number {
  const pick = [5, 3, 4, 6, 7, 8, 60, 61, 62, 63];
  for (let i = 0; i < pick.length; i++) {
    const cs = f.streams[pick[i]];
    if (!cs || cs.got < 0) return pick[i];
  }
  return 63;
}

interface Header {
  fmt: number;
  csid: number;
  /** Header length in bytes, extended timestamp included. */
  len: number;
  ts: number;
  length: number;
  type: number;
  streamId: number;
  extended: boolean;
}

/** Parse a chunk header at b[p]; null when it is not all there. */
function parseHeader(f: Framing, b: Uint8Array, p: number, h: Header): boolean {
  const n = b.length - p;
  if (n < 1) return false;
  const fmt = b[p] >> 6;
  let csid = b[p] & 0x3f;
  let bl = 1;
  if (csid === 0) {
    if (n < 2) return false;
    csid = 64 + b[p + 1];
    bl = 2;
  } else if (csid === 1) {
    if (n < 3) return false;
    csid = 64 + b[p + 1] + b[p + 2] * 256;
    bl = 3;
  }
  const mh = fmt === 0 ? 11 : fmt === 1 ? 7 : fmt === 2 ? 3 : 0;
  if (n < bl + mh) return false;
  const cs = f.streams[csid];
  const m = p + bl;
  h.fmt = fmt;
  h.csid = csid;
  h.ts = fmt <= 2 ? u24(b, m) : 0;
  h.length = fmt <= 1 ? u24(b, m + 3) : cs ? cs.length : 0;
  h.type = fmt <= 1 ? b[m + 6] : cs ? cs.type : 0;
  h.streamId = fmt === 0 ? b[m + 7] | (b[m + 8] << 8) | (b[m + 9] << 16) | ((b[m + 10] << 24) >>> 0) : cs ? cs.streamId : 0;
  // Extended timestamp: when the field is 0xFFFFFF, and on type-3 chunks of
  // a stream whose last header had one (as nginx-rtmp, librtmp and ffmpeg read them).
  h.extended = fmt <= 2 ? h.ts === 0xffffff : cs ? cs.extended : false;
  h.len = bl + mh + (h.extended ? 4 : 0);
  if (n < h.len) return false;
  if (h.extended) h.ts = u32be(b, m + mh);
  return true;
}

/**
 * The chunk header at data[pos], joined to the bytes of it carried from the
 * previous buffer (a header is at most 18 bytes); false when it is not all
 * there yet, and then what there is is carried.
 */
function headerAt(f: Framing, data: Uint8Array, pos: number, h: Header): boolean {
  const carried = f.carry.length;
  const b = carried ? join(f.carry, data.subarray(pos, Math.min(data.length, pos + 18))) : data;
  if (parseHeader(f, b, carried ? 0 : pos, h)) return true;
  f.carry = copyBytes(carried ? b : data.subarray(pos));
  return false;
}

function refusal(reason: string, streamId?: number, stream?: string, code?: string): Refusal {
  return { code: code || 'NetConnection.Connect.Rejected', reason: reason, streamId: streamId || 0, stream: stream || '-' };
}

/** Bytes a name may not hold: NUL and other controls end or bend C strings and logs. */
function badText(s: string): boolean {
  return /[\u0000-\u001f\u007f\ufffd]/.test(s);
}

/**
 * The command name as the origin dispatches it: the first string (typeless
 * in shared-object messages), cut at a NUL and at 127 bytes, lowercased.
 * `raw` is the name as sent, to refuse controls in it.
 */
export function commandName(type: number, body: Uint8Array): { name: string; raw: string; rest: number } | { error: string } {
  // AMF3 types: one byte of any value first. Shared objects: no marker.
  let p = type === 15 || type === 16 || type === 17 ? 1 : 0;
  const typed = type !== 16 && type !== 19;
  if (p + (typed ? 1 : 0) > body.length) return { error: 'empty message' };
  if (typed) {
    if (body[p] !== 2) return { error: 'command name is not a string' };
    p++;
  }
  if (p + 2 > body.length) return { error: 'truncated command name' };
  const len = (body[p] << 8) | body[p + 1];
  p += 2;
  if (p + len > body.length) return { error: 'truncated command name' };
  const raw = utf8Decode(body, p, p + len) as string;
  let end = p;
  while (end < p + len && end < p + 127 && body[end] !== 0) end++;
  const name = (utf8Decode(body, p, end) as string).toLowerCase();
  return { name: name, raw: raw, rest: p + len };
}

/** The application the origin resolves from a connect's `app`: before `?`, then before the first `/`. */
export function connectApp(app: string): string {
  const q = app.indexOf('?');
  const a = q < 0 ? app : app.slice(0, q);
  const slash = a.indexOf('/');
  return slash < 0 ? a : a.slice(0, slash);
}

/**
 * `body` with the string that starts at `at` (a marker-2 AMF0 string)
 * replaced by `value`, which is shorter, and the difference made up by AMF0
 * nulls at the end: the same length, so no chunk header changes.
 */
export function replaceString(body: Uint8Array, at: number, value: string): Uint8Array | null {
  if (body[at] !== 2 || at + 3 > body.length) return null;
  const oldLen = (body[at + 1] << 8) | body[at + 2];
  const enc = new Uint8Array(utf8Encode(value));
  const lost = oldLen - enc.length;
  if (lost < 0 || at + 3 + oldLen > body.length) return null;
  const out = new Uint8Array(body.length);
  out.set(body.subarray(0, at + 1), 0);
  out[at + 1] = (enc.length >> 8) & 0xff;
  out[at + 2] = enc.length & 0xff;
  out.set(enc, at + 3);
  const tail = body.subarray(at + 3 + oldLen);
  out.set(tail, at + 3 + enc.length);
  for (let i = body.length - lost; i < body.length; i++) out[i] = 5;
  return out;
}

function count(keys: { key: string; at: number }[], k: string): number {
  let n = 0;
  for (let i = 0; i < keys.length; i++) if (keys[i].key === k) n++;
  return n;
}

type Judged = { pass: true; rewrite: Uint8Array | null } | { refuse: Refusal } | { ask: Ask; rewrite: Uint8Array | null };

/** Judge one complete message of a read type. */
export function judge(sess: Session, c: Held): Judged {
  if (c.type === 22) return judgeAggregate(sess, c);
  const cn = commandName(c.type, c.body);
  if ('error' in cn) return { refuse: refusal('malformed command: ' + cn.error, c.streamId) };
  if (badText(cn.raw)) return { refuse: refusal('malformed command name', c.streamId) };
  const name = cn.name;
  const decisive = name === 'publish' || name === 'play' || name === 'play2';
  const d = decodeFrom(c.body, cn.rest);
  if (!decisive && name !== 'connect') {
    // Other commands (releaseStream, FCPublish, getStreamLength...) may
    // carry a stream name with its key: a fourth value with `?` loses its
    // query. Only in commands (20, 17): data and shared-object messages
    // carry the client's own text (captions, cue points).
    if ((c.type !== 20 && c.type !== 17) || 'error' in d || typeof d.values[2] !== 'string' || c.body[d.starts[2]] !== 2) return { pass: true, rewrite: null };
    const v = d.values[2] as string;
    const q0 = v.indexOf('?');
    if (q0 < 0) return { pass: true, rewrite: null };
    const cut = badText(v) ? null : replaceString(c.body, d.starts[2], v.slice(0, q0));
    return cut ? { pass: true, rewrite: cut } : { refuse: refusal('malformed stream name', c.streamId) };
  }
  if ('error' in d) return { refuse: refusal('malformed ' + name + ': ' + d.error, c.streamId) };
  // values[i] is the (i+1)-th value of the command: trans id, null/object, name...
  const values = d.values;
  if (name === 'connect') {
    if (sess.connected) return { refuse: refusal('second connect in one session', c.streamId) };
    const o = values[1] && typeof values[1] === 'object' ? (values[1] as AmfObject) : ({} as AmfObject);
    // nginx-rtmp keeps the first string of a repeated key, the decoder the
    // last value: a repeated or non-string app or tcUrl is refused.
    const keys = objectKeys(c.body, d.starts[1]);
    if (keys === null || count(keys, 'app') > 1 || count(keys, 'tcUrl') > 1) return { refuse: refusal('malformed connect: repeated keys', c.streamId) };
    if ((o.app !== undefined && typeof o.app !== 'string') || (o.tcUrl !== undefined && typeof o.tcUrl !== 'string')) return { refuse: refusal('malformed application name', c.streamId) };
    const app = typeof o.app === 'string' ? o.app : '';
    const tcUrl = typeof o.tcUrl === 'string' ? o.tcUrl : '';
    if (badText(app) || badText(tcUrl)) return { refuse: refusal('malformed application name', c.streamId) };
    sess.connected = true;
    sess.app = connectApp(app);
    sess.tcUrl = tcUrl;
    sess.flashVer = typeof o.flashVer === 'string' && !badText(o.flashVer) ? o.flashVer : '';
    return { pass: true, rewrite: null };
  }
  let nameAt = -1;
  let raw: AmfValue = values[2];
  if (name === 'play2') {
    const o = values[2];
    raw = o && typeof o === 'object' && !Array.isArray(o) ? (o as AmfObject).streamName : undefined;
    // The top-level streamName, found by the decoder (a byte search could
    // hit a nested object or a string); a repeated one is refused.
    const keys = d.starts.length > 3 ? objectKeys(c.body, d.starts[2]) : null;
    if (keys === null || count(keys, 'streamName') !== 1) return { refuse: refusal('malformed play2: no single streamName', c.streamId) };
    for (let i = 0; i < keys.length; i++) if (keys[i].key === 'streamName' && c.body[keys[i].at] === 2) nameAt = keys[i].at;
  } else if (typeof raw === 'string' && c.body[d.starts[2]] === 2) {
    nameAt = d.starts[2];
  }
  // A publish without a readable name would reach the origin as "".
  if (typeof raw !== 'string' || nameAt < 0) return { refuse: refusal('malformed ' + name + ': no stream name', c.streamId) };
  const s = raw as string;
  if (badText(s)) return { refuse: refusal('malformed stream name', c.streamId) };
  const q = s.indexOf('?');
  const rewrite = q < 0 ? null : replaceString(c.body, nameAt, s.slice(0, q));
  if (q >= 0 && rewrite === null) return { refuse: refusal('malformed stream name', c.streamId) };
  return {
    ask: { kind: name === 'publish' ? 'publish' : 'play', app: sess.app, tcUrl: sess.tcUrl, flashVer: sess.flashVer, name: s, streamId: c.streamId },
    rewrite: rewrite,
  };
}

/** Aggregates may carry audio and video only: any other sub-message is dispatched by the origin unseen. */
function judgeAggregate(sess: Session, c: Held): Judged {
  if (!sess.live) return { refuse: refusal('media before publish', c.streamId) };
  const b = c.body;
  let p = 0;
  while (p < b.length) {
    if (p + 11 > b.length) return { refuse: refusal('malformed aggregate message', c.streamId) };
    const type = b[p];
    const len = u24(b, p + 1);
    if (!isMedia(type)) return { refuse: refusal('aggregate message with a message of type ' + type, c.streamId) };
    p += 11 + len + 4;
  }
  if (p !== b.length) return { refuse: refusal('malformed aggregate message', c.streamId) };
  return { pass: true, rewrite: null };
}

function fail(sess: Session, r: Refusal): Step {
  sess.error = r;
  return { out: [], ask: null, refuse: r };
}

/**
 * Feed client bytes. Returns what to forward, and a publish/play to decide
 * (then call resume) or a refusal (final: close the session).
 */
export function feedClient(sess: Session, data: Uint8Array): Step {
  if (sess.error) return { out: [], ask: null, refuse: sess.error };
  if (sess.pending) {
    sess.backlog.push(data);
    sess.backlogBytes += data.length;
    const cap = sess.live ? sess.limits.liveHeldBytes : sess.limits.preauthBytes;
    if (sess.backlogBytes > cap) return fail(sess, refusal(sess.live ? 'too much data while a publish is decided' : 'too much data before publish'));
    return { out: [], ask: null, refuse: null };
  }
  const out: Uint8Array[] = [];
  return scan(sess, data, out);
}

/** The caller's answer to the pending ask. */
export function resume(sess: Session, ok: boolean, reason?: string): Step {
  const p = sess.pending;
  if (!p || sess.error) return { out: [], ask: null, refuse: sess.error };
  sess.pending = null;
  if (!ok) {
    const publish = p.ask.kind === 'publish';
    return fail(sess, refusal(
      (publish ? 'publish refused: ' : 'play refused: ') + (reason || 'refused'),
      p.ask.streamId,
      p.ask.name.split('?')[0],
      publish ? 'NetStream.Publish.BadName' : 'NetStream.Play.Failed',
    ));
  }
  sess.live = true;
  if (p.rewrite) place(sess, p.cmd, p.rewrite);
  const out: Uint8Array[] = [];
  const r = settle(sess, out);
  if (r) return r;
  while (sess.backlog.length && !sess.pending && !sess.error) {
    const next = sess.backlog.shift() as Uint8Array;
    sess.backlogBytes -= next.length;
    const st = scan(sess, next, out);
    if (st.ask || st.refuse) return st;
  }
  return { out: out, ask: null, refuse: null };
}

/** Put a rewritten body back into the window pieces it came in (same total length). */
function place(sess: Session, c: Held, body: Uint8Array): void {
  let o = 0;
  for (let i = 0; i < c.pieces.length; i++) {
    const k = c.pieces[i];
    const n = sess.window[k].length;
    sess.window[k] = copyBytes(body.subarray(o, o + n));
    o += n;
  }
}

/** Judge the window's commands in order; forward the window when all pass. */
function settle(sess: Session, out: Uint8Array[]): Step | null {
  while (sess.next < sess.cmds.length) {
    const c = sess.cmds[sess.next++];
    let j: Judged;
    try {
      j = judge(sess, c);
    } catch (e) {
      // A bug here must never let the command through.
      j = { refuse: refusal('command not understood: ' + String(e), c.streamId) };
    }
    if ('refuse' in j) return fail(sess, j.refuse);
    if ('ask' in j) {
      sess.pending = { ask: j.ask, rewrite: j.rewrite, cmd: c };
      return { out: out, ask: j.ask, refuse: null };
    }
    if (j.rewrite) place(sess, c, j.rewrite);
  }
  for (let i = 0; i < sess.window.length; i++) out.push(sess.window[i]);
  sess.window = [];
  sess.windowBytes = 0;
  sess.cmds = [];
  sess.next = 0;
  sess.holding = false;
  return null;
}

const scratch: Header = { fmt: 0, csid: 0, len: 0, ts: 0, length: 0, type: 0, streamId: 0, extended: false };

/**
 * Scan one buffer of client bytes: raw runs go to `out` (or to the window
 * while holding); read messages are assembled; at each point where no read
 * message is open, the window is judged. Stops at an ask, with the rest of
 * the buffer kept as backlog.
 */
function scan(sess: Session, data: Uint8Array, out: Uint8Array[]): Step {
  const f = sess.f;
  const n = data.length;
  let pos = 0;
  let runFrom = 0;
  const flush = (to: number) => {
    if (to > runFrom) {
      const piece = runFrom === 0 && to === n ? data : data.subarray(runFrom, to);
      if (sess.holding) {
        sess.window.push(piece);
        sess.windowBytes += piece.length;
      } else out.push(piece);
    }
    runFrom = to;
  };
  /** A message ends at pos; an ask there keeps the rest of the buffer for resume(). */
  const completeHere = (cs: Cs): Step | null => {
    const st = complete(sess, cs, out, () => flush(pos));
    if (st && st.ask && pos < n) {
      sess.backlog.unshift(data.subarray(pos));
      sess.backlogBytes += n - pos;
    }
    return st;
  };
  if (f.handshakeLeft > 0 && n > 0) {
    // C0: version 3 is plain RTMP; 6 is RTMPE (encrypted), which cannot be read.
    if (f.handshakeLeft === HANDSHAKE_BYTES && data[0] !== 3) return fail(sess, refusal('malformed RTMP: unsupported RTMP version ' + data[0]));
    const k = Math.min(f.handshakeLeft, n);
    f.handshakeLeft -= k;
    pos = k;
  }
  while (pos < n) {
    if (!sess.live && sess.counted > sess.limits.preauthBytes) return fail(sess, refusal('too much data before publish'));
    if (f.curLeft > 0) {
      const cs = f.cur as Cs;
      if (!cs.body && sess.live && !sess.holding && !cs.extended) {
        // Media (read for its chunk headers only): follow its one-byte
        // type-3 continuation headers in a tight loop, as the general path
        // below would read them. Anything else (another chunk stream, an
        // extended timestamp, a new message) leaves the loop for that path.
        const len = cs.length;
        const size = f.chunkSize;
        const hb = cs.hb;
        let left = f.curLeft;
        let got = cs.got;
        for (;;) {
          const k = left < n - pos ? left : n - pos;
          got += k;
          pos += k;
          left -= k;
          if (left > 0 || got === len || pos >= n || data[pos] !== hb) break;
          pos++;
          left = size < len - got ? size : len - got;
        }
        cs.got = got;
        f.curLeft = left;
        if (left === 0 && got === len) {
          const st = completeHere(cs);
          if (st) return st;
        }
        continue;
      }
      const k = Math.min(f.curLeft, n - pos);
      if (!sess.live) sess.counted += k;
      if (cs.body) {
        cs.body.set(data.subarray(pos, pos + k), cs.got);
        if (cs.held) {
          flush(pos);
          sess.window.push(data.subarray(pos, pos + k));
          sess.windowBytes += k;
          cs.pieces.push(sess.window.length - 1);
          runFrom = pos + k;
        }
      }
      cs.got += k;
      f.curLeft -= k;
      pos += k;
      if (f.curLeft === 0 && cs.got === cs.length) {
        const st = completeHere(cs);
        if (st) return st;
      }
      continue;
    }
    // Held bytes have no backpressure: a message left open cannot hold the rest hostage.
    if (sess.holding && sess.windowBytes + pos - runFrom > (sess.live ? sess.limits.liveHeldBytes : sess.limits.preauthBytes)) return fail(sess, refusal('too much data while a command is incomplete'));
    // A chunk header, perhaps begun in the previous buffer.
    const carried = f.carry.length;
    const h = scratch;
    if (!headerAt(f, data, pos, h)) {
      flush(pos);
      return { out: out, ask: null, refuse: null };
    }
    const headerStart = pos;
    pos += h.len - carried;
    if (!sess.live) sess.counted += h.len;
    let cs = f.streams[h.csid];
    if (!cs) {
      if (h.fmt !== 0) return fail(sess, refusal('malformed RTMP: chunk stream ' + h.csid + ' starts without a full header'));
      if (f.streamCount >= MAX_CHUNK_STREAMS) return fail(sess, refusal('malformed RTMP: too many chunk streams'));
      cs = { timestamp: 0, delta: 0, length: 0, type: 0, streamId: 0, extended: false, got: -1, body: null, pieces: [], held: false, hb: h.csid < 64 ? 0xc0 | h.csid : -1 };
      f.streams[h.csid] = cs;
      f.streamCount++;
    }
    const beginning = cs.got < 0;
    if (!beginning && h.fmt <= 1) return fail(sess, refusal('malformed RTMP: new message header on chunk stream ' + h.csid + ' before its message ended'));
    if (beginning) {
      const t = h.type;
      const max = t === 1 || t === 2 ? 4 : isCommandType(t) ? (t === 22 ? MAX_AGGREGATE : MAX_COMMAND) : MAX_MEDIA;
      if (h.length > max) return fail(sess, refusal('malformed RTMP: message of ' + h.length + ' bytes (type ' + t + ') is larger than allowed'));
      if ((isMedia(t) || t === 22) && !sess.live) return fail(sess, refusal('media before publish', h.streamId));
      if (f.client && isCommandType(t)) {
        // Bodies are allocated as declared: their sum is bounded like held bytes.
        if (sess.declared + h.length > (sess.live ? sess.limits.liveHeldBytes : sess.limits.preauthBytes)) return fail(sess, refusal('too much data while a command is incomplete'));
        sess.declared += h.length;
      }
      // Timestamps as nginx-rtmp keeps them (ngx_rtmp_handler.c).
      if (h.fmt === 0) {
        cs.timestamp = h.ts;
        cs.delta = 0;
      } else if (h.fmt <= 2) {
        cs.delta = h.ts;
        cs.timestamp = (cs.timestamp + h.ts) >>> 0;
      } else {
        cs.timestamp = (cs.timestamp + cs.delta) >>> 0;
      }
      cs.extended = h.extended;
      cs.length = h.length;
      cs.type = t;
      cs.streamId = h.streamId;
      cs.got = 0;
      const read = f.client ? isCommandType(t) || t === 1 || t === 2 : t === 1;
      cs.body = read ? new Uint8Array(h.length) : null;
      cs.held = f.client && isCommandType(t);
      cs.pieces = [];
      if (cs.held) {
        if (!sess.holding) {
          // Everything from this header on waits for the judgement.
          flush(headerStart);
          sess.holding = true;
        }
        sess.open++;
      }
    }
    if (carried) {
      // The carried header bytes were held back: they go where this chunk goes.
      flush(headerStart);
      if (sess.holding) {
        sess.window.push(f.carry);
        sess.windowBytes += f.carry.length;
      } else out.push(f.carry);
      f.carry = new Uint8Array(0);
    }
    f.cur = cs;
    f.curLeft = Math.min(f.chunkSize, cs.length - cs.got);
    if (f.curLeft === 0) {
      // An empty message completes with its header.
      const st = completeHere(cs);
      if (st) return st;
    }
  }
  flush(n);
  return { out: out, ask: null, refuse: null };
}

/** A message is complete: control effects now, commands into the window (judged when none is open). */
function complete(sess: Session, cs: Cs, out: Uint8Array[], flushHere: () => void): Step | null {
  const f = sess.f;
  const body = cs.body;
  const type = cs.type;
  const held = cs.held;
  const pieces = cs.pieces;
  cs.got = -1;
  cs.body = null;
  cs.held = false;
  cs.pieces = [];
  f.cur = null;
  if (type === 1 && body && f.client) {
    // Set Chunk Size (5.4.1). nginx-rtmp reads 32 bits (not 31) from the
    // first chunk, ignores a size above 10485760 and drops buffered bytes
    // when the size shrinks (ngx_rtmp_set_chunk_size): any of those and the
    // two readings of the stream part. Only a size both read alike passes.
    const size = body.length === 4 ? u32be(body, 0) : -1;
    if (size < f.chunkSize || size < 128 || size > MAX_CHUNK_SIZE) return fail(sess, refusal('malformed RTMP: chunk size ' + size + ' not accepted (128 to ' + MAX_CHUNK_SIZE + ', never smaller)'));
    f.chunkSize = size;
  } else if (type === 2 && body && f.client) {
    // Abort (5.4.2): nginx-rtmp ignores it, others drop the message: refuse a real one.
    if (body.length < 4) return fail(sess, refusal('malformed RTMP: short Abort'));
    const a = f.streams[u32be(body, 0)];
    if (a && a.got >= 0) return fail(sess, refusal('malformed RTMP: abort of a message in progress'));
  }
  if (!held || !body) return null;
  flushHere();
  sess.cmds.push({ type: type, streamId: cs.streamId, body: body, pieces: pieces });
  sess.open--;
  sess.declared -= body.length;
  if (sess.open > 0) return null;
  return settle(sess, out);
}

/** Follow the origin's side (chunk size and boundaries only): the filter injects refusals there. */
export function feedOrigin(f: Framing, data: Uint8Array): string | null {
  const n = data.length;
  let pos = 0;
  if (f.handshakeLeft > 0) {
    const k = Math.min(f.handshakeLeft, n);
    f.handshakeLeft -= k;
    pos = k;
  }
  while (pos < n) {
    if (f.curLeft > 0) {
      const cs = f.cur as Cs;
      const k = Math.min(f.curLeft, n - pos);
      if (cs.body) cs.body.set(data.subarray(pos, pos + k), cs.got);
      cs.got += k;
      f.curLeft -= k;
      pos += k;
      if (f.curLeft === 0 && cs.got === cs.length) endOrigin(f, cs);
      continue;
    }
    const carried = f.carry.length;
    const h = scratch;
    if (!headerAt(f, data, pos, h)) return null;
    pos += h.len - carried;
    f.carry = new Uint8Array(0);
    let cs = f.streams[h.csid];
    if (!cs) {
      cs = { timestamp: 0, delta: 0, length: 0, type: 0, streamId: 0, extended: false, got: -1, body: null, pieces: [], held: false, hb: -1 };
      f.streams[h.csid] = cs;
      f.streamCount++;
    }
    if (cs.got < 0) {
      cs.extended = h.extended;
      cs.length = h.length;
      cs.type = h.type;
      cs.streamId = h.streamId;
      cs.got = 0;
      cs.body = h.type === 1 ? new Uint8Array(h.length) : null;
    }
    f.cur = cs;
    f.curLeft = Math.min(f.chunkSize, cs.length - cs.got);
    if (f.curLeft === 0) endOrigin(f, cs);
  }
  return null;
}

function endOrigin(f: Framing, cs: Cs): void {
  if (cs.type === 1 && cs.body && cs.body.length >= 4) {
    const size = chunkSizeOf(cs.body);
    if (size >= 1) f.chunkSize = size;
  }
  cs.got = -1;
  cs.body = null;
  f.cur = null;
}

/**
 * Bytes of `data` (the origin's) up to the end of its first chunk, or -1:
 * where a message of the edge's own may be put between the origin's chunks.
 */
export function originBoundary(f: Framing, data: Uint8Array): number {
  if (atChunkBoundary(f)) return 0;
  // Feed byte ranges until a chunk ends.
  let pos = 0;
  while (pos < data.length) {
    const step = f.curLeft > 0 ? Math.min(f.curLeft, data.length - pos) : 1;
    feedOrigin(f, data.subarray(pos, pos + step));
    pos += step;
    if (atChunkBoundary(f)) return pos;
  }
  return -1;
}
