/**
 * Has the cache's disk room? nginx writes a cacheable response into a file
 * in the cache directory as it reads it, and when a write fails (ENOSPC:
 * `[crit] pwrite() ... failed (28: No space left on device)`) it aborts the
 * response: the viewer gets a body cut short, and there is no fallback to
 * serving it uncached (`npm run bench`, faults: cachefull). nginx's own
 * `min_free` (set too, from `cache_min_free`) frees space only at the cache
 * manager's next run, and only by removing cache objects. So the edge looks
 * before nginx writes: while the probe below cannot write `cache_min_free`
 * bytes, playlists and segments are answered without being stored
 * (`proxy_no_cache`), and a playlist whose last good copy is still fresh is
 * answered from it (njs/producer.ts serveFresh).
 *
 * The probe writes `cache_min_free` into the cache directory in chunks and
 * removes it, about once per PROBE_EVERY_MS for the whole edge: the answer
 * and its time live in one small file in the state directory (`stamp`),
 * which every worker reads (njs 0.7.9 has no shared dictionary). The stamp
 * has a fixed length and is rewritten in place, so it can still be written
 * when it shares the full disk (the default layout: cache_dir inside
 * state_dir). Asked by the producer (once per production) and by segment
 * misses (`$media_edge_cache_full` of njs/space.ts, which nginx evaluates
 * only when an origin answered); never by a cache hit. Synchronous: both
 * callers ask before any await (njs/runs.ts, Disk). With `cache_min_free`
 * 0 nothing probes and segment misses do not ask.
 */

/** The part of njs's `fs` (and node's) the probe uses. */
export interface SpaceStore {
  readFileSync(path: string, encoding: 'utf8'): string;
  writeFileSync(path: string, data: string, options?: { flag: string }): void;
  appendFileSync(path: string, data: string): void;
  unlinkSync(path: string): void;
}

/** How long one probe's answer stands, ms. */
export const PROBE_EVERY_MS = 1000;

/** The probe writes in pieces of this size (one string in memory, not cache_min_free of them). */
export const PROBE_CHUNK = 256 * 1024;

/** The stamp's length, always: rewritten in place ('r+'), it never needs a new block of the disk. */
export const STAMP_BYTES = 64;

/** The stamp's text: "<ms> <0|1> <why>", padded to STAMP_BYTES. */
export function formatStamp(at: number, full: boolean, why: string): string {
  const line = (at + ' ' + (full ? '1' : '0') + ' ' + why.replace(/[\r\n]/g, ' ')).slice(0, STAMP_BYTES - 1);
  return line + ' '.repeat(STAMP_BYTES - 1 - line.length) + '\n';
}

/** A stamp read back: null when there is none, or it is not one (edited, or read while another worker rewrote it). */
export function parseStamp(text: string): { at: number; full: boolean } | null {
  const m = /^(\d{1,16}) ([01])( |$)/.exec(text);
  if (!m) return null;
  return { at: Number(m[1]), full: m[2] === '1' };
}

/**
 * What a failed write says of the disk: true for full or unwritable (nginx
 * could not store there either), null for a failure of this worker (out of
 * file descriptors, EMFILE), which says nothing about the disk.
 */
export function writeFailure(e: unknown): boolean | null {
  const code = e !== null && typeof e === 'object' ? String((e as { code?: unknown }).code || '') : '';
  if (/^(ENOSPC|EDQUOT|EROFS|EACCES|EPERM|ENOENT)$/.test(code)) return true;
  if (code !== '') return null;
  return /No space left|quota|Read-only file system|Permission denied|Operation not permitted|No such file/i.test(String(e)) ? true : null;
}

/** Probe `dir` once with `bytes`: full true (no room), false (room), null (the failure says nothing), and why. */
export function probeSpace(fs: SpaceStore, dir: string, bytes: number): { full: boolean | null; why: string } {
  // The worker's own name (njs runs one request at a time per worker, and
  // this does not wait): two workers never write the same file. Short and
  // not a cache file's name: nginx's cache loader removes one a crash left.
  const file = dir + '/media-edge-space.' + process.pid + '.probe';
  const chunk = 'x'.repeat(Math.max(0, Math.min(bytes, PROBE_CHUNK)));
  let full: boolean | null = false;
  let why = '';
  try {
    fs.writeFileSync(file, chunk);
    // The last piece only what is left: `bytes` exactly, not rounded up to a piece.
    for (let written = chunk.length; written < bytes; written += chunk.length) fs.appendFileSync(file, bytes - written < chunk.length ? chunk.slice(0, bytes - written) : chunk);
  } catch (e) {
    full = writeFailure(e);
    why = String(e);
  }
  try {
    fs.unlinkSync(file);
  } catch (e) {
    // Never created (the directory is unwritable): nothing to remove.
  }
  return { full: full, why: why };
}

/** Rewrite the stamp in place, or create it: false when neither works. */
function writeStamp(fs: SpaceStore, stamp: string, text: string): boolean {
  try {
    fs.writeFileSync(stamp, text, { flag: 'r+' });
    return true;
  } catch (e) {
    // Not there yet (or unwritable: then creating it fails too).
  }
  try {
    fs.writeFileSync(stamp, text);
    return true;
  } catch (e) {
    return false;
  }
}

/** The variables an asker reads (media-edge-http.conf js_var). */
export interface SpaceVars {
  readonly [name: string]: string | undefined;
}

/** What an asker logs with: njs's `ngx` object. */
export interface SpaceLog {
  log(level: number, message: string): void;
  readonly ERR: number;
  readonly WARN: number;
}

/**
 * Ask about the cache's disk with the settings in `v`: true while it has
 * less than cache_min_free free. A line in the error log when that changes
 * (from the worker that found it; two workers probing at once may both
 * log), not one per request; nginx's own `[crit]` lines stop once nothing
 * is stored. Both askers (the producer, njs/http.ts; segment misses,
 * njs/space.ts) call this.
 */
export function askCacheSpace(fs: SpaceStore, log: SpaceLog, v: SpaceVars, now: number): boolean {
  const dir = v.media_edge_cache_dir || '';
  const stamp = v.media_edge_cache_space || '';
  if (dir === '' || stamp === '') return false;
  const minFree = Number(v.media_edge_cache_min_free || '0');
  const s = cacheFull(fs, stamp, dir, minFree, now);
  if (s.changed && s.full) log.log(log.ERR, 'media-edge: the cache directory ' + dir + ' is full (cache_min_free ' + minFree + ' bytes: ' + s.why + '): playlists and segments are served without being stored until it has room');
  if (s.changed && !s.full) log.log(log.WARN, 'media-edge: the cache directory ' + dir + ' has room again: caching again');
  return s.full;
}

/** What cacheFull found. */
export interface SpaceVerdict {
  full: boolean;
  /** This call probed, stamped its answer, and the answer differs from the stamp's before: the caller logs it, once. */
  changed: boolean;
  /** Why the probe failed, when it did. */
  why: string;
}

/**
 * The cache directory's state at `now`: the stamp's, if younger than
 * PROBE_EVERY_MS; else a new probe of `minFree` bytes. The stamp is claimed
 * first (the old answer, the new time), so that workers asking meanwhile
 * take the old answer instead of probing too. Without a stamp that can be
 * written (state directory unwritable) every call probes, with one chunk
 * only, so that this costs a request little; a full disk is still found.
 */
export function cacheFull(fs: SpaceStore, stamp: string, dir: string, minFree: number, now: number): SpaceVerdict {
  // cache_min_free 0: the check is off (nothing probes; segment misses do not ask).
  if (!(minFree > 0)) return { full: false, changed: false, why: '' };
  let last: { at: number; full: boolean } | null = null;
  try {
    last = parseStamp(fs.readFileSync(stamp, 'utf8'));
  } catch (e) {
    last = null;
  }
  // A stamp from the future (a clock set back) is probed again too.
  if (last !== null && now - last.at >= 0 && now - last.at < PROBE_EVERY_MS) return { full: last.full, changed: false, why: '' };
  const before = last !== null && last.full;
  const claimed = writeStamp(fs, stamp, formatStamp(now, before, 'probing'));
  const p = probeSpace(fs, dir, claimed ? minFree : Math.min(minFree, PROBE_CHUNK));
  // A failure that says nothing of the disk: the answer before stands.
  const full = p.full === null ? before : p.full;
  const stamped = claimed && writeStamp(fs, stamp, formatStamp(now, full, p.why));
  return { full: full, changed: stamped && full !== before, why: p.why };
}
