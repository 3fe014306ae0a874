/**
 * Where the producer keeps what it knows of a playlist between productions,
 * with a hard bound on the files: `<runs_dir>` has `slots` slots, each one
 * a run file (`<slot>.run`: whose slot it is, when it was last written, and
 * for a live HLS playlist its run state) and perhaps a last good copy
 * (`<slot>.last`, which also names its owner). So the directory never holds
 * more than 2 x slots files (and the temporary file of a write in progress),
 * however many stream names a flood brings (issue 14).
 *
 * A playlist may use one of a few candidate slots, picked by its key's hash
 * (as in cuckoo hashing, several choices keep collisions rare until the
 * directory is nearly full). It keeps the first that is its own; a new one
 * takes the first that is free, or whose owner was not written for
 * `evictMs`; when every candidate is held by a playlist produced more
 * recently, it gets no state at all (no run tag, no last good copy, no
 * prefetch, no second try at another origin), as a name nobody watches
 * should.
 *
 * Pure: njs/runs.ts reads the files and writes them for the producer.
 */
import type { RunState } from './playlist';

/**
 * How many slots one playlist may use. A new playlist finds none free with
 * about (share of slots in use)^CANDIDATES: with 4, one in 125 at a third
 * in use (3000 playlists of the default 10000 slots), and it then gets no
 * run, no last good copy and no second try; with 8, one in 15,000. (While
 * a reload replaces workers of a version with 4, the old ones look in only
 * the first 4: a playlist a new worker placed in another starts a new run
 * once, at about 0.3^4 of new playlists.)
 */
export const CANDIDATES = 8;

/** What a run file holds. */
export interface SlotState {
  /** The playlist's key path (rules.ts keyPath). */
  key: string;
  /** When it was last written, ms. */
  at: number;
  /** A live HLS playlist's run; null for MPDs and VOD, which only keep a last good copy. */
  run: RunState | null;
}

/**
 * The slots a key may use: CANDIDATES numbers in [0, slots), the same on
 * every worker and every restart, distinct where slots allows. The first 4
 * are consecutive 8-hex-digit pieces of its md5 (32 hex digits, so 4
 * pieces), as before there were 8, so that an upgrade finds each
 * playlist's slot and run again; the others step from the first by the
 * second (double hashing; below 2^35, exact in a double).
 */
export function candidateSlots(md5hex: string, slots: number): number[] {
  const out: number[] = [];
  const first = parseInt(md5hex.slice(0, 8), 16);
  const step = parseInt(md5hex.slice(8, 16), 16);
  for (let i = 0; i < CANDIDATES; i++) {
    let n = (i < 4 ? parseInt(md5hex.slice(i * 8, i * 8 + 8), 16) : first + i * step) % slots;
    // Probe on from a slot already chosen, so the candidates differ.
    for (let tries = 0; out.indexOf(n) >= 0 && tries < slots; tries++) n = (n + 1) % slots;
    if (out.indexOf(n) < 0) out.push(n);
  }
  return out;
}

/** Parse a run file; null for anything else (a broken file is a free slot). */
export function parseSlot(text: string): SlotState | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return null;
  }
  const o = v as { key?: unknown; at?: unknown; run?: unknown; seq?: unknown; last?: unknown };
  if (!o || typeof o.key !== 'string' || typeof o.at !== 'number') return null;
  const run = typeof o.run === 'string' && typeof o.seq === 'number' && typeof o.last === 'number'
    ? { run: o.run, seq: o.seq, last: o.last, at: o.at }
    : null;
  return { key: o.key, at: o.at, run: run };
}

/** A run file's text. */
export function formatSlot(key: string, at: number, run: RunState | null): string {
  return JSON.stringify(run ? { key: key, at: at, run: run.run, seq: run.seq, last: run.last } : { key: key, at: at });
}

/** What the run file of each candidate held: its text, or null when there was none. */
export interface SlotRead {
  slot: number;
  text: string | null;
}

export interface SlotChoice {
  /** The slot to use, or -1: every candidate is another playlist's, produced within evictMs. */
  slot: number;
  /** The slot already was this playlist's: its state (run may still be null). */
  own: SlotState | null;
}

/**
 * Whose state a production is: the playlist's key path and the query
 * parameters that make it another playlist (nDVR windows, clips: a DVR
 * playlist's run and last good copy are not the live one's), without those
 * that are views of the same one (LL-HLS `_HLS_msn`, `_HLS_part`,
 * `_HLS_skip`) or name a viewer (`wowzasessionid`). `args` is what the
 * producer forwards: the cache key's parameters, in their fixed order.
 */
export function stateKey(path: string, args: string): string {
  const kept = args.split('&').filter((a) => a !== '' && !/^(_hls_[a-z]+|wowzasessionid|me_run)(=|$)/i.test(a));
  return kept.length ? path + '?' + kept.join('&') : path;
}

/** Which slot a playlist uses, given its candidates' run files in order. */
export function chooseSlot(key: string, reads: SlotRead[], now: number, evictMs: number): SlotChoice {
  let free = -1;
  for (let i = 0; i < reads.length; i++) {
    const st = reads[i].text === null ? null : parseSlot(reads[i].text as string);
    if (st !== null && st.key === key) return { slot: reads[i].slot, own: st };
    // Idle for evictMs, or written "later" than now by more than that (the clock stepped back).
    if (free < 0 && (st === null || now - st.at > evictMs || st.at - now > evictMs)) free = reads[i].slot;
  }
  return { slot: free, own: null };
}

/** Whether a last good copy's file is this playlist's (a slot may have changed hands). */
export function ownsCopy(key: string, copy: { key?: unknown } | null): boolean {
  return copy !== null && copy.key === key;
}
