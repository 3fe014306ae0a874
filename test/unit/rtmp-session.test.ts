/**
 * The whole-session RTMP inspector, judged against a model of what the
 * origin executes (test/support/origin-model.ts): every publish or play the
 * origin would run was asked about and allowed, whatever the client sends,
 * in any spelling, message type, order or split.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeAll, type AmfValue } from '../../njs/amf0.ts';
import { commandName, feedClient, newSession, resume, type Ask, type Refusal, type Step } from '../../njs/rtmp-session.ts';
import { originModel } from '../support/origin-model.ts';
import { amf, chunk, handshake, message, publishSession, setChunkSize } from '../support/rtmp-stream.ts';

const KEY = 'exp=1&sig=ok';

/** Feed a session in pieces; asks are allowed when the name carries KEY (or `allow` says so). */
function run(bytes: number[] | Uint8Array, splits: number[] = [], allow: (a: Ask) => boolean = (a) => a.name.endsWith('?' + KEY)) {
  const sess = newSession({ preauthBytes: 65536, liveHeldBytes: 1 << 20 });
  const model = originModel();
  const asks: Ask[] = [];
  const allowed: Ask[] = [];
  let refusal: Refusal | null = null;
  const sent: number[] = [];
  const take = (st: Step) => {
    for (;;) {
      for (const o of st.out) {
        sent.push(...o);
        model.feed(o);
      }
      if (st.refuse) refusal = st.refuse;
      if (!st.ask) return;
      asks.push(st.ask);
      const ok = allow(st.ask);
      if (ok) allowed.push(st.ask);
      st = resume(sess, ok, 'no key');
    }
  };
  const all = Uint8Array.from(bytes);
  let last = 0;
  for (const cut of [...splits.filter((s) => s > 0 && s < all.length).sort((a, b) => a - b), all.length]) {
    if (refusal) break;
    take(feedClient(sess, all.subarray(last, cut)));
    last = cut;
  }
  return { sess, model, asks, allowed, refusal: refusal as Refusal | null, sent };
}

/** Every publish/play the origin executes was allowed, under its clean name. */
function expectOnlyAllowed(r: ReturnType<typeof run>) {
  const ok = r.allowed.map((a) => `${a.kind}:${a.name.split('?')[0]}`);
  for (const e of r.model.executed) {
    if (e.command === 'connect') continue;
    expect(ok, `origin executed ${e.command} ${e.name}`).toContain(`${e.command === 'publish' ? 'publish' : 'play'}:${e.name}`);
    expect(e.name, 'a key reached the origin').not.toContain('?');
  }
}

const connect = (app = 'live') => message(3, 20, 0, amf('connect', 1, { app, tcUrl: `rtmp://127.0.0.1/${app}` }));
const cmd = (type: number, name: string, ...args: AmfValue[]): number[] => {
  if (type === 19 || type === 16) {
    const n = [...Buffer.from(name, 'latin1')];
    const body = [...(type === 16 ? [0] : []), n.length >> 8, n.length & 0xff, ...n, ...encodeAll(args)];
    return message(3, type, 1, body);
  }
  const body = [...encodeAll([name]), ...encodeAll(args)];
  // Raw bytes: a name with NUL must reach the wire as sent.
  const nb = [...Buffer.from(name, 'latin1')];
  const raw = [2, nb.length >> 8, nb.length & 0xff, ...nb, ...encodeAll(args)];
  void body;
  return message(3, type, 1, type === 15 || type === 17 ? [0, ...raw] : raw);
};
const media = (n = 300, csid = 6) => message(csid, 9, 1, Array.from({ length: n }, (_, i) => i & 0xff));
const publish = (name: string, type = 20, command = 'publish') => cmd(type, command, 3, null, name, 'live');

describe('RTMP session inspector: every form that starts a publish or play is asked about', () => {
  const forms: [string, number[]][] = [
    ['publish', publish('a')],
    ['Publish', publish('a', 20, 'Publish')],
    ['PUBLISH', publish('a', 20, 'PUBLISH')],
    ['an AMF3 command (type 17)', publish('a', 17)],
    ['an AMF3 command spelled pUbLiSh', publish('a', 17, 'pUbLiSh')],
    ['an AMF0 data message (type 18)', publish('a', 18)],
    ['an AMF3 data message (type 15)', publish('a', 15)],
    ['a shared-object message (type 19)', publish('a', 19)],
    ['an AMF3 shared-object message (type 16)', publish('a', 16)],
  ];
  it.each(forms)('%s', (_what, bytes) => {
    const r = run([...handshake(), ...connect(), ...bytes]);
    expect(r.asks.map((a) => [a.kind, a.name, a.app])).toEqual([['publish', 'a', 'live']]);
    expect(r.refusal?.code).toBe('NetStream.Publish.BadName');
    expectOnlyAllowed(r);
  });

  it('play and play2 (its name in an object) are asked about too', () => {
    const play = run([...handshake(), ...connect(), ...cmd(20, 'PLAY', 3, null, 'v', -2000)]);
    expect(play.asks.map((a) => [a.kind, a.name])).toEqual([['play', 'v']]);
    const play2 = run([...handshake(), ...connect(), ...cmd(20, 'play2', 0, null, { streamName: 'v2?' + KEY, start: -2 })]);
    expect(play2.asks.map((a) => [a.kind, a.name])).toEqual([['play', 'v2?' + KEY]]);
    expect(play2.model.executed.filter((e) => e.command === 'play2').map((e) => e.name)).toEqual(['v2']);
  });

  it.each([
    ['a NUL in the command name', publish('a', 20, 'publish\0x'), 'malformed command name'],
    ['a control character in the stream name', publish('a\nb'), 'malformed stream name'],
    ['invalid UTF-8 in the stream name', cmd(20, 'publish', 3, null, 'x'), null],
    ['a stream name that is not a string', cmd(20, 'publish', 3, null, 42, 'live'), 'malformed publish: no stream name'],
    ['a play without a name', cmd(20, 'play', 3, null), 'malformed play: no stream name'],
    ['media before any publish', media(), 'media before publish'],
    ['an aggregate before any publish', message(6, 22, 1, [20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 11]), 'media before publish'],
    ['a second connect', connect('other'), 'second connect in one session'],
  ])('refuses %s', (_what, bytes, reason) => {
    let b = bytes;
    if (reason === null) {
      // Patch one byte of the name to 0xff (invalid UTF-8).
      const i = b.indexOf('x'.charCodeAt(0), 12);
      b = b.slice();
      b[i] = 0xff;
      reason = 'malformed stream name';
    }
    const r = run([...handshake(), ...connect(), ...b]);
    expect(r.refusal?.reason).toBe(reason);
    expect(r.asks).toEqual([]);
    expectOnlyAllowed(r);
  });

  it.each([
    ['live\0x', 'malformed application name'],
    ['live\u0001', 'malformed application name'],
  ])('refuses the application %j', (app, reason) => {
    const r = run([...handshake(), ...connect(app), ...publish('a?' + KEY)]);
    expect(r.refusal?.reason).toBe(reason);
    expect(r.model.executed.filter((e) => e.command === 'publish')).toEqual([]);
  });

  it.each([['LIVE', 'LIVE'], ['live/_definst_', 'live'], ['live/studio?x=1', 'live'], ['live/', 'live']])('names the application %j as origins resolve it', (app, want) => {
    expect(run([...handshake(), ...connect(app), ...publish('a')]).asks[0].app).toBe(want);
  });

  it('asks about every later publish and play of the session, whatever stream id or spelling', () => {
    const bytes = [
      ...handshake(), ...connect(), ...publish('a?' + KEY), ...media(),
      ...cmd(20, 'FCUnpublish', 6, null, 'a'), ...cmd(20, 'deleteStream', 7, null, 1), ...cmd(20, 'createStream', 8, null),
      ...message(8, 20, 2, amf('Publish', 9, null, 'b', 'live')),
    ];
    const r = run(bytes);
    expect(r.asks.map((a) => [a.name, a.streamId])).toEqual([['a?' + KEY, 1], ['b', 2]]);
    expect(r.refusal?.reason).toBe('publish refused: no key');
    expect(r.model.executed.filter((e) => e.command === 'publish').map((e) => e.name)).toEqual(['a']);
  });

  it('after an allowed play, a publish still needs its own key', () => {
    const r = run([...handshake(), ...connect(), ...cmd(20, 'play', 3, null, 'v?' + KEY, -2000), ...publish('x')]);
    expect(r.asks.map((a) => a.kind)).toEqual(['play', 'publish']);
    expect(r.refusal?.code).toBe('NetStream.Publish.BadName');
    expect(r.model.executed.map((e) => e.command)).toEqual(['connect', 'play']);
  });

  it('refuses an aggregate that carries anything but audio and video', () => {
    const sub = amf('publish', 3, null, 'x', 'live');
    const agg = [20, (sub.length >> 16) & 0xff, (sub.length >> 8) & 0xff, sub.length & 0xff, 0, 0, 0, 0, 0, 0, 1, ...sub, 0, 0, 0, sub.length + 11];
    const r = run([...handshake(), ...connect(), ...publish('a?' + KEY), ...message(6, 22, 1, agg)]);
    expect(r.refusal?.reason).toBe('aggregate message with a message of type 20');
    expectOnlyAllowed(r);
  });

  it('refuses an Abort of a message in progress (origins disagree on it)', () => {
    const body = amf('publish', 3, null, 'x'.repeat(200), 'live');
    const bytes = [
      ...handshake(), ...connect(),
      ...chunk({ fmt: 0, csid: 5, length: body.length, type: 20, streamId: 1, payload: body.slice(0, 128) }),
      ...message(2, 2, 0, [0, 0, 0, 5]),
    ];
    expect(run(bytes).refusal?.reason).toBe('malformed RTMP: abort of a message in progress');
  });

  it('holds nothing of a publish back once allowed, and forwards the same bytes however they are split, key cut out in place', () => {
    const bytes = [...publishSession('live', 'cam1?' + KEY, 128), ...media(5000), ...media(700, 4)];
    const whole = run(bytes);
    expect(whole.refusal).toBeNull();
    expect(whole.sent.length).toBe(bytes.length); // the framing is the client's own
    expect(whole.model.executed.map((e) => e.name)).toEqual([null, 'cam1']);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: bytes.length }), { maxLength: 40 }), (splits) => {
        expect(Buffer.from(run(bytes, splits).sent).equals(Buffer.from(whole.sent))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('reads the command name as nginx-rtmp does: lowercased, cut at a NUL and at 127 bytes', () => {
    const b = (name: string) => new Uint8Array([2, 0, name.length, ...Buffer.from(name, 'latin1')]);
    expect(commandName(20, b('PubLish'))).toMatchObject({ name: 'publish' });
    expect(commandName(20, b('publish\0zz'))).toMatchObject({ name: 'publish', raw: 'publish\0zz' });
    expect(commandName(20, b('x'.repeat(127) + 'y'))).toMatchObject({ name: 'x'.repeat(127) });
    expect(commandName(17, new Uint8Array([0x42, ...b('play')]))).toMatchObject({ name: 'play' });
    expect(commandName(19, new Uint8Array([0, 7, ...Buffer.from('PUBLISH')]))).toMatchObject({ name: 'publish' });
    expect(commandName(20, new Uint8Array([3]))).toEqual({ error: 'command name is not a string' });
  });
});

describe('RTMP session inspector: where nginx-rtmp reads the stream otherwise (review findings)', () => {
  const publishBody = (name: string) => amf('publish', 5, null, name, 'live');
  // A carrier of a type the edge neither reads nor holds (7), one chunk at the
  // size the edge took; at nginx-rtmp's 128 its byte 128 starts a new chunk.
  const smuggle = (scs: number[]) => {
    const inner = chunk({ fmt: 0, csid: 4, length: publishBody('victim').length, type: 20, streamId: 1, payload: publishBody('victim') });
    const carrier = [...new Array(128).fill(0), ...inner];
    return [...handshake(), ...connect(), ...message(2, 1, 0, scs), ...chunk({ fmt: 0, csid: 6, length: carrier.length, type: 7, streamId: 0, payload: carrier })];
  };
  it.each([
    ['bit 31 set (nginx-rtmp reads 32 bits and ignores it)', [0x80, 0x00, 0x10, 0x00]],
    ['12,000,000 (nginx-rtmp ignores sizes above 10485760)', [0x00, 0xb7, 0x1b, 0x00]],
    ['a smaller size (nginx-rtmp drops what it buffered)', [0, 0, 0, 64]],
  ])('refuses a Set Chunk Size of %s', (_w, scs) => {
    const r = run(smuggle(scs));
    expect(r.refusal?.reason).toMatch(/^malformed RTMP: chunk size/);
    expectOnlyAllowed(r);
  });

  it('refuses a Set Chunk Size that is not 4 bytes, before allocating what it declares', () => {
    const bytes = [...handshake()];
    for (let cs = 3; cs < 63; cs++) bytes.push(...chunk({ fmt: 0, csid: cs, length: 0xffffff, type: 1, streamId: 0, payload: new Array(128).fill(0) }));
    expect(run(bytes).refusal?.reason).toBe('malformed RTMP: message of 16777215 bytes (type 1) is larger than allowed');
  });

  it('play2: judges and rewrites the one top-level streamName; a repeated or nested one is no way around', () => {
    const nested = run([...handshake(), ...connect(), ...message(3, 20, 1, amf('play2', 0, null, { x: { streamName: 'zzzz' }, streamName: 'v?' + KEY }))]);
    expect(nested.allowed.map((a) => a.name)).toEqual(['v?' + KEY]);
    expect(nested.model.executed.filter((e) => e.command === 'play2').map((e) => e.name)).toEqual(['v']);
    const shorter = run([...handshake(), ...connect(), ...message(3, 20, 1, amf('play2', 0, null, { x: { streamName: 'ab' }, streamName: 'victim?' + KEY }))]);
    expect(shorter.model.executed.filter((e) => e.command === 'play2').map((e) => e.name)).toEqual(['victim']);
    // A fake key/value inside a string, and a second streamName the origin would take.
    const R = [0, 10, ...Buffer.from('streamName'), ...amf('v?' + KEY)];
    const S = [0, 10, ...Buffer.from('streamName'), 2, 0, R.length + 7, ...new Array(8).fill(0x41)];
    const M = [0, 10, ...Buffer.from('streamName'), 2, 0, 6, ...Buffer.from('victim'), 0, 0, 9];
    const obj = [3, 0, 1, 0x61, 2, 0, S.length, ...S, ...R, 0, 1, 0x62, 2, 0, M.length, ...M, 0, 0, 9];
    const fake = run([...handshake(), ...connect(), ...message(3, 20, 1, [...amf('play2', 0, null), ...obj])]);
    expectOnlyAllowed(fake);
    const twice = [...amf('play2', 0, null), 3, 0, 10, ...Buffer.from('streamName'), ...amf('a'), 0, 10, ...Buffer.from('streamName'), ...amf('b?' + KEY), 0, 0, 9];
    expect(run([...handshake(), ...connect(), ...message(3, 20, 1, twice)]).refusal?.reason).toBe('malformed play2: no single streamName');
  });

  it('connect: a repeated or non-string app is refused (nginx-rtmp keeps the first string, the decoder the last value)', () => {
    const dup = [...amf('connect', 1), 3, 0, 3, ...Buffer.from('app'), ...amf('live'), 0, 3, ...Buffer.from('app'), 5, 0, 0, 9];
    expect(run([...handshake(), ...message(3, 20, 0, dup), ...publish('dupapp')]).refusal?.reason).toBe('malformed connect: repeated keys');
    expect(run([...handshake(), ...message(3, 20, 0, amf('connect', 1, { app: 7 })), ...publish('x')]).refusal?.reason).toBe('malformed application name');
  });

  it('cuts keys out of any command that carries a stream name (ffmpeg sends getStreamLength before play)', () => {
    const r = run([...handshake(), ...connect(), ...message(3, 20, 0, amf('getStreamLength', 4, null, 'v?' + KEY))]);
    expect(Buffer.from(r.sent).includes(Buffer.from('sig=ok'))).toBe(false);
  });

  it('leaves the text of data messages alone (a caption with "?" is not a stream name)', () => {
    const caption = message(4, 18, 1, amf('@setDataFrame', 'onCaptionInfo', 'Who? Me?'));
    const r = run([...handshake(), ...connect(), ...publish('a?' + KEY), ...caption]);
    expect(r.refusal).toBeNull();
    expect(Buffer.from(r.sent).includes(Buffer.from('Who? Me?'))).toBe(true);
  });

  it('refuses a command whose stream name has a key and a control character (it could not be cut out cleanly)', () => {
    expect(run([...handshake(), ...connect(), ...cmd(20, 'FCPublish', 2, null, 'a\u0001?' + KEY)]).refusal?.reason).toBe('malformed stream name');
  });

  it('refuses a tcUrl with a NUL (a C string would end there)', () => {
    const c = message(3, 20, 0, amf('connect', 1, { app: 'live', tcUrl: 'rtmp://127.0.0.1/live\u0000x' }));
    expect(run([...handshake(), ...c, ...publish('a?' + KEY)]).refusal?.reason).toBe('malformed application name');
  });

  it('a command the judge cannot handle is refused, never forwarded', () => {
    // An aggregate is read whole; a truncated one is refused (pre-live: media first).
    const r = run([...handshake(), ...connect(), ...publish('a?' + KEY), ...message(6, 22, 1, [9, 0, 0])]);
    expect(r.refusal?.reason).toBe('malformed aggregate message');
  });
});

describe('RTMP session inspector: properties', () => {
  const names = ['publish', 'Publish', 'PUBLISH', 'play', 'Play', 'play2', 'publish\0x', 'FCPublish', 'releaseStream', 'createStream', 'deleteStream', '@setDataFrame', 'onMetaData', 'connect', 'xpublish'];
  const types = [20, 17, 18, 15, 19, 16];
  const message$ = fc.oneof(
    fc.record({
      kind: fc.constant('cmd' as const),
      type: fc.constantFrom(...types),
      name: fc.constantFrom(...names),
      stream: fc.constantFrom('a', 'b', 'a?' + KEY, 'b?' + KEY, 'c?exp=1&sig=bad'),
      sid: fc.nat({ max: 3 }),
    }),
    fc.record({ kind: fc.constant('media' as const), n: fc.integer({ min: 0, max: 3000 }), csid: fc.constantFrom(4, 6, 7) }),
    fc.record({ kind: fc.constant('size' as const), n: fc.constantFrom(128, 300, 4096) }),
  );
  type Gen = { kind: 'cmd'; type: number; name: string; stream: string; sid: number } | { kind: 'media'; n: number; csid: number } | { kind: 'size'; n: number };
  const render = (ms: Gen[]): number[] => {
    const out: number[] = [];
    let size = 128;
    for (const m of ms) {
      if (m.kind === 'size') {
        out.push(...message(2, 1, 0, [0, 0, (m.n >> 8) & 0xff, m.n & 0xff], size));
        size = m.n;
      } else if (m.kind === 'media') out.push(...message(m.csid, 9, 1, Array.from({ length: m.n }, (_, i) => i & 0xff), size));
      else {
        const args: AmfValue[] = m.name === 'play2' ? [0, null, { streamName: m.stream }] : m.name === 'connect' ? [1, { app: 'live' }] : [5, null, m.stream, 'live'];
        const nb = [...Buffer.from(m.name, 'latin1')];
        const typed = [2, nb.length >> 8, nb.length & 0xff, ...nb];
        const body = [...(m.type === 19 || m.type === 16 ? typed.slice(1) : typed), ...encodeAll(args)];
        out.push(...message(3, m.type, m.sid, m.type === 15 || m.type === 16 || m.type === 17 ? [0, ...body] : body, size));
      }
    }
    return out;
  };

  it('random command sequences after an allowed publish or play never reach the origin unchecked', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('publish', 'play'),
        fc.array(message$, { maxLength: 25 }),
        fc.array(fc.nat({ max: 40000 }), { maxLength: 20 }),
        (first, rest, splits) => {
          const opening = first === 'publish' ? publish('a?' + KEY) : cmd(20, 'play', 3, null, 'a?' + KEY, -2000);
          const bytes = [...handshake(), ...connect(), ...opening, ...render(rest)];
          const r = run(bytes, splits);
          expectOnlyAllowed(r);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('media and commands interleaved chunk by chunk (extended timestamps, csids past 63) are framed as the origin frames them', () => {
    // Media continuation chunks are followed in a fast loop (one-byte
    // type-3 headers of the same chunk stream); every other header leaves
    // it. Interleaving at chunk level is what makes it leave mid-message.
    const msg$ = fc.record({
      media: fc.boolean(),
      csid: fc.constantFrom(4, 6, 7, 63, 64, 400),
      n: fc.integer({ min: 0, max: 9000 }),
      ts: fc.constantFrom(0, 40, 0xffffff, 0x1000000),
      stream: fc.constantFrom('a', 'b?' + KEY, 'c?exp=1&sig=bad'),
      type: fc.constantFrom(20, 17),
    });
    fc.assert(
      fc.property(fc.array(msg$, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 200 }), fc.array(fc.nat({ max: 60000 }), { maxLength: 25 }), (msgs, picks, splits) => {
        const size = 1000;
        // One chunk list per message, each on its own chunk stream (one message open per stream at a time).
        const lists: number[][][] = [];
        const used = new Set<number>();
        for (const m of msgs) {
          if (used.has(m.csid)) continue;
          used.add(m.csid);
          const body = m.media
            ? Array.from({ length: m.n }, (_, i) => (i * 13) & 0xff)
            : m.type === 17
              ? [0, ...amf('publish', 5, null, m.stream, 'live')]
              : amf('publish', 5, null, m.stream, 'live');
          const type = m.media ? 9 : m.type;
          const chunks: number[][] = [];
          for (let i = 0; i < Math.max(1, body.length); i += size) {
            const part = body.slice(i, i + size);
            chunks.push(i === 0 ? chunk({ fmt: 0, csid: m.csid, ts: m.ts, length: body.length, type, streamId: 1, payload: part }) : chunk({ fmt: 3, csid: m.csid, ext: m.ts >= 0xffffff ? m.ts : undefined, payload: part }));
          }
          lists.push(chunks);
        }
        const tail: number[] = [];
        let k = 0;
        while (lists.some((l) => l.length)) {
          const open = lists.filter((l) => l.length);
          tail.push(...(open[(picks[k++] ?? 0) % open.length].shift() as number[]));
        }
        const head = [...handshake(), ...setChunkSize(size), ...connect(), ...publish('a?' + KEY)];
        const r = run([...head, ...tail], splits);
        expectOnlyAllowed(r);
        if (r.refusal === null) {
          // Nothing lost or moved: the origin gets the client's bytes, keys cut out in place.
          expect(r.sent.length).toBe(head.length + tail.length);
          expect(r.model.executed.filter((e) => e.command !== 'connect').length).toBe(r.allowed.length);
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('never throws or loops on random and mutated sessions with every message type, fed in random pieces (fuzz)', () => {
    const valid = [
      ...publishSession('live', 'cam1?' + KEY, 128), ...media(400),
      ...message(3, 17, 1, [0, ...amf('publish', 3, null, 'b', 'live')]), ...message(3, 19, 1, [0, 7, ...Buffer.from('publish'), ...amf(3, null, 'c')]),
      ...message(3, 18, 1, amf('@setDataFrame', 'onMetaData', { width: 1 })), ...message(6, 22, 1, [9, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 7, 0, 0, 0, 12]),
      ...message(2, 2, 0, [0, 0, 0, 9]), ...setChunkSize(1000), ...media(2000, 4),
    ];
    const stream = fc.oneof(
      fc.uint8Array({ maxLength: 6000 }).map((b) => Array.from(b)),
      fc.uint8Array({ maxLength: 2000 }).map((b) => [...handshake(), ...Array.from(b)]),
      fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.nat({ max: 255 })), { maxLength: 20 }).map((muts) => {
        const v = valid.slice();
        for (const [i, x] of muts) v[i] = x;
        return v;
      }),
      fc.nat({ max: valid.length }).map((n) => valid.slice(0, n)),
    );
    fc.assert(
      fc.property(stream, fc.array(fc.nat({ max: 7000 }), { maxLength: 30 }), fc.boolean(), (bytes, splits, yes) => {
        const t0 = Date.now();
        const r = run(bytes, splits, () => yes);
        expect(r.refusal === null || typeof r.refusal.reason === 'string').toBe(true);
        expect(Date.now() - t0).toBeLessThan(1000);
        expectOnlyAllowed(r);
      }),
      { numRuns: 3000 },
    );
  });

  it('caps what a client may send before it is allowed, and what it may hold open', () => {
    const flood = [...handshake(), ...connect()];
    for (let i = 0; i < 500; i++) flood.push(...message(3, 20, 0, amf('_checkbw', i, null, 'x'.repeat(150))));
    expect(run(flood).refusal?.reason).toBe('too much data before publish');
    // A command left open while media flows on another chunk stream.
    const body = amf('FCPublish', 3, null, 'x'.repeat(300));
    const open = [...handshake(), ...connect(), ...publish('a?' + KEY), ...chunk({ fmt: 0, csid: 5, length: body.length, type: 20, streamId: 1, payload: body.slice(0, 128) })];
    for (let i = 0; i < 40; i++) open.push(...media(60000));
    const sess = run([...open]);
    expect(sess.refusal?.reason).toBe('too much data while a command is incomplete');
  });
});

