/**
 * GET /metrics on every target: exact counts from the metrics log, across
 * workers and reloads, viewers per stream, origins up and down, and a real
 * Prometheus (Debian's package) scraping the edge: PromQL gives the
 * simulated viewers of a stream exactly, a byte rate for it, and the origin
 * going down when it is killed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { freePort } from '../../tools/demo.ts';
import { dumpLogs, startEdge, type Edge } from '../support/edge.ts';
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
  let edge: Edge;
  const scrape = async () => {
    const r = await get(`${edge.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('text/plain; version=0.0.4');
    return { text: r.body.toString(), s: samples(r.body.toString()) };
  };
  /** One viewer: a user agent of its own, the master playlist and a segment of a stream. */
  const view = async (stream: string, ua: string) => {
    const base = `${edge.url}/live/_definst_/${stream}`;
    expect((await get(`${base}/playlist.m3u8`, { headers: { 'User-Agent': ua } })).status).toBe(200);
    const seg = await get(`${base}/media_w1_b800000_${origin.liveEdge()}.ts`, { headers: { 'User-Agent': ua } });
    expect(seg.status).toBe(200);
    return seg.body.length;
  };

  beforeAll(async () => {
    origin = await new WowzaOrigin({ segmentSeconds: 2, window: 4, segmentBytes: 20000 }).start();
    edge = await startEdge(target, { origins: [{ name: 'wowza', http: origin.address }], metrics_viewer_window: '30s' });
  });
  afterAll(async () => {
    const bad = edge?.badLogLines([/connect\(\) failed/]);
    await edge?.stop();
    await origin?.stop();
    expect(bad ?? []).toEqual([]);
  });
  const logsOnFailure = () => onTestFailed(() => console.error(dumpLogs(edge)));

  it('counts viewers, bytes, kinds and refusals exactly, and names the build', async () => {
    logsOnFailure();
    let bytes = 0;
    for (let i = 0; i < 5; i++) bytes += await view('metrics1', `player-${i}`);
    // The same viewer again is one viewer.
    bytes += await view('metrics1', 'player-0');
    expect((await rawStatus(edge.httpPort, 'GET /live/%2e%2e/x.ts HTTP/1.1')).status).toBe(400);
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

  it('keeps its counts across a reload and never counts a line twice, whoever scrapes', async () => {
    logsOnFailure();
    await view('metrics2', 'a');
    await sleep(FLUSH_MS);
    const before = (await scrape()).s;
    const key = 'media_edge_stream_sent_bytes_total{app="live",stream="metrics2"}';
    const lines = before.get('media_edge_metrics_log_lines_total')!;
    await edge.reload();
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

describe.runIf(list.some((t) => t.name === 'local'))('a real Prometheus scraping the edge', () => {
  const target = list.find((t) => t.name === 'local')!;
  let origin: WowzaOrigin;
  let edge: Edge;
  let prom: ChildProcess;
  let promUrl = '';
  let dir = '';
  let players: NodeJS.Timeout | null = null;

  const query = async (q: string): Promise<number[]> => {
    const r = await get(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = JSON.parse(r.body.toString()) as { data: { result: { value: [number, string] }[] } };
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

  beforeAll(async () => {
    origin = await new WowzaOrigin({ segmentSeconds: 2, window: 4, segmentBytes: 20000 }).start();
    edge = await startEdge(target, { origins: [{ name: 'wowza', http: origin.address }], metrics_viewer_window: '10s' });
    dir = mkdtempSync(join(tmpdir(), 'media-edge-prom-'));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: edge\n    static_configs:\n      - targets: ['127.0.0.1:${edge.httpPort}']\n`);
    prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    // 7 simulated players, each reloading its playlist and fetching a segment every second.
    const stream = `${edge.url}/live/_definst_/promcam`;
    const tick = () => {
      for (let i = 0; i < 7; i++) {
        const headers = { 'User-Agent': `sim-player-${i}` };
        void get(`${stream}/playlist.m3u8`, { headers }).catch(() => null);
        void get(`${stream}/media_w1_b800000_${origin.liveEdge()}.ts`, { headers }).catch(() => null);
      }
    };
    tick();
    players = setInterval(tick, 1000);
  });
  afterAll(async () => {
    if (players) clearInterval(players);
    prom?.kill('SIGTERM');
    await edge?.stop();
    await origin?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('gives the viewers of a stream exactly, a byte rate for it, and the origin down once killed', async () => {
    onTestFailed(() => console.error(dumpLogs(edge)));
    const viewers = await until('media_edge_stream_viewers{stream="promcam"}', (v) => v[0] === 7, 20000);
    expect(viewers).toEqual([7]);
    const rate = await until('rate(media_edge_stream_sent_bytes_total{stream="promcam"}[5s])', (v) => v[0] > 0, 15000);
    expect(rate[0]).toBeGreaterThan(0);
    expect(await until('media_edge_origin_up{origin="wowza"}', (v) => v[0] === 1, 10000)).toEqual([1]);
    await origin.stop();
    expect(await until('media_edge_origin_up{origin="wowza"}', (v) => v[0] === 0, 15000)).toEqual([0]);
  }, 90000);
});
