/**
 * producer: playlist production on a miss for 500, 3000 and 10000-segment
 * media playlists (a DVR window): median ms (3000: target < 100).
 */
import { get } from '../support/http.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';
import { median, startBench, type Row } from './common.ts';

/** A live media playlist of n segments (a DVR window), as Wowza writes it (CRLF). */
export function bigPlaylist(n: number): string {
  const out = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:100'];
  for (let i = 0; i < n; i++) out.push('#EXTINF:2.000,', `media_b800000_${100 + i}.ts`);
  return out.join('\r\n') + '\r\n';
}

export async function producerBench(rows: Row[]): Promise<void> {
  const origin = await new WowzaOrigin({ sessions: false }).start();
  // Prefetch off: the row is the production itself, not the warming after it.
  const edge = await startBench({ origins: [{ name: 'origin', http: origin.address }], prefetch_limit: 0 });
  try {
    for (const n of [500, 3000, 10000]) {
      const body = bigPlaylist(n);
      const times: number[] = [];
      for (let i = 0; i < 9; i++) {
        // A new stream each time: a miss, so one production.
        const path = `/live/dvr${n}x${i}/chunklist_b800000.m3u8`;
        origin.bodies[path] = { body, cacheControl: 'no-cache' };
        const t0 = performance.now();
        const r = await get(edge.url + path);
        times.push(performance.now() - t0);
        if (r.status !== 200 || !r.body.toString().includes(`media_b800000_${99 + n}.ts`)) throw new Error(`producer answered ${r.status} for ${n} segments`);
      }
      const m = median(times);
      rows.push([`playlist production on a miss, ${n} segments (${Math.round(body.length / 1024)} KB), median ms`, m.toFixed(1), '', '', n === 3000 ? '< 100 ms' : '', n === 3000 ? (m < 100 ? 'ok' : 'MISSED') : '']);
    }
  } finally {
    await edge.stop();
    await origin.stop();
  }
}

