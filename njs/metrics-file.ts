/**
 * The files behind `GET /metrics` (njs/metrics.ts has the counting): the
 * metrics log nginx appends to, and the totals in `<state_dir>/metrics/`.
 * A scrape reads what the log gained since the last one (at most
 * MAX_READ bytes: the rest waits for the next scrape, shown by
 * media_edge_metrics_lag_bytes), adds it, and writes the totals back whole
 * (rename is atomic). Two scrapes at once (two Prometheus servers, two
 * workers): the second finds the lock and answers the totals as they are,
 * so no line is counted twice.
 *
 * The file functions come in as a MetricsStore (njs's `fs` in nginx,
 * node's in the tests). Failures are values.
 */
import { consumeBytes, newState, prune, readState, type LogBytes, type MetricsConfig, type MetricsState } from './metrics';

export interface MetricsStore {
  openSync(path: string, flags: string): number;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  closeSync(fd: number): void;
  statSync(path: string): { size: number; mtimeMs: number; ino: number };
  readFileSync(path: string, encoding: 'utf8'): string;
  writeFileSync(path: string, data: string, options?: { flag?: string }): void;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
  readdirSync(path: string): string[];
}

/** A publisher file not rewritten for this long belongs to a session that is gone (its heartbeat is every PUBLISHER_BEAT_MS). */
export const PUBLISHER_BEAT_MS = 1000;
export const PUBLISHER_STALE_MS = 3500;

/**
 * Most log bytes one scrape reads. On njs's own engine nothing a request
 * allocates is freed before it ends, so this bounds the scrape's memory
 * too (README, "Metrics": what it costs).
 */
export const MAX_READ = 2 * 1024 * 1024;

/**
 * How long a count in the background (js_periodic, or after a playlist
 * production where there is none) may read the logs, ms, about once a
 * second: 5% of the worker that counts, taken from what it serves (npm run
 * bench, metrics). Loading and saving the totals come on top (a few ms
 * with 500 viewers' ids). A scrape is bounded by MAX_READ alone.
 */
export const BACKGROUND_COUNT_MS = 50;

/** A lock older than this was left by a worker that died mid-scrape. */
export const LOCK_STALE_MS = 10000;

export interface Scrape {
  state: MetricsState;
  /** Log bytes not read yet. */
  lagBytes: number;
  /** Application -> sessions publishing now. */
  publishers: { [app: string]: number };
  /** Why the totals could not be updated this time ("" when they were). */
  problem: string;
}

function stat(fs: MetricsStore, path: string): { size: number; ino: number } {
  try {
    const st = fs.statSync(path);
    return { size: st.size, ino: st.ino };
  } catch (e) {
    return { size: 0, ino: 0 }; // not written yet: nginx creates it with the first request
  }
}

function size(fs: MetricsStore, path: string): number {
  return stat(fs, path).size;
}

/**
 * The lock: created exclusively. A stale one (its scrape died) is moved
 * aside first: of two scrapes that find it stale, one rename succeeds, and
 * the other's exclusive create then fails.
 */
export function take(fs: MetricsStore, lock: string, now: number): boolean {
  try {
    fs.writeFileSync(lock, String(now), { flag: 'wx' });
    return true;
  } catch (e) {
    try {
      if (now - fs.statSync(lock).mtimeMs <= LOCK_STALE_MS) return false;
      const aside = lock + '.stale.' + String(now) + '.' + String(Math.floor(Math.random() * 1e9));
      fs.renameSync(lock, aside);
      fs.unlinkSync(aside);
      fs.writeFileSync(lock, String(now), { flag: 'wx' });
      return true;
    } catch (e2) {
      return false; // another scrape took it meanwhile
    }
  }
}

/**
 * Feed what `log` gained since `offset` (at most `budget` bytes) to `eat`,
 * a buffer at a time until `until` (Date.now() ms) if given: `eat` gets the
 * buffer and how many bytes it holds, and answers how many it used (whole
 * lines). A line the buffer's end cut is read again from its start with the
 * next buffer, so nothing is copied or joined (on njs's own engine nothing
 * a count allocates is freed before it ends). A line longer than the
 * buffer is not one nginx writes for us (the buffer is 64 KB): it is
 * skipped and counted in `skipped`. Answers the new offset and the file's
 * inode. The metrics and the events (njs/events.ts) read their logs with it.
 */
export function readLog(fs: MetricsStore, log: string, offset: number, ino: number, budget: number, buffer: Uint8Array, eat: (b: Uint8Array, n: number) => number, until?: number): { at: number; ino: number; skipped: number } {
  const st = stat(fs, log);
  // Another file (rotated), or a shorter one (truncated): count it from its start.
  let at = st.ino !== ino || st.size < offset ? 0 : offset;
  let left = Math.min(budget, st.size - at);
  let skipped = 0;
  if (left <= 0) return { at: at, ino: st.ino, skipped: 0 };
  const fd = fs.openSync(log, 'r');
  try {
    let read = at; // the file is read up to here
    let skipping = false; // inside a line longer than the buffer
    let skipFrom = 0;
    let late = false; // stopped by `until`
    while (left > 0) {
      const from = skipping ? read : at;
      const n = fs.readSync(fd, buffer, 0, Math.min(buffer.length, left + read - from), from);
      if (n <= 0) break;
      left -= Math.max(0, from + n - read);
      read = from + n;
      if (skipping) {
        const nl = buffer.indexOf(10);
        if (nl < 0 || nl >= n) {
          at = read;
          late = until !== undefined && Date.now() >= until;
          if (late) break;
          continue;
        }
        at = from + nl + 1;
        skipping = false;
        skipped++;
        continue;
      }
      const used = eat(buffer, n);
      if (used > 0) at += used;
      else if (n === buffer.length) {
        skipping = true;
        skipFrom = at;
        at = read;
      } else break; // the rest is a line nginx is still writing
      // Past `until` (ms): the rest waits for the next count. Checked after
      // a buffer, so that each log gains at least one buffer a count.
      late = until !== undefined && Date.now() >= until;
      if (late) break;
    }
    // The budget ended inside a long line: the next read skips it from its
    // start. Not when the time did: a count that starts late reads one
    // buffer, and would start that line again each time; it goes on from
    // the middle instead, whose rest is then counted as one unreadable line.
    if (skipping && !late) at = skipFrom;
  } finally {
    fs.closeSync(fd);
  }
  return { at: at, ino: st.ino, skipped: skipped };
}

/**
 * The sessions publishing now: the filter (njs/stream.ts) rewrites a file
 * per publishing session in `dir` every PUBLISHER_BEAT_MS, named by the
 * session's id, holding `app TAB stream TAB since-ms TAB client-address`;
 * a file whose session ended (its id in `ended`) or that stopped beating
 * is skipped, and removed once it is surely gone.
 */
export function livePublishers(fs: MetricsStore, dir: string, now: number, ended: string[]): { id: string; app: string; stream: string; since: number; addr: string }[] {
  const out: { id: string; app: string; stream: string; since: number; addr: string }[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    return out; // no publish auth, or none yet
  }
  for (let i = 0; i < names.length; i++) {
    const file = dir + '/' + names[i];
    try {
      const age = now - fs.statSync(file).mtimeMs;
      if (ended.indexOf(names[i]) >= 0 || age > PUBLISHER_STALE_MS) {
        if (ended.indexOf(names[i]) >= 0 || age > 60000) fs.unlinkSync(file);
        continue;
      }
      const f = fs.readFileSync(file, 'utf8').replace(/\n$/, '').split('\t');
      if (f[0]) out.push({ id: names[i], app: f[0], stream: f[1] || '', since: Number(f[2]) || 0, addr: f[3] || '' });
    } catch (e) {
      // Removed meanwhile: the session ended.
    }
  }
  return out;
}

/** Application -> sessions publishing now. */
function publishersNow(fs: MetricsStore, dir: string, now: number, ended: string[]): { [app: string]: number } {
  const out: { [app: string]: number } = {};
  const live = livePublishers(fs, dir, now, ended);
  for (let i = 0; i < live.length; i++) out[live[i].app] = (out[live[i].app] || 0) + 1;
  return out;
}

/** The logs a scrape reads: the viewer-facing and producer log, and the RTMP sessions log. */
export interface Logs {
  http: string;
  rtmp: string;
  publishers: string;
}

/**
 * Bring the totals in `dir` up to date with the logs and answer them.
 * `hash` shortens viewer ids (njs's crypto in nginx); `text` decodes a
 * line's bytes; `readMs` bounds the
 * time spent reading (a background count: BACKGROUND_COUNT_MS). Never throws.
 */
export function scrape(fs: MetricsStore, logs: Logs, dir: string, cfg: MetricsConfig, now: number, hash: (s: string) => string, buffer: Uint8Array, text: (b: LogBytes, start: number, end: number) => string, readMs?: number): Scrape {
  const file = dir + '/totals.json';
  const lock = dir + '/lock';
  const load = () => {
    try {
      return readState(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      return newState();
    }
  };
  const ended: string[] = [];
  // The totals are read once the lock is held: what another scrape wrote
  // before it let go is counted from where it stopped.
  if (!take(fs, lock, now)) {
    const seen = load();
    return { state: seen, lagBytes: Math.max(0, size(fs, logs.http) - seen.offset), publishers: logs.publishers ? publishersNow(fs, logs.publishers, now, ended) : {}, problem: 'another scrape is counting' };
  }
  const state = load();
  const lag = () => Math.max(0, size(fs, logs.http) - state.offset) + (logs.rtmp ? Math.max(0, size(fs, logs.rtmp) - state.rtmpOffset) : 0);
  let problem = '';
  try {
    if (!state.salt) state.salt = String(Math.random()).slice(2) + String(Math.random()).slice(2) + String(now);
    // A viewer sends many requests a count: each id is hashed once.
    const ids: { [viewer: string]: string } = Object.create(null);
    const salted = (v: string) => {
      let id = ids[v];
      if (id === undefined) {
        id = hash(state.salt + '\n' + v);
        ids[v] = id;
      }
      return id;
    };
    const eat = (b: Uint8Array, n: number) => consumeBytes(state, b as unknown as LogBytes, n, text, cfg, salted, ended);
    // The time to read starts once the totals are loaded.
    const until = readMs === undefined ? undefined : Date.now() + readMs;
    const h = readLog(fs, logs.http, state.offset, state.ino, MAX_READ, buffer, eat, until);
    state.offset = h.at;
    state.ino = h.ino;
    state.unreadable += h.skipped;
    if (logs.rtmp) {
      const r = readLog(fs, logs.rtmp, state.rtmpOffset, state.rtmpIno, MAX_READ, buffer, eat, until);
      state.rtmpOffset = r.at;
      state.rtmpIno = r.ino;
      state.unreadable += r.skipped;
    }
    prune(state, now, cfg);
    const tmp = file + '.tmp';
    fs.writeFileSync(tmp, JSON.stringify(state));
    fs.renameSync(tmp, file);
  } catch (e) {
    problem = String(e);
  } finally {
    try {
      fs.unlinkSync(lock);
    } catch (e) {
      // already gone
    }
  }
  return { state: state, lagBytes: lag(), publishers: logs.publishers ? publishersNow(fs, logs.publishers, now, ended) : {}, problem: problem };
}
