/**
 * Simulated HLS viewers that keep a record of every request, for benchmarks
 * that judge what viewers saw while something went wrong (faults.ts): each
 * follows one live media playlist through the edge (RFC 8216 6.3.4: reload
 * after a target duration, half of it when unchanged; fetch what is new,
 * starting two segments from the live edge) until stopped.
 *
 * A request is good only if a player could use it: a playlist that is one
 * (#EXTM3U, segments listed), a segment with exactly the bytes the test
 * origin made for it (WowzaOrigin.segmentBody; every origin makes the same).
 * A good playlist may still be old: how far its newest segment is behind
 * the origin's live edge (every origin's: they start together) says so.
 */
import { createHash } from 'node:crypto';
import { Agent } from 'node:http';
import { sleep } from '../support/http.ts';
import { BITRATES, WowzaOrigin } from '../support/wowza-origin.ts';
import { playerGet } from './common.ts';

export interface Fetch {
  kind: 'playlist' | 'segment';
  /** Date.now() when sent and when answered (or failed). */
  start: number;
  end: number;
  /** 0: no answer (connection refused, reset, body cut short, timeout). */
  status: number;
  ok: boolean;
  /** A playlist that was the producer's last good copy (X-Media-Edge-TTL `stale-if-error age=N`): N, else null. */
  staleAge: number | null;
  /** A playlist's lifetime in the cache as the producer decided it (X-Media-Edge-TTL `N; ...`), seconds. */
  ttl: number | null;
  /** A playlist's newest segment, counted back from the origin's live edge when it arrived (0: current). */
  behind: number | null;
  /** X-Cache-Status. */
  cache: string;
}

export interface Viewers {
  /** Ends every viewer after its current request; what they all fetched. */
  stop(): Promise<Fetch[]>;
}

const sha1 = (s: string | Buffer) => createHash('sha1').update(typeof s === 'string' ? Buffer.from(s, 'latin1') : s).digest('hex');

/**
 * `players` viewers over `streams` (`/live/<name>`), alternating the two
 * renditions, through `url`. `origin` tells the segment size and duration
 * (the same on every origin).
 */
export function startViewers(url: string, streams: string[], players: number, origin: WowzaOrigin): Viewers {
  const { segmentSeconds: td, segmentBytes } = origin.opts;
  const agent = new Agent({ keepAlive: true, maxSockets: players * 2 });
  const fetches: Fetch[] = [];
  const expected = new Map<string, string>();
  let running = true;
  const segmentOk = (stream: string, uri: string, body: string) => {
    const m = /_b(\d+)_(\d+)\.ts(?:\?|$)/.exec(uri);
    if (!m || body.length !== segmentBytes) return false;
    const key = `${stream}/${m[1]}/${m[2]}`;
    if (!expected.has(key)) expected.set(key, sha1(WowzaOrigin.segmentBody(stream, Number(m[1]), Number(m[2]), segmentBytes)));
    return sha1(body) === expected.get(key);
  };
  const viewer = async (i: number) => {
    const stream = streams[i % streams.length];
    const bps = BITRATES[Math.floor(i / streams.length) % BITRATES.length];
    const base = `${url}/live/${stream}`;
    const seen = new Set<string>();
    let last = '';
    await sleep(Math.random() * td * 1000);
    while (running) {
      const start = Date.now();
      const pl = await playerGet(agent, `${base}/chunklist_b${bps}.m3u8`);
      const segs = pl.status === 200 && pl.body.startsWith('#EXTM3U') ? pl.body.split('\n').filter((l) => l && !l.startsWith('#')) : [];
      const verdict = String(pl.headers['x-media-edge-ttl'] ?? '');
      const stale = /stale-if-error age=(\d+)/.exec(verdict);
      const ttl = /^(\d+);/.exec(verdict);
      const newest = /_(\d+)\.ts(?:\?|$)/.exec(segs[segs.length - 1] ?? '');
      fetches.push({
        kind: 'playlist',
        start,
        end: Date.now(),
        status: pl.status,
        ok: segs.length > 0,
        staleAge: stale ? Number(stale[1]) : null,
        ttl: ttl ? Number(ttl[1]) : null,
        behind: newest ? origin.liveEdge() - Number(newest[1]) : null,
        cache: String(pl.headers['x-cache-status'] ?? ''),
      });
      for (const s of seen.size === 0 ? segs.slice(-2) : segs.filter((x) => !seen.has(x))) {
        if (!running) break;
        seen.add(s);
        const t0 = Date.now();
        const r = await playerGet(agent, `${base}/${s}`);
        fetches.push({ kind: 'segment', start: t0, end: Date.now(), status: r.status, ok: r.status === 200 && segmentOk(stream, s, r.body), staleAge: null, ttl: null, behind: null, cache: String(r.headers['x-cache-status'] ?? '') });
      }
      const changed = pl.body !== last;
      last = pl.body;
      if (running) await sleep((changed ? td : td / 2) * 1000);
    }
  };
  const all = Promise.all(Array.from({ length: players }, (_, i) => viewer(i)));
  return {
    async stop() {
      running = false;
      await all;
      agent.destroy();
      return fetches;
    },
  };
}
