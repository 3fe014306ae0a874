import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeAll, encodeAll, MAX_DEPTH } from '../../njs/amf0.ts';
import { atBoundary, feed, HANDSHAKE_BYTES, newReader, writeMessage, type RtmpMessage } from '../../njs/rtmp.ts';
import { amf, chunk, handshake, message, publishSession, setChunkSize } from '../support/rtmp-stream.ts';

function readAll(bytes: number[], splits: number[] = []): { messages: RtmpMessage[]; error: string | null } {
  const r = newReader();
  const out: RtmpMessage[] = [];
  let last = 0;
  for (const cut of [...splits.filter((s) => s > 0 && s < bytes.length).sort((a, b) => a - b), bytes.length]) {
    const res = feed(r, new Uint8Array(bytes.slice(last, cut)));
    if (res.error) return { messages: out, error: res.error };
    out.push(...res.messages);
    last = cut;
  }
  return { messages: out, error: null };
}

const commands = (ms: RtmpMessage[]) => ms.filter((m) => m.type === 20).map((m) => (decodeAll(m.body) as unknown[])[0]);

describe('AMF0', () => {
  it('round-trips command values', () => {
    const v = ['connect', 1, { app: 'live', n: 2.5, ok: true, nested: { x: null } }, null, undefined, ['a', 1]];
    expect(decodeAll(encodeAll(v as never))).toEqual(v);
  });

  it('refuses lying lengths, deep nesting and unknown types with an error value', () => {
    expect(decodeAll(new Uint8Array([2, 0, 10, 65]))).toEqual({ error: 'string longer than the message' });
    let deep: number[] = [];
    for (let i = 0; i <= MAX_DEPTH + 1; i++) deep.push(10, 0, 0, 0, 1);
    deep.push(5);
    expect(decodeAll(new Uint8Array(deep))).toEqual({ error: 'nesting too deep' });
    expect(decodeAll(new Uint8Array([0x11]))).toEqual({ error: 'unsupported AMF0 type 17' });
    expect(decodeAll(new Uint8Array([3, 0, 1, 97, 5]))).toEqual({ error: 'object without end marker' });
    expect(decodeAll(new Uint8Array([10, 0xff, 0xff, 0xff, 0xff]))).toEqual({ error: 'array too long' });
  });

  it('never lets a key reach the prototype', () => {
    const body = [3, 0, 9, ...Buffer.from('__proto__'), 3, 0, 1, 120, 1, 1, 0, 0, 9, 0, 0, 9];
    const v = decodeAll(new Uint8Array(body)) as any[];
    expect(({} as any).x).toBeUndefined();
    expect(Object.getPrototypeOf(v[0])).toBe(Object.prototype);
  });
});

describe('RTMP chunk stream reader', () => {
  it('reads what ffmpeg sends to publish, however the bytes are split', () => {
    const bytes = publishSession('live', 'cam1?exp=1&sig=x');
    for (const splits of [[], Array.from({ length: bytes.length }, (_, i) => i), [1, 1537, 3073, 3080, 3200]]) {
      const { messages, error } = readAll(bytes, splits);
      expect(error).toBeNull();
      expect(commands(messages)).toEqual(['connect', 'releaseStream', 'FCPublish', 'createStream', 'publish']);
      expect((decodeAll(messages[messages.length - 1].body) as unknown[])[3]).toBe('cam1?exp=1&sig=x');
    }
  });

  it('handles 2- and 3-byte chunk stream ids, type 1/2/3 headers, extended timestamps and interleaving', () => {
    const a = amf('publish', 5, null, 'x'.repeat(200), 'live');
    const b = amf('FCPublish', 3, null, 'y'.repeat(150));
    const bytes = [
      ...handshake(),
      // message A on csid 70 (2-byte id) with an extended timestamp, interleaved with B on csid 400 (3-byte id)
      ...chunk({ fmt: 0, csid: 70, ts: 0x1000000, length: a.length, type: 20, streamId: 1, payload: a.slice(0, 128) }),
      ...chunk({ fmt: 0, csid: 400, ts: 5, length: b.length, type: 20, streamId: 0, payload: b.slice(0, 128) }),
      ...chunk({ fmt: 3, csid: 70, ext: 0x1000000, payload: a.slice(128) }),
      ...chunk({ fmt: 3, csid: 400, payload: b.slice(128) }),
      // a second message on csid 400 with a type-1 then a type-2 header
      ...chunk({ fmt: 1, csid: 400, ts: 10, length: 1, type: 4, payload: [9] }),
      ...chunk({ fmt: 2, csid: 400, ts: 10, payload: [8] }),
    ];
    const { messages, error } = readAll(bytes);
    expect(error).toBeNull();
    expect(messages.map((m) => [m.csid, m.type, m.timestamp, m.body.length])).toEqual([
      [70, 20, 0x1000000, a.length],
      [400, 20, 5, b.length],
      [400, 4, 15, 1],
      [400, 4, 25, 1],
    ]);
  });

  it('applies Set Chunk Size to the chunks that follow', () => {
    const body = amf('publish', 5, null, 'z'.repeat(5000), 'live');
    const { messages, error } = readAll([...handshake(), ...setChunkSize(4096), ...message(8, 20, 1, body, 4096)]);
    expect(error).toBeNull();
    expect(messages[1].body.length).toBe(body.length);
  });

  it.each([
    ['a bad version byte', [6, ...handshake().slice(1)], 'unsupported RTMP version 6'],
    ['an absurd chunk size', [...handshake(), ...setChunkSize(0x7fffffff)], 'chunk size 2147483647 out of range'],
    ['a huge message', [...handshake(), ...chunk({ fmt: 0, csid: 3, length: 0xffffff, type: 20, payload: [] })], 'larger than allowed'],
    ['a chunk stream without a full header', [...handshake(), ...chunk({ fmt: 3, csid: 5, payload: [1] })], 'starts without a full header'],
  ])('refuses %s', (_what, bytes, why) => {
    expect(readAll(bytes as number[]).error).toContain(why);
  });

  it('refuses too many chunk streams', () => {
    const bytes = [...handshake()];
    for (let c = 3; c < 40; c++) bytes.push(...chunk({ fmt: 0, csid: c, length: 1, type: 20, payload: [1] }));
    expect(readAll(bytes).error).toBe('too many chunk streams');
  });

  it('writes messages the reader reads back, at any chunk size and with extended timestamps', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 2, max: 5000 }), fc.nat({ max: 0x2000000 }), (body, size, csid, ts) => {
        const m: RtmpMessage = { csid, type: 20, streamId: 1, timestamp: ts, body };
        const r = newReader({ maxMessage: 1 << 20, maxChunkSize: 65536, maxChunkStreams: 16 });
        r.chunkSize = size;
        feed(r, new Uint8Array(handshake()));
        const res = feed(r, writeMessage(m, size));
        expect(res.error).toBeNull();
        expect(res.messages).toHaveLength(1);
        expect(Buffer.from(res.messages[0].body).equals(Buffer.from(body))).toBe(true);
        expect(res.messages[0].timestamp).toBe(ts);
        expect(atBoundary(r)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws or loops on random and mutated streams, fed in random pieces (fuzz)', () => {
    const valid = publishSession('live', 'cam1?exp=1&sig=x', 128);
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
      fc.property(stream, fc.array(fc.nat({ max: 7000 }), { maxLength: 30 }), (bytes, splits) => {
        const t0 = Date.now();
        const res = readAll(bytes, splits);
        expect(typeof res.error === 'string' || res.error === null).toBe(true);
        expect(Date.now() - t0).toBeLessThan(1000);
      }),
      { numRuns: 3000 },
    );
  });

  it('reads the same messages from a valid stream however it is split', () => {
    const valid = publishSession('live', 'cam1', 128);
    const whole = readAll(valid).messages.map((m) => Buffer.from(m.body).toString('hex'));
    fc.assert(
      fc.property(fc.array(fc.nat({ max: valid.length }), { maxLength: 40 }), (splits) => {
        expect(readAll(valid, splits).messages.map((m) => Buffer.from(m.body).toString('hex'))).toEqual(whole);
      }),
      { numRuns: 500 },
    );
  });

  it('counts the handshake', () => {
    expect(HANDSHAKE_BYTES).toBe(3073);
  });
});
