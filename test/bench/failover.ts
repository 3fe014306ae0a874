/**
 * failover: 200 simulated players on 3 origins while one is killed and
 * restarted: failed segment requests (target 0).
 */
import { Agent } from 'node:http';
import { sleep } from '../support/http.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';
import { playerGet, startBench, type Row } from './common.ts';

export async function failoverBench(rows: Row[]): Promise<void> {
  const origins = await Promise.all([0, 1, 2].map(() => new WowzaOrigin({ segmentSeconds: 2, window: 4, segmentBytes: 64 * 1024, sessions: false }).start()));
  const edge = await startBench({
    origins: origins.map((o, i) => ({ name: `o${i}`, http: o.address })),
    origin_connect_timeout: '1s',
    origin_cooldown: '3s',
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 400 });
  const fetchStatus = (path: string) => playerGet(agent, edge.url + path);
  const stats = { playlists: 0, playlistFailures: 0, segments: 0, segmentFailures: 0 };
  const seconds = 24;
  const end = Date.now() + seconds * 1000;
  // 200 players on 20 streams, each following its live playlist (RFC 8216:
  // reload after a target duration, fetch what is new).
  const player = async (i: number) => {
    const base = `/live/fo${i % 20}`;
    const seen = new Set<string>();
    await sleep(Math.random() * 2000);
    while (Date.now() < end) {
      const pl = await fetchStatus(`${base}/chunklist_b400000.m3u8`);
      stats.playlists++;
      if (pl.status !== 200) stats.playlistFailures++;
      // Segment URIs as the playlist gives them (with the run id the edge adds).
      const segs = pl.body.split('\n').filter((l) => l && !l.startsWith('#'));
      for (const s of segs.slice(-2)) {
        if (seen.has(s)) continue;
        seen.add(s);
        const r = await fetchStatus(`${base}/${s}`);
        stats.segments++;
        if (r.status !== 200 || r.body.length !== 64 * 1024) stats.segmentFailures++;
      }
      await sleep(2000);
    }
  };
  const chaos = (async () => {
    await sleep(6000);
    const port = origins[1].port;
    await origins[1].stop(); // killed with its connections
    await sleep(8000);
    await origins[1].start(port);
  })();
  try {
    await Promise.all([...Array.from({ length: 200 }, (_, i) => player(i)), chaos]);
    rows.push([`failed segment requests, 200 players, 1 of 3 origins killed ${seconds}s run`, `${stats.segmentFailures} of ${stats.segments}`, '', '', '== 0', stats.segmentFailures === 0 ? 'ok' : 'MISSED']);
    rows.push(['failed playlist requests, same run', `${stats.playlistFailures} of ${stats.playlists}`, '', '', '', '']);
  } finally {
    agent.destroy();
    await edge.stop();
    await Promise.all(origins.map((o) => o.stop()));
  }
}
