/**
 * A realistic audience for the cost, capacity and latency sections: one
 * Wowza-like origin with two live streams (2 s and 6 s segments), each in
 * three renditions (0.8, 2.5 and 5 Mbit/s, segments as large as that makes
 * them), watched by simulated HLS players spread evenly over the six
 * playlists, through each system under test in turn: the edge with its
 * default features, the edge with playback auth (hmac, path mode), the
 * plain proxy_cache server (in the edge's nginx, as everywhere in the
 * bench) and Varnish (varnish.ts).
 *
 * The players and the origin run in this process, on the same two cores as
 * the servers: its CPU is reported beside every figure.
 */
import { Agent } from 'node:http';
import { mintToken } from '../../njs/token.ts';
import { freePort } from '../../tools/demo.ts';
import { sleep } from '../support/http.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';
import { playerGet, startBench } from './common.ts';
import { startVarnish, varnishPresent, type Varnish } from './varnish.ts';

export const MIX_BITRATES = [800_000, 2_500_000, 5_000_000];
/** Target durations of the two streams; stream `td<N>` has N-second segments. */
export const TARGETS = [2, 6];

/** The origin of the mix, started. */
export function mixOrigin(): Promise<WowzaOrigin> {
  return new WowzaOrigin({
    bitrates: MIX_BITRATES,
    durations: Object.fromEntries(TARGETS.map((td) => [`td${td}`, td])),
    sizeFromBitrate: true,
    window: 5,
    sessions: false,
  }).start();
}

/** A system under test: where players go, and the CPU it has used so far. */
export interface System {
  name: string;
  /** Scheme, host and port. */
  base: string;
  /** The application players ask for. */
  app: string;
  /** The query of a viewer's first playlist request (a token), answered with a 302 to the playlist under its link. */
  entryQuery?: string;
  /** CPU seconds of the server's processes so far (/proc). */
  cpu(): number;
}

export interface Systems {
  edge: System;
  auth: System;
  plain: System;
  /** Null when varnishd is not installed (apt-get install varnish): its columns say so. */
  varnish: System | null;
  stop(): Promise<void>;
}

/**
 * One nginx with the edge (application `live` without auth, `hm` with
 * hmac playback auth) and the plain proxy_cache server, and Varnish, all
 * in front of `origin`.
 */
export async function startSystems(origin: WowzaOrigin): Promise<Systems> {
  const secret = 'bench-secret-0123456789';
  const plainPort = await freePort();
  const nginx = await startBench({
    origins: [{ name: 'origin', http: origin.address }],
    playback_auth: { hm: { scheme: 'hmac', keys: { '1': secret } } },
  }, { plain: [{ port: plainPort, zone: 'plain' }] });
  const cpu = () => nginx.cpu();
  let varnish: Varnish | null = null;
  try {
    if (varnishPresent()) varnish = await startVarnish(origin.address);
  } catch (e) {
    await nginx.stop();
    throw e;
  }
  const minted = mintToken({ exp: Math.floor(Date.now() / 1000) + 3600, path: '/hm/*', kid: '1' }, secret);
  if (!minted.ok) throw new Error(`audience: ${minted.error}`);
  return {
    edge: { name: 'edge', base: nginx.url, app: 'live', cpu },
    auth: { name: 'edge with playback auth', base: nginx.url, app: 'hm', entryQuery: `me_token=${minted.token}`, cpu },
    plain: { name: 'plain proxy_cache', base: `http://127.0.0.1:${plainPort}`, app: 'live', cpu },
    varnish: varnish && { name: 'Varnish', base: varnish.url, app: 'live', cpu: () => varnish!.cpu() },
    async stop() {
      await varnish?.stop();
      await nginx.stop();
    },
  };
}

export interface Watched {
  viewers: number;
  /** Minutes the players watched, summed (from each one's first request to the end of the run). */
  viewerMinutes: number;
  /** CPU seconds the system used meanwhile. */
  cpu: number;
  /** CPU seconds this process (players and origin) used meanwhile, and the wall seconds. */
  simulatorCpu: number;
  wallSeconds: number;
  playlistMs: number[];
  segmentMs: number[];
  requests: number;
  failures: number;
  /** Body bytes the players received. */
  bytes: number;
  /**
   * Per target duration, one sample per playlist response: how many seconds
   * the view it gave was behind the origin's live edge at the moment it
   * arrived (0 when it listed the origin's newest segment, else the time
   * since the first segment it lacks appeared at the origin).
   */
  lag: Record<number, number[]>;
  /** Per target duration, the playlists' Age header values (seconds; none from the plain server). */
  age: Record<number, number[]>;
}

/**
 * `viewers` players on `system` for `seconds`, each on one of the six
 * playlists (in turn), joining at a random moment of its first target
 * duration. A player starts three segments from the live edge, takes the
 * segments that are new, and reloads per RFC 8216 6.3.4: after a target
 * duration, half of one when the playlist had not changed.
 */
export async function watch(system: System, origin: WowzaOrigin, viewers: number, seconds: number): Promise<Watched> {
  const agent = new Agent({ keepAlive: true, maxSockets: viewers + 100 });
  const out: Watched = {
    viewers, viewerMinutes: 0, cpu: 0, simulatorCpu: 0, wallSeconds: 0, playlistMs: [], segmentMs: [], requests: 0, failures: 0, bytes: 0,
    lag: Object.fromEntries(TARGETS.map((td) => [td, []])),
    age: Object.fromEntries(TARGETS.map((td) => [td, []])),
  };
  const playlists = TARGETS.flatMap((td) => MIX_BITRATES.map((bps) => ({ td, stream: `td${td}`, path: `/${system.app}/td${td}/chunklist_b${bps}.m3u8` })));
  const get = async (url: string, keepBody: boolean, expect = 200) => {
    const r = await playerGet(agent, url, keepBody);
    out.requests++;
    out.bytes += r.bytes;
    if (r.status !== expect) out.failures++;
    return r;
  };
  const player = async (i: number) => {
    const { td, stream, path } = playlists[i % playlists.length];
    await sleep(Math.random() * td * 1000);
    const started = Date.now();
    let url = system.base + path;
    if (system.entryQuery) {
      const entry = await get(`${url}?${system.entryQuery}`, false, 302);
      url = new URL(String(entry.headers.location ?? ''), url).href;
    }
    const seen = new Set<string>();
    let last = '';
    while (Date.now() < end) {
      const pl = await get(url, true);
      const at = Date.now();
      out.playlistMs.push(pl.ms);
      const segs = pl.body.split('\n').filter((l) => l && !l.startsWith('#'));
      const seq = /#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(pl.body);
      if (pl.status === 200 && seq) {
        const lacking = origin.appearedAt(Number(seq[1]) + segs.length, stream);
        out.lag[td].push(Math.max(0, at - lacking) / 1000);
        if (pl.headers.age !== undefined) out.age[td].push(Number(pl.headers.age));
      }
      for (const u of seen.size === 0 ? segs.slice(-3) : segs.filter((x) => !seen.has(x))) {
        seen.add(u);
        out.segmentMs.push((await get(new URL(u, url).href, false)).ms);
      }
      const changed = pl.body !== last;
      last = pl.body;
      // Never past the end: the viewer time counted is the time requests were made in.
      await sleep(Math.max(0, Math.min((changed ? td : td / 2) * 1000, end - Date.now())));
    }
    out.viewerMinutes += (Date.now() - started) / 60000;
  };
  // Nothing here reads the origin's request log: keep it from growing over a long run.
  origin.requests.length = 0;
  const cpu0 = system.cpu();
  const sim0 = process.cpuUsage();
  const t0 = Date.now();
  const end = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: viewers }, (_, i) => player(i)));
  const sim = process.cpuUsage(sim0);
  out.cpu = system.cpu() - cpu0;
  out.simulatorCpu = (sim.user + sim.system) / 1e6;
  out.wallSeconds = (Date.now() - t0) / 1000;
  agent.destroy();
  return out;
}

/** The two watches of one system put together (rounds of the same run). */
function merged(a: Watched, b: Watched): Watched {
  const cat = (x: Record<number, number[]>, y: Record<number, number[]>) => Object.fromEntries(TARGETS.map((td) => [td, [...x[td], ...y[td]]]));
  return {
    viewers: a.viewers,
    viewerMinutes: a.viewerMinutes + b.viewerMinutes,
    cpu: a.cpu + b.cpu,
    simulatorCpu: a.simulatorCpu + b.simulatorCpu,
    wallSeconds: a.wallSeconds + b.wallSeconds,
    playlistMs: [...a.playlistMs, ...b.playlistMs],
    segmentMs: [...a.segmentMs, ...b.segmentMs],
    requests: a.requests + b.requests,
    failures: a.failures + b.failures,
    bytes: a.bytes + b.bytes,
    lag: cat(a.lag, b.lag),
    age: cat(a.age, b.age),
  };
}

export const MIX_VIEWERS = Number(process.env.BENCH_MIX_VIEWERS ?? 300);
export const MIX_SECONDS = Number(process.env.BENCH_MIX_SECONDS ?? 40);

export interface MixRuns {
  edge: Watched;
  auth: Watched;
  plain: Watched;
  varnish: Watched | null;
}

let mix: Promise<MixRuns> | null = null;

/**
 * The same audience (MIX_VIEWERS players) on each system for MIX_SECONDS,
 * in two rounds of half that, the second in the reverse order, so that a
 * machine getting busier or quieter meanwhile weighs on every system alike.
 * Run once per process: the cost and latency sections read the same runs.
 */
export function mixRuns(): Promise<MixRuns> {
  mix ??= (async () => {
    const origin = await mixOrigin();
    const systems = await startSystems(origin);
    try {
      const order = [systems.edge, systems.plain, ...(systems.varnish ? [systems.varnish] : []), systems.auth];
      const got = new Map<System, Watched>();
      for (const round of [order, [...order].reverse()]) {
        for (const s of round) {
          const w = await watch(s, origin, MIX_VIEWERS, MIX_SECONDS / 2);
          if (process.env.BENCH_DEBUG) console.error(`mix: ${s.name}: ${w.cpu.toFixed(2)} CPU s, ${w.viewerMinutes.toFixed(1)} viewer-minutes, simulator ${w.simulatorCpu.toFixed(2)} s in ${w.wallSeconds.toFixed(1)} s`);
          const before = got.get(s);
          got.set(s, before ? merged(before, w) : w);
        }
      }
      return { edge: got.get(systems.edge)!, auth: got.get(systems.auth)!, plain: got.get(systems.plain)!, varnish: systems.varnish && got.get(systems.varnish)! };
    } finally {
      await systems.stop();
      await origin.stop();
    }
  })();
  return mix;
}
