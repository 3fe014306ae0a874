/**
 * The producer's files in `<runs_dir>`: where it keeps what it knows of one
 * playlist between requests, in a slot (njs/state.ts has the layout and the
 * bound). Files, because njs 0.7.9 has no shared dictionary; the producer
 * runs only on playlist misses (a few times per target duration per
 * rendition), and the cache lock lets one request per playlist at a time in
 * there.
 *
 * The file functions come in as a Store (njs's `fs` in nginx, node's in the
 * tests): both have these with the same meaning. Failures are values: a
 * write answers "" or why not, a read that finds nothing answers null.
 */
import crypto from 'crypto';
import type { RunState } from './playlist';
import { candidateSlots, chooseSlot, formatSlot, ownsCopy, type SlotRead, type SlotState } from './state';

/** The part of njs's `fs` (and node's) that the producer uses. */
export interface Store {
  readFileSync(path: string, encoding: 'utf8'): string;
  readdirSync(path: string): string[];
  statSync(path: string): { mtimeMs: number };
  unlinkSync(path: string): void;
  promises: {
    readFile(path: string, encoding: 'utf8'): Promise<string>;
    writeFile(path: string, data: string): Promise<void>;
    rename(from: string, to: string): Promise<void>;
  };
}

/** State files not written for this long belong to playlists nobody asks for any more. */
export const STATE_FORGET_MS = 3600000;

/** A slot whose playlist was not produced for this long may go to another playlist. */
export const SLOT_EVICT_MS = 60000;

/** A playlist that only keeps a last good copy (MPD, VOD) refreshes its run file this often, so that its slot stays its own. */
export const SLOT_REFRESH_MS = SLOT_EVICT_MS / 4;

/** The most files one sweep removes, so that no request pays much (see sweepRuns). */
export const SWEEP_MAX = 1000;

/**
 * Write a file whole or not at all (rename is atomic), so readers never see
 * half of one. "" when written, else why not: a failure is a value (the
 * producer writes after it waited for the origin; see Disk). The temporary
 * name is the write's own, not only the worker's: two productions of one
 * playlist can overlap in a worker (viewers whose cache lock timed out
 * behind a hung origin), and with one name the second rename found nothing.
 */
export function writeAtomic(fs: Store, file: string, data: string): Promise<string> {
  const tmp = file + '.' + process.pid + '.' + Math.floor(Math.random() * 1e9) + '.tmp';
  return fs.promises.writeFile(tmp, data).then(() => fs.promises.rename(tmp, file)).then(
    () => '',
    (e: Error) => String(e),
  );
}

/**
 * Remove forgotten state files (and temporary files of writes that never
 * finished), so that `dir` holds what is in use. Not what bounds it (the
 * slots do): disk hygiene, run by one production in `state_sweep_every` (no
 * timers on njs 0.7.9), at most SWEEP_MAX files each time. Answers how many
 * it removed.
 */
export function sweepRuns(fs: Store, dir: string, now: number): number {
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    return 0;
  }
  let removed = 0;
  for (let i = 0; i < names.length && removed < SWEEP_MAX; i++) {
    const file = dir + '/' + names[i];
    try {
      if (now - fs.statSync(file).mtimeMs > STATE_FORGET_MS) {
        fs.unlinkSync(file);
        removed++;
      }
    } catch (e) {
      // Removed by another worker meanwhile.
    }
  }
  return removed;
}

/**
 * What the producer reads from disk before it waits for the origin: njs
 * 0.7.9 logs "r.requestBody is deprecated" (and responseBody) once per
 * worker when an exception is thrown, even caught, in an async function
 * after an await (checked: a caught fs.statSync of a missing file after
 * `await r.subrequest()` logs it, the same before the await does not), and
 * a missing file is how these checks say "none". So they run first.
 */
export interface Disk {
  /** Whose state it is: the playlist's key path and the parameters that make it another playlist (njs/state.ts stateKey). */
  key: string;
  /** `<runs_dir>/<slot>` without extension, or "" when no slot is free for it. */
  base: string;
  /** Its run file, when the slot already was its own. */
  own: SlotState | null;
}

/** The slot of `key` in `dir` (of `maxFiles` files, two per slot), and what it held. */
export function readDisk(fs: Store, dir: string, key: string, maxFiles: number, now: number): Disk {
  const slots = candidateSlots(crypto.createHash('md5').update(key).digest('hex') as string, Math.max(1, Math.floor(maxFiles / 2)));
  const reads: SlotRead[] = [];
  for (let i = 0; i < slots.length; i++) {
    let text: string | null = null;
    try {
      text = fs.readFileSync(dir + '/' + slots[i] + '.run', 'utf8');
    } catch (e) {
      text = null;
    }
    reads.push({ slot: slots[i], text: text });
    // Its own slot ends the search: usually the first read.
    if (text !== null && text.indexOf(JSON.stringify(key)) >= 0) break;
  }
  const c = chooseSlot(key, reads, now, SLOT_EVICT_MS);
  return { key: key, base: c.slot < 0 ? '' : dir + '/' + c.slot, own: c.own };
}

/** Write the slot's run file (a live HLS playlist's run, or null to just hold the slot): "" or why not. */
export function saveRun(fs: Store, disk: Disk, now: number, run: RunState | null): Promise<string> {
  return writeAtomic(fs, disk.base + '.run', formatSlot(disk.key, now, run));
}

/** A last good answer of a playlist (`<slot>.last`). */
export interface LastGood {
  /** Whose copy it is (a slot may have changed hands). */
  key?: unknown;
  /** When it was produced, ms. */
  at: number;
  /** How long the cache kept it, seconds. */
  ttl: number;
  /** The Cache-Control it was answered with (copies kept before it was recorded have none). */
  cc?: unknown;
  /** Its Content-Type. */
  type: string;
  body: string;
}

/** Keep the last good answer in the slot: "" or why not. */
export function keepLastGood(fs: Store, disk: Disk, at: number, ttl: number, cc: string, type: string, body: string): Promise<string> {
  return writeAtomic(fs, disk.base + '.last', JSON.stringify({ key: disk.key, at: at, ttl: ttl, cc: cc, type: type, body: body }));
}

/**
 * The slot's last good copy, if it is this playlist's; null otherwise. Read
 * after the origin failed, so after an await: a promise, never a throw, for
 * a missing copy (see Disk).
 */
export async function readLastGood(fs: Store, disk: Disk): Promise<LastGood | null> {
  const text = await fs.promises.readFile(disk.base + '.last', 'utf8').then((t) => String(t), () => '');
  let last: LastGood | null = null;
  try {
    last = text ? JSON.parse(text) : null;
  } catch (e) {
    return null;
  }
  // The slot may have held another playlist before: never its copy.
  if (!last || !ownsCopy(disk.key, last) || typeof last.body !== 'string' || typeof last.at !== 'number') return null;
  return last;
}
