/**
 * The playlist producer (njs/producer.ts) against a fake of nginx's request
 * and a temporary <runs_dir> on node's fs (njs's `fs` has the same sync and
 * promise functions): what it answers, what it keeps on disk, what it
 * prefetches, and when it serves its last good copy. The same code in real
 * nginx: test/integration/playlist-cache.test.ts.
 */
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PLAYLIST_RETRIES, producePlaylist, producerPolicy, type Host, type OriginReply, type ProducerPolicy, type ProducerRequest } from '../../njs/producer.ts';
import { STATE_FORGET_MS, sweepRuns, writeAtomic } from '../../njs/runs.ts';
import { formatSlot, parseSlot } from '../../njs/state.ts';
import { cachePolicy } from '../../tools/render.ts';
import { defaults } from '../../tools/settings.ts';

const URI = '/live/cam1/chunklist.m3u8';
// A whole minute (ageStamp "00") near the real clock, which dates the files
// on disk that the sweep compares with the producer's (fake) clock.
const T0 = Math.floor(Date.now() / 60000) * 60000;
const RUN = T0.toString(36); // nextRun's run id: the time of the first production

/** A live playlist of 6 s segments media_<first>.ts .. media_<last>.ts. */
function live(first: number, last: number): string {
  let s = '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:' + first + '\n';
  for (let i = first; i <= last; i++) s += '#EXTINF:6.0,\nmedia_' + i + '.ts\n';
  return s;
}

const reply = (status: number, body: string, headers: Record<string, string> = {}): OriginReply => ({
  status,
  responseBuffer: Buffer.from(body),
  headersOut: headers,
  variables: { upstream_addr: '127.0.0.1:8086', upstream_status: String(status) },
});

/** What the fake request saw the producer do. */
interface Seen {
  r: ProducerRequest;
  headersOut: Record<string, string | string[] | undefined>;
  returned: { status: number; body?: string | Uint8Array }[];
  /** Calls of the streaming API (sendHeader/send/finish): the producer answers with one return. */
  streamed: string[];
  origin: { uri: string; args: string }[];
  detached: { uri: string; args: string }[];
  log: string[];
}

/** A fake NginxHTTPRequest for one production: `origin` is the reply to the origin subrequest, or the error it fails with. */
function request(dir: string, policy: ProducerPolicy, origin: OriginReply | Error | (OriginReply | Error)[], args = '', headersIn: Record<string, string> = {}): Seen {
  const seen: Omit<Seen, 'r'> = { headersOut: {}, returned: [], streamed: [], origin: [], detached: [], log: [] };
  const r = {
    uri: URI,
    args: {},
    variables: { media_edge_cache_policy: JSON.stringify(policy), media_edge_runs_dir: dir, args },
    headersIn,
    headersOut: seen.headersOut,
    error: (m: string) => seen.log.push('error: ' + m),
    warn: (m: string) => seen.log.push('warn: ' + m),
    log: (m: string) => seen.log.push('info: ' + m),
    return: (status: number, body?: string | Uint8Array) => seen.returned.push({ status, body }),
    sendHeader: () => seen.streamed.push('sendHeader'),
    send: () => seen.streamed.push('send'),
    finish: () => seen.streamed.push('finish'),
    subrequest(uri: string, options: { args: string; detached?: boolean }) {
      if (options.detached) {
        seen.detached.push({ uri, args: options.args });
        return undefined;
      }
      seen.origin.push({ uri, args: options.args });
      // A list: one reply per origin subrequest, in turn.
      const o = Array.isArray(origin) ? origin[seen.origin.length - 1] : origin;
      return o instanceof Error ? Promise.reject(o) : Promise.resolve(o);
    },
  };
  return { ...seen, r: r as ProducerRequest };
}

let dir = '';
let hostLog: string[] = [];
const host = (): Host => ({ fs, warn: (m) => hostLog.push('warn: ' + m), info: (m) => hostLog.push('info: ' + m) });
/** The rendered defaults (grace 6 s, prefetch 4, sweeps 1 in 1000), with changes. */
const policy = (change: Partial<ProducerPolicy> = {}): ProducerPolicy => ({ ...(cachePolicy(defaults()) as unknown as ProducerPolicy), ...change });

async function produce(p: ProducerPolicy, origin: OriginReply | Error, atMs: number, args = '', h: Host = host()): Promise<Seen> {
  vi.setSystemTime(atMs);
  const seen = request(dir, p, origin, args);
  await producePlaylist(seen.r, h);
  expect(seen.streamed).toEqual([]);
  expect(seen.returned.length).toBe(1);
  return seen;
}

const files = () => fs.readdirSync(dir).sort();
const read = (name: string) => fs.readFileSync(join(dir, name), 'utf8');

beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'media-edge-runs-'));
  hostLog = [];
  vi.useFakeTimers({ toFake: ['Date'] });
  // 0.5 x state_sweep_every (1000) is never below 1: no sweep unless a test asks.
  vi.spyOn(Math, 'random').mockReturnValue(0.5);
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('producer', () => {
  it('asks the origin for a blocking reload where the wait is long, for anything else where a hung origin is left in time', async () => {
    const plain = await produce(policy(), reply(200, live(10, 12)), T0, 'a=1');
    expect(plain.origin).toEqual([{ uri: '/_media_edge_origin' + URI, args: 'a=1' }]);
    for (const args of ['_HLS_msn=12', '_HLS_msn=12&_HLS_part=2', 'x=1&_hls_part=0']) {
      const blocking = await produce(policy(), reply(200, live(10, 12)), T0, args);
      expect(blocking.origin).toEqual([{ uri: '/_media_edge_origin_blocking' + URI, args }]);
    }
    // Not a blocking reload: a name that merely ends like one.
    const lookalike = await produce(policy(), reply(200, live(10, 12)), T0, 'x_HLS_msn=1');
    expect(lookalike.origin[0].uri).toBe('/_media_edge_origin' + URI);
  });

  it('answers a live playlist with its run on every segment and the lifetime its target duration allows, and keeps its run and a last good copy', async () => {
    const s = await produce(policy(), reply(200, live(10, 12)), T0);
    expect(s.origin).toEqual([{ uri: '/_media_edge_origin' + URI, args: '' }]);
    expect(s.returned[0].status).toBe(200);
    expect(s.returned[0].body).toBe(live(10, 12).replace(/(media_\d+\.ts)/g, '$1?me_run=' + RUN));
    expect(s.headersOut).toEqual({
      'Content-Type': 'application/vnd.apple.mpegurl',
      'X-Media-Edge-Produced': '00',
      'Cache-Control': 'max-age=2, stale-while-revalidate=2',
      'X-Media-Edge-TTL': '2; live target=6',
    });
    expect(s.log).toEqual([]);
    // One slot: its run file and its last good copy, nothing else.
    const names = files();
    expect(names.length).toBe(2);
    const slot = names[0].replace(/\.last$/, '');
    expect(names).toEqual([slot + '.last', slot + '.run']);
    expect(parseSlot(read(slot + '.run'))).toEqual({ key: URI, at: T0, run: { run: RUN, seq: 10, last: 12, at: T0 } });
    expect(JSON.parse(read(slot + '.last'))).toEqual({ key: URI, at: T0, ttl: 2, cc: 'max-age=2, stale-while-revalidate=2', type: 'application/vnd.apple.mpegurl', body: s.returned[0].body });
    // A name seen once costs the origin one request: no prefetch yet.
    expect(s.detached).toEqual([]);
  });

  it('names the origin that answered only with expose_origin, and keeps the origin\'s Content-Type', async () => {
    const s = await produce(policy({ expose: true }), reply(200, live(10, 12), { 'Content-Type': 'audio/mpegurl' }), T0);
    expect(s.headersOut['Content-Type']).toBe('audio/mpegurl');
    expect(s.headersOut['X-Media-Edge-Upstream']).toBe('127.0.0.1:8086');
    expect(s.headersOut['X-Media-Edge-Upstream-Status']).toBe('200');
  });

  it('prefetches the segments a known playlist newly lists, newest first, at most prefetch_limit, tagged with its run', async () => {
    await produce(policy(), reply(200, live(10, 12)), T0);
    const s = await produce(policy(), reply(200, live(11, 14)), T0 + 2000);
    expect(s.returned[0].body).toContain('media_14.ts?me_run=' + RUN);
    expect(s.detached).toEqual([
      { uri: '/live/cam1/media_14.ts', args: 'me_run=' + RUN },
      { uri: '/live/cam1/media_13.ts', args: 'me_run=' + RUN },
    ]);
    const limited = await produce(policy({ prefetch: 1 }), reply(200, live(12, 16)), T0 + 4000);
    expect(limited.detached).toEqual([{ uri: '/live/cam1/media_16.ts', args: 'me_run=' + RUN }]);
    const none = await produce(policy({ prefetch: 0 }), reply(200, live(13, 18)), T0 + 6000);
    expect(none.detached).toEqual([]);
  });

  it('starts a new run, and prefetches nothing of the old one, when the stream restarted', async () => {
    await produce(policy(), reply(200, live(10, 12)), T0);
    const s = await produce(policy(), reply(200, live(0, 2)), T0 + 2000);
    const run = (T0 + 2000).toString(36);
    expect(s.returned[0].body).toContain('media_2.ts?me_run=' + run);
    expect(hostLog).toEqual(['warn: media-edge: ' + URI + ': stream restarted (media sequence 0), new run ' + run]);
    // Every segment is new to the new run.
    expect(s.detached.map((d) => d.uri)).toEqual(['/live/cam1/media_2.ts', '/live/cam1/media_1.ts', '/live/cam1/media_0.ts']);
  });

  it.each([
    ['the origin subrequest fails', new Error('upstream gone'), 'error: media-edge producer: ' + URI + ': origin subrequest failed: Error: upstream gone'],
    ['the origin answers 503', reply(503, 'busy'), ''],
  ])('serves the last good copy, not to be stored, when %s', async (_what, failing, error) => {
    const good = await produce(policy(), reply(200, live(10, 12)), T0);
    const s = await produce(policy(), failing, T0 + 1500);
    expect(s.returned).toEqual([{ status: 200, body: good.returned[0].body }]);
    expect(s.headersOut).toEqual({
      'Content-Type': 'application/vnd.apple.mpegurl',
      'X-Media-Edge-Produced': '00', // when the copy was produced
      'Cache-Control': 'no-store',
      'X-Media-Edge-TTL': '0; stale-if-error age=1',
    });
    expect(s.log).toEqual((error ? [error] : []).concat(['warn: media-edge producer: ' + URI + ': origins failing; served the copy from 1s ago (playlist_stale_grace)']));
  });

  it('answers 502 when the origin fails and there is no copy (or playlist_stale_grace is 0, which keeps none)', async () => {
    const first = await produce(policy(), new Error('refused'), T0);
    expect(first.returned).toEqual([{ status: 502, body: undefined }]);
    expect(first.headersOut).toEqual({ 'Cache-Control': 'no-store' });
    await produce(policy({ grace: 0 }), reply(200, live(10, 12)), T0 + 1000);
    expect(files().filter((n) => n.endsWith('.last'))).toEqual([]);
    const s = await produce(policy({ grace: 0 }), new Error('refused'), T0 + 2000);
    expect(s.returned[0].status).toBe(502);
  });

  it('serves the copy up to its lifetime plus playlist_stale_grace and not a millisecond longer; then the origin\'s failure goes through', async () => {
    await produce(policy(), reply(200, live(10, 12)), T0);
    // ttl 2 s + grace 6 s.
    const last = await produce(policy(), new Error('refused'), T0 + 8000);
    expect(last.returned[0].status).toBe(200);
    expect(last.headersOut['X-Media-Edge-TTL']).toBe('0; stale-if-error age=8');
    const over = await produce(policy(), new Error('refused'), T0 + 8001);
    expect(over.returned).toEqual([{ status: 502, body: undefined }]);
    expect(over.headersOut).toEqual({ 'Cache-Control': 'no-store' });
    const status = await produce(policy(), reply(503, 'busy'), T0 + 8001);
    expect(status.returned).toEqual([{ status: 503, body: Buffer.from('busy') }]);
    // No Cache-Control on a 5xx (decide): nginx stores nothing without one.
    expect(status.headersOut).toEqual({ 'Content-Type': 'application/vnd.apple.mpegurl', 'X-Media-Edge-TTL': '0; status-503' });
  });

  it('takes a body shorter than its Content-Length (the origin closed mid-body) for a failure: the last good copy within the grace, else 502; never parsed or kept', async () => {
    const whole = live(10, 13);
    const cut = (at: number) => produce(policy(), reply(200, whole.slice(0, 90), { 'Content-Length': String(Buffer.byteLength(whole)) }), at);
    const none = await cut(T0);
    expect(none.returned).toEqual([{ status: 502, body: undefined }]);
    expect(none.headersOut).toEqual({ 'Cache-Control': 'no-store' });
    expect(none.log).toEqual([`error: media-edge producer: ${URI}: origin body cut short (90 of ${Buffer.byteLength(whole)} bytes)`]);
    await produce(policy(), reply(200, live(10, 12), { 'Content-Length': String(Buffer.byteLength(live(10, 12))) }), T0 + 1000);
    const copy = read(files().find((n) => n.endsWith('.last'))!);
    const s = await cut(T0 + 4000);
    expect(s.returned[0].status).toBe(200);
    expect(s.headersOut['X-Media-Edge-TTL']).toBe('0; stale-if-error age=3');
    expect(String(s.returned[0].body)).toContain('media_12.ts?me_run=');
    expect(read(files().find((n) => n.endsWith('.last'))!)).toBe(copy);
  });

  it('answers a 200 it cannot parse with the last good copy within the grace, and passes it through after (or when it only grew too large)', async () => {
    await produce(policy(), reply(200, live(10, 12)), T0);
    const html = reply(200, '<!DOCTYPE html><html>Error</html>');
    const within = await produce(policy(), html, T0 + 5000);
    expect(within.returned[0].status).toBe(200);
    expect(within.headersOut['X-Media-Edge-TTL']).toBe('0; stale-if-error age=5');
    expect(within.log).toContain(`error: media-edge producer: ${URI}: origin playlist not understood (html-page, 33 bytes); served its last good copy`);
    const big = await produce(policy({ maxBytes: 50 }), reply(200, live(10, 13)), T0 + 6000);
    expect(big.headersOut['X-Media-Edge-TTL']).toBe('1; unparsed:too-large');
    const after = await produce(policy(), html, T0 + 8001);
    expect(after.returned[0].body).toEqual(Buffer.from('<!DOCTYPE html><html>Error</html>'));
    expect(after.headersOut['X-Media-Edge-TTL']).toBe('1; unparsed:html-page');
  });

  it('never serves another playlist\'s copy from a slot that changed hands', async () => {
    await produce(policy(), reply(200, live(10, 12)), T0);
    const last = files().find((n) => n.endsWith('.last')) as string;
    const copy = JSON.parse(read(last));
    fs.writeFileSync(join(dir, last), JSON.stringify({ ...copy, key: '/live/other/chunklist.m3u8' }));
    const s = await produce(policy(), new Error('refused'), T0 + 1000);
    expect(s.returned[0].status).toBe(502);
  });

  it('one production in state_sweep_every removes the state files not written for an hour, and logs how many', async () => {
    const sweep = T0 + 2000;
    const old = (sweep - STATE_FORGET_MS - 1000) / 1000;
    const kept = (sweep - STATE_FORGET_MS + 1000) / 1000;
    for (const [name, mtime] of [['7.run', old], ['7.last', old], ['8.run.4242.tmp', old], ['9.run', kept]] as const) {
      fs.writeFileSync(join(dir, name), formatSlot('/live/gone/' + name, 0, null));
      fs.utimesSync(join(dir, name), mtime, mtime);
    }
    // 0.5 x 2 is not below 1: this production does not sweep ...
    await produce(policy({ sweepEvery: 2 }), reply(200, live(10, 12)), T0);
    expect(files()).toContain('7.run');
    expect(hostLog).toEqual([]);
    // ... 0.4 x 2 is.
    vi.mocked(Math.random).mockReturnValue(0.4);
    await produce(policy({ sweepEvery: 2 }), reply(200, live(10, 13)), sweep);
    expect(files()).not.toContain('7.run');
    expect(files()).not.toContain('7.last');
    expect(files()).not.toContain('8.run.4242.tmp');
    expect(files()).toContain('9.run');
    expect(hostLog).toEqual(['info: media-edge producer: removed 3 state files from ' + dir]);
  });

  it('two writes of one state file at once (overlapping productions in a worker) both succeed, and the file is one of them whole', async () => {
    let n = 0;
    vi.mocked(Math.random).mockImplementation(() => (n++ % 1000) / 1000);
    const file = join(dir, '3.run');
    expect(await Promise.all([writeAtomic(fs, file, 'first'), writeAtomic(fs, file, 'second')])).toEqual(['', '']);
    expect(['first', 'second']).toContain(read('3.run'));
    expect(files()).toEqual(['3.run']);
  });

  it('a sweep of a missing directory removes nothing', () => {
    expect(sweepRuns(fs, join(dir, 'missing'), T0)).toBe(0);
  });

  it('a playlist that finds no slot free gets no run tag, no copy and no prefetch, and says so as often as sweeps run', async () => {
    // state_max_files 10: 5 slots, all held by playlists produced just now.
    for (let i = 0; i < 5; i++) fs.writeFileSync(join(dir, i + '.run'), formatSlot('/live/s' + i + '/chunklist.m3u8', T0, null));
    vi.mocked(Math.random).mockReturnValue(0.0001);
    const s = await produce(policy({ maxFiles: 10 }), reply(200, live(10, 12)), T0 + 1000);
    expect(s.returned[0].body).toBe(live(10, 12));
    expect(s.log).toEqual(['warn: media-edge producer: ' + URI + ': no state slot free in ' + dir + ' (state_max_files 10): this stream gets no run tag, last good copy, prefetch or second try while the slots are in use']);
    expect(files()).toEqual(['0.run', '1.run', '2.run', '3.run', '4.run']);
  });

  it('refuses what it cannot produce: no policy is a 502, a path that is no playlist a 404, neither stored', async () => {
    const s = request(dir, policy(), reply(200, ''));
    (s.r.variables as Record<string, string>).media_edge_cache_policy = 'nope';
    await producePlaylist(s.r, host());
    expect(s.returned).toEqual([{ status: 502, body: undefined }]);
    expect(s.log).toEqual(['error: media-edge producer: $media_edge_cache_policy is missing or not JSON']);
    const seg = request(dir, policy(), reply(200, ''));
    (seg.r as { uri: string }).uri = '/live/cam1/media_1.ts';
    await producePlaylist(seg.r, host());
    expect(seg.returned).toEqual([{ status: 404, body: undefined }]);
    expect(seg.headersOut).toEqual({ 'Cache-Control': 'no-store' });
    expect(seg.origin).toEqual([]);
    expect(producerPolicy('{"fallback":1}')).toBeNull();
  });
});

describe('producer: the cache\'s disk full (njs/cache-space.ts)', () => {
  const full = (isFull: () => boolean): Host => ({ ...host(), cacheFull: () => isFull() });
  const produceWith = (h: Host, origin: OriginReply | Error, atMs: number, args = '') => produce(policy(), origin, atMs, args, h);

  it('marks every answer X-Media-Edge-No-Cache while it is full, and starts no prefetch (its segment could not be stored)', async () => {
    let isFull = false;
    await produceWith(full(() => isFull), reply(200, live(10, 12)), T0);
    isFull = true;
    // The copy of T0 is 2.5 s old: past its TTL of 2 s, so the origin is asked.
    const s = await produceWith(full(() => isFull), reply(200, live(11, 14)), T0 + 2500);
    expect(s.origin).toHaveLength(1);
    expect(s.headersOut['X-Media-Edge-No-Cache']).toBe('full');
    expect(s.headersOut['Cache-Control']).toBe('max-age=2, stale-while-revalidate=2');
    expect(s.detached).toEqual([]);
    // Room again: stored, and the prefetch resumes.
    isFull = false;
    const t = await produceWith(full(() => isFull), reply(200, live(12, 15)), T0 + 5000);
    expect(t.headersOut['X-Media-Edge-No-Cache']).toBeUndefined();
    expect(t.detached.map((d) => d.uri)).toEqual(['/live/cam1/media_15.ts']);
  });

  it('answers from the last good copy while it is younger than its TTL, with the Cache-Control and Age a cache hit would have, without asking the origin', async () => {
    await produceWith(full(() => false), reply(200, live(10, 12)), T0);
    const s = await produceWith(full(() => true), reply(200, live(11, 13)), T0 + 1999);
    expect(s.origin).toEqual([]);
    expect(s.returned[0]).toEqual({ status: 200, body: live(10, 12).replace(/(media_\d+\.ts)/g, '$1?me_run=' + RUN) });
    expect(s.headersOut).toEqual({
      'Content-Type': 'application/vnd.apple.mpegurl',
      'X-Media-Edge-Produced': '00',
      'Cache-Control': 'max-age=2, stale-while-revalidate=2',
      'X-Media-Edge-TTL': '2; cache-full copy age=1',
      'X-Media-Edge-No-Cache': 'full',
    });
    // At its TTL: the origin, as a cache would.
    const due = await produceWith(full(() => true), reply(200, live(11, 13)), T0 + 2000);
    expect(due.origin).toHaveLength(1);
    expect(String(due.returned[0].body)).toContain('media_13.ts');
  });

  it('never keeps an LL-HLS delta update (_HLS_skip) as the last good copy: it shares the slot, and is no answer to a plain request', async () => {
    await produceWith(full(() => false), reply(200, live(10, 12)), T0);
    const last = files().find((n) => n.endsWith('.last')) as string;
    const copy = read(last);
    await produceWith(full(() => false), reply(200, live(10, 12).replace('#EXT-X-MEDIA-SEQUENCE:10\n', '#EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-SKIP:SKIPPED-SEGMENTS=1\n')), T0 + 500, '_HLS_skip=YES');
    expect(read(last)).toBe(copy);
    const plain = await produceWith(full(() => true), reply(200, live(10, 12)), T0 + 600);
    expect(String(plain.returned[0].body)).not.toContain('EXT-X-SKIP');
  });

  it('asks the origin for a blocking reload, or where the copy has no Cache-Control recorded (kept by an older edge) or is another playlist\'s', async () => {
    await produceWith(full(() => false), reply(200, live(10, 12)), T0);
    const blocking = await produceWith(full(() => true), reply(200, live(10, 12)), T0 + 500, '_HLS_msn=12');
    expect(blocking.origin).toHaveLength(1);
    const last = files().find((n) => n.endsWith('.last')) as string;
    const copy = JSON.parse(read(last));
    delete copy.cc;
    fs.writeFileSync(join(dir, last), JSON.stringify(copy));
    const old = await produceWith(full(() => true), reply(200, live(10, 12)), T0 + 600);
    expect(old.origin).toHaveLength(1);
    fs.writeFileSync(join(dir, last), JSON.stringify({ ...copy, cc: '', key: '/live/other/chunklist.m3u8' }));
    const other = await produceWith(full(() => true), reply(200, live(10, 12)), T0 + 700);
    expect(other.origin).toHaveLength(1);
  });
});

describe('producer: another origin after an answer nginx took as a success', () => {
  const from = (addr: string, r: OriginReply): OriginReply => ({ ...r, variables: { upstream_addr: addr, upstream_status: String(r.status) } });
  const good = live(10, 13);
  const whole = { 'Content-Length': String(Buffer.byteLength(good)) };
  /** A host whose retry names the next of three origins a, b, c not tried yet. */
  const retrying = (asked: string[][]): Host => ({
    ...host(),
    retry: (_r, tried) => {
      asked.push([...tried]);
      const next = ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'].find((a) => !tried.includes(a));
      return next ? { key: 'key-' + next.slice(-1), origin: 'o' + next.slice(-1), address: next } : null;
    },
  });
  /** A production at T0 of a playlist produced once 20 s before (past its TTL and grace: no last good copy to serve). */
  const run = async (replies: OriginReply[], h: Host, args = '', fresh = false) => {
    if (!fresh) {
      vi.setSystemTime(T0 - 20000);
      const prime = request(dir, policy(), [from('127.0.0.1:1', reply(200, live(8, 11)))], args);
      await producePlaylist(prime.r, host());
    }
    vi.setSystemTime(T0);
    const seen = request(dir, policy(), replies, args);
    await producePlaylist(seen.r, h);
    expect(seen.returned.length).toBe(1);
    return seen;
  };

  it('asks the next origin for a playlist it cannot read or that was cut short, and serves that one: no stale copy, no failure', async () => {
    for (const bad of [reply(200, '<html>busy</html>'), reply(200, good.slice(0, 90), whole), reply(200, '\x00\xff garbage')]) {
      const asked: string[][] = [];
      const s = await run([from('127.0.0.1:1', bad), from('127.0.0.1:2', reply(200, good, whole))], retrying(asked));
      expect(s.origin.map((o) => o.uri)).toEqual([`/_media_edge_origin${URI}`, `/_media_edge_origin_retry/key-2${URI}`]);
      expect(asked).toEqual([['127.0.0.1:1']]);
      expect(s.returned[0].status).toBe(200);
      expect(String(s.returned[0].body)).toContain('media_13.ts');
      expect(s.headersOut['X-Media-Edge-TTL']).toMatch(/^2; /);
      expect(s.log).toHaveLength(1);
      expect(s.log[0]).toMatch(new RegExp(`^warn: media-edge producer: ${URI}: origin (playlist not understood|body cut short).* from 127\\.0\\.0\\.1:1; asking o2$`));
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir);
    }
  });

  it(`asks at most ${PLAYLIST_RETRIES} more origins, each one not tried, then does what it did before (the unreadable body passed through)`, async () => {
    const asked: string[][] = [];
    const junk = reply(200, 'junk');
    // nginx's own failover in the first request already went from 1 to 3 (a connect error): neither is asked again.
    const first: OriginReply = { ...junk, variables: { upstream_addr: '127.0.0.1:1, 127.0.0.1:3', upstream_status: '502, 200' } };
    const s = await run([first, from('127.0.0.1:2', junk), from('127.0.0.1:9', junk)], retrying(asked));
    // The second time every origin was tried: none is asked.
    expect(asked).toEqual([['127.0.0.1:1', '127.0.0.1:3'], ['127.0.0.1:1', '127.0.0.1:3', '127.0.0.1:2']]);
    expect(s.origin).toHaveLength(2);
    expect(s.returned[0]).toEqual({ status: 200, body: Buffer.from('junk') });
    expect(s.log.at(-1)).toContain('from each of 127.0.0.1:1, 127.0.0.1:3, 127.0.0.1:2); passed through unchanged');
    const many: string[][] = [];
    const everyone: Host = { ...host(), retry: (_r, tried) => (many.push([...tried]), { key: 'k', origin: 'x', address: 'x' }) };
    const t = await run([from('127.0.0.1:1', junk), from('127.0.0.1:2', junk), from('127.0.0.1:3', junk), from('127.0.0.1:4', junk)], everyone);
    expect(t.origin).toHaveLength(1 + PLAYLIST_RETRIES);
  });

  it('does not ask again for a good answer, an error status (nginx already tried every origin), a playlist too large, or a blocking LL-HLS reload', async () => {
    const asked: string[][] = [];
    const h = retrying(asked);
    await run([from('127.0.0.1:1', reply(200, good, whole))], h);
    await run([from('127.0.0.1:1', reply(503, 'busy'))], h);
    await run([from('127.0.0.1:1', reply(404, 'no'))], h);
    await run([from('127.0.0.1:1', reply(200, good.slice(0, 90), whole))], h, '_HLS_msn=12');
    vi.setSystemTime(T0);
    const big = request(dir, policy({ maxBytes: 10 }), [from('127.0.0.1:1', reply(200, good))]);
    await producePlaylist(big.r, h);
    expect(big.origin).toHaveLength(1);
    expect(asked).toEqual([]);
  });

  it('prefetches what the second try listed from the origin that answered it, and from the stream\'s own again once it answers', async () => {
    const asked: string[][] = [];
    // The run of the first production (run() primes the playlist 20 s before T0).
    const PRIMED_RUN = (T0 - 20000).toString(36);
    await run([from('127.0.0.1:1', reply(200, live(10, 12)))], retrying(asked));
    vi.setSystemTime(T0 + 2000);
    const s = request(dir, policy(), [from('127.0.0.1:1', reply(200, 'junk')), from('127.0.0.1:2', reply(200, live(11, 14)))]);
    await producePlaylist(s.r, retrying(asked));
    expect(s.detached).toEqual([
      { uri: '/_media_edge_prefetch_retry/key-2/live/cam1/media_14.ts', args: 'me_run=' + PRIMED_RUN },
      { uri: '/_media_edge_prefetch_retry/key-2/live/cam1/media_13.ts', args: 'me_run=' + PRIMED_RUN },
    ]);
    vi.setSystemTime(T0 + 4000);
    const t = request(dir, policy(), [from('127.0.0.1:1', reply(200, live(12, 15)))]);
    await producePlaylist(t.r, retrying(asked));
    expect(t.detached).toEqual([{ uri: '/live/cam1/media_15.ts', args: 'me_run=' + PRIMED_RUN }]);
  });

  it('keeps the first answer when the retry answers an error or another bad body, and does not retry a name never produced', async () => {
    const asked: string[][] = [];
    const cut = reply(200, good.slice(0, 90), whole);
    for (const worse of [reply(404, 'no'), reply(403, 'no'), reply(302, ''), reply(200, 'junk')]) {
      const s = await run([from('127.0.0.1:1', cut), from('127.0.0.1:2', worse), from('127.0.0.1:3', worse)], retrying(asked));
      expect(s.origin).toHaveLength(3);
      // The cut body, as without a retry: no last good copy within the grace, so 502.
      expect(s.returned, String(worse.status)).toEqual([{ status: 502, body: undefined }]);
    }
    // A junk answer stays the one passed through (and not cached as the playlist).
    const j = await run([from('127.0.0.1:1', reply(200, 'junk-1')), from('127.0.0.1:2', reply(404, 'no')), from('127.0.0.1:3', reply(200, 'junk-3'))], retrying(asked));
    expect(j.returned).toEqual([{ status: 200, body: Buffer.from('junk-1') }]);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    const before = asked.length;
    const fresh = await run([from('127.0.0.1:1', reply(200, 'junk')), from('127.0.0.1:2', reply(200, good, whole))], retrying(asked), '', true);
    expect(fresh.origin).toHaveLength(1);
    expect(asked.length).toBe(before);
  });

  it('prefetches through the default path when the retry was answered by another origin than the one it steered to (nginx walked on)', async () => {
    const asked: string[][] = [];
    await run([from('127.0.0.1:1', reply(200, live(10, 12)))], retrying(asked));
    vi.setSystemTime(T0 + 2000);
    const walked: OriginReply = { ...reply(200, live(11, 14)), variables: { upstream_addr: '127.0.0.1:2, 127.0.0.1:3', upstream_status: '502, 200' } };
    const s = request(dir, policy(), [from('127.0.0.1:1', reply(200, 'junk')), walked]);
    await producePlaylist(s.r, retrying(asked));
    expect(s.detached.map((d) => d.uri)).toEqual(['/live/cam1/media_14.ts', '/live/cam1/media_13.ts']);
  });

  it('keeps to what it did before when there is no other origin, or the retry itself fails', async () => {
    const none: Host = { ...host(), retry: () => null };
    const cut = reply(200, good.slice(0, 90), whole);
    const s = await run([from('127.0.0.1:1', cut)], none);
    expect(s.returned).toEqual([{ status: 502, body: undefined }]);
    expect(s.log).toEqual([`error: media-edge producer: ${URI}: origin body cut short (90 of ${Buffer.byteLength(good)} bytes)`]);
    const asked: string[][] = [];
    const t = await run([from('127.0.0.1:1', cut), new Error('subrequest failed') as unknown as OriginReply], retrying(asked));
    expect(t.origin).toHaveLength(2);
    expect(t.returned).toEqual([{ status: 502, body: undefined }]);
  });
});
