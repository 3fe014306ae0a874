/**
 * faults: simulated viewers (viewers.ts) through an edge with 3 origins
 * while something goes wrong, one sub-scenario a fault, each on a fresh edge
 * and fresh origins: a few seconds of viewing, the fault for
 * BENCH_FAULT_SECONDS, then long enough for the edge to take a failed
 * origin back by itself (origin_cooldown) and two target durations more.
 * The edge runs with the shipped origin_* and playlist_stale_grace defaults:
 * what an operator gets.
 *
 * Per fault: failed segment requests (target 0 where one origin of three is
 * bad), failed playlist requests and stale copies served (the producer's
 * last good copies, and playlists STALE_BEHIND segments behind the live
 * edge), seconds from the end of the fault to the last request a viewer
 * could not use (a stale copy counts as not yet recovered); one row for the
 * error-log lines no run may have, of every fault (target 0; nginx's own
 * report of the kill -9 counted apart).
 *
 * BENCH_FAULTS=hang,truncated,... picks faults; BENCH_FAULT_SECONDS (8);
 * BENCH_FAULT_SETTINGS (JSON) changes settings of every fault's edge.
 * Needs root for the cache-full (tmpfs) and state-unwritable (read-only
 * bind mounts) faults: without it their rows say "not run" and why.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Settings } from '../../tools/settings.ts';
import { defaults } from '../../tools/settings.ts';
import { nginxSeconds } from '../../tools/units.ts';
import { fill } from '../support/disk.ts';
import { sleep } from '../support/http.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';
import { percentile, startBench, type Row, type Running } from './common.ts';
import { startViewers, type Fetch } from './viewers.ts';

const FAULT_SECONDS = Number(process.env.BENCH_FAULT_SECONDS ?? 8);
/** Settings over the defaults for every fault, to see what a change would do (BENCH_FAULT_SETTINGS='{"origin_read_timeout":"2s"}'). */
const OVERRIDES = JSON.parse(process.env.BENCH_FAULT_SETTINGS ?? '{}') as Partial<Settings>;
const PLAYERS = 60;
const STREAMS = Array.from({ length: 12 }, (_, i) => `flt${i}`);
const SEGMENT_SECONDS = 2;
const BEFORE_SECONDS = 4;
const D = defaults();
const COOLDOWN = nginxSeconds(D.origin_cooldown);
const GRACE = nginxSeconds(D.playlist_stale_grace);
/** After a fault: the cooldown of an origin nginx counted as failed, then two target durations of viewing. */
const AFTER_SECONDS = COOLDOWN + 2 * SEGMENT_SECONDS;
/** nginx's "exited on signal 9": the master reporting the kill this benchmark made, counted apart. */
const KILL_ALERT = /\[alert\].*exited on signal 9/;

const sh = (cmd: string, args: string[]) => promisify(execFile)(cmd, args, { encoding: 'utf8' });

/** Mounts a fault made and has not undone yet: undone before the edge's directory is removed, whatever happened. */
const mounts: string[] = [];
async function mount(args: string[], at: string): Promise<void> {
  await sh('mount', args);
  if (!mounts.includes(at)) mounts.push(at);
}
async function unmount(at: string): Promise<void> {
  if (!mounts.includes(at)) return;
  await sh('umount', [at]);
  mounts.splice(mounts.indexOf(at), 1);
}
const unmountAll = async () => {
  for (const at of [...mounts].reverse()) await unmount(at);
};

interface Ctx {
  edge: Running;
  origins: WowzaOrigin[];
  /** The origin with the most streams in the first seconds: the one made bad, so the fault hits viewers. */
  bad: WowzaOrigin;
}

interface Scenario {
  /** BENCH_FAULTS name. */
  name: string;
  /** The fault in the row's words. */
  what: string;
  /** One bad origin of several: the target is no failed segment request. */
  oneBad: boolean;
  /** Seconds it lasts (default FAULT_SECONDS; 0: an event, not a state). */
  seconds?: number;
  /** Settings and setup of its own (a cache directory on a tmpfs); cleanup runs after the edge stopped. */
  prepare?: () => Promise<{ settings: Partial<Settings>; cleanup: () => Promise<void> }>;
  /** Start the fault; resolves to what ends it. */
  start(ctx: Ctx): Promise<() => Promise<void>>;
  /** Extra rows (all origins down: what the README promises). */
  judge?: (fetches: Fetch[], t: Times, rows: Row[]) => void;
  /** Recovery target, seconds (none: measured). */
  recoverWithin?: number;
}

interface Times {
  start: number;
  end: number;
  stop: number;
}

/** Faults made by the origin itself: set, then cleared. */
function originFault(fault: Omit<WowzaOrigin['faults'][number], 'match'>, match = /./): Scenario['start'] {
  return async ({ bad }) => {
    bad.faults = [{ match, ...fault }];
    return async () => {
      bad.faults = [];
    };
  };
}

/** The nginx workers (not the cache manager or loader) among the master's children. */
function workers(master: number): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return Number(/\nPPid:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1]) === master && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('worker process');
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Where the cache-full fault mounted its tmpfs. */
let tmpfsCache = '';

const SCENARIOS: Scenario[] = [
  { name: 'hang', what: '1 of 3 origins hangs (takes requests, never answers)', oneBad: true, start: originFault({ hang: true }) },
  { name: 'truncated', what: '1 of 3 origins truncates every body (whole Content-Length, half the body, close)', oneBad: true, start: originFault({ truncate: 0.5 }) },
  { name: 'garbage', what: '1 of 3 origins sends garbage playlists (200, 2 KB of random bytes)', oneBad: true, start: originFault({ garbage: 2048 }, /\.m3u8$/) },
  // Segments only: its playlists are whole and fresh, so viewers keep asking it for segments.
  { name: 'midbody', what: '1 of 3 origins closes segments mid-body (chunked, half the body, reset)', oneBad: true, start: originFault({ closeMidBody: 0.5 }, /\.ts$/) },
  {
    name: 'flap',
    what: '1 of 3 origins flaps (3 s down, 3 s up)',
    oneBad: true,
    start: async ({ bad }) => bad.flap(3000, 3000),
  },
  {
    name: 'kill',
    what: 'kill -9 of 1 of 2 nginx workers, origins answering segments in 0.5 s',
    oneBad: false,
    seconds: 0,
    recoverWithin: SEGMENT_SECONDS,
    prepare: async () => ({ settings: { worker_processes: '2' }, cleanup: async () => {} }),
    start: async ({ edge, origins }) => {
      // Slow segments, so that the worker dies with origin fetches (and
      // their cache locks) in progress, not between two requests.
      for (const o of origins) o.faults = [{ match: /\.ts$/, delayMs: 500 }];
      await sleep(2 * SEGMENT_SECONDS * 1000);
      const pids = workers(edge.masterPid());
      if (pids.length === 0) throw new Error('faults: no nginx worker found');
      process.kill(pids[0], 'SIGKILL');
      return async () => {};
    },
  },
  {
    name: 'cachefull',
    what: 'cache directory full (32 MB tmpfs, cache_max_size 8m, the rest filled by another file)',
    oneBad: false,
    prepare: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'media-edge-faults-cache-'));
      await mount(['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', dir], dir);
      tmpfsCache = dir;
      return {
        // max_size well below the disk, as an operator sizes it: nginx's
        // cache manager enforces it only every few seconds (up to 10), and
        // the viewers bring about 0.8 MB/s; with 8 MB on an 8 MB disk the
        // cache filled the disk by itself.
        settings: { cache_dir: dir, cache_max_size: '8m' },
        cleanup: async () => {
          await unmount(dir);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
    start: async () => {
      // Filled by something else than nginx, as on a disk shared with
      // other files: the cache is within its max_size, nothing to evict.
      const filler = join(tmpfsCache, 'filler');
      fill(filler);
      return async () => unlinkSync(filler);
    },
  },
  {
    name: 'stateunwritable',
    what: 'state directory unwritable (runs/, metrics/, kicks/, events/, space/ read-only)',
    oneBad: false,
    start: async ({ edge }) => {
      // Workers run as root here (the harness's `user`), so modes would not
      // stop them: a read-only bind mount of each of the workers' own
      // directories does. Files open already (logs) stay writable, as on a
      // disk remounted read-only under a running nginx.
      const state = join(edge.dir, 'state');
      const dirs = ['runs', 'metrics', 'kicks', 'events', 'space'].map((d) => join(state, d)).filter((d) => existsSync(d));
      for (const d of dirs) {
        await mount(['--bind', d, d], d);
        await mount(['-o', 'remount,bind,ro', d], d);
      }
      return async () => {
        for (const d of dirs) await unmount(d);
      };
    },
  },
  {
    name: 'alldown',
    what: `all 3 origins down ${Math.max(FAULT_SECONDS, GRACE + 8)}s (longer than playlist_stale_grace ${GRACE}s)`,
    oneBad: false,
    seconds: Math.max(FAULT_SECONDS, GRACE + 8),
    recoverWithin: COOLDOWN + SEGMENT_SECONDS,
    start: async ({ origins }) => {
      const ports = origins.map((o) => o.port);
      await Promise.all(origins.map((o) => o.stop()));
      return async () => {
        await Promise.all(origins.map((o, i) => o.start(ports[i])));
      };
    },
    judge: (fetches, t, rows) => {
      const during = fetches.filter((f) => f.kind === 'playlist' && f.start >= t.start && f.start < t.end);
      const ttl = Math.max(0, ...fetches.map((f) => f.ttl ?? 0));
      const oldest = Math.max(0, ...during.map((f) => f.staleAge ?? 0));
      rows.push([`faults, all origins down: oldest last good copy served, s (README: its TTL ${ttl} + grace ${GRACE})`, String(oldest), '', '', `<= ${ttl + GRACE}`, oldest <= ttl + GRACE ? 'ok' : 'MISSED']);
      const errors = during.filter((f) => !f.ok);
      const statuses = [...new Set(errors.map((f) => f.status))].sort().join('/');
      const p99 = percentile(errors.map((f) => f.end - f.start), 0.99);
      // After the grace the error, at once (origins refuse connections).
      const quick = errors.length > 0 && errors.every((f) => f.status === 502 || f.status === 504) && p99 < 1000;
      rows.push(['faults, all origins down: playlist errors after the grace: statuses, p99 ms', errors.length ? `${statuses}, ${p99.toFixed(0)}` : 'none', '', '', '502/504, < 1000', quick ? 'ok' : 'MISSED']);
    },
  },
];

/**
 * A copy a viewer cannot keep playing from: the producer's last good copy,
 * or a playlist whose newest segment is this many behind the origin's live
 * edge (normally 0 or 1: a copy lives 1 s of a 2 s segment), about the
 * buffer a player holds.
 */
const STALE_BEHIND = 3;
const stale = (f: Fetch) => f.staleAge !== null || (f.behind ?? 0) >= STALE_BEHIND;

/** The origin that served the most streams so far. */
function busiest(origins: WowzaOrigin[]): WowzaOrigin {
  const streams = (o: WowzaOrigin) => new Set(o.requests.map((r) => r.url.split('/')[2])).size;
  return origins.reduce((a, b) => (streams(b) > streams(a) ? b : a));
}

/** BENCH_DEBUG: what went wrong, when (seconds from the fault's start), and the error log's kinds of lines. */
function debug(s: Scenario, t: Times, fetches: Fetch[], unusable: Fetch[], log: string): void {
  const at = (ms: number) => ((ms - t.start) / 1000).toFixed(1);
  console.error(`--- ${s.name}: fault ${at(t.start)}..${at(t.end)}, stop ${at(t.stop)}`);
  const groups = new Map<string, Fetch[]>();
  for (const f of unusable) {
    const k = `${f.kind} ${f.staleAge !== null ? 'last good' : f.ok ? `${f.behind} behind, ${f.cache}` : `status ${f.status}`}`;
    groups.set(k, [...(groups.get(k) ?? []), f]);
  }
  for (const [k, fs] of groups) console.error(`${fs.length} x ${k}, sent ${at(fs[0].start)}..${at(fs[fs.length - 1].start)}, answered ${at(Math.min(...fs.map((f) => f.end)))}..${at(Math.max(...fs.map((f) => f.end)))}, slowest ${Math.max(...fs.map((f) => f.end - f.start))} ms`);
  const behind = new Map<string, number>();
  for (const f of fetches.filter((x) => x.kind === 'playlist' && x.ok && x.end < t.start)) behind.set(`${f.behind}`, (behind.get(`${f.behind}`) ?? 0) + 1);
  console.error(`before the fault, playlists behind the live edge: ${[...behind].map(([b, n]) => `${b}: ${n}`).join(', ')}`);
  const during = new Map<string, number>();
  for (const f of fetches.filter((x) => x.start >= t.start && x.start < t.end)) {
    const k = `${f.kind} ${f.ok ? 'ok' : 'failed'} ${f.cache || '-'}`;
    during.set(k, (during.get(k) ?? 0) + 1);
  }
  console.error(`during the fault: ${[...during].map(([k, n]) => `${k}: ${n}`).join(', ')}`);
  const kinds = new Map<string, number>();
  for (const l of log.split('\n').filter((x) => /\[(warn|error|crit|alert|emerg)\]/.test(x))) {
    const k = l.replace(/^\S+ \S+ /, '').replace(/\d+/g, 'N').replace(/, client:.*$/, '').slice(0, 160);
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  for (const [k, n] of kinds) console.error(`${n} x ${k}`);
  const kept = join(tmpdir(), `media-edge-faults-${s.name}-error.log`);
  writeFileSync(kept, log);
  console.error(`error log: ${kept}`);
}

interface Outcome {
  segments: Fetch[];
  playlists: Fetch[];
  /** Seconds from the end of the fault to the last bad request's answer; null: still bad at the end. */
  recover: number | null;
  bad: string[];
  killAlerts: number;
}

async function runScenario(s: Scenario): Promise<Outcome & { t: Times; fetches: Fetch[] }> {
  const origins = await Promise.all([0, 1, 2].map(() => new WowzaOrigin({ segmentSeconds: SEGMENT_SECONDS, window: 4, segmentBytes: 64 * 1024, sessions: false }).start()));
  let prepared = { settings: {} as Partial<Settings>, cleanup: async () => {} };
  let edge: Running | null = null;
  try {
    if (s.prepare) prepared = await s.prepare();
    edge = await startBench({ origins: origins.map((o, i) => ({ name: `o${i}`, http: o.address })), ...prepared.settings, ...OVERRIDES });
    const viewers = startViewers(edge.url, STREAMS, PLAYERS, origins[0]);
    await sleep(BEFORE_SECONDS * 1000);
    const end = await s.start({ edge, origins, bad: busiest(origins) });
    // When it began (kill: after its slow-origin preamble).
    const start = Date.now();
    await sleep((s.seconds ?? FAULT_SECONDS) * 1000);
    await end();
    const t = { start, end: Date.now(), stop: 0 };
    await sleep(AFTER_SECONDS * 1000);
    t.stop = Date.now();
    const fetches = await viewers.stop();
    const unusable = fetches.filter((f) => !f.ok || stale(f));
    const lastBad = Math.max(t.end, ...unusable.map((f) => f.end));
    // Still bad within the last target duration: not recovered in the run.
    const recover = lastBad > t.stop - SEGMENT_SECONDS * 1000 ? null : (lastBad - t.end) / 1000;
    const lines = edge.badLogLines();
    if (process.env.BENCH_DEBUG) debug(s, t, fetches, unusable, edge.errorLog());
    return {
      t,
      fetches,
      segments: fetches.filter((f) => f.kind === 'segment'),
      playlists: fetches.filter((f) => f.kind === 'playlist'),
      recover,
      bad: lines.filter((l) => !KILL_ALERT.test(l)),
      killAlerts: lines.filter((l) => KILL_ALERT.test(l)).length,
    };
  } finally {
    // The state directory's read-only mounts first: the edge's stop removes its directory.
    for (const at of mounts.filter((m) => edge && m.startsWith(edge.dir))) await unmount(at);
    await edge?.stop();
    await Promise.all(origins.map((o) => o.stop()));
    await prepared.cleanup();
    await unmountAll();
  }
}

/** "589 [crit], 2 njs deprecation warnings": the forbidden lines (test/support/edge.ts BAD) by kind. */
function kinds(lines: string[]): string {
  const n = new Map<string, number>();
  for (const l of lines) {
    const k = /\[(alert|crit|emerg)\]/.exec(l)?.[0] ?? (/is deprecated/.test(l) ? 'njs deprecation warnings' : 'njs exceptions');
    n.set(k, (n.get(k) ?? 0) + 1);
  }
  return [...n].map(([k, c]) => `${c} ${k}`).join(', ');
}

export async function faultsBench(rows: Row[]): Promise<void> {
  const only = process.env.BENCH_FAULTS?.split(',');
  const unknown = (only ?? []).filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`BENCH_FAULTS: no fault ${unknown.join(', ')} (${SCENARIOS.map((s) => s.name).join(', ')})`);
  const logs: string[] = [];
  let killAlerts = 0;
  for (const s of SCENARIOS.filter((x) => !only || only.includes(x.name))) {
    const n = `faults, ${s.what}`;
    let o: Awaited<ReturnType<typeof runScenario>>;
    try {
      o = await runScenario(s);
    } catch (e) {
      rows.push([`${n}: not run`, (e as Error).message.split('\n')[0], '', '', '', 'MISSED']);
      continue;
    }
    const failed = (xs: Fetch[]) => xs.filter((f) => !f.ok).length;
    const seg = failed(o.segments);
    const staleCopies = o.playlists.filter(stale).length;
    const lastGood = o.playlists.filter((f) => f.staleAge !== null).length;
    // An event (kill): how many requests it could hit.
    const inFlight = s.seconds === 0 ? `, ${o.fetches.filter((f) => f.start <= o.t.start && f.end >= o.t.start).length} requests in flight at that moment` : '';
    rows.push([`${n}: failed segment requests`, `${seg} of ${o.segments.length}${inFlight}`, '', '', s.oneBad ? '== 0' : '', s.oneBad ? (seg === 0 ? 'ok' : 'MISSED') : '']);
    rows.push([`${n}: failed playlist requests; stale copies served (of them last good copies)`, `${failed(o.playlists)} of ${o.playlists.length}; ${staleCopies} (${lastGood})`, '', '', '', '']);
    const rec = o.recover === null ? `> ${((o.t.stop - o.t.end) / 1000 - SEGMENT_SECONDS).toFixed(0)} (not recovered)` : o.recover.toFixed(1);
    const recOk = o.recover !== null && (s.recoverWithin === undefined || o.recover <= s.recoverWithin);
    rows.push([`${n}: seconds to recover after it ends`, rec, '', '', s.recoverWithin === undefined ? 'measured' : `<= ${s.recoverWithin}`, s.recoverWithin === undefined && o.recover !== null ? '' : recOk ? 'ok' : 'MISSED']);
    s.judge?.(o.fetches, o.t, rows);
    if (o.bad.length) logs.push(`${s.name}: ${kinds(o.bad)}`);
    killAlerts += o.killAlerts;
  }
  rows.push([
    `faults: error-log lines no run may have ([alert]/[crit]/[emerg], njs exceptions and warnings), every fault; apart: kill -9's own "exited on signal 9" (${killAlerts})`,
    logs.length ? logs.join(', ') : '0',
    '', '', '== 0', logs.length ? 'MISSED' : 'ok',
  ]);
}
