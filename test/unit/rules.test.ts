import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { classifyPath, firstMatch, gate, gateFastRequest, gateRules, KEY_PATH_RULES, keyPath, KIND_RULES, MAX_REQUEST_URI, REJECT_RULES, rejectReason, SESSION_ID_HINT, STREAM_RULES, streamOf, streamRules } from '../../njs/rules.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../tools/paths.ts';
import { mapRules } from '../../tools/render.ts';
import { expectedGate, methods, requestTargets } from '../support/request-targets.ts';

describe('rejectReason (raw request target)', () => {
  it.each([
    '/live/_definst_/cam1/playlist.m3u8',
    '/live/cam1/chunklist_w1234_b800000.m3u8?wowzasessionid=1234',
    '/vod/mp4:sample.mp4/media_b400000_3.ts',
    '/live/smil:cam1.smil/playlist.m3u8',
    '/live/cam%20one/playlist.m3u8',
    '/live/caf%C3%A9/playlist.m3u8',
    '/live/%F0%9F%8E%A5/playlist.m3u8',
    '/live/cam1/a.ts?x=;y&z=%c0%ae', // the query is not the path
    '/live/cam1/..hidden.ts', // not a dot segment
    '/live/cam1/a.ts?x=../../etc//%00', // the query is not the path
    '/',
  ])('accepts %s', (uri) => {
    expect(rejectReason(uri)).toBe('');
  });

  it.each([
    ['http://evil/x.ts', 'not-origin-form'],
    ['*', 'not-origin-form'],
    ['/live/../etc/passwd', 'dot-segment'],
    ['/live/%2e%2e/etc/passwd', 'dot-segment'],
    ['/live/%2E%2e/x', 'dot-segment'],
    ['/live/.%2e/x', 'dot-segment'],
    ['/live/./x', 'dot-segment'],
    ['/live/cam1/..', 'dot-segment'],
    ['/live/cam1/..?a=1', 'dot-segment'],
    ['/live/a%00.ts', 'nul-byte'],
    ['/live/a%0d%0aSet-Cookie:x.ts', 'control-char'],
    ['/live/a%7F.ts', 'control-char'],
    ['/live/a%2fb.ts', 'encoded-separator'],
    ['/live/a%2Fb.ts', 'encoded-separator'],
    ['/live/a%5cb.ts', 'encoded-separator'],
    ['/live/a\\b.ts', 'encoded-separator'],
    ['/live//a.ts', 'empty-segment'],
    ['/live/%zz.ts', 'bad-percent-encoding'],
    ['/live/%4.ts', 'bad-percent-encoding'],
    ['/live/a%', 'bad-percent-encoding'],
    ['/live/a%4?x', 'bad-percent-encoding'],
    // One canonical spelling (issue 14): what an origin could read otherwise.
    ['/live;x/cam1/playlist.m3u8', 'path-parameter'],
    ['/live;/cam1/media_3.ts', 'path-parameter'],
    ['/live/cam1/x/..;/..;/cam2/playlist.m3u8', 'path-parameter'],
    ['/live/cam1/a.ts;jsessionid=1', 'path-parameter'],
    ['/live/%c0%ae%c0%ae/x', 'bad-utf8'],
    ['/live/%C0%AE/x', 'bad-utf8'],
    ['/live/%e0%80%ae/x', 'bad-utf8'],
    ['/live/%ed%a0%80/x', 'bad-utf8'],
    ['/live/%f4%90%80%80/x', 'bad-utf8'],
    ['/live/%c3/x', 'bad-utf8'],
    ['/live/%a9/x', 'bad-utf8'],
    ['/live/caf\xc3\xa9/x', 'bad-utf8'],
    ['/live/%252e%252e/cam2/playlist.m3u8', 'double-encoding'],
    ['/live/%25/x', 'double-encoding'],
    ['/%6Cive/cam1/playlist.m3u8', 'encoded-unreserved'],
    ['/live/cam%31/playlist.m3u8', 'encoded-unreserved'],
    ['/live/a%2eb.ts', 'encoded-unreserved'],
    ['/live/a%7e.ts', 'encoded-unreserved'],
  ])('refuses %s (%s)', (uri, reason) => {
    expect(rejectReason(uri)).toBe(reason);
  });

  it(`refuses a target longer than ${MAX_REQUEST_URI} bytes`, () => {
    expect(rejectReason('/' + 'a'.repeat(MAX_REQUEST_URI))).toBe('uri-too-long');
    expect(rejectReason('/' + 'a'.repeat(MAX_REQUEST_URI - 1))).toBe('');
  });

  it('refuses exactly the paths whose decoded segments hold NUL, controls, separators, dot segments or a "%" (an encoded "%" is double encoding)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { maxLength: 6 }), fc.boolean(), (segs, encodeDots) => {
        const enc = (s: string) => {
          const e = encodeURIComponent(s);
          return encodeDots ? e.replace(/\./g, '%2e') : e;
        };
        const raw = '/' + segs.map(enc).join('/');
        const hostile = segs.some(
          (s, i) => s === '.' || s === '..' || (s === '' && i < segs.length - 1) || /[\u0000-\u001f\u007f/\\%]/.test(s) || (encodeDots && s.includes('.')),
        );
        expect(rejectReason(raw) !== '').toBe(hostile);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('classifyPath', () => {
  it.each([
    ['/live/_definst_/cam1/playlist.m3u8', 'master'],
    ['/live/cam1/playlist_sfm4s.m3u8', 'master'],
    ['/live/cam1/chunklist_w1_b800000.m3u8', 'media'],
    ['/live/cam1/index.m3u8', 'media'],
    ['/live/cam1/manifest.mpd', 'mpd'],
    ['/live/cam1/media_w1_b800000_12.ts', 'segment'],
    ['/live/cam1/media_w1_b800000_12.aac', 'segment'],
    ['/live/cam1/chunk_ctvideo_ridp0va0br994339_cinit_w1146251977_mpd.m4s', 'init'],
    ['/live/cam1/chunk_ctvideo_ridp0va0br994339_cn1_w1146251977_mpd.m4s', 'segment'],
    ['/live/cam1/init.mp4', 'init'],
    ['/live/cam1/key_w1.key', 'key'],
    ['/live/cam1/index.php', 'other'],
    ['/', 'other'],
  ])('%s is %s', (path, kind) => {
    expect(classifyPath(path)).toBe(kind);
  });
});

describe('rendering rule tables as nginx maps', () => {
  it('keeps the order and the case flag', () => {
    const m = mapRules(KIND_RULES);
    expect(m).toContainEqual({ pattern: '~*\\.mpd$', value: 'mpd' });
    expect(m.findIndex((e) => e.value === 'master')).toBeLessThan(m.findIndex((e) => e.value === 'media'));
  });

  it('every pattern can be written in an nginx quoted string', () => {
    expect(() => mapRules(REJECT_RULES)).not.toThrow();
    expect(() => mapRules([{ re: 'a"b', ci: false, value: 'x' }])).toThrow('cannot be quoted');
  });
});

describe('the gate (one map for the raw target and the method)', () => {
  it('says what rejectReason and the method say, for random targets and methods', () => {
    fc.assert(fc.property(methods, requestTargets, (m, u) => {
      expect(gate(m, u)).toBe(expectedGate(m, u));
    }), { numRuns: 5000 });
  });

  it('passes by its one-regex test of the request line only what it passes', () => {
    const fast = new RegExp(gateFastRequest());
    fc.assert(fc.property(methods, requestTargets, fc.constantFrom(' HTTP/1.1', ' HTTP/1.0', ''), (m, u, v) => {
      if (fast.test(m + ' ' + u + v)) expect(gate(m, u)).toBe('');
    }), { numRuns: 5000 });
    expect(fast.test('GET /live/cam1/chunklist_w1_b800000.m3u8?wowzasessionid=1 HTTP/1.1')).toBe(true);
    expect(fast.test('HEAD /vod/mp4:a.mp4/media_b400000_3.ts HTTP/1.1')).toBe(true);
    expect(fast.test('GET /live/cam%20one/playlist.m3u8 HTTP/1.1')).toBe(false); // the map decides: ""
    expect(fast.test('GET /' + 'a'.repeat(MAX_REQUEST_URI - 1) + ' HTTP/1.1')).toBe(true);
    expect(fast.test('GET /' + 'a'.repeat(MAX_REQUEST_URI) + ' HTTP/1.1')).toBe(false);
    expect(fast.test('GET http://evil/x.ts HTTP/1.1')).toBe(false);
    expect(fast.test('GET /live/a /../x.ts HTTP/1.1')).toBe(false);
    expect(fast.test('GET /live/a.ts?b=1 /../x HTTP/1.1')).toBe(false);
    expect(fast.test('GET /live/a.ts')).toBe(true);
  });

  it('refuses a protected application in any other case, directly or under a link, and nothing else', () => {
    const apps = ['live', 'secure'];
    for (const uri of ['/LIVE/cam1/playlist.m3u8', '/Live/cam1/media_3.ts', '/lIvE', '/SECURE/x/a.ts?b=1', '/_me/1/2/3/LIVE/cam1/chunklist.m3u8']) {
      expect(gate('GET', uri, apps), uri).toBe('app-spelling');
      expect(new RegExp(gateFastRequest(apps)).test(`GET ${uri} HTTP/1.1`), uri).toBe(false);
    }
    for (const uri of ['/live/cam1/playlist.m3u8', '/_me/1/2/3/live/cam1/x.ts', '/liveX/cam1/a.ts', '/other/LIVE/a.ts', '/LIVEsports/a.ts']) {
      expect(gate('GET', uri, apps), uri).toBe('');
      expect(new RegExp(gateFastRequest(apps)).test(`GET ${uri} HTTP/1.1`), uri).toBe(true);
    }
    fc.assert(fc.property(methods, requestTargets, (m, u) => {
      const fast = new RegExp(gateFastRequest(apps));
      if (fast.test(m + ' ' + u + ' HTTP/1.1')) expect(gate(m, u, apps)).toBe('');
    }), { numRuns: 2000 });
  });

  it('refuses long targets and other methods whatever their path', () => {
    expect(gate('GET', '/' + 'a'.repeat(MAX_REQUEST_URI - 1))).toBe('');
    expect(gate('GET', '/' + 'a'.repeat(MAX_REQUEST_URI))).toBe('uri-too-long');
    expect(gate('POST', '/live/a.ts')).toBe('method');
    expect(gate('OPTIONS', '/live/%2e%2e/x')).toBe('dot-segment');
  });

  it('renders as one nginx map over the method and the raw target', () => {
    const conf = readFileSync(join(PACKAGE_ROOT, 'nginx', 'media-edge-http.conf'), 'utf8');
    const m = /^map "\$request_method \$request_uri" \$media_edge_gate \{\n([\s\S]*?)^\}/m.exec(conf);
    expect(m).not.toBeNull();
    expect(m![1]).toContain('{{#each gate_rules}}');
    expect(m![1]).not.toContain('volatile');
    expect(mapRules(gateRules()).length).toBe(gateRules().length);
  });
});

describe('the session-id hint (the key of a name without one is its path)', () => {
  it('is in every key rule', () => {
    for (const r of KEY_PATH_RULES) expect(r.re).toContain(SESSION_ID_HINT);
  });
  it('holds for random paths', () => {
    const hint = new RegExp(SESSION_ID_HINT, 'i');
    const part = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('chunklist', 'media', 'chunk_ctvideo', 'key', '_w', '_W1', '_w12', '_b800000', '.m3u8', '.ts', '.key', '.m4s', '/'));
    fc.assert(fc.property(fc.array(part, { maxLength: 8 }), (parts) => {
      const p = '/live/' + parts.join('');
      if (!hint.test(p)) expect(keyPath(p)).toBe(p);
    }), { numRuns: 5000 });
  });
});

describe('streamOf', () => {
  it.each([
    ['/live/cam1/playlist.m3u8', 'live/cam1'],
    ['/live/_definst_/cam1/playlist.m3u8', 'live/cam1'],
    ['/vod/mp4:sample.mp4/chunklist_b1.m3u8', 'vod/mp4:sample.mp4'],
    ['/vod/_definst_/mp4:dir/a.mp4/media_1.ts', 'vod/mp4:dir/a.mp4'],
    ['/vod/inst/mp4:dir/a.mp4/media_1.ts', 'vod/inst/mp4:dir/a.mp4'],
    ['/live/inst/cam1/media_1.ts', 'live/inst/cam1'],
    // Stream a/X of the default instance is not stream X of instance a.
    ['/live/_definst_/a/X/playlist.m3u8', 'live/_definst_/a/X'],
    ['/live/a/X/playlist.m3u8', 'live/a/X'],
    ['/x.ts', '/x.ts'],
    // nginx-rtmp, nested and flat: a playlist and its fragments are one stream.
    ['/live/cam1/index.m3u8', 'live/cam1'],
    ['/live/cam1/12.ts', 'live/cam1'],
    ['/live/cam1.m3u8', 'live/cam1'],
    ['/live/cam1-12.ts', 'live/cam1'],
    ['/live/cam1-3.key', 'live/cam1'],
    ['/live/cam-1.m3u8', 'live/cam-1'],
    ['/live/cam-1-12.ts', 'live/cam-1'],
    ['/dash/cam1.mpd', 'dash/cam1'],
    ['/dash/cam1-init.m4v', 'dash/cam1'],
    ['/dash/cam1-init.m4a', 'dash/cam1'],
    ['/dash/cam1-1234567.m4v', 'dash/cam1'],
    ['/dash/cam1-raw.m4a', 'dash/cam1'],
    // Not fragments of a flat stream: their own.
    ['/live/cam1.ts', '/live/cam1.ts'],
    ['/live/cam1-x.ts', '/live/cam1-x.ts'],
  ])('%s is %s', (p, s) => expect(streamOf(p)).toBe(s));

  it('two paths are one stream only where Wowza reads one application, instance and stream (every path of up to 5 names from a small alphabet)', () => {
    // Wowza: /{app}[/{instance}]/[{prefix}:]{stream}/{file}, the instance
    // `_definst_` when omitted; a prefixed name, or the rest after an
    // instance, may hold slashes.
    const prefixed = /^(mp4|mp3|smil|ngrp|amlst|id3):/;
    const wowza = (p: string): string | null => {
      const s = p.split('/').slice(1, -1);
      if (s.length < 2 || s.some((x) => x === '')) return null;
      const at = s.findIndex((x, i) => i > 0 && prefixed.test(x));
      if (at === 1) return [s[0], '_definst_', s.slice(1).join('/')].join('|');
      if (at === 2) return [s[0], s[1], s.slice(2).join('/')].join('|');
      if (s.length === 2) return [s[0], '_definst_', s[1]].join('|');
      return [s[0], s[1], s.slice(2).join('/')].join('|');
    };
    // Exhaustive, not random: the pairs that collide are rare among random ones.
    const names = ['live', '_definst_', 'a', 'X', 'mp4:a.mp4'];
    let paths = [''];
    const all: string[] = [];
    for (let n = 1; n <= 5; n++) {
      paths = paths.flatMap((p) => names.map((x) => p + '/' + x));
      if (n >= 2) all.push(...paths.map((p) => p + '/playlist.m3u8'));
    }
    const seen = new Map<string, string>();
    for (const p of all) {
      const id = streamOf(p);
      if (id === p) continue; // its own stream
      const w = wowza(p);
      const first = seen.get(id);
      if (first === undefined) seen.set(id, p);
      else expect(w, `${p} and ${first} are both ${id}`).toBe(wowza(first));
    }
  });

  it.each([
    // nginx-rtmp hls_variant with suffixes _low and _hi: flat and nested renditions are the master's stream.
    ['/flat/abr.m3u8', 'flat/abr'],
    ['/flat/abr_low.m3u8', 'flat/abr'],
    ['/flat/abr_hi-12.ts', 'flat/abr'],
    ['/flat/abr_low-3.key', 'flat/abr'],
    ['/hls/abr_low/index.m3u8', 'hls/abr'],
    ['/hls/abr_hi/12.ts', 'hls/abr'],
    ['/live/cam_low/playlist.m3u8', 'live/cam'],
    ['/live/_definst_/cam_low/playlist.m3u8', 'live/cam'],
    // Not a suffix: its own stream, as without variants.
    ['/flat/abr_lowx.m3u8', 'flat/abr_lowx'],
    ['/flat/_low.m3u8', 'flat/_low'],
  ])('with stream_variants ["_low", "_hi"], %s is %s', (p, want) => expect(streamOf(p, ['_low', '_hi'])).toBe(want));

  it('without stream_variants, nothing changes: every path reads as the plain rules read it', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom('live', 'abr_low', 'abr', '_low', 'x-1.ts', 'index.m3u8', 'abr_low.m3u8'), { minLength: 1, maxLength: 4 }), (segs) => {
      const p = '/' + segs.join('/');
      expect(streamOf(p, [])).toBe(streamOf(p));
      expect(firstMatch(streamRules([]), p, p)).toBe(streamOf(p));
    }));
  });

  it('the three-segment rule first changes no answer (the order Wowza documents, checked on random paths)', () => {
    // The table as written before the three-segment rule moved first.
    const documented = STREAM_RULES.slice(1).concat([STREAM_RULES[0]]);
    const seg = fc.oneof(fc.constantFrom('live', '_definst_', 'mp4:a.mp4', 'smil:s.smil', 'ngrp:g', 'cam1', 'dir', 'media_1.ts', ''), fc.string({ maxLength: 6 }));
    fc.assert(fc.property(fc.array(seg, { minLength: 1, maxLength: 6 }), (segs) => {
      const p = '/' + segs.join('/');
      expect(streamOf(p)).toBe(firstMatch(documented, p, p));
    }), { numRuns: 5000 });
  });
});
