/**
 * Is the cache's disk full? nginx writes a cacheable response into a file in
 * the cache directory as it reads it, and when a write fails (ENOSPC:
 * `[crit] pwrite() ... failed (28: No space left on device)`) it aborts the
 * response: the viewer gets a body cut short, and there is no fallback to
 * serving it uncached (`npm run bench`, faults: cachefull; nginx's own
 * `min_free` frees space only at the cache manager's next run). So the edge
 * looks before nginx writes: while the probe below cannot write, playlists
 * and segments are answered without being stored (`proxy_no_cache`), and a
 * playlist whose last good copy is still fresh is answered from it.
 *
 * The probe writes PROBE_BYTES into the cache directory and removes them, at
 * most once per PROBE_EVERY_MS for the whole edge: the answer and its time
 * live in one small file in the state directory (`stamp`), which every
 * worker reads (njs 0.7.9 has no shared dictionary). Asked by the producer
 * (once per production) and by segment misses (`$media_edge_cache_full`,
 * which nginx evaluates only when an origin answered); never by a cache hit.
 * Synchronous: both callers ask before any await (njs/runs.ts, Disk).
 */

/** The part of njs's `fs` (and node's) the probe uses. */
export interface SpaceStore {
  readFileSync(path: string, encoding: 'utf8'): string;
  writeFileSync(path: string, data: string): void;
  unlinkSync(path: string): void;
}

/** How long one probe's answer stands, ms. */
export const PROBE_EVERY_MS = 1000;

/**
 * What a probe writes: more than a playlist and its header in the cache
 * file, about a 2 s segment at 1 Mbit/s. A disk with less than this free is
 * full for the edge's purposes: the next segment write would fail.
 */
export const PROBE_BYTES = 256 * 1024;

/** The stamp's text: "<ms> <0|1> <why>". */
export function formatStamp(at: number, full: boolean, why: string): string {
  return at + ' ' + (full ? '1' : '0') + ' ' + why.replace(/[\r\n]/g, ' ');
}

/** A stamp read back: null when there is none, or it is not one (half written by another worker, edited). */
export function parseStamp(text: string): { at: number; full: boolean } | null {
  const m = /^(\d{1,16}) ([01])( |$)/.exec(text);
  if (!m) return null;
  return { at: Number(m[1]), full: m[2] === '1' };
}

/** Probe `dir` once: "" when PROBE_BYTES could be written there, else why not. */
export function probeSpace(fs: SpaceStore, dir: string, block: string): string {
  // The worker's own name (njs runs one request at a time per worker, and
  // this does not wait): two workers never write the same file.
  const file = dir + '/media-edge-space.' + process.pid + '.probe';
  let why = '';
  try {
    fs.writeFileSync(file, block);
  } catch (e) {
    why = String(e);
  }
  try {
    fs.unlinkSync(file);
  } catch (e) {
    // Never created (the directory is unwritable): nothing to remove.
  }
  return why;
}

/** What cacheFull found, and whether it changed (for the caller's one log line per change). */
export interface SpaceVerdict {
  full: boolean;
  /** True when this call probed and the answer differs from the last one. */
  changed: boolean;
  /** Why the probe failed, when it did. */
  why: string;
}

/**
 * The cache directory's state at `now`: the stamp's, if younger than
 * PROBE_EVERY_MS; else a new probe, stamped. A stamp that cannot be
 * written (state directory unwritable) only means probing more often.
 */
export function cacheFull(fs: SpaceStore, stamp: string, dir: string, now: number): SpaceVerdict {
  let last: { at: number; full: boolean } | null = null;
  try {
    last = parseStamp(fs.readFileSync(stamp, 'utf8'));
  } catch (e) {
    last = null;
  }
  // A stamp from the future (a clock set back) is probed again too.
  if (last !== null && now - last.at >= 0 && now - last.at < PROBE_EVERY_MS) return { full: last.full, changed: false, why: '' };
  const why = probeSpace(fs, dir, block());
  const full = why !== '';
  try {
    fs.writeFileSync(stamp, formatStamp(now, full, why));
  } catch (e) {
    // Probed again next time.
  }
  return { full: full, changed: last === null ? full : last.full !== full, why: why };
}

/** PROBE_BYTES of text, made when a probe runs (once a second), not kept. */
function block(): string {
  let s = 'media-edge space probe\n';
  while (s.length < PROBE_BYTES) s += s;
  return s.slice(0, PROBE_BYTES);
}
