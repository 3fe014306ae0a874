import { mkdtempSync, rmSync, writeFileSync, appendFileSync, readFileSync, utimesSync } from 'node:fs';
import * as nodeFs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { consume, consumeBytes, failureCause, labelValue, logTime, MAX_REASONS, newState, parseLine, parseSessionLine, prune, readState, render, splitStream, STREAM_FORGET_MS, OTHER, type LogBytes, type MetricsConfig } from '../../njs/metrics.ts';
import { LOCK_STALE_MS, MAX_READ, PUBLISHER_STALE_MS, readLog, scrape, type MetricsStore } from '../../njs/metrics-file.ts';

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

  it('reads the time nginx writes ($time_iso8601, any offset) and the $msec of logs written before, nothing else', () => {
    expect(logTime('2027-01-15T08:00:00+00:00')).toBe(Date.UTC(2027, 0, 15, 8, 0, 0));
    expect(logTime('2027-01-15T09:00:00+01:00')).toBe(Date.UTC(2027, 0, 15, 8, 0, 0));
    expect(logTime('2027-01-15T02:30:00-05:30')).toBe(Date.UTC(2027, 0, 15, 8, 0, 0));
    expect(logTime('1800000000.123')).toBe(1800000000123);
    for (const bad of ['-', '', '1800000000', '2027-01-15 08:00:00+00:00', '2027-01-15T08:00:00Z', '2027-01-15T08:00:00+00:00x', 'x2027-01-15T08:00:00+00:00', '1e9.5'])
      expect(Number.isNaN(logTime(bad)), bad).toBe(true);
    expect(parseLine(line({ at: '2027-01-15T09:00:00+01:00' }).trimEnd())).toMatchObject({ at: Date.UTC(2027, 0, 15, 8, 0, 0) });
  });

  it('counts alike lines once with their number, to the same totals as one by one', () => {
    // A seeded mix: viewers, producers, origins with failures, refusals,
    // verdicts, RTMP sessions, unreadable lines; few distinct values so that
    // lines repeat; caps small enough to fold streams and viewers.
    let seed = 7;
    const pick = <T,>(a: T[]): T => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return a[seed % a.length];
    };
    const small: MetricsConfig = { ...cfg, maxStreams: 3, maxViewers: 4 };
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const at = `2027-01-15T08:00:0${pick(['0', '1', '2'])}+00:00`;
      const r = pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      if (r === 0) lines.push(session(pick(['allow', 'deny']), pick(['live/a', 'live/b']), pick(['bad key', '-']), pick(['10', '20']), pick(['s1', 's2'])));
      else if (r === 1) lines.push('garbage\n');
      else if (r === 2) lines.push(line({ src: 'p', at, kind: pick(['media', 'segment']), ua: pick(['-', '127.0.0.1:8088']), us: pick(['-', '200', '502']), ut: pick(['-', '0.004', '0.300']) }));
      else
        lines.push(line({
          at,
          kind: '-',
          stream: pick(['/live/a/chunklist.m3u8', '/live/b/media_1.ts', '/live/c/media_2.ts', '/live/d/media_3.ts', '/vod/x/y.mp4']),
          cache: pick(['HIT', 'MISS', 'EXPIRED']),
          status: pick(['200', '200', '404', '403']),
          bytes: pick(['100', '2000']),
          reject: pick(['-', '-', 'dot-segment']),
          denied: pick(['-', '-', 'expired']),
          ua: pick(['-', '127.0.0.1:8088', '127.0.0.1:8089, 127.0.0.1:8088']),
          us: pick(['-', '200', '504, 200']),
          ut: pick(['-', '0.010', '1.000, 0.020']),
          viewer: pick(['a:10.0.0.1 ua', 'a:10.0.0.2 ua', 't:abc', 't:def', 't:ghi', 'a:10.0.0.3 x']),
          verdict: pick(['-', '-', '0; stale-if-error age=3', '1; unparsed:no #EXTM3U']),
        }));
    }
    // Runs of one line, as one client's flood writes them (counted in place).
    for (let i = lines.length - 1; i >= 0; i -= 7) lines.splice(i, 0, ...Array(pick([1, 2, 5])).fill(lines[i]));
    const together = newState();
    const endedTogether: string[] = [];
    consume(together, lines.join(''), small, id, endedTogether);
    const apart = newState();
    const endedApart: string[] = [];
    for (const l of lines) consume(apart, l, small, id, endedApart);
    // As bytes, the way a count reads the log (and a half-written line left).
    const bytes = newState();
    const buf = Buffer.from(lines.join('') + 'v\t2027');
    const text = (b: LogBytes, start: number, end: number) => (b as unknown as Buffer).toString('utf8', start, end);
    expect(consumeBytes(bytes, buf, buf.length, text, small, id, [])).toBe(buf.length - 'v\t2027'.length);
    // Response-time sums differ in the last bits: t * n against t added n times.
    for (const s of [together, apart, bytes]) for (const o of Object.values(s.origins)) o.sum = Math.round(o.sum * 1e6);
    expect(together).toEqual(apart);
    expect(bytes).toEqual(apart);
    expect([...new Set(endedTogether)].sort()).toEqual([...new Set(endedApart)].sort());
    // It did repeat: far fewer distinct lines than lines.
    expect(new Set(lines).size).toBeLessThan(lines.length / 3);
    expect(together.lines + together.unreadable).toBe(lines.length);
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
  const text = (b: LogBytes, start: number, end: number) => (b as unknown as Buffer).toString('utf8', start, end);
  const run = (dir: string, now = Date.now()) => scrape(fs, { http: join(dir, 'metrics.log'), rtmp: join(dir, 'rtmp.log'), publishers: join(dir, 'publishers') }, dir, cfg, now, id, Buffer.alloc(4096), text);

  it('reads every line once whatever the buffer cuts, within the budget; skips and counts a line longer than the buffer', () => {
    const dir = mkdtempSync(join(tmpdir(), 'media-edge-metrics-'));
    try {
      const log = join(dir, 'metrics.log');
      const lines: string[] = [];
      for (let i = 0; i < 60; i++) lines.push('x'.repeat([1, 5, 13, 14, 15, 40, 3][i % 7]) + String(i).padStart(2, '0'));
      const text = lines.join('\n') + '\n' + 'half-written';
      writeFileSync(log, text);
      const ino = nodeFs.statSync(log).ino;
      // Eats whole lines only, as consumeBytes does.
      const eater = (into: string[]) => (b: Uint8Array, n: number) => {
        const t = decode(b, n);
        const end = t.lastIndexOf('\n');
        if (end >= 0) into.push(...t.slice(0, end).split('\n'));
        return end + 1;
      };
      for (const size of [16, 17, 64, 4096]) {
        const got: string[] = [];
        const r = readLog(fs, log, 0, ino, 1e9, new Uint8Array(size), eater(got));
        // A line and its newline must fit the buffer; a longer one is skipped, and counted.
        const fit = lines.filter((l) => l.length + 1 <= size);
        expect(got, `buffer ${size}`).toEqual(fit);
        expect(r.skipped, `buffer ${size}`).toBe(lines.length - fit.length);
        expect(r.at).toBe(text.length - 'half-written'.length);
        // A budget: no more new bytes than it each time, on from where it stopped.
        const part: string[] = [];
        let at = 0;
        let skipped = 0;
        for (let k = 0; k < 300 && at < r.at; k++) {
          const step = readLog(fs, log, at, ino, 50, new Uint8Array(size), eater(part));
          expect(step.at - at).toBeLessThanOrEqual(50 + size);
          at = step.at;
          skipped += step.skipped;
        }
        expect(part, `buffer ${size}, budget 50`).toEqual(fit);
        expect(skipped).toBe(lines.length - fit.length);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gets past a line longer than the buffer though every count starts late (one buffer each): no count starts it again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'media-edge-metrics-'));
    try {
      const log = join(dir, 'metrics.log');
      const text = 'x'.repeat(40) + '\na\nbb\n';
      writeFileSync(log, text);
      const ino = nodeFs.statSync(log).ino;
      const got: string[] = [];
      const eat = (b: Uint8Array, n: number) => {
        const t = Buffer.from(b.subarray(0, n)).toString('latin1');
        const end = t.lastIndexOf('\n');
        if (end >= 0) got.push(...t.slice(0, end).split('\n'));
        return end + 1;
      };
      let at = 0;
      for (let k = 0; k < 10 && at < text.length; k++) at = readLog(fs, log, at, ino, 1e9, new Uint8Array(16), eat, -1).at;
      expect(at).toBe(text.length);
      // The long line's rest came as one line (unreadable to the count), then the others.
      expect(got.slice(-2)).toEqual(['a', 'bb']);
      expect(got.length).toBe(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

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
      const late = scrape(fs, { http: join(dir, 'metrics.log'), rtmp: '', publishers: '' }, dir, cfg, Date.now(), id, Buffer.alloc(4096), text, -1);
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
