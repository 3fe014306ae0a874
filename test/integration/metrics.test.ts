/**
 * GET /metrics on every target: exact counts from the metrics log, across
 * workers and reloads, viewers per stream, origins up and down, and a real
 * Prometheus (Debian's package) scraping the edge: PromQL gives the
 * simulated viewers of a stream exactly, a byte rate for it, and the origin
 * going down when it is killed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signPublish } from '../../njs/publish.ts';
import { freePort, publishTestPattern, startDemoOrigin, type DemoOrigin } from '../../tools/demo.ts';
import { PACKAGE_ROOT } from '../../tools/paths.ts';
import { useDemoOrigin } from '../support/demo-origin.ts';
import { useEdge } from '../support/use-edge.ts';
import { get, rawStatus, sleep } from '../support/http.ts';
import { targets } from '../support/targets.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';

const { targets: list } = targets();

/** The samples of an exposition text: "name{labels}" -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** The metrics log is buffered (flush=1s): wait past that before a scrape. */
const FLUSH_MS = 1300;

describe.each(list)('metrics on $name', (target) => {
  let origin: WowzaOrigin;
  beforeAll(async () => {
    origin = await new WowzaOrigin({ segmentSeconds: 2, window: 4, segmentBytes: 20000 }).start();
  });
  afterAll(() => origin?.stop());
  const h = useEdge(target, () => ({ origins: [{ name: 'wowza', http: origin.address }], metrics_viewer_window: '30s' }), { expected: [/connect\(\) failed/] });
  const scrape = async () => {
    const r = await get(`${h.edge.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('text/plain; version=0.0.4');
    return { text: r.body.toString(), s: samples(r.body.toString()) };
  };
  /** One viewer: a user agent of its own, the master playlist and a segment of a stream. */
  const view = async (stream: string, ua: string) => {
    const base = `${h.edge.url}/live/_definst_/${stream}`;
    expect((await get(`${base}/playlist.m3u8`, { headers: { 'User-Agent': ua } })).status).toBe(200);
    const seg = await get(`${base}/media_w1_b800000_${origin.liveEdge()}.ts`, { headers: { 'User-Agent': ua } });
    expect(seg.status).toBe(200);
    return seg.body.length;
  };


  it('counts viewers, bytes, kinds and refusals exactly, and names the build', async () => {
    let bytes = 0;
    for (let i = 0; i < 5; i++) bytes += await view('metrics1', `player-${i}`);
    // The same viewer again is one viewer.
    bytes += await view('metrics1', 'player-0');
    expect((await rawStatus(h.edge.httpPort, 'GET /live/%2e%2e/x.ts HTTP/1.1')).status).toBe(400);
    await sleep(FLUSH_MS);
    const { text, s } = await scrape();
    expect(s.get('media_edge_stream_viewers{app="live",stream="metrics1"}')).toBe(5);
    const streamBytes = s.get('media_edge_stream_sent_bytes_total{app="live",stream="metrics1"}')!;
    expect(streamBytes).toBeGreaterThan(bytes); // the segments and the playlists
    expect(s.get('media_edge_refusals_total{check="gate",reason="dot-segment"}')).toBe(1);
    expect(s.get('media_edge_requests_total{kind="segment",cache="MISS",code="2xx"}')).toBe(1);
    expect(s.get('media_edge_requests_total{kind="segment",cache="HIT",code="2xx"}')).toBe(5);
    expect(s.get('media_edge_origin_up{origin="wowza"}')).toBe(1);
    // The segment miss and the producer's playlist read reached the origin.
    expect(s.get('media_edge_origin_requests_total{origin="wowza"}')).toBeGreaterThanOrEqual(2);
    expect(s.get('media_edge_origin_response_seconds_count{origin="wowza"}')).toBe(s.get('media_edge_origin_requests_total{origin="wowza"}'));
    expect(s.get('media_edge_playlist_productions_total{code="2xx"}')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^media_edge_build_info\{version="\d+\.\d+\.\d+",nginx="[\d.]+",njs="[\d.]+",engine="(njs|QuickJS)"\} 1$/m);
    expect(s.get('media_edge_metrics_unreadable_lines_total')).toBe(0);
    // Prometheus's own checker accepts the text.
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
  });

  it('counts as the log grows, with no scrape: every second (js_periodic, njs >= 0.8.1), else at the next playlist production', async () => {
    await scrape();
    const totals = () => JSON.parse(readFileSync(join(h.edge.dir, 'state', 'metrics', 'totals.json'), 'utf8')) as { lines: number; offset: number };
    const before = totals();
    await view('periodic', 'p');
    await sleep(FLUSH_MS + 1500);
    if (target.njsShared) expect(totals().lines).toBeGreaterThan(before.lines);
    else {
      // A production (a playlist not cached) counts them after its answer.
      expect((await get(`${h.edge.url}/live/_definst_/periodic2/playlist.m3u8`)).status).toBe(200);
      const t0 = Date.now();
      while (totals().lines === before.lines && Date.now() - t0 < 2000) await sleep(50);
      expect(totals().lines).toBeGreaterThan(before.lines);
    }
    // A production's count, or js_periodic's, leaves the scrape nothing it has not read but the newest lines.
    const counted = totals().offset;
    await sleep(FLUSH_MS);
    const { s } = await scrape();
    expect(totals().offset).toBeGreaterThanOrEqual(counted);
    expect(s.get('media_edge_metrics_lag_bytes')).toBe(0);
  });

  it('a user agent with tabs (the line\'s separator) adds no field and no line: one viewer, nothing unreadable', async () => {
    const evil = 'x\t-\t1\tHIT\t200\t999999\t/live/_definst_/forged/a.ts\t-\t-\t-\t-\t-\tv';
    await view('tabs', evil);
    await sleep(FLUSH_MS);
    const { s } = await scrape();
    expect(s.get('media_edge_stream_viewers{app="live",stream="tabs"}')).toBe(1);
    expect(s.get('media_edge_metrics_unreadable_lines_total')).toBe(0);
    expect([...s.keys()].some((k) => k.includes('forged'))).toBe(false);
  });

  it('counts the producer\'s stale copies and the origin bodies it did not understand', async () => {
    const before = (await scrape()).s;
    const p = '/live/_definst_/stalecam/chunklist_b800000.m3u8';
    expect((await get(h.edge.url + p)).status).toBe(200);
    const stored = Date.now();
    origin.faults = [{ match: /\/stalecam\//, status: 503 }];
    // Past nginx's copy and its stale-while-revalidate second, within the grace: the producer's last good copy.
    let stale = false;
    while (!stale && Date.now() - stored < 4500) {
      const r = await get(h.edge.url + p);
      stale = /stale-if-error/.test(String(r.headers['x-media-edge-ttl']));
      await sleep(250);
    }
    origin.faults = [];
    expect(stale).toBe(true);
    origin.bodies['/live/_definst_/brokencam/playlist.m3u8'] = { body: '<html>not a playlist</html>', type: 'text/html' };
    expect((await get(`${h.edge.url}/live/_definst_/brokencam/playlist.m3u8`)).status).toBe(200);
    await sleep(FLUSH_MS);
    const after = (await scrape()).s;
    expect(after.get('media_edge_playlist_stale_served_total')! - before.get('media_edge_playlist_stale_served_total')!).toBeGreaterThanOrEqual(1);
    expect(after.get('media_edge_playlist_unparsed_total')! - before.get('media_edge_playlist_unparsed_total')!).toBe(1);
  });

  it('keeps its counts across a reload and never counts a line twice, whoever scrapes', async () => {
    await view('metrics2', 'a');
    await sleep(FLUSH_MS);
    const before = (await scrape()).s;
    const key = 'media_edge_stream_sent_bytes_total{app="live",stream="metrics2"}';
    const lines = before.get('media_edge_metrics_log_lines_total')!;
    await h.edge.reload();
    const more = await view('metrics2', 'b');
    await sleep(FLUSH_MS);
    // Scrapes at once, from several connections (so likely several workers).
    const all = await Promise.all([scrape(), scrape(), scrape(), scrape()]);
    const after = (await scrape()).s;
    for (const a of all) expect(a.s.get(key)!).toBeLessThanOrEqual(after.get(key)!);
    expect(after.get(key)! - before.get(key)!).toBeGreaterThan(more);
    expect(after.get('media_edge_stream_viewers{app="live",stream="metrics2"}')).toBe(2);
    // Exactly the lines of the requests since: two of view() (+ the playlist
    // producer's lines where the master was not cached yet).
    const added = after.get('media_edge_metrics_log_lines_total')! - lines;
    expect(added).toBeGreaterThanOrEqual(2);
    expect(added).toBeLessThanOrEqual(6);
  });
});

const SECRET = 'metrics-publish-secret-1';

describe.each(list)('RTMP metrics on $name', (target) => {
  const demo = useDemoOrigin('rtmp-metrics');
  const h = useEdge(target, () => ({
    origins: [demo.entry()],
    rtmp_auth: { live: { mode: 'hmac', secrets: [SECRET] } },
    rtmp_reject_delay: '100ms',
  }));
  const scrape = async () => samples((await get(`${h.edge.url}/metrics`)).body.toString());
  const key = (stream: string) => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    return `${stream}?exp=${exp}&sig=${signPublish(SECRET, 'live', stream, exp)}&kid=1`;
  };
  const publish = (name: string, seconds: number) => {
    const p = publishTestPattern(`rtmp://127.0.0.1:${h.edge.rtmpPort}/live/${name}`, { size: '160x120', seconds });
    return new Promise<number | null>((res) => p.once('exit', (code) => res(code)));
  };


  it('counts publishers while they publish, then their decision and the bytes they sent; and a refused key', async () => {
    const done = publish(key('counted'), 6);
    let now = new Map<string, number>();
    const deadline = Date.now() + 8000;
    while (Date.now() < deadline) {
      now = await scrape();
      if (now.get('media_edge_rtmp_publishers{app="live"}') === 1) break;
      await sleep(300);
    }
    expect(now.get('media_edge_rtmp_publishers{app="live"}')).toBe(1);
    expect(await done).toBe(0);
    expect(await publish('counted?exp=1&sig=bad&kid=1', 2)).not.toBe(0);
    await sleep(500);
    const after = await scrape();
    expect(after.get('media_edge_rtmp_decisions_total{result="allow",reason=""}')).toBe(1);
    expect([...after.keys()].filter((k) => k.startsWith('media_edge_rtmp_decisions_total{result="deny"')).map((k) => after.get(k))).toEqual([1]);
    expect(after.get('media_edge_rtmp_received_bytes_total{app="live",stream="counted"}')).toBeGreaterThan(10000);
    expect(after.get('media_edge_rtmp_sessions_total')).toBe(2);
    // The ended session's file is gone: nobody publishes now.
    expect(after.get('media_edge_rtmp_publishers{app="live"}')).toBeUndefined();
  }, 30000);
});

const DASHBOARD = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'grafana', 'media-edge.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };

describe.runIf(list.some((t) => t.name === 'local'))('a real Prometheus scraping the edge, and the Grafana dashboard over it', () => {
  const target = list.find((t) => t.name === 'local')!;
  let origin: WowzaOrigin;
  let rtmpOrigin: DemoOrigin;
  let prom: ChildProcess;
  let encoder: ChildProcess | null = null;
  let promUrl = '';
  let dir = '';
  let players: NodeJS.Timeout | null = null;

  const query = async (q: string): Promise<number[]> => {
    const r = await get(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = JSON.parse(r.body.toString()) as { status: string; error?: string; data: { result: { value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`${q}: ${body.error}`);
    return body.data.result.map((x) => Number(x.value[1]));
  };
  const until = async (q: string, ok: (v: number[]) => boolean, ms: number) => {
    const deadline = Date.now() + ms;
    let v: number[] = [];
    while (Date.now() < deadline) {
      v = await query(q).catch(() => []);
      if (ok(v)) return v;
      await sleep(500);
    }
    return v;
  };
  /** A panel's query as Grafana sends it, its variables filled: every application, 10 s rates. */
  const asSent = (expr: string) => expr.replace(/\$app/g, '.*').replace(/\$__rate_interval/g, '10s').replace(/\$__range/g, '5m');
  const panelsWithData = async () => {
    const empty: string[] = [];
    for (const p of DASHBOARD.panels) for (const t of p.targets) if ((await query(asSent(t.expr))).length === 0) empty.push(p.title);
    return empty;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'media-edge-prom-'));
    origin = await new WowzaOrigin({ segmentSeconds: 2, window: 4, segmentBytes: 20000 }).start();
    rtmpOrigin = await startDemoOrigin(join(dir, 'rtmp-origin'), await freePort(), await freePort());
  });
  afterAll(async () => {
    await origin?.stop();
    await rtmpOrigin?.nginx.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const h = useEdge(target, () => ({
    origins: [{ name: 'wowza', http: origin.address, rtmp: `127.0.0.1:${rtmpOrigin.rtmpPort}` }],
    rtmp_auth: { live: { mode: 'hmac', secrets: [SECRET] } },
    rtmp_reject_delay: '100ms',
    metrics_viewer_window: '10s',
  }), { expected: [/connect\(\) failed/] });

  beforeAll(async () => {
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: edge\n    static_configs:\n      - targets: ['127.0.0.1:${h.edge.httpPort}']\n`);
    prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    // An encoder publishing, and one refused.
    const exp = Math.floor(Date.now() / 1000) + 600;
    encoder = publishTestPattern(`rtmp://127.0.0.1:${h.edge.rtmpPort}/live/promrtmp?exp=${exp}&sig=${signPublish(SECRET, 'live', 'promrtmp', exp)}&kid=1`, { size: '160x120', seconds: 80 });
    publishTestPattern(`rtmp://127.0.0.1:${h.edge.rtmpPort}/live/nope?exp=${exp}&sig=bad&kid=1`, { size: '160x120', seconds: 2 });
    // 7 simulated players, each reloading its playlist and fetching a segment every second; one refused request.
    const stream = `${h.edge.url}/live/_definst_/promcam`;
    const tick = () => {
      for (let i = 0; i < 7; i++) {
        const headers = { 'User-Agent': `sim-player-${i}` };
        void get(`${stream}/playlist.m3u8`, { headers }).catch(() => null);
        void get(`${stream}/media_w1_b800000_${origin.liveEdge()}.ts`, { headers }).catch(() => null);
      }
    };
    tick();
    players = setInterval(tick, 1000);
    await rawStatus(h.edge.httpPort, 'GET /live/%2e%2e/x.ts HTTP/1.1');
  });
  afterAll(() => {
    if (players) clearInterval(players);
    encoder?.kill('SIGKILL');
    prom?.kill('SIGTERM');
  });

  it('gives the viewers of a stream exactly, a byte rate, publishers, and the origin down once killed; every dashboard panel has data', async () => {
    const viewers = await until('media_edge_stream_viewers{stream="promcam"}', (v) => v[0] === 7, 20000);
    expect(viewers).toEqual([7]);
    const rate = await until('rate(media_edge_stream_sent_bytes_total{stream="promcam"}[5s])', (v) => v[0] > 0, 15000);
    expect(rate[0]).toBeGreaterThan(0);
    expect(await until('media_edge_rtmp_publishers{app="live"}', (v) => v[0] === 1, 15000)).toEqual([1]);
    expect(await until('media_edge_rtmp_decisions_total{result="deny"}', (v) => v.length === 1, 15000)).toEqual([1]);
    expect(await until('media_edge_origin_up{origin="wowza"}', (v) => v[0] === 1, 10000)).toEqual([1]);
    await origin.stop();
    expect(await until('media_edge_origin_up{origin="wowza"}', (v) => v[0] === 0, 15000)).toEqual([0]);
    // Every panel's query returns data (failures too, now that the origin is gone).
    const deadline = Date.now() + 20000;
    let empty = await panelsWithData();
    while (empty.length && Date.now() < deadline) {
      await sleep(1000);
      empty = await panelsWithData();
    }
    expect(empty).toEqual([]);
  }, 120000);
});
