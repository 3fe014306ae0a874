import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decide,
  inspect,
  isoDuration,
  liveBound,
  mpdRun,
  nextRun,
  originMaxAge,
  parseHls,
  parseMpd,
  resolveOnEdge,
  tagHlsRun,
  tagMpdRun,
  AGE_MAX_TTL,
  ageStamp,
  type CachePolicy,
} from '../../njs/playlist.ts';
import { utf8Decode } from '../../njs/utf8.ts';
import { keyPath } from '../../njs/rules.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../tools/paths.ts';
import { ageTable } from '../../tools/render.ts';

const P: CachePolicy = { fallback: 1, liveMax: 5, master: 5, vod: 3600, mpdMax: 5, notFound: 1, blocking: 1, honorOrigin: false };
const LIVE = '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:42\n#EXTINF:6.0,\nmedia_b800000_42.ts\n#EXTINF:6.0,\nmedia_b800000_43.ts\n';
const bytes = (s: string) => new Uint8Array(Buffer.from(s));

describe('parseHls', () => {
  it('reads a live media playlist', () => {
    const i = parseHls(LIVE);
    expect(i.kind).toBe('live');
    expect(i.targetDuration).toBe(6);
    expect(i.mediaSequence).toBe(42);
    expect(i.segments).toEqual(['media_b800000_42.ts', 'media_b800000_43.ts']);
  });
  it.each([
    [LIVE + '#EXT-X-ENDLIST\n', 'vod'],
    [LIVE.replace('#EXT-X-VERSION:3', '#EXT-X-PLAYLIST-TYPE:VOD'), 'vod'],
    [LIVE.replace('#EXT-X-VERSION:3', '#EXT-X-PLAYLIST-TYPE:EVENT'), 'event'],
    ['#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nchunklist_w1_b1.m3u8\n', 'master'],
    ['\ufeff#EXTM3U\r\n#EXT-X-TARGETDURATION:2\r\n#EXTINF:2,\r\na.ts\r\n', 'live'],
  ])('kind of %#', (text, kind) => expect(parseHls(text).kind).toBe(kind));
  it.each([
    ['<!DOCTYPE html><html>Error</html>', 'html-page'],
    ['  <html><body>502</body></html>', 'html-page'],
    ['', 'no-extm3u'],
    ['#EXT-X-TARGETDURATION:4\n', 'no-extm3u'],
    ['#EXTM3U\n#EXTINF:4,\na.ts\n', 'no-target-duration'],
    ['#EXTM3U\n#EXT-X-TARGETDURATION:4.5\n', 'bad-target-duration'],
    ['#EXTM3U\n#EXT-X-TARGETDURATION:-1\n', 'bad-target-duration'],
    ['#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:x\n', 'bad-media-sequence'],
    ['#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n', 'master-and-media-tags'],
    ['#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-PART-INF:PART-TARGET=0\n', 'bad-part-target'],
  ])('refuses %j as %s', (text, error) => {
    const i = parseHls(text);
    expect(i.kind).toBe('invalid');
    expect(i.error).toBe(error);
  });
  it('collects the LL-HLS parts of the segment in progress (not hints, maps or keys)', () => {
    const i = parseHls('#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-PART-INF:PART-TARGET=1.004\n#EXT-X-MAP:URI="init.mp4"\n#EXT-X-KEY:METHOD=AES-128,URI="k.key"\n'
      + '#EXT-X-PART:DURATION=1,URI="s1.0.m4s"\n#EXTINF:4,\ns1.m4s\n#EXT-X-PART:DURATION=1,URI="s2.0.m4s",INDEPENDENT=YES\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s2.1.m4s"\n');
    expect(i.partTarget).toBe(1.004);
    expect(i.tailParts).toEqual(['s2.0.m4s']);
    expect(i.segments).toEqual(['s1.m4s']);
  });
});

describe('parseMpd and durations', () => {
  it.each([['PT2S', 2], ['PT1M30.5S', 90.5], ['P1DT2H', 93600], ['PT0S', 0], ['P', -1], ['PT', -1], ['2S', -1], ['PT1H2', -1]])('isoDuration(%s) = %s', (s, n) => expect(isoDuration(s)).toBe(n));
  it('reads type, minimumUpdatePeriod and availabilityStartTime', () => {
    const i = parseMpd('<?xml version="1.0"?><MPD type="dynamic" minimumUpdatePeriod="PT4S" availabilityStartTime="2026-01-01T00:00:00Z">');
    expect([i.kind, i.minimumUpdatePeriod, i.availabilityStartTime]).toEqual(['mpd-dynamic', 4, '2026-01-01T00:00:00Z']);
    expect(parseMpd("<MPD type='static'>").kind).toBe('mpd-static');
    expect(parseMpd('<MPD>').kind).toBe('mpd-static');
  });
  it.each([['<html>', 'html-page'], ['<MPDX>', 'no-mpd-element'], ['<MPD type="live">', 'bad-mpd-type'], ['<MPD type="dynamic" minimumUpdatePeriod="soon">', 'bad-minimum-update-period'], ['<MPD type="static"', 'unterminated-mpd-element']])('refuses %s', (t, e) => expect(parseMpd(t).error).toBe(e));
});

describe('inspect: bytes', () => {
  it('refuses bodies over the limit and bodies that are not UTF-8', () => {
    expect(inspect(bytes(LIVE), false, 10).info.error).toBe('too-large');
    expect(inspect(new Uint8Array([0x23, 0xff]), false, 100).info.error).toBe('not-utf8');
    expect(inspect(bytes(LIVE), false, 1000)).toEqual({ info: parseHls(LIVE), text: LIVE });
  });
  it.each([
    [[0xc0, 0x80], false], [[0xe0, 0x80, 0x80], false], [[0xed, 0xa0, 0x80], false], [[0xf4, 0x90, 0x80, 0x80], false], [[0xe2, 0x82], false],
    [[0xe2, 0x82, 0xac], true], [[0xf0, 0x9f, 0x98, 0x80], true], [[0x7f], true],
  ])('strict UTF-8 of %j: %s', (b, ok) => expect(utf8Decode(new Uint8Array(b), 0, b.length, true) !== null).toBe(ok));
  it('lenient decoding (AMF0 strings) replaces each byte that starts no sequence', () => {
    expect(utf8Decode(new Uint8Array([0x41, 0xc0, 0x80, 0x42]), 0, 4)).toBe('A\ufffd\ufffdB');
  });
  it('decodes UTF-8 as Node does, also for long bodies', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 3000 }), (s) => {
      const b = new Uint8Array(Buffer.from(s, 'utf8'));
      expect(utf8Decode(b, 0, b.length, true)).toBe(s);
      expect(utf8Decode(b, 0, b.length)).toBe(s);
    }), { numRuns: 200 });
  });
});

describe('decide: lifetimes', () => {
  it('keeps a live playlist at most half its target duration, nginx rounding included', () => {
    expect([1, 2, 3, 4, 5, 6, 10, 12].map(liveBound)).toEqual([0, 1, 1, 1, 1, 2, 4, 5]);
    const d = decide(200, parseHls(LIVE), false, '', P);
    expect(d).toEqual({ ttl: 2, cacheControl: 'max-age=2, stale-while-revalidate=2', reason: 'live target=6' });
    expect(decide(200, parseHls(LIVE.replace(':6\n', ':20\n')), false, '', P).ttl).toBe(5);
  });
  it('VOD, masters, MPDs, blocking reloads, 404 and 5xx', () => {
    expect(decide(200, parseHls(LIVE + '#EXT-X-ENDLIST\n'), false, '', P).cacheControl).toBe('max-age=3600, stale-while-revalidate=3600, immutable');
    expect(decide(200, parseHls('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n'), false, '', P).ttl).toBe(5);
    // A dynamic MPD: the HLS rule over its minimumUpdatePeriod (half, less a second).
    expect(decide(200, parseMpd('<MPD type="dynamic" minimumUpdatePeriod="PT3S">'), false, '', P).ttl).toBe(1);
    expect(decide(200, parseMpd('<MPD type="dynamic" minimumUpdatePeriod="PT10S">'), false, '', P).ttl).toBe(4);
    expect(decide(200, parseMpd('<MPD type="dynamic" minimumUpdatePeriod="PT1S">'), false, '', P).cacheControl).toBe('no-store');
    // Never served stale: a player computes the live edge from the clock.
    expect(decide(200, parseMpd('<MPD type="dynamic" minimumUpdatePeriod="PT10S">'), false, '', P).cacheControl).toBe('max-age=4');
    expect(decide(200, parseMpd('<MPD type="dynamic">'), false, '', P).ttl).toBe(1);
    expect(decide(200, parseMpd('<MPD type="static">'), false, '', P).ttl).toBe(3600);
    expect(decide(200, parseHls(LIVE), true, '', P)).toMatchObject({ ttl: 1, reason: 'blocking-reload' });
    expect(decide(200, parseHls(LIVE), true, '', P).cacheControl).toContain('immutable');
    expect(decide(404, parseHls(''), false, '', P)).toEqual({ ttl: 1, cacheControl: 'max-age=1', reason: 'not-found' });
    expect(decide(503, parseHls(''), false, 'max-age=60', P)).toEqual({ ttl: 0, cacheControl: '', reason: 'status-503' });
    expect(decide(302, parseHls(''), false, '', P).cacheControl).toBe('no-store');
    expect(decide(200, parseHls('<html>'), false, '', P)).toMatchObject({ ttl: 1, reason: 'unparsed:html-page' });
  });
  it("honours the origin's Cache-Control only when told to, and never beyond the live bound", () => {
    const honor = { ...P, honorOrigin: true };
    expect(originMaxAge('public, s-maxage=30, max-age=5')).toBe(30);
    expect(originMaxAge('no-cache')).toBe(0);
    expect(originMaxAge('public')).toBe(-1);
    expect(decide(200, parseHls(LIVE), false, 'max-age=60', P).ttl).toBe(2);
    expect(decide(200, parseHls(LIVE), false, 'max-age=60', honor).ttl).toBe(2);
    expect(decide(200, parseHls(LIVE), false, 'max-age=1', honor).ttl).toBe(1);
    expect(decide(200, parseHls(LIVE), false, 'no-cache', honor)).toMatchObject({ ttl: 0, cacheControl: 'no-store' });
    expect(decide(200, parseHls(LIVE + '#EXT-X-ENDLIST\n'), false, 'max-age=60', honor).ttl).toBe(60);
  });
});

describe('runs (stream restarts)', () => {
  const info = (seq: number, n: number) => parseHls(`#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:${seq}\n` + Array.from({ length: n }, (_, i) => `#EXTINF:2,\nm_${seq + i}.ts\n`).join(''));
  it('keeps the run while numbers move on, starts a new one when they go back or the state is old', () => {
    const a = nextRun(null, info(10, 4), 1000, 30000);
    expect(a.restarted).toBe(false);
    expect(a.firstNew).toBe(0);
    const b = nextRun(a.state, info(11, 4), 3000, 30000);
    expect(b.state.run).toBe(a.state.run);
    expect(b.firstNew).toBe(3);
    const c = nextRun(b.state, info(0, 4), 5000, 30000);
    expect(c.restarted).toBe(true);
    expect(c.state.run).not.toBe(a.state.run);
    expect(nextRun(b.state, info(12, 4), 40000, 30000).restarted).toBe(true);
  });
  it('a viewer coming back after a pause is no restart: past everything seen, the run goes on', () => {
    const a = nextRun(null, info(10, 4), 1000, 30000); // last seen: 13
    const later = nextRun(a.state, info(40, 4), 61000, 30000);
    expect(later.restarted).toBe(false);
    expect(later.state.run).toBe(a.state.run);
    expect(later.firstNew).toBe(0);
    // Old numbers again after the pause: it started over.
    expect(nextRun(a.state, info(13, 4), 61000, 30000).restarted).toBe(true);
  });
  it('a bad run id starts a new run', () => {
    expect(nextRun({ run: '../x', seq: 1, last: 2, at: 0 }, info(3, 1), 1, 1e9).restarted).toBe(true);
  });
  it('tags only this edge’s URIs, and leaves everything else byte for byte', () => {
    const t = tagHlsRun('#EXTM3U\r\n#EXT-X-MAP:URI="init.mp4"\r\n#EXTINF:2,\r\na.ts\r\n#EXTINF:2,\r\nhttp://x/b.ts\r\n#EXTINF:2,\r\n//x/c.ts\r\n#EXTINF:2,\r\nd.ts?me_run=keep\r\n#EXT-X-PART:DURATION=1,URI="p.m4s?x=1"\r\n', 'r1');
    expect(t).toBe('#EXTM3U\r\n#EXT-X-MAP:URI="init.mp4?me_run=r1"\r\n#EXTINF:2,\r\na.ts?me_run=r1\r\n#EXTINF:2,\r\nhttp://x/b.ts\r\n#EXTINF:2,\r\n//x/c.ts\r\n#EXTINF:2,\r\nd.ts?me_run=keep\r\n#EXT-X-PART:DURATION=1,URI="p.m4s?x=1&me_run=r1"\r\n');
    expect(tagMpdRun('<SegmentTemplate media="c_$Number$.m4s?a=1" initialization="i.m4s"/><BaseURL>x</BaseURL>', 'd1'))
      .toBe('<SegmentTemplate media="c_$Number$.m4s?a=1&amp;me_run=d1" initialization="i.m4s?me_run=d1"/><BaseURL>x</BaseURL>');
    expect(mpdRun('2026-01-01T00:00:00Z')).toBe(mpdRun('2026-01-01T00:00:00Z'));
    expect(mpdRun('2026-01-01T00:00:00Z')).not.toBe(mpdRun('2026-01-01T00:00:01Z'));
  });
  it('resolves playlist URIs against the playlist, never above the root', () => {
    expect(resolveOnEdge('/live/s/chunklist.m3u8?x=1', 'a.ts?y')).toBe('/live/s/a.ts?y');
    expect(resolveOnEdge('/live/s/chunklist.m3u8', '../t/a.ts')).toBe('/live/t/a.ts');
    expect(resolveOnEdge('/live/s/chunklist.m3u8', '../../../../a.ts')).toBe('/a.ts');
    expect(resolveOnEdge('/live/s/chunklist.m3u8', '/abs/a.ts#f')).toBe('/abs/a.ts');
    expect(resolveOnEdge('/live/s/chunklist.m3u8', 'https://cdn/a.ts')).toBeNull();
    expect(resolveOnEdge('/live/s/chunklist.m3u8', '//cdn/a.ts')).toBeNull();
  });
});

describe('cache key paths (Wowza session ids)', () => {
  it.each([
    ['/live/cam/chunklist_w123_b800000.m3u8', '/live/cam/chunklist_b800000.m3u8'],
    ['/live/cam/chunklist_w123.m3u8', '/live/cam/chunklist.m3u8'],
    ['/live/cam/chunklist_w9_b800000_slen_ao.m3u8', '/live/cam/chunklist_b800000_slen_ao.m3u8'],
    ['/live/cam/media_w123_b800000_17.ts', '/live/cam/media_b800000_17.ts'],
    ['/live/cam/chunk_ctvideo_ridp0va0br994339_cinit_w1146251977_mpd.m4s', '/live/cam/chunk_ctvideo_ridp0va0br994339_cinit_mpd.m4s'],
    ['/live/cam/chunk_ctvideo_ridp0va0br994339_cn5_w1146251977_mpd.m4s', '/live/cam/chunk_ctvideo_ridp0va0br994339_cn5_mpd.m4s'],
    ['/live/cam/key_w5_b1.key', '/live/cam/key_b1.key'],
    ['/live/cam/media_b800000_17.ts', '/live/cam/media_b800000_17.ts'],
    ['/live/show_w2024/media_b1_1.ts', '/live/show_w2024/media_b1_1.ts'],
    ['/live/cam/playlist_w1.m3u8', '/live/cam/playlist_w1.m3u8'],
  ])('%s -> %s', (a, b) => expect(keyPath(a)).toBe(b));
});

describe('property: the parsers never throw and never loop', () => {
  const line = fc.oneof(
    fc.constantFrom('#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXT-X-MEDIA-SEQUENCE:7', '#EXTINF:4,', '#EXT-X-ENDLIST', '#EXT-X-PART-INF:PART-TARGET=1',
      '#EXT-X-PART:DURATION=1,URI="p.m4s"', '#EXT-X-MAP:URI="', '#EXT-X-STREAM-INF:BANDWIDTH=1', 'a.ts', '', '<html>', '\ufeff', '\r'),
    fc.string({ maxLength: 40 }),
  );
  it('random and mutated HLS playlists', () => {
    fc.assert(fc.property(fc.array(line, { maxLength: 60 }), fc.string({ maxLength: 8 }), (lines, run) => {
      const text = lines.join('\n');
      const i = parseHls(text);
      expect(['master', 'live', 'event', 'vod', 'invalid']).toContain(i.kind);
      const tagged = tagHlsRun(text, run.replace(/[^a-z0-9]/g, '') || 'r');
      expect(tagged.split('\n').length).toBe(text.split('\n').length);
      decide(200, i, false, '', P);
    }), { numRuns: 3000 });
  });
  it('random bytes and MPD-like text', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (b, mpd) => {
      const i = inspect(b, mpd, 200);
      expect(typeof i.info.kind).toBe('string');
      if (i.info.error !== 'not-utf8' && i.info.error !== 'too-large') expect(i.text).toBe(Buffer.from(b).toString('utf8'));
    }), { numRuns: 3000 });
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
      parseMpd('<MPD ' + s);
      tagMpdRun('<SegmentTemplate media="' + s + '"/>', 'd1');
      isoDuration(s);
    }), { numRuns: 2000 });
  });
});

describe('Age by nginx maps (media-edge-http.conf, tools/render.ts ageTable)', () => {
  /** What the maps compute: the template's regex over $time_iso8601, then the table with the producer's stamp. */
  const conf = readFileSync(join(PACKAGE_ROOT, 'nginx', 'media-edge-http.conf'), 'utf8');
  function mapsAge(producedMs: number, nowMs: number): string | undefined {
    const re = /^map \$time_iso8601 \$media_edge_now \{\n[^\n]*\n\s*"~(.*)" "\$1";/m.exec(conf)![1];
    const m = new RegExp(re).exec(new Date(nowMs).toISOString().slice(0, 19) + '+00:00');
    return m ? ageTable()[m[1] + ageStamp(producedMs)] : undefined;
  }
  it('equals now minus the produce time for every age it is used for', () => {
    fc.assert(fc.property(fc.integer({ min: 1_700_000_000, max: 2_000_000_000 }), fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 2 * AGE_MAX_TTL + 1 }), fc.integer({ min: 0, max: 999 }), (p, pms, age, ms) => {
      expect(mapsAge(p * 1000 + pms, (p + age) * 1000 + ms)).toBe(String(age));
    }), { numRuns: 3000 });
    expect(2 * AGE_MAX_TTL + 1).toBeLessThan(60);
    expect(mapsAge(1_764_049_999_000, 1_764_050_001_500)).toBe('2');
    expect(ageStamp(1_764_050_007_999)).toBe('27');
    expect(Object.keys(ageTable()).length).toBe(3600);
  });
});
