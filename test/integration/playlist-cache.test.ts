/**
 * Playlist-aware caching (issue 3) against real nginx on every target, with
 * the Wowza-like test origin: each rule shown by counting origin requests and
 * reading X-Cache-Status / Cache-Control / X-Media-Edge-TTL.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { get, sleep } from '../support/http.ts';
import { targets } from '../support/targets.ts';
import { useEdge } from '../support/use-edge.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';

const { targets: list } = targets();

/** Child URIs (non-tag lines) of a playlist body. */
function uris(body: Buffer | string): string[] {
  return body.toString().split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
}

describe.each(list)('playlist-aware cache on $name', (target) => {
  let origin: WowzaOrigin;

  beforeAll(async () => {
    origin = await new WowzaOrigin({ segmentSeconds: 4, window: 4, segmentBytes: 64 * 1024 }).start();
  });
  afterAll(async () => {
    await origin?.stop();
  });
  const aware = useEdge(target, () => ({
    origins: [{ name: 'wowza', http: origin.address }],
    playlist_stale_grace: '4s',
    playlist_max_bytes: 8192,
  }), { expected: [/connect\(\) failed|upstream prematurely closed/] });
  beforeEach(() => {
    origin.reset();
  });

  it('caches a live media playlist for half its target duration, and says so', async () => {
    const p = '/live/ttl/chunklist_b800000.m3u8';
    const a = await get(aware.edge.url + p);
    const b = await get(aware.edge.url + p);
    expect(a.status).toBe(200);
    expect(a.headers['x-cache-status']).toBe('MISS');
    expect(b.headers['x-cache-status']).toBe('HIT');
    // Half of 4 s, less the second nginx may add (it counts whole seconds).
    expect(a.headers['cache-control']).toBe('max-age=1, stale-while-revalidate=1');
    expect(a.headers['x-media-edge-ttl']).toBe('1; live target=4');
    expect(b.headers.age).toMatch(/^[0-1]$/);
    expect(origin.count(p)).toBe(1);
    await sleep(2100);
    const c = await get(aware.edge.url + p);
    // Expired: served stale while one background request refreshes it.
    expect(['EXPIRED', 'UPDATING', 'STALE']).toContain(c.headers['x-cache-status']);
    // The refresh runs in the background: wait for it, up to 3 s; exactly one.
    for (const deadline = Date.now() + 3000; origin.count(p) < 2 && Date.now() < deadline;) await sleep(100);
    await sleep(300);
    expect(origin.count(p)).toBe(2);
  });

  it('VOD playlists live long and are immutable (no Age: it is for live); masters get their own TTL and an Age that counts up', async () => {
    const v = await get(aware.edge.url + '/vod/movie/chunklist_b800000.m3u8');
    expect(v.headers.age).toBeUndefined();
    const m0 = await get(aware.edge.url + '/live/age/playlist.m3u8');
    expect(m0.headers.age).toMatch(/^[01]$/);
    await sleep(2100);
    const later = await get(aware.edge.url + '/live/age/playlist.m3u8');
    expect(later.headers['x-cache-status']).toBe('HIT');
    expect(Number(later.headers.age)).toBeGreaterThanOrEqual(2);
    expect(Number(later.headers.age)).toBeLessThanOrEqual(3);
    expect(v.headers['x-media-edge-ttl']).toBe('3600; vod');
    expect(v.headers['cache-control']).toBe('max-age=3600, stale-while-revalidate=3600, immutable');
    const m = await get(aware.edge.url + '/live/ttl/playlist.m3u8');
    expect(m.headers['x-media-edge-ttl']).toBe('5; master');
  });

  it('Wowza session ids never split the cache, and what viewers get still plays', async () => {
    const n = origin.liveEdge();
    const lists = await Promise.all(
      [11, 12, 13, 14, 15, 16].map((sid) => get(`${aware.edge.url}/live/sess/chunklist_w${sid}_b800000.m3u8?wowzasessionid=${sid}`)),
    );
    lists.forEach((l) => expect(l.status).toBe(200));
    expect(origin.count(/\/live\/sess\/chunklist/)).toBe(1);
    // Every viewer got the same playlist; its segment names carry the sid of
    // the viewer who filled the cache, which the origin knows.
    const segs = uris(lists[0].body);
    expect(segs.at(-1)).toMatch(new RegExp(`^media_w1[1-6]_b800000_${n}\\.ts\\?me_run=[0-9a-z]+$`));
    const run = /me_run=([0-9a-z]+)/.exec(segs.at(-1)!)![1];
    await sleep(300); // prefetch of the new segments has had its chance
    const bodies = await Promise.all(
      [21, 22, 23].map((sid) => get(`${aware.edge.url}/live/sess/media_w${sid}_b800000_${n}.ts?me_run=${run}&wowzasessionid=${sid}`)),
    );
    for (const b of bodies) {
      expect(b.status).toBe(200);
      expect(b.body.equals(origin.liveSegment('sess', 800000, n))).toBe(true);
    }
    expect(origin.count(new RegExp(`/live/sess/media_w\\d+_b800000_${n}\\.ts$`))).toBe(1);
  });

  it('keys hold LL-HLS directives and the run, not tokens or unknown parameters', async () => {
    const p = '/live/keys/chunklist_b800000.m3u8';
    await get(`${aware.edge.url}${p}?token=aaa`);
    const b = await get(`${aware.edge.url}${p}?token=bbb&utm=x`);
    expect(b.headers['x-cache-status']).toBe('HIT');
    const c = await get(`${aware.edge.url}${p}?_HLS_msn=5`);
    expect(c.headers['x-cache-status']).toBe('MISS');
    expect(origin.count(p)).toBe(2);
  });

  it('prefetches what a playlist newly lists, without delaying the playlist, once the stream was produced before', async () => {
    // First production: a name seen once gets no prefetch (a flood of names
    // must not multiply origin load); the next production of it does.
    await get(aware.edge.url + '/live/pre/chunklist_b400000.m3u8');
    // A segment the first copy did not list.
    const n0 = origin.liveEdge();
    while (origin.liveEdge() === n0) await sleep(200);
    // Past the first copy's life: kept 1 s (which nginx may round up to 2),
    // then served stale for its stale-while-revalidate second while it is
    // produced again. After that, the next request produces.
    await sleep(3100);
    origin.faults = [{ match: /\/live\/pre\/media_/, delayMs: 1500 }];
    const n = origin.liveEdge();
    const t0 = Date.now();
    const l = await get(aware.edge.url + '/live/pre/chunklist_b400000.m3u8');
    expect(Date.now() - t0).toBeLessThan(1200);
    expect(['MISS', 'EXPIRED'], 'a production, not the stale copy').toContain(l.headers['x-cache-status']);
    const newest = uris(l.body).at(-1)!;
    // The origin's newest at the time (or the next one, were it published meanwhile).
    const m = /^media_b400000_(\d+)\.ts\?me_run=/.exec(newest);
    expect(m, newest).not.toBeNull();
    expect([n, n + 1]).toContain(Number(m![1]));
    await sleep(1800);
    origin.faults = [];
    const s = await get(`${aware.edge.url}/live/pre/${newest}`);
    expect(s.headers['x-cache-status']).toBe('HIT');
    expect(origin.count(`/live/pre/media_b400000_${m![1]}.ts`)).toBe(1);
    expect(readFileSync(join(aware.edge.dir, 'state', 'logs', 'producer.log'), 'utf8')).toMatch(/kind=segment cache=MISS/);
  });

  it('caches a 404 for a second at most, so a stream comes back at once', async () => {
    origin.streams = /^other$/;
    const p = '/live/late/chunklist_b800000.m3u8';
    const a = await get(aware.edge.url + p);
    const b = await get(aware.edge.url + p);
    expect(a.status).toBe(404);
    expect(b.headers['x-cache-status']).toBe('HIT');
    expect(a.headers['cache-control']).toBe('max-age=1');
    origin.streams = null;
    await sleep(2100); // 1 s, which nginx may round up to 2

    const c = await get(aware.edge.url + p);
    expect(c.status).toBe(200);
  });

  it('never caches a 5xx, and serves a playlist stale for the grace period only', async () => {
    const p = '/live/fail/chunklist_b800000.m3u8';
    origin.faults = [{ match: /\/live\/fail\//, status: 503 }];
    await get(aware.edge.url + p);
    const x = await get(aware.edge.url + p);
    expect(x.status).toBe(503);
    expect(x.headers['x-cache-status']).not.toBe('HIT');
    expect(origin.count(p)).toBe(2);
    origin.faults = [];
    const stored = Date.now();
    expect((await get(aware.edge.url + p)).status).toBe(200); // kept 1 s (nginx: up to 2), revalidated in the background 1 s more
    origin.faults = [{ match: /\/live\/fail\//, status: 503 }];
    // Until the copy is 1 s + 4 s old, viewers get it: from nginx while
    // stale-while-revalidate lasts, then the producer's last good copy.
    const seen: string[] = [];
    while (Date.now() - stored < 4500) {
      const s = await get(aware.edge.url + p);
      expect(s.status).toBe(200);
      seen.push(String(s.headers['x-media-edge-ttl']));
      await sleep(250);
    }
    expect(seen.some((t) => /^0; stale-if-error age=[34]$/.test(t))).toBe(true);
    await sleep(Math.max(0, stored + 5600 - Date.now())); // past TTL + grace
    const e = await get(aware.edge.url + p);
    expect(e.status).toBe(503);
    expect(e.headers['cache-control']).toBe('no-store');
    expect(aware.edge.errorLog()).toMatch(/origins failing; served the copy from [34]s ago/);
  });

  it('a restarted stream never gets segments cached from its previous run', async () => {
    const p = '/live/restart/chunklist_b800000.m3u8';
    const before = uris((await get(aware.edge.url + p)).body);
    const old = before.at(-1)!;
    const oldBody = (await get(`${aware.edge.url}/live/restart/${old}`)).body;
    origin.restart();
    let after: string[] = [];
    for (let i = 0; i < 20; i++) {
      await sleep(250); // the cached playlist expires (1-2 s), then one refresh
      after = uris((await get(aware.edge.url + p)).body);
      if (/_[0-3]\.ts/.test(after.at(-1)!)) break;
    }
    const m = /^media_b800000_(\d+)\.ts\?me_run=([0-9a-z]+)$/.exec(after.at(-1)!)!;
    expect(m).not.toBeNull();
    expect(old).not.toContain(`me_run=${m[2]}`);
    for (const u of after) {
      const n = Number(/_(\d+)\.ts/.exec(u)![1]);
      const r = await get(`${aware.edge.url}/live/restart/${u}`);
      expect(r.body.equals(origin.liveSegment('restart', 800000, n))).toBe(true);
      expect(r.body.equals(oldBody)).toBe(false);
    }
    expect(aware.edge.errorLog()).toMatch(/stream restarted \(media sequence 0\)/);
  });

  it('passes broken playlists through unchanged with the short TTL and a log line, never a 500', async () => {
    const cases: [string, Buffer, string][] = [
      ['/live/bad/html.m3u8', Buffer.from('<!DOCTYPE html><html><body>Error</body></html>'), 'html-page'],
      ['/live/bad/latin1.m3u8', Buffer.from('#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\ncaf\xe9.ts\n', 'latin1'), 'not-utf8'],
      ['/live/bad/huge.m3u8', Buffer.from('#EXTM3U\n' + '#EXT-X-X:1\n'.repeat(1000)), 'too-large'],
      ['/live/bad/noheader.m3u8', Buffer.from('#EXT-X-TARGETDURATION:4\nx.ts\n'), 'no-extm3u'],
      ['/live/bad/notarget.m3u8', Buffer.from('#EXTM3U\n#EXTINF:4,\nx.ts\n'), 'no-target-duration'],
      ['/live/bad/empty.m3u8', Buffer.alloc(0), 'no-extm3u'],
      ['/live/bad/garbage.mpd', Buffer.from([0x00, 0xff, 0x10, 0x20]), 'not-utf8'],
    ];
    for (const [path, body, why] of cases) {
      origin.bodies[path] = { body };
      const r = await get(aware.edge.url + path);
      expect(r.status, path).toBe(200);
      expect(r.body.equals(body), path).toBe(true);
      expect(r.headers['x-media-edge-ttl'], path).toBe(`1; unparsed:${why}`);
      expect(aware.edge.errorLog()).toContain(`${path}: origin playlist not understood (${why}`);
    }
  });

  it('a body over twice playlist_max_bytes is refused with 502, logged, and not cached', async () => {
    const path = '/live/bad/enormous.m3u8';
    origin.bodies[path] = { body: Buffer.from('#EXTM3U\n' + '#EXT-X-X:1\n'.repeat(3000)) };
    const r = await get(aware.edge.url + path);
    expect(r.status).toBe(502);
    expect(r.headers['x-cache-status']).not.toBe('HIT');
    expect(aware.edge.errorLog()).toMatch(/too big subrequest response/);
  });

  it('handles relative, absolute and protocol-relative URIs inside playlists', async () => {
    const path = '/live/forms/chunklist_b800000.m3u8';
    const body = (extra: string[]) => ['#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXT-X-MEDIA-SEQUENCE:7',
      '#EXTINF:4,', 'rel_7.ts', '#EXTINF:4,', '/live/forms/abs_8.ts', '#EXTINF:4,', 'http://cdn.example/x_9.ts',
      '#EXTINF:4,', '//cdn.example/y_10.ts', ...extra, ''].join('\n');
    origin.bodies[path] = { body: body(['#EXTINF:4,', '../forms/up_11.ts?a=1']) };
    const r = await get(aware.edge.url + path);
    const u = uris(r.body);
    expect(u[0]).toMatch(/^rel_7\.ts\?me_run=[0-9a-z]+$/);
    expect(u[1]).toMatch(/^\/live\/forms\/abs_8\.ts\?me_run=/);
    expect(u[2]).toBe('http://cdn.example/x_9.ts');
    expect(u[3]).toBe('//cdn.example/y_10.ts');
    expect(u[4]).toMatch(/^\.\.\/forms\/up_11\.ts\?a=1&me_run=/);
    // The next production (the stream is known now) prefetches what is new,
    // and only on this edge's own paths.
    origin.bodies[path] = { body: body(['#EXTINF:4,', '../forms/up_11.ts?a=1', '#EXTINF:4,', '/live/forms/abs_12.ts', '#EXTINF:4,', '//cdn.example/z_13.ts']) };
    await sleep(3100); // kept 1 s (which nginx may round up to 2), then its stale-while-revalidate second
    await get(aware.edge.url + path);
    // Prefetch runs after the answer, in the background: wait for it, up to 3 s.
    for (const deadline = Date.now() + 3000; origin.count('/live/forms/abs_12.ts') === 0 && Date.now() < deadline;) await sleep(100);
    expect(origin.count('/live/forms/abs_12.ts')).toBe(1);
    expect(origin.requests.some((q) => q.url.includes('cdn.example') || q.url.includes('y_10') || q.url.includes('z_13'))).toBe(false);
  });

  it('LL-HLS: identical blocking reloads collapse into one origin request, cached immutable', async () => {
    const path = '/llhls/cam1/chunklist.m3u8';
    origin.bodies[path] = {
      body: ['#EXTM3U', '#EXT-X-VERSION:9', '#EXT-X-TARGETDURATION:4', '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3',
        '#EXT-X-PART-INF:PART-TARGET=1', '#EXT-X-MEDIA-SEQUENCE:10', '#EXT-X-MAP:URI="init.mp4"',
        '#EXTINF:4,', 'seg10.m4s', '#EXT-X-PART:DURATION=1,URI="seg11.0.m4s",INDEPENDENT=YES', '#EXT-X-PART:DURATION=1,URI="seg11.1.m4s"',
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg11.2.m4s"', ''].join('\n'),
    };
    // The origin holds each blocking request, as a Wowza LL-HLS app does.
    origin.faults = [{ match: /\/llhls\/cam1\/chunklist\.m3u8$/, delayMs: 1500 }];
    const q = '?_HLS_msn=11&_HLS_part=2';
    const all = await Promise.all(Array.from({ length: 12 }, () => get(aware.edge.url + path + q)));
    for (const r of all) expect(r.status).toBe(200);
    expect(origin.count(path)).toBe(1);
    expect(all[0].headers['cache-control']).toBe('max-age=1, stale-while-revalidate=1, immutable');
    expect(all[0].headers['x-media-edge-ttl']).toMatch(/^1; blocking-reload/);
    const body = all[0].body.toString();
    expect(body).toMatch(/URI="seg11\.1\.m4s\?me_run=[0-9a-z]+"/);
    expect(body).toMatch(/#EXT-X-MAP:URI="init\.mp4\?me_run=/);
    // The bare URL of an LL-HLS playlist is held a second at most.
    origin.faults = [];
    const bare = await get(aware.edge.url + path);
    expect(bare.headers['x-media-edge-ttl']).toMatch(/^1; live target=4/);
  });

  it('byte-range requests for parts and segments are served from the cache', async () => {
    const n = origin.liveEdge();
    const p = `/live/range/media_b800000_${n}.ts`;
    const full = origin.liveSegment('range', 800000, n);
    const a = await get(aware.edge.url + p, { headers: { Range: 'bytes=100-1099' } });
    const b = await get(aware.edge.url + p, { headers: { Range: 'bytes=2000-' } });
    expect(a.status).toBe(206);
    expect(a.body.length).toBe(1000);
    expect(a.body.equals(full.subarray(100, 1100))).toBe(true);
    expect(b.status).toBe(206);
    expect(b.body.equals(full.subarray(2000))).toBe(true);
    expect(origin.count(p)).toBe(1);
  });

  it('DASH: a dynamic MPD lives its minimumUpdatePeriod and its segments carry the run; a static MPD lives long', async () => {
    const path = '/live/dash/manifest.mpd';
    origin.bodies[path] = {
      type: 'application/dash+xml',
      body: `<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" minimumUpdatePeriod="PT3S" availabilityStartTime="2026-11-25T00:00:00Z" profiles="urn:mpeg:dash:profile:isoff-live:2011">
  <Period id="0" start="PT0S"><AdaptationSet mimeType="video/mp4">
    <SegmentTemplate initialization="chunk_ctvideo_ridp0va0br800000_cinit_w123_mpd.m4s" media="chunk_ctvideo_ridp0va0br800000_cn$Number$_w123_mpd.m4s" startNumber="1" duration="2" timescale="1"/>
    <Representation id="p0va0" bandwidth="800000"/>
  </AdaptationSet></Period>
</MPD>
`,
    };
    const d = await get(aware.edge.url + path);
    // Half its minimumUpdatePeriod less a second, as HLS playlists get.
    expect(d.headers['x-media-edge-ttl']).toBe('1; dynamic-mpd mup=3');
    expect(d.headers['content-type']).toBe('application/dash+xml');
    expect(d.body.toString()).toMatch(/media="chunk_ctvideo_ridp0va0br800000_cn\$Number\$_w123_mpd\.m4s\?me_run=d[0-9a-z]+"/);
    const s = await get(aware.edge.url + '/live/dash2/manifest.mpd');
    expect(s.headers['x-media-edge-ttl']).toBe('3600; static-mpd');
  });

  it('without a writable run directory, playlists still flow (untagged) and the problem is logged', async () => {
    const runs = join(aware.edge.dir, 'state', 'runs');
    rmSync(runs, { recursive: true, force: true });
    writeFileSync(runs, 'not a directory\n'); // even root cannot create files under it
    try {
      const r = await get(aware.edge.url + '/live/norun/chunklist_b800000.m3u8');
      expect(r.status).toBe(200);
      expect(uris(r.body).every((u) => /^media_b800000_\d+\.ts$/.test(u))).toBe(true);
      expect(aware.edge.errorLog()).toMatch(/cannot save run state .*; segments of \/live\/norun\/chunklist_b800000\.m3u8 are not tagged with a run/);
    } finally {
      rmSync(runs, { force: true });
      mkdirSync(runs);
    }
  });
});

describe.each(list)("the origin's Cache-Control honoured, and state files swept, on $name", (target) => {
  let origin: WowzaOrigin;

  beforeAll(async () => {
    origin = await new WowzaOrigin({ segmentSeconds: 4, window: 4, segmentBytes: 16 * 1024 }).start();
  });
  afterAll(async () => {
    await origin?.stop();
  });
  const honoured = useEdge(target, () => ({
    origins: [{ name: 'wowza', http: origin.address }],
    playlist_origin_cache_control: 'honor',
    segment_origin_cache_control: 'honor',
    state_sweep_every: 1,
  }));
  beforeEach(() => {
    origin.reset();
  });

  it('forgets the state files of playlists nobody asked for in an hour', async () => {
    const runs = join(honoured.edge.dir, 'state', 'runs');
    const old = join(runs, 'ffffffffffffffffffffffffffffffff.run');
    const recent = join(runs, 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.last');
    writeFileSync(old, '{}');
    writeFileSync(recent, '{}');
    const twoHoursAgo = (Date.now() - 7200_000) / 1000;
    utimesSync(old, twoHoursAgo, twoHoursAgo);
    await get(honoured.edge.url + '/live/sweep/chunklist_b800000.m3u8'); // state_sweep_every 1: this production sweeps
    expect(existsSync(old)).toBe(false);
    expect(existsSync(recent)).toBe(true);
  });

  it('playlists: the origin max-age wins, and no-cache (a Wowza session app) is not stored', async () => {
    const mpd = await get(honoured.edge.url + '/live/h/manifest.mpd'); // the test origin sends max-age=1
    expect(mpd.headers['x-media-edge-ttl']).toBe('1; static-mpd origin-cache-control');
    const p = '/live/h/chunklist_b800000.m3u8'; // no-cache
    const a = await get(honoured.edge.url + p);
    const b = await get(honoured.edge.url + p);
    expect(a.headers['x-media-edge-ttl']).toBe('0; live target=4 origin-cache-control');
    expect(b.headers['cache-control']).toBe('no-store');
    expect(b.headers['x-cache-status']).not.toBe('HIT');
    expect(origin.count(p)).toBe(2);
  });

  it("segments: cached as long as the origin says, and viewers get the origin's Cache-Control", async () => {
    const kept = '/live/h/media_b800000_1.ts';
    origin.bodies[kept] = { body: Buffer.alloc(1000, 1), type: 'video/MP2T', cacheControl: 'public, max-age=60' };
    await get(honoured.edge.url + kept);
    const k = await get(honoured.edge.url + kept);
    expect(k.headers['x-cache-status']).toBe('HIT');
    expect(k.headers['cache-control']).toBe('public, max-age=60');
    const n = origin.liveEdge();
    const fresh = `/live/h/media_b800000_${n}.ts`; // the test origin sends no-cache
    await get(honoured.edge.url + fresh);
    const f = await get(honoured.edge.url + fresh);
    expect(f.headers['x-cache-status']).not.toBe('HIT');
    expect(f.headers['cache-control']).toBe('no-cache');
    expect(origin.count(fresh)).toBe(2);
  });
});
