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
import { consume, newState, prune, readState, type MetricsConfig, type MetricsState } from './metrics';

export interface MetricsStore {
  openSync(path: string, flags: string): number;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  closeSync(fd: number): void;
  statSync(path: string): { size: number; mtimeMs: number };
  readFileSync(path: string, encoding: 'utf8'): string;
  writeFileSync(path: string, data: string, options?: { flag?: string }): void;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
}

/**
 * Most log bytes one scrape reads. On njs's own engine nothing a request
 * allocates is freed before it ends, so this bounds the scrape's memory
 * too (README, "Metrics": what it costs).
 */
export const MAX_READ = 2 * 1024 * 1024;

/** A lock older than this was left by a worker that died mid-scrape. */
export const LOCK_STALE_MS = 10000;

export interface Scrape {
  state: MetricsState;
  /** Log bytes not read yet. */
  lagBytes: number;
  /** Why the totals could not be updated this time ("" when they were). */
  problem: string;
}

function size(fs: MetricsStore, path: string): number {
  try {
    return fs.statSync(path).size;
  } catch (e) {
    return 0; // not written yet: nginx creates it with the first request
  }
}

function take(fs: MetricsStore, lock: string, now: number): boolean {
  try {
    fs.writeFileSync(lock, String(now), { flag: 'wx' });
    return true;
  } catch (e) {
    try {
      if (now - fs.statSync(lock).mtimeMs > LOCK_STALE_MS) {
        fs.unlinkSync(lock);
        fs.writeFileSync(lock, String(now), { flag: 'wx' });
        return true;
      }
    } catch (e2) {
      // Another scrape took it meanwhile.
    }
    return false;
  }
}

/**
 * Bring the totals in `dir` up to date with `log` and answer them. `hash`
 * shortens viewer ids (njs's crypto in nginx). Never throws.
 */
export function scrape(fs: MetricsStore, log: string, dir: string, cfg: MetricsConfig, now: number, hash: (s: string) => string, buffer: Uint8Array, decode: (b: Uint8Array, n: number) => string): Scrape {
  const file = dir + '/totals.json';
  const lock = dir + '/lock';
  let state: MetricsState;
  try {
    state = readState(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    state = newState();
  }
  const logSize = size(fs, log);
  if (!take(fs, lock, now)) return { state: state, lagBytes: Math.max(0, logSize - state.offset), problem: 'another scrape is counting' };
  let problem = '';
  try {
    // A log smaller than what was read was rotated: count the new one from its start.
    if (logSize < state.offset) state.offset = 0;
    let left = Math.min(MAX_READ, logSize - state.offset);
    if (left > 0) {
      const fd = fs.openSync(log, 'r');
      try {
        let carry = '';
        while (left > 0) {
          const n = fs.readSync(fd, buffer, 0, Math.min(buffer.length, left), state.offset + carry.length);
          if (n <= 0) break;
          left -= n;
          // The log is ASCII (nginx escapes other bytes as \xHH), so characters are bytes.
          const text = carry + decode(buffer, n);
          const used = consume(state, text, cfg, hash);
          state.offset += used;
          carry = text.slice(used);
        }
      } finally {
        fs.closeSync(fd);
      }
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
  return { state: state, lagBytes: Math.max(0, logSize - state.offset), problem: problem };
}
