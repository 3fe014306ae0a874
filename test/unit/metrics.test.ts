import { mkdtempSync, rmSync, writeFileSync, appendFileSync, readFileSync, utimesSync } from 'node:fs';
import * as nodeFs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { consume, failureCause, labelValue, MAX_REASONS, newState, parseLine, parseSessionLine, prune, readState, render, splitStream, STREAM_FORGET_MS, OTHER, type MetricsConfig } from '../../njs/metrics.ts';
import { LOCK_STALE_MS, MAX_READ, PUBLISHER_STALE_MS, scrape, type MetricsStore } from '../../njs/metrics-file.ts';

const cfg: MetricsConfig = { windowMs: 30000, maxStreams: 100, maxViewers: 1000, originNames: { '127.0.0.1:8088': 'a', '127.0.0.1:8089': 'b' } };
const id = (v: string) => v;
/** A metrics log line as log_format media_edge_metrics writes it ("-" for empty). */
function line(o: Partial<Record<'src' | 'at' | 'kind' | 'cache' | 'status' | 'bytes' | 'stream' | 'reject' | 'denied' | 'ua' | 'us' | 'ut' | 'viewer' | 'verdict', string>>): string {
  return [o.src ?? 'v', o.at ?? '1800000000.000', o.kind ?? 'segment', o.cache ?? 'HIT', o.status ?? '200', o.bytes ?? '100', o.stream ?? 'live/cam1', o.reject ?? '-', o.denied ?? '-', o.ua ?? '-', o.us ?? '-', o.ut ?? '-', o.viewer ?? 'a:10.0.0.1 ua', o.verdict ?? '-'].join('\t') + '\n';
}

describe('the metrics log, counted', () => {
  it('reads its own lines and nothing else', () => {
    expect(parseLine(line({}).trimEnd())).toMatchObject({ source: 'v', at: 1800000000000, kind: 'segment', cache: 'HIT', status: 200, bytes: 100, stream: 'live/cam1', reject: '', viewer: 'a:10.0.0.1 ua' });
    expect(parseLine('127.0.0.1 [02/Dec/2026] "GET / HTTP/1.1" 200')).toBeNull();
    expect(parseLine(line({ src: 'x' }).trimEnd())).toBeNull();
    expect(parseLine(line({ status: 'abc' }).trimEnd())).toBeNull();
    expect(parseLine(line({ at: '-' }).trimEnd())).toBeNull();
    expect(parseLine(line({}).trimEnd() + '\textra')).toBeNull();
  });

  it('counts requests, bytes and refusals by their labels, and viewers per stream once each', () => {
    const s = newState();
    consume(s, line({ cache: 'MISS', ua: '127.0.0.1:8088', us: '200', ut: '0.020' }) + line({}) + line({ viewer: 'a:10.0.0.2 ua' }) + line({ kind: 'other', status: '400', reject: 'dot-segment', stream: '/x' }) + line({ kind: 'media', status: '403', denied: 'expired' }), cfg, id);
    expect(s.requests).toEqual({ 'segment\tMISS\t2xx': 1, 'segment\tHIT\t2xx': 2, 'other\tHIT\t4xx': 1, 'media\tHIT\t4xx': 1 });
    expect(s.bytes).toEqual({ segment: 300, other: 100, media: 100 });
    expect(s.refusals).toEqual({ 'gate\tdot-segment': 1, 'token\texpired': 1 });
    // Refused requests are nobody's viewing.
    expect(Object.keys(s.streams)).toEqual(['live\tcam1']);
    expect(Object.keys(s.streams['live\tcam1'].viewers).sort()).toEqual(['a:10.0.0.1 ua', 'a:10.0.0.2 ua']);
    expect(s.streams['live\tcam1'].bytes).toBe(300);
  });

  it('counts every origin attempt of a request, failures by cause, and times in the histogram', () => {
    const s = newState();
    consume(s, line({ cache: 'MISS', ua: '127.0.0.1:8089, 127.0.0.1:8088 : 127.0.0.1:9999', us: '504, 502 : 200', ut: '1.000, 0.003 : 0.040' }), cfg, id);
    expect(s.origins.b).toMatchObject({ requests: 1, failures: { timeout: 1 }, count: 1, sum: 1 });
    expect(s.origins.a).toMatchObject({ requests: 1, failures: { error: 1 }, count: 1 });
    // 0.003 s falls in every bucket from 0.005 up.
    expect(s.origins.a.buckets.every((n) => n === 1)).toBe(true);
    expect(s.origins.b.buckets.filter((n) => n === 1).length).toBe(4); // 1, 2.5, 5, 10
    expect([failureCause('500'), failureCause('404'), failureCause('')]).toEqual(['http_5xx', '', '']);
  });

  it('classifies a viewer line by its path, as the maps over $uri do (the same rules)', () => {
    const s = newState();
    consume(s, line({ kind: '-', stream: '/live/_definst_/cam9/media_w12_b800000_3.ts', cache: 'MISS' }) + line({ kind: '-', stream: '/live/_definst_/cam9/chunklist_w12_b800000.m3u8' })
      + line({ kind: '-', stream: '/live/cam9_hi/index.m3u8' }), { ...cfg, variants: ['_hi'] }, id);
    expect(s.requests).toEqual({ 'segment\tMISS\t2xx': 1, 'media\tHIT\t2xx': 2 });
    expect(Object.keys(s.streams)).toEqual(['live\tcam9']);
  });

  it('counts a producer line as a production and its origin reads, never as a viewer request', () => {
    const s = newState();
    consume(s, line({ src: 'p', kind: 'media' }) + line({ src: 'p', kind: 'media', ua: '127.0.0.1:8088', us: '200', ut: '0.010' }), cfg, id);
    expect(s.productions).toEqual({ '2xx': 1 });
    expect(s.origins.a.requests).toBe(1);
    expect(s.requests).toEqual({});
    expect(s.streams).toEqual({});
  });

  it('counts viewer responses that were a stale copy, or an origin body the producer did not understand', () => {
    const s = newState();
    consume(s, line({ kind: 'media', verdict: '1; live' }) + line({ kind: 'media', verdict: '0; stale-if-error age=3' }) + line({ kind: 'media', cache: 'MISS', verdict: '1; unparsed:no #EXTM3U' }), cfg, id);
    expect([s.staleServed, s.unparsed]).toEqual([1, 1]);
  });

  it('folds streams past metrics_max_streams into one, and stops tracking viewers past the bound', () => {
    const s = newState();
    const small = { ...cfg, maxStreams: 2, maxViewers: 3 };
    let text = '';
    for (let i = 0; i < 6; i++) text += line({ stream: `live/s${i}`, viewer: `a:10.0.0.${i} ua` });
    consume(s, text, small, id);
    expect(Object.keys(s.streams).sort()).toEqual([`${OTHER}\t${OTHER}`, 'live\ts0', 'live\ts1']);
    expect(s.streams[`${OTHER}\t${OTHER}`].bytes).toBe(400);
    expect(s.viewerCount).toBe(3);
    expect(s.untrackedViewers).toBe(3);
  });

  it('never counts a preflight as viewing, bounds reasons, and forgets a stream not served for 10 minutes', () => {
    const s = newState();
    consume(s, line({ kind: 'master', status: '204', stream: 'live/made-up' }), cfg, id);
    expect(s.streams).toEqual({});
    let text = '';
    for (let i = 0; i < 100; i++) text += session('deny', 'live/x', `chunk size ${70000 + i} not accepted`, '1', `d${i}`);
    for (let i = 0; i < 100; i++) text += session('deny', 'live/x', `reason ${'abcdefghijklmnopqrstuvwxyz'[i % 26]}${'abcdefghijklmnopqrstuvwxyz'[Math.floor(i / 26)]}`, '1', `e${i}`);
    consume(s, text, cfg, id);
    expect(s.decisions['deny\tchunk size N not accepted']).toBe(100);
    expect(Object.keys(s.decisions).length).toBeLessThanOrEqual(MAX_REASONS + 1);
    expect(s.decisions['deny\tother']).toBeGreaterThan(0);
    consume(s, line({ at: '1800000000.000', viewer: 'a:x' }), cfg, id);
    prune(s, 1800000000000 + STREAM_FORGET_MS - 1000, cfg);
    expect(Object.keys(s.streams)).toEqual(['live\tcam1']);
    prune(s, 1800000000000 + STREAM_FORGET_MS + 1000, cfg);
    expect(s.streams).toEqual({});
    expect(s.streamCount).toBe(0);
  });

  it('forgets viewers not seen within the window', () => {
    const s = newState();
    consume(s, line({ at: '1800000000.000', viewer: 'a:old' }) + line({ at: '1800000020.000', viewer: 'a:new' }), cfg, id);
    prune(s, 1800000035000, cfg);
    expect(Object.keys(s.streams['live\tcam1'].viewers)).toEqual(['a:new']);
    expect(s.viewerCount).toBe(1);
  });

  it('leaves a line nginx is still writing for the next read', () => {
    const s = newState();
    const text = line({}) + 'v\t18000';
    expect(consume(s, text, cfg, id)).toBe(line({}).length);
    expect(s.lines).toBe(1);
  });

  it('renders the exposition format with escaped labels and every family declared', () => {
    const s = newState();
    consume(s, line({ stream: 'live/a"b\\c' }), cfg, id);
    const text = render(s, { version: '0.1.0', nginx: '1.22.1', njs: '0.7.9', engine: 'njs', up: { a: 1, b: 0 }, lagBytes: 0, publishers: { live: 1 } });
    expect(text).toContain('media_edge_stream_viewers{app="live",stream="a\\"b\\\\c"} 1');
    expect(text).toContain('media_edge_origin_up{origin="b"} 0');
    expect(text).toContain('# TYPE media_edge_origin_response_seconds histogram');
    expect(labelValue('a\nb')).toBe('a\\nb');
    expect(splitStream('vod/_definst_/x')).toEqual({ app: 'vod', stream: '_definst_/x' });
    for (const l of text.split('\n')) if (l && !l.startsWith('#')) expect(l).toMatch(/^[a-z_]+(\{.*\})? -?\d+(\.\d+)?$/);
  });

  it('reads a torn or foreign state file as a fresh start', () => {
    expect(readState('{"offset": 1')).toEqual(newState());
    expect(readState('[]')).toEqual(newState());
  });
});

/** An RTMP session line as log_format media_edge_metrics_rtmp writes it. */
function session(decision: string, stream: string, reason: string, received: string, id: string): string {
  return ['r', '1800000000.500', decision, stream, reason, received, '6.010', id].join('\t') + '\n';
}

describe('RTMP sessions, counted', () => {
  it('counts the last decision of each ended session, and bytes received per published stream', () => {
    expect(parseSessionLine(session('allow', 'live/cam1', '-', '123', 'id1').trimEnd())).toEqual({ at: 1800000000500, decision: 'allow', stream: 'live/cam1', reason: '', received: 123, id: 'id1' });
    expect(parseSessionLine(line({}).trimEnd())).toBeNull();
    const s = newState();
    const ended: string[] = [];
    consume(s, session('allow', 'live/cam1', '-', '5000', 'id1') + session('deny', 'live/cam1', 'bad signature', '300', 'id2') + session('allow-play', 'live/cam1', '-', '90', 'id3') + session('-', '-', '-', '10', 'id4'), cfg, id, ended);
    expect(s.decisions).toEqual({ 'allow\t': 1, 'deny\tbad signature': 1, 'allow-play\t': 1 });
    expect(s.received).toEqual({ 'live\tcam1': 5000 });
    expect(s.sessions).toBe(4);
    expect(ended).toEqual(['id1']);
  });
});

describe('the files behind /metrics', () => {
  const fs = nodeFs as unknown as MetricsStore;
  const decode = (b: Uint8Array, n: number) => Buffer.from(b.buffer, b.byteOffset, n).toString('utf8');
  const run = (dir: string, now = Date.now()) => scrape(fs, { http: join(dir, 'metrics.log'), rtmp: join(dir, 'rtmp.log'), publishers: join(dir, 'publishers') }, dir, cfg, now, id, new Uint8Array(4096), decode);

  it('counts each line once over scrapes, starts again on a rotated log, and keeps totals in a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'media-edge-metrics-'));
    try {
      expect(run(dir).state.lines).toBe(0); // no log yet
      writeFileSync(join(dir, 'metrics.log'), line({}) + line({}));
      expect(run(dir).state.lines).toBe(2);
      appendFileSync(join(dir, 'metrics.log'), line({}) + 'v\t1800');
      const third = run(dir);
      expect(third.state.lines).toBe(3);
      expect(third.lagBytes).toBe(6); // the half-written line
      expect(JSON.parse(readFileSync(join(dir, 'totals.json'), 'utf8')).lines).toBe(3);
      // Truncated: a shorter file.
      writeFileSync(join(dir, 'metrics.log'), line({}));
      expect(run(dir).state.lines).toBe(4);
      // Rotated: another file, already longer than what was read of the old one.
      nodeFs.renameSync(join(dir, 'metrics.log'), join(dir, 'metrics.log.1'));
      writeFileSync(join(dir, 'metrics.log'), line({}).repeat(5));
      expect(run(dir).state.lines).toBe(9);
      // Viewer ids are salted: the totals never hold the hash of an address alone.
      const st = JSON.parse(readFileSync(join(dir, 'totals.json'), 'utf8'));
      expect(st.salt.length).toBeGreaterThan(10);
      expect(Object.keys(st.streams['live\tcam1'].viewers)[0]).toBe(`${st.salt}\na:10.0.0.1 ua`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a background count past its time (BACKGROUND_COUNT_MS) stops after one buffer and leaves the rest for the next', () => {
    const dir = mkdtempSync(join(tmpdir(), 'media-edge-metrics-'));
    try {
      const one = line({});
      const n = Math.ceil(20000 / one.length);
      writeFileSync(join(dir, 'metrics.log'), one.repeat(n));
      const late = scrape(fs, { http: join(dir, 'metrics.log'), rtmp: '', publishers: '' }, dir, cfg, Date.now(), id, new Uint8Array(4096), decode, -1);
      expect(late.state.offset).toBeGreaterThan(0);
      expect(late.state.offset).toBeLessThanOrEqual(4096);
      expect(late.lagBytes).toBe(n * one.length - late.state.offset);
      expect(late.problem).toBe('');
      // A scrape (no time limit) reads the rest, and no line twice.
      expect(run(dir).state.lines).toBe(n);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads at most MAX_READ bytes a scrape and says how much is left', () => {
    const dir = mkdtempSync(join(tmpdir(), 'media-edge-metrics-'));
    try {
      const one = line({});
      writeFileSync(join(dir, 'metrics.log'), one.repeat(Math.ceil((MAX_READ * 1.5) / one.length)));
      const first = run(dir);
      expect(first.lagBytes).toBeGreaterThan(0);
      expect(first.state.offset).toBeLessThanOrEqual(MAX_READ);
      const second = run(dir);
      expect(second.lagBytes).toBe(0);
      expect(second.state.lines).toBe(Math.ceil((MAX_READ * 1.5) / one.length));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts the publishers whose file is fresh, and removes the files of ended or long-gone sessions', () => {
    const dir = mkdtempSync(join(tmpdir(), 'media-edge-metrics-'));
    try {
      nodeFs.mkdirSync(join(dir, 'publishers'));
      for (const [name, app] of [['s1', 'live'], ['s2', 'live'], ['s3', 'other'], ['gone', 'live'], ['old', 'live']]) writeFileSync(join(dir, 'publishers', name), `${app}\tx\n`);
      const stale = (Date.now() - PUBLISHER_STALE_MS - 1000) / 1000;
      utimesSync(join(dir, 'publishers', 'gone'), stale, stale);
      const ancient = (Date.now() - 120000) / 1000;
      utimesSync(join(dir, 'publishers', 'old'), ancient, ancient);
      writeFileSync(join(dir, 'rtmp.log'), session('allow', 'live/x', '-', '10', 's2'));
      expect(run(dir).publishers).toEqual({ live: 1, other: 1 });
      expect(nodeFs.readdirSync(join(dir, 'publishers')).sort()).toEqual(['gone', 's1', 's3']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers without counting while another scrape holds the lock, and takes a stale lock', () => {
    const dir = mkdtempSync(join(tmpdir(), 'media-edge-metrics-'));
    try {
      writeFileSync(join(dir, 'metrics.log'), line({}));
      writeFileSync(join(dir, 'lock'), 'x');
      const held = run(dir);
      expect(held.problem).toBe('another scrape is counting');
      expect(held.state.lines).toBe(0);
      const old = (Date.now() - LOCK_STALE_MS - 1000) / 1000;
      utimesSync(join(dir, 'lock'), old, old);
      const taken = run(dir);
      expect(taken.problem).toBe('');
      expect(taken.state.lines).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
