/**
 * metrics: what counting costs (issue 19). Two edges in turn, both writing
 * their access log: metrics on (the metrics log per request, and /metrics
 * scraped every 2 s during its rounds, as a busy Prometheus would) and
 * metrics off. Cache-hit segment and playlist requests/s (target >= 95%),
 * how long a scrape took while the log grew under wrk, and nginx CPU per
 * viewer with 500 simulated players (players.ts) on each.
 */
import { get } from '../support/http.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';
import { median, pct, PLAYERS_SECONDS, ROUNDS, startBench, wrk, type Row, type WrkResult } from './common.ts';
import { playersRun } from './players.ts';

export async function metricsBench(rows: Row[]): Promise<void> {
  const origin = await new WowzaOrigin({ segmentSeconds: 2, window: 4, segmentBytes: 200 * 1024, sessions: false }).start();
  const on = await startBench({ origins: [{ name: 'origin', http: origin.address }], playlist_ttl: '1s', metrics: true }, { logs: true });
  const off = await startBench({ origins: [{ name: 'origin', http: origin.address }], playlist_ttl: '1s', metrics: false }, { logs: true });
  const scrapes: number[] = [];
  let scraping = false;
  const scraper = async () => {
    while (scraping) {
      const r = await get(`${on.url}/metrics`).catch(() => null);
      if (r && r.status === 200) scrapes.push(r.ms);
      await new Promise((res) => setTimeout(res, 2000));
    }
  };
  try {
    const seg = `/live/bench/media_b800000_${origin.liveEdge()}.ts`;
    const pl = '/live/bench/chunklist_b800000.m3u8';
    for (const e of [on, off]) for (const p of [seg, pl]) await get(e.url + p); // warm
    for (const [label, path] of [['cache-hit segment (200 KB)', seg], ['cache-hit playlist', pl]]) {
      const a: WrkResult[] = [];
      const b: WrkResult[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        scraping = true;
        const s = scraper();
        a.push(await wrk(on.url + path));
        scraping = false;
        await s;
        b.push(await wrk(off.url + path));
      }
      const ratio = median(a.map((x) => x.rps)) / median(b.map((x) => x.rps));
      rows.push([`${label}: requests/s (metrics on vs off)`, median(a.map((x) => x.rps)).toFixed(0), median(b.map((x) => x.rps)).toFixed(0), pct(ratio), '>= 95%', ratio >= 0.95 ? 'ok' : 'MISSED']);
    }
    rows.push(['/metrics scrape while wrk runs, ms (median; max)', median(scrapes).toFixed(0), scrapes.length ? Math.max(...scrapes).toFixed(0) : '', '', 'measured', '']);
    // nginx CPU per viewer: 500 players on each edge in turn, scraped every 2 s on the metrics side.
    const perViewer: number[] = [];
    for (const e of [on, off]) {
      const cpu0 = e.cpu();
      scraping = e === on;
      const s = scraping ? scraper() : Promise.resolve();
      const run = await playersRun(e.url, origin, PLAYERS_SECONDS);
      scraping = false;
      await s;
      if (run.failures) throw new Error(`metrics bench: ${run.failures} failed player requests`);
      perViewer.push(((e.cpu() - cpu0) / (500 * PLAYERS_SECONDS / 60)) * 1000);
    }
    rows.push([`500 players, ${PLAYERS_SECONDS}s: nginx CPU s per 1000 viewer-minutes (metrics on vs off)`, perViewer[0].toFixed(2), perViewer[1].toFixed(2), pct(perViewer[0] / perViewer[1]), 'measured', '']);
  } finally {
    await on.stop();
    await off.stop();
    await origin.stop();
  }
}
