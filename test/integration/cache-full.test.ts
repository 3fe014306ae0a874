/**
 * The cache's disk full (njs/cache-space.ts) on every target: the cache
 * directory is a 16 MB tmpfs, and a file fills what is left of it but 1 MB
 * (room for a playlist, not for the stream's 2 MB segments, and less than
 * cache_min_free) while a viewer watches a live stream. nginx alone aborts every response it cannot
 * write to its cache file (a body cut short, a `[crit]` line per write:
 * `npm run bench`, faults: cachefull). With the edge's probe, every
 * playlist and segment is whole and fresh while the disk is full, nothing
 * is stored, the origin is asked for a playlist about once per TTL (the
 * producer answers from its fresh last copy), nginx logs no `[crit]`; the
 * edge says once that the disk is full and once that it has room, and
 * caches again.
 *
 * Root only (mount): CI runs as root. Containers see the tmpfs through the
 * bind mount of the edge's directory (recursive), mounted before they start.
 */
import { existsSync, mkdirSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_EVERY_MS } from '../../njs/cache-space.ts';
import { fill, mountTmpfs, unmountTmpfs } from '../support/disk.ts';
import { get, sleep } from '../support/http.ts';
import { targets } from '../support/targets.ts';
import { withEdge } from '../support/use-edge.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';

const { targets: list } = targets();
const SEGMENT_BYTES = 2 * 1024 * 1024;
const PLAYLIST = '/live/full/chunklist_b800000.m3u8';
const isRoot = process.getuid?.() === 0;

/** The newest segment a playlist lists, as a path on the edge. */
function newest(text: string): string {
  const uris = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  return '/live/full/' + uris[uris.length - 1];
}
const mediaSequence = (text: string) => Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1]);

describe.skipIf(!isRoot).each(list)('cache directory full on $name', (target) => {
  let origin: WowzaOrigin;
  beforeAll(async () => {
    origin = await new WowzaOrigin({ segmentSeconds: 2, window: 4, segmentBytes: SEGMENT_BYTES, sessions: false }).start();
  });
  afterAll(async () => {
    await origin.stop();
  });

  it('serves whole, fresh playlists and segments without storing them while the disk is full, logs no [crit], and caches again once it has room', async () => {
    // Mounted for each start of the edge (startEdge tries again with a new directory).
    const mounted: string[] = [];
    let cache = '';
    await withEdge(
      target,
      { origins: [{ name: 'o1', http: origin.address }], cache_dir: 'cache', cache_max_size: '8m', cache_min_free: '4m' },
      async (edge) => {
        try {
          // Stored while there is room.
          const first = await get(edge.url + PLAYLIST);
          expect(first.status).toBe(200);
          expect((await get(edge.url + PLAYLIST)).headers['x-cache-status']).toBe('HIT');
          const seg = newest(first.body.toString());
          expect((await get(edge.url + seg)).body.length).toBe(SEGMENT_BYTES);
          expect((await get(edge.url + seg)).headers['x-cache-status']).toBe('HIT');

          // Full: the probe's answer of a second ago is stale by then.
          const filler = join(cache, 'filler');
          fill(filler);
          truncateSync(filler, statSync(filler).size - 1024 * 1024);
          const filled = Date.now();
          await sleep(PROBE_EVERY_MS + 100);
          const playlistsBefore = origin.count(PLAYLIST);
          const segmentsSeen = new Set<string>();
          let playlistRequests = 0;
          let fromCopy = 0;
          const until = Date.now() + 5000;
          while (Date.now() < until) {
            const p = await get(edge.url + PLAYLIST);
            playlistRequests++;
            expect(p.status).toBe(200);
            expect(p.headers['x-media-edge-no-cache']).toBeUndefined();
            // From the producer's fresh copy: what a hit would have said.
            if (String(p.headers['x-media-edge-ttl']).includes('cache-full copy')) {
              fromCopy++;
              expect(p.headers['cache-control']).toBe('max-age=1, stale-while-revalidate=1');
              expect(Number(p.headers.age)).toBeLessThanOrEqual(1);
            }
            // The copy stored before may be a hit for its last second
            // (max-age=1 in nginx's whole seconds); none stored after.
            if (Date.now() - filled > 2500) expect(p.headers['x-cache-status']).not.toBe('HIT');
            // As fresh as a cached copy may be: its TTL (1 s) and, while
            // nginx refreshes it, its stale-while-revalidate (2 s) of 2 s
            // segments: at most two segments behind the origin's live edge.
            const text = p.body.toString();
            const last = mediaSequence(text) + 3;
            expect(origin.liveEdge() - last).toBeLessThanOrEqual(2);
            const s = newest(text);
            for (let i = 0; i < 2; i++) {
              const r = await get(edge.url + s);
              expect(r.status).toBe(200);
              expect(r.body.length).toBe(SEGMENT_BYTES);
              // Not stored: asked again, it is a miss again (the segment
              // stored before the disk filled is still a hit).
              if (s !== seg) expect(r.headers['x-cache-status']).toBe('MISS');
            }
            segmentsSeen.add(s);
            await sleep(200);
          }
          // The stream moved on while the disk was full.
          expect(segmentsSeen.size).toBeGreaterThanOrEqual(2);
          // The producer answered from its fresh copy: the origin asked about
          // once per TTL (1 s for 2 s segments), not once per request.
          const asked = origin.count(PLAYLIST) - playlistsBefore;
          expect(playlistRequests).toBeGreaterThanOrEqual(15);
          expect(fromCopy).toBeGreaterThan(0);
          expect(asked).toBeLessThanOrEqual(8);
          expect(edge.errorLog().match(/the cache directory \S+ is full \(/g)).toHaveLength(1);
          expect(edge.errorLog()).not.toContain('[crit]');

          // Room again: stored again.
          unlinkSync(filler);
          await sleep(PROBE_EVERY_MS + 100);
          const again = newest((await get(edge.url + PLAYLIST)).body.toString());
          await get(edge.url + again);
          expect((await get(edge.url + again)).headers['x-cache-status']).toBe('HIT');
          await get(edge.url + PLAYLIST);
          expect((await get(edge.url + PLAYLIST)).headers['x-cache-status']).toBe('HIT');
          expect(edge.errorLog().match(/the cache directory \S+ has room again/g)).toHaveLength(1);
        } finally {
          // Before the edge's directory is removed (the mount point is in it).
          for (const m of mounted.splice(0)) unmountTmpfs(m);
        }
      },
      {
        prepare: (dir) => {
          cache = join(dir, 'cache');
          mkdirSync(cache);
          mountTmpfs(cache, '16m');
          mounted.push(cache);
        },
      },
    );
  });

  it('with cache_min_free 0 (the check off) caches playlists and segments as before and never probes', async () => {
    await withEdge(target, { origins: [{ name: 'o1', http: origin.address }], cache_min_free: '0' }, async (edge) => {
      const p = await get(edge.url + PLAYLIST);
      expect(p.status).toBe(200);
      expect((await get(edge.url + PLAYLIST)).headers['x-cache-status']).toBe('HIT');
      const seg = newest(p.body.toString());
      const miss = await get(edge.url + seg);
      expect(miss.headers['x-cache-status']).toBe('MISS');
      expect(miss.body.length).toBe(SEGMENT_BYTES);
      expect((await get(edge.url + seg)).headers['x-cache-status']).toBe('HIT');
      // No stamp: neither the producer nor a segment miss asked.
      expect(existsSync(join(edge.dir, 'state', 'space', 'cache'))).toBe(false);
      expect(edge.badLogLines()).toEqual([]);
    });
  });
});
