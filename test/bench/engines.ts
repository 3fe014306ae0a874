/**
 * engines: the njs-bound rows on njs 1.0's two engines, QuickJS vs njs's
 * own, in the Debian sid image (npm run images): token check and 302,
 * playlist production on a miss, cache misses through the router, RTMP
 * connect to publish, RTMP throughput, and worker memory while one RTMP
 * session carries 400 MB (also in rtmp, for the local nginx). Decides
 * njs_engine's default.
 */
import { spawnSync } from 'node:child_process';
import { mintToken } from '../../njs/token.ts';
import { get } from '../support/http.ts';
import { CONTAINER_TARGETS } from '../support/targets.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';
import { median, pct, percentile, ROUNDS, startBench, wrk, type Row, type Running } from './common.ts';
import { bigPlaylist } from './producer.ts';
import { MEMORY_SESSION_BYTES, mediaSession, rtmpSink, SECRET, timePublish } from './rtmp.ts';
import { fixtureOrigins, uniqueSegmentsScript } from './select.ts';

// The same image twice: njs 1.0's QuickJS, then its own engine.
const ENGINES = { qjs: CONTAINER_TARGETS.find((t) => t.name === 'sid-qjs')!, njs: CONTAINER_TARGETS.find((t) => t.name === 'sid-njs')! };
const ENGINE_IMAGE = ENGINES.qjs.image!;

/**
 * The rows where njs code runs per request or per session, on njs 1.0's
 * QuickJS ("ours") and its own engine ("baseline"), same image, same
 * settings: this decides njs_engine's default (docs/benchmarks.md, engines;
 * README, "Supported versions").
 */
export async function enginesBench(rows: Row[]): Promise<void> {
  if (spawnSync('docker', ['image', 'inspect', ENGINE_IMAGE], { stdio: 'ignore' }).status !== 0) {
    rows.push([`engines: ${ENGINE_IMAGE} missing (npm run images)`, '', '', '', '', 'SKIPPED']);
    return;
  }
  const origin = await new WowzaOrigin({ segmentSeconds: 2, window: 4, segmentBytes: 200 * 1024, sessions: false }).start();
  const sink = await rtmpSink();
  // Fast fixture origins for misses (as in select), run by the local nginx.
  const { ports, nginx: fixture } = await fixtureOrigins(3);
  const secret = 'bench-secret-0123456789';
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const edges: Record<'qjs' | 'njs', Running> = {} as never;
  const rtmpPorts: Record<string, number> = {};
  const missEdges: Record<string, Running> = {};
  try {
    for (const engine of ['qjs', 'njs'] as const) {
      edges[engine] = await startBench({
        origins: [{ name: 'origin', http: origin.address, rtmp: `127.0.0.1:${sink.port}` }],
        rtmp_max_connections_per_address: 1000,
        rtmp_auth: { live: { mode: 'hmac', secrets: [SECRET] } },
        playback_auth: { hm: { scheme: 'hmac', keys: { '1': secret } } },
        prefetch_limit: 0,
      }, {}, ENGINES[engine]);
      rtmpPorts[engine] = edges[engine].rtmpPort;
      missEdges[engine] = await startBench({ origins: ports.map((p, i) => ({ name: `o${i}`, http: `127.0.0.1:${p}`, weight: i + 1 })) }, {}, ENGINES[engine]);
    }
    const side = async (f: (e: 'qjs' | 'njs') => Promise<number>, n: number): Promise<[number, number]> => {
      const q: number[] = [];
      const j: number[] = [];
      for (let i = 0; i < n; i++) {
        q.push(await f('qjs'));
        j.push(await f('njs'));
      }
      return [median(q), median(j)];
    };
    const rounds = Math.max(3, Math.ceil(ROUNDS / 2));
    const higher = (label: string, [q, j]: [number, number], digits = 0) => rows.push([label, q.toFixed(digits), j.toFixed(digits), pct(q / j), 'measured', '']);

    const token = `me_token=${(mintToken({ exp, path: '/hm/bench/*', kid: '1' }, secret) as { token: string }).token}`;
    higher('engines: hmac token check and 302, requests/s (QuickJS vs njs engine, njs 1.0.2)',
      await side(async (e) => (await wrk(`${edges[e].url}/hm/bench/chunklist_b800000.m3u8?${token}`)).rps, rounds));

    const body = bigPlaylist(3000);
    let n = 0;
    higher('engines: playlist production on a miss, 3000 segments, median ms (QuickJS vs njs engine)', await side(async (e) => {
      const times: number[] = [];
      for (let i = 0; i < 7; i++) {
        const path = `/live/eng${e}${n++}/chunklist_b800000.m3u8`;
        origin.bodies[path] = { body, cacheControl: 'no-cache' };
        const t0 = performance.now();
        const r = await get(edges[e].url + path);
        times.push(performance.now() - t0);
        if (r.status !== 200) throw new Error(`engines: producer answered ${r.status}`);
      }
      return median(times);
    }, 3), 1);

    const script = uniqueSegmentsScript(fixture.dir);
    higher('engines: cache misses through the router (3 weighted origins), requests/s (QuickJS vs njs engine)',
      await side(async (e) => (await wrk(missEdges[e].url, script)).rps, rounds));

    higher('engines: RTMP connect to publish forwarded, p99 ms (QuickJS vs njs engine)', await side(async (e) => {
      const l: number[] = [];
      for (let i = 0; i < 100; i++) {
        const a = await timePublish(rtmpPorts[e], sink, `lat${i}`);
        a.sock.destroy();
        l.push(a.ms);
      }
      return percentile(l, 0.99);
    }, 2), 2);

    higher('engines: RTMP media MB/s after publish, 4096-byte chunks (QuickJS vs njs engine)',
      await side(async (e) => (await mediaSession(rtmpPorts[e], sink, 4096, 128 * 1024 * 1024)).mbps, 3));

    const grow = async (e: 'qjs' | 'njs'): Promise<number> => {
      const r0 = edges[e].workersRss();
      let r1 = r0;
      await mediaSession(rtmpPorts[e], sink, 4096, MEMORY_SESSION_BYTES, () => (r1 = edges[e].workersRss()));
      return (r1 - r0) / (1024 * 1024);
    };
    const gq = await grow('qjs');
    const gj = await grow('njs');
    rows.push([`engines: RTMP worker memory growth, MB, while one session carries ${MEMORY_SESSION_BYTES >> 20} MB (QuickJS vs njs engine)`, gq.toFixed(0), gj.toFixed(0), '', 'flat', gq < 50 ? 'ok' : 'MISSED']);
  } finally {
    for (const e of [...Object.values(edges), ...Object.values(missEdges), fixture]) await e.stop();
    await sink.close();
    await origin.stop();
  }
}
