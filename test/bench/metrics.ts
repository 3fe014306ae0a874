/**
 * metrics: what counting costs (issue 19). Two edges in turn, both writing
 * their access log: metrics on and metrics off.
 * - the request path: cache-hit segment and playlist requests/s, the only
 *   difference being the metrics log line (target >= 95%), in pairs of
 *   rounds; and the same hits in instructions (callgrind), which no other
 *   process on the machine changes;
 * - the scrape: how long one takes when it has a full read (MAX_READ) to
 *   count, measured right after a wrk round;
 * - both together: nginx CPU per viewer with 500 simulated players
 *   (players.ts) on each, the metrics edge scraped every SCRAPE_S seconds
 *   (Prometheus's default interval).
 */
import { get } from '../support/http.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';
import { median, pct, PLAYERS_SECONDS, renderBench, ROUNDS, startBench, wrk, type Row, type Running } from './common.ts';
import { hasValgrind, instructionsPerRequest } from './cpu.ts';
import { playersRun } from './players.ts';
import { MAX_READ } from '../../njs/metrics-file.ts';

/** Pairs of on/off rounds per row: even, so that each edge goes first as often as the other. */
const PAIRS = 2 * Math.ceil(ROUNDS / 2);

/** Seconds between scrapes in the players run: Prometheus's default scrape_interval. */
const SCRAPE_S = 15;
/** Each players run here: two scrapes' worth (the whole bench stays under 20 minutes). */
const RUN_SECONDS = Math.min(PLAYERS_SECONDS, 2 * SCRAPE_S);

export async function metricsBench(rows: Row[]): Promise<void> {
  const origin = await new WowzaOrigin({ segmentSeconds: 2, window: 4, segmentBytes: 200 * 1024, sessions: false }).start();
  const on = await startBench({ origins: [{ name: 'origin', http: origin.address }], playlist_ttl: '1s', metrics: true }, { logs: true });
  const off = await startBench({ origins: [{ name: 'origin', http: origin.address }], playlist_ttl: '1s', metrics: false }, { logs: true });
  const scrapes: number[] = [];
  const cleanup = [on, off];
  let scraping = false;
  let scraped = on.url;
  // The wait between scrapes ends with the run (stop), not up to SCRAPE_S later.
  let stop = () => {};
  const scraper = async () => {
    while (scraping) {
      await new Promise<void>((res) => {
        const t = setTimeout(res, SCRAPE_S * 1000);
        stop = () => {
          clearTimeout(t);
          res();
        };
      });
      if (scraping) await get(`${scraped}/metrics`).catch(() => null);
    }
  };
  try {
    const seg = `/live/bench/media_b800000_${origin.liveEdge()}.ts`;
    const pl = '/live/bench/chunklist_b800000.m3u8';
    for (const e of [on, off]) for (const p of [seg, pl]) await get(e.url + p); // warm
    for (const [label, path] of [['cache-hit segment (200 KB)', seg], ['cache-hit playlist', pl]]) {
      const a: number[] = [];
      const b: number[] = [];
      const ratios: number[] = [];
      for (let i = 0; i < PAIRS; i++) {
        // A pair of rounds, on then off, then off then on: what a round
        // leaves to the next (the on edge still counting its log, a busy
        // core) falls on both sides alike, and each ratio is of two rounds
        // a few seconds apart, not of medians minutes apart.
        const order = i % 2 === 0 ? [on, off] : [off, on];
        const got: number[] = [];
        for (const e of order) {
          got.push((await wrk(e.url + path)).rps);
          if (e !== on) continue;
          // The log now holds far more than one read: a full scrape.
          const r = await get(`${on.url}/metrics`);
          if (r.status === 200) scrapes.push(r.ms);
        }
        const [x, y] = order[0] === on ? got : [got[1], got[0]];
        a.push(x);
        b.push(y);
        ratios.push(x / y);
      }
      const ratio = median(ratios);
      const spread = `${pct(Math.min(...ratios))}-${pct(Math.max(...ratios))}`;
      rows.push([`${label}: requests/s (metrics on vs off; median of ${PAIRS} pairs of rounds, pairs ${spread})`, median(a).toFixed(0), median(b).toFixed(0), pct(ratio), '>= 95%', ratio >= 0.95 ? 'ok' : 'MISSED']);
    }
    rows.push([`/metrics scrape with a full read to count (${MAX_READ >> 20} MB), ms (median; max)`, median(scrapes).toFixed(0), scrapes.length ? Math.max(...scrapes).toFixed(0) : '', '', 'measured', '']);
    // The same two kinds of hit in instructions (callgrind, cpu.ts): a
    // count, not a rate, so within a point from run to run on a busy
    // machine. Hits only (29 s playlists): the line's formatting and write,
    // neither the count (which the rounds above include) nor system calls.
    if (hasValgrind()) {
      const still = await new WowzaOrigin({ segmentSeconds: 60, window: 4, segmentBytes: 200 * 1024, sessions: false }).start();
      try {
        const counts: number[][] = [];
        for (const metrics of [true, false]) {
          const r = await renderBench({ origins: [{ name: 'origin', http: still.address }], live_playlist_ttl_max: '29s', metrics }, { logs: true });
          counts.push(await instructionsPerRequest(r, [`${r.url}/live/bench/media_b800000_${still.liveEdge()}.ts`, `${r.url}${pl}`]));
        }
        for (const [i, label] of ['cache-hit segment (200 KB)', 'cache-hit playlist'].entries()) {
          const ratio = counts[1][i] / counts[0][i];
          rows.push([`${label}: instructions per request in nginx (metrics on vs off; callgrind; as a rate: off/on)`, counts[0][i].toFixed(0), counts[1][i].toFixed(0), pct(ratio), '>= 95%', ratio >= 0.95 ? 'ok' : 'MISSED']);
        }
      } finally {
        await still.stop();
      }
    }
    // nginx CPU per viewer: 500 players on each edge in turn, the metrics side
    // scraped every SCRAPE_S, on fresh edges: the rounds above left far more
    // log than the players make, which the count would still be reading
    // (and stopped: where js_periodic counts, the old edge would go on
    // reading its backlog during the run.)
    for (const e of cleanup.splice(0)) await e.stop();
    const perViewer: number[] = [];
    const fresh: Running[] = [];
    for (const metrics of [true, false]) {
      fresh.push(await startBench({ origins: [{ name: 'origin', http: origin.address }], playlist_ttl: '1s', metrics }, { logs: true }));
      cleanup.push(fresh[fresh.length - 1]);
    }
    for (const e of fresh) {
      const cpu0 = e.cpu();
      scraping = e === fresh[0];
      scraped = e.url;
      const s = scraping ? scraper() : Promise.resolve();
      const run = await playersRun(e.url, origin, RUN_SECONDS);
      scraping = false;
      stop();
      await s;
      if (run.failures) throw new Error(`metrics bench: ${run.failures} failed player requests`);
      perViewer.push(((e.cpu() - cpu0) / (500 * RUN_SECONDS / 60)) * 1000);
    }
    rows.push([`500 players, ${RUN_SECONDS}s: nginx CPU s per 1000 viewer-minutes (metrics on, scraped every ${SCRAPE_S}s, vs off)`, perViewer[0].toFixed(2), perViewer[1].toFixed(2), pct(perViewer[0] / perViewer[1]), 'measured', '']);
  } finally {
    for (const e of cleanup) await e.stop();
    await origin.stop();
  }
}
