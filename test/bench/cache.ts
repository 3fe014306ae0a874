/**
 * cache: the edge vs a plain proxy_cache server in the same nginx: cache-hit
 * segment (200 KB) and playlist requests/s and p99 (target >= 90%), and
 * playlist requests/s against a plain server that also sends playlists
 * without sendfile (the edge's own work alone); origin requests when 200
 * clients fetch one new segment at once (target exactly 1).
 */
import { freePort } from '../../tools/demo.ts';
import { get, sleep } from '../support/http.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';
import { median, pct, ROUNDS, startBench, wrk, type Row, type WrkResult } from './common.ts';

export async function cacheBench(rows: Row[]): Promise<void> {
  const origin = await new WowzaOrigin({ segmentSeconds: 2, window: 4, segmentBytes: 200 * 1024, sessions: false }).start();
  const plainPort = await freePort();
  const plainIoPort = await freePort();
  const edge = await startBench({ origins: [{ name: 'origin', http: origin.address }], playlist_ttl: '1s' }, {
    plain: [{ port: plainPort, zone: 'plain' }, { port: plainIoPort, zone: 'plain_io', sendfileOff: true }],
  });
  const plain = `http://127.0.0.1:${plainPort}`;
  const plainIo = `http://127.0.0.1:${plainIoPort}`;
  try {
    const seg = `/live/bench/media_b800000_${origin.liveEdge()}.ts`;
    const pl = '/live/bench/chunklist_b800000.m3u8';
    for (const base of [edge.url, plain, plainIo]) for (const p of [seg, pl]) await get(base + p); // warm
    const sides: [string, string, string, string, string][] = [
      ['cache-hit segment (200 KB)', seg, plain, 'plain proxy_cache', '>= 90%'],
      ['cache-hit playlist', pl, plain, 'plain proxy_cache', '>= 90%'],
      // The edge's own work on a hit, apart from how it sends a playlist.
      ['cache-hit playlist, plain also without sendfile', pl, plainIo, 'plain, sendfile off', ''],
    ];
    for (const [label, path, base, name, target] of sides) {
      const e: WrkResult[] = [];
      const p: WrkResult[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        e.push(await wrk(edge.url + path));
        p.push(await wrk(base + path));
      }
      const ratio = median(e.map((x) => x.rps)) / median(p.map((x) => x.rps));
      rows.push([`${label}: requests/s (edge vs ${name})`, median(e.map((x) => x.rps)).toFixed(0), median(p.map((x) => x.rps)).toFixed(0), pct(ratio), target, target === '' ? '' : ratio >= 0.9 ? 'ok' : 'MISSED']);
      if (base !== plain) continue;
      const el = median(e.map((x) => x.p99ms));
      const pl99 = median(p.map((x) => x.p99ms));
      rows.push([`${label}: p99 ms (edge vs plain)`, el.toFixed(2), pl99.toFixed(2), pct(el / pl99), '', '']);
    }
    // 200 viewers miss on the same brand-new segment at once.
    const counts: number[] = [];
    for (const base of [edge.url, plain]) {
      const n = origin.liveEdge() + 1; // not published yet: wait until it is
      while (origin.liveEdge() < n) await sleep(50);
      const path = `/live/bench/media_b400000_${n}.ts`;
      origin.faults = [{ match: /\.ts$/, delayMs: 300 }];
      const before = origin.count(/\.ts$/);
      const res = await Promise.all(Array.from({ length: 200 }, () => get(base + path)));
      origin.faults = [];
      if (res.some((r) => r.status !== 200)) throw new Error(`${base}: not every concurrent request got 200`);
      counts.push(origin.count(/\.ts$/) - before);
    }
    rows.push(['origin requests, 200 clients on one new segment (edge vs plain)', String(counts[0]), String(counts[1]), '', '== 1', counts[0] === 1 ? 'ok' : 'MISSED']);
  } finally {
    await edge.stop();
    await origin.stop();
  }
}
