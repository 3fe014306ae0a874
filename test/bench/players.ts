/**
 * players: 500 simulated HLS players on one live stream (reload per RFC
 * 8216, fetch what is new) for BENCH_PLAYERS_SECONDS, through the edge and
 * then through a plain proxy_cache server: origin requests per segment
 * (target 1.00), origin playlist requests per target duration in steady
 * state (target duration / mean interval between origin fetches after the
 * cold copy; target <= 2; the fetch count is printed too), viewer p99 for
 * playlists and segments.
 */
import { Agent } from 'node:http';
import { freePort } from '../../tools/demo.ts';
import { sleep } from '../support/http.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';
import { percentile, pct, playerGet, PLAYERS_SECONDS, startBench, type Row } from './common.ts';

interface PlayerRun {
  segmentsPerOrigin: number;
  playlistsPerTarget: number;
  playlistFetches: number;
  p99Playlist: number;
  p99Segment: number;
  failures: number;
}

export async function playersRun(base: string, origin: WowzaOrigin, seconds: number): Promise<PlayerRun> {
  const td = origin.opts.segmentSeconds;
  const agent = new Agent({ keepAlive: true, maxSockets: 600 });
  const timed = (path: string) => playerGet(agent, base + path);
  const plMs: number[] = [];
  const segMs: number[] = [];
  let failures = 0;
  const wanted = new Set<string>();
  origin.reset();
  const end = Date.now() + seconds * 1000;
  const path = '/live/players/chunklist_b400000.m3u8';
  const player = async () => {
    const seen = new Set<string>();
    let last = '';
    await sleep(Math.random() * td * 1000);
    while (Date.now() < end) {
      const pl = await timed(path);
      plMs.push(pl.ms);
      if (pl.status !== 200) failures++;
      const segs = pl.body.split('\n').filter((l) => l && !l.startsWith('#'));
      // Start three segments from the live edge, then take what is new.
      for (const u of seen.size === 0 ? segs.slice(-3) : segs.filter((x) => !seen.has(x))) {
        seen.add(u);
        wanted.add(u.split('?')[0]);
        const r = await timed(`/live/players/${u}`);
        segMs.push(r.ms);
        if (r.status !== 200) failures++;
      }
      // RFC 8216 6.3.4: reload after a target duration, half of it when unchanged.
      const changed = pl.body !== last;
      last = pl.body;
      await sleep((changed ? td : td / 2) * 1000);
    }
  };
  await Promise.all(Array.from({ length: 500 }, () => player()));
  agent.destroy();
  const segReq = origin.count(/\.ts$/);
  // A rate, not a count over the run (a count adds the cold fetch at t = 0).
  const plTimes = origin.requests.filter((r) => /chunklist/.test(r.url.split('?')[0])).map((r) => r.time);
  const intervals = plTimes.slice(1).map((t, i) => t - plTimes[i]);
  if (process.env.BENCH_DEBUG) console.error('origin playlist fetch intervals (ms):', intervals.join(' '));
  // Steady state: the mean interval after the cold copy. The cold copy's
  // lifetime depends on where in nginx's whole second it was fetched (a copy
  // made at .96 s lives ~1 s), so it is left out; the count is reported too.
  const steady = intervals.slice(1);
  const meanInterval = steady.reduce((a, b) => a + b, 0) / Math.max(1, steady.length) / 1000;
  return {
    segmentsPerOrigin: segReq / Math.max(1, wanted.size),
    playlistsPerTarget: td / meanInterval,
    playlistFetches: plTimes.length,
    p99Playlist: percentile(plMs, 0.99),
    p99Segment: percentile(segMs, 0.99),
    failures,
  };
}

export async function playersBench(rows: Row[]): Promise<void> {
  const origin = await new WowzaOrigin({ segmentSeconds: 4, window: 5, segmentBytes: 32 * 1024, sessions: false }).start();
  const plainPort = await freePort();
  const edge = await startBench({ origins: [{ name: 'origin', http: origin.address }] }, { plain: [{ port: plainPort, zone: 'plain' }] });
  try {
    const ours = await playersRun(edge.url, origin, PLAYERS_SECONDS);
    const plain = await playersRun(`http://127.0.0.1:${plainPort}`, origin, PLAYERS_SECONDS);
    const n = `500 players, ${PLAYERS_SECONDS}s`;
    rows.push([`${n}: origin requests per segment (edge vs plain)`, ours.segmentsPerOrigin.toFixed(2), plain.segmentsPerOrigin.toFixed(2), '', '== 1.00', ours.segmentsPerOrigin.toFixed(2) === '1.00' ? 'ok' : 'MISSED']);
    // Judged at the precision shown: refreshes land on nginx's second
    // boundaries, exactly half a target apart, and a few ms of event-loop
    // delay at the first or last fetch moves the mean by a few parts in 10000.
    rows.push([`${n}: origin playlist requests per target duration (steady state)`, ours.playlistsPerTarget.toFixed(2), plain.playlistsPerTarget.toFixed(2), '', '<= 2', Number(ours.playlistsPerTarget.toFixed(2)) <= 2 ? 'ok' : 'MISSED']);
    rows.push([`${n}: origin playlist fetches in the run (count)`, String(ours.playlistFetches), String(plain.playlistFetches), '', '', '']);
    rows.push([`${n}: viewer p99 ms, playlists`, ours.p99Playlist.toFixed(1), plain.p99Playlist.toFixed(1), pct(ours.p99Playlist / plain.p99Playlist), '', '']);
    rows.push([`${n}: viewer p99 ms, segments`, ours.p99Segment.toFixed(1), plain.p99Segment.toFixed(1), pct(ours.p99Segment / plain.p99Segment), '', '']);
    rows.push([`${n}: failed requests`, String(ours.failures), String(plain.failures), '', '== 0', ours.failures === 0 ? 'ok' : 'MISSED']);
  } finally {
    await edge.stop();
    await origin.stop();
  }
}
