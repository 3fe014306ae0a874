import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeAll } from '../../njs/amf0.ts';
import { appRule, callbackBody, parseStreamName, signPublish, verifyLocal, type AuthConfig } from '../../njs/publish.ts';
import { connectApp, replaceString } from '../../njs/rtmp-session.ts';
import { constantTimeEqual, sha256Hex } from '../../njs/sign.ts';
import { amf } from '../support/rtmp-stream.ts';

const S1 = 'first-secret-0123456789';
const hmac = { mode: 'hmac' as const, secrets: [S1] };
const key = (stream: string, exp: number, secret = S1) => parseStreamName(`${stream}?exp=${exp}&sig=${signPublish(secret, 'live', stream, exp)}`);

describe('stream names', () => {
  it('splits the stream and its query; first value wins; undecodable values stay raw', () => {
    expect(parseStreamName('cam1?a=1&b=x%20y&a=2&c=%zz')).toEqual({ stream: 'cam1', query: 'a=1&b=x%20y&a=2&c=%zz', params: { a: '1', b: 'x y', c: '%zz' } });
    expect(parseStreamName('cam1')).toEqual({ stream: 'cam1', query: '', params: {} });
    expect(Object.getPrototypeOf(parseStreamName('x?__proto__=1').params)).toBe(Object.prototype);
  });

  it('names the application as origins resolve it: before the query, before the instance', () => {
    expect(connectApp('live?doPublish=x')).toBe('live');
    expect(connectApp('live/')).toBe('live');
    expect(connectApp('live/_definst_')).toBe('live');
    expect(connectApp('live/studio2?x=1')).toBe('live');
    expect(connectApp('/live')).toBe('');
  });

  it('takes the app rule whatever its case, else "*", else deny', () => {
    const cfg = { apps: { live: hmac, '*': { mode: 'allow' } } } as unknown as AuthConfig;
    expect(appRule(cfg, 'live')).toEqual({ app: 'live', auth: hmac });
    // Keys are checked against the configured name.
    expect(appRule(cfg, 'LIVE')).toEqual({ app: 'live', auth: hmac });
    expect(appRule(cfg, 'other').auth.mode).toBe('allow');
    expect(appRule({ apps: {} } as unknown as AuthConfig, 'x').auth.mode).toBe('deny');
    expect(appRule({ apps: {} } as unknown as AuthConfig, 'constructor').auth.mode).toBe('deny');
  });
});

describe('hmac keys', () => {
  const now = 1_800_000_000;
  it('accepts a valid key, within the clock skew', () => {
    expect(verifyLocal(hmac, 'live', key('cam1', now + 60), now, 30)).toEqual({ ok: true });
    expect(verifyLocal(hmac, 'live', key('cam1', now - 10), now, 30)).toEqual({ ok: true });
  });

  it.each([
    ['expired', key('cam1', now - 31), 'expired key'],
    ['missing', parseStreamName('cam1'), 'missing key'],
    ['malformed expiry', parseStreamName('cam1?exp=1e9&sig=' + 'a'.repeat(43)), 'malformed key'],
    ['malformed signature', parseStreamName(`cam1?exp=${now}&sig=short`), 'malformed key'],
    ['another secret', key('cam1', now + 60, 'another-secret-0123456'), 'bad signature'],
    ['bad stream name', parseStreamName('../x?exp=1&sig=a'), 'bad stream name'],
  ])('refuses a %s key', (_w, name, reason) => {
    expect(verifyLocal(hmac, 'live', name, now, 30)).toEqual({ ok: false, reason });
  });

  it('is bound to the application and the stream', () => {
    expect(verifyLocal(hmac, 'other', key('cam1', now + 60), now, 30).ok).toBe(false);
  });

  it('refuses every mutation of a signed field (property)', () => {
    const good = `exp=${now + 600}&sig=${signPublish(S1, 'live', 'cam1', now + 600)}`;
    fc.assert(
      fc.property(fc.nat({ max: good.length - 1 }), fc.integer({ min: 33, max: 126 }), fc.constantFrom('cam1', 'cam2', 'cam'), (i, c, stream) => {
        const mutated = good.slice(0, i) + String.fromCharCode(c) + good.slice(i + 1);
        if (mutated === good && stream === 'cam1') return;
        const v = verifyLocal(hmac, 'live', parseStreamName(`${stream}?${mutated}`), now, 30);
        // A mutation that leaves exp and sig as they were (e.g. in a separator) changes nothing signed.
        const p = parseStreamName(`x?${mutated}`).params;
        const same = p.exp === String(now + 600) && p.sig === signPublish(S1, 'live', 'cam1', now + 600) && stream === 'cam1';
        expect(v.ok).toBe(same);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('key lists', () => {
  const keys = { mode: 'keys' as const, keys: { 'live/cam1': sha256Hex('s3cret') } };
  it('compares the hash of the key', () => {
    expect(verifyLocal(keys, 'live', parseStreamName('cam1?key=s3cret'), 0, 0)).toEqual({ ok: true });
    expect(verifyLocal(keys, 'live', parseStreamName('cam1?key=guess'), 0, 0)).toEqual({ ok: false, reason: 'wrong key' });
    expect(verifyLocal(keys, 'live', parseStreamName('cam2?key=s3cret'), 0, 0)).toEqual({ ok: false, reason: 'unknown stream' });
    expect(verifyLocal(keys, 'live', parseStreamName('toString?key=s3cret'), 0, 0)).toEqual({ ok: false, reason: 'unknown stream' });
  });
});

describe('helpers', () => {
  it('compares in constant time, correctly', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'ab')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
  });

  it("builds nginx-rtmp's on_publish form with the client's query", () => {
    expect(callbackBody('live', parseStreamName('cam1?token=a%20b'), '10.0.0.9', 'rtmp://e/live', 'FMLE/3.0')).toBe(
      'call=publish&addr=10.0.0.9&clientid=0&app=live&flashver=FMLE%2F3.0&swfurl=&tcurl=rtmp%3A%2F%2Fe%2Flive&pageurl=&name=cam1&type=live&token=a%20b',
    );
  });

  it('cuts the query out of a stream name in place: same length, AMF0 nulls after the last value', () => {
    const body = new Uint8Array(amf('play', 5, null, 'cam1?exp=1&sig=abc', -2000));
    const at = 1 + 2 + 4 + 9 + 1; // 'play', 5, null
    const out = replaceString(body, at, 'cam1')!;
    expect(out.length).toBe(body.length);
    expect(decodeAll(out)).toEqual(['play', 5, null, 'cam1', -2000, ...Array(14).fill(null)]);
  });
});

describe('cross-session rules (njs >= 0.8)', () => {
  it('doubles the refusal delay per recent failure, capped', async () => {
    const { failureDelay } = await import('../../njs/publish.ts');
    expect([1, 2, 3, 4, 10].map((n) => failureDelay(n, 500, 8000))).toEqual([500, 1000, 2000, 4000, 8000]);
    expect(failureDelay(0, 500, 8000)).toBe(500);
  });

  it('counts a stream as publishing while the heartbeat of its owner is fresh', async () => {
    const { isPublishing, parseOwner, formatOwner } = await import('../../njs/publish.ts');
    const live = { id: 'a', beat: 10_000 };
    expect(isPublishing(null, 10_000, 3000)).toBe(false);
    expect(isPublishing(live, 20_000, 3000)).toBe(false);
    expect(isPublishing(live, 11_000, 3000)).toBe(true);
    expect(parseOwner(formatOwner({ id: '12|x', beat: 5 }))).toEqual({ id: '12|x', beat: 5 });
    expect(parseOwner('garbage')).toBeNull();
    expect(parseOwner(undefined)).toBeNull();
  });
});
