/**
 * The cache-full probe (njs/cache-space.ts) against a disk in memory whose
 * free space the test sets: writes past it fail with ENOSPC as the
 * kernel's do (the file is created, the write fails). The same code in real
 * nginx on a full tmpfs: test/integration/cache-full.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { askCacheSpace, cacheFull, formatStamp, parseStamp, PROBE_CHUNK, PROBE_EVERY_MS, STAMP_BYTES, writeFailure, type SpaceStore } from '../../njs/cache-space.ts';

const CACHE = '/disk/cache';
const STAMP = '/disk/state/space/cache';
const MB = 1 << 20;

const fail = (code: string) => Object.assign(new Error(`${code}: failed`), { code });

/** A disk with `room` bytes free; the state directory on it too (`shared`), or apart and writable (`state: 'ok'`) or read-only. */
function disk(room: number, state: 'ok' | 'shared' | 'readonly' = 'ok') {
  const files = new Map<string, string>();
  const seen = { probes: 0, probeBytes: [] as number[], stamps: 0 };
  let free = room;
  const take = (p: string, d: string) => {
    if (d.length > free) {
      files.set(p, (files.get(p) ?? '') + d.slice(0, free));
      free = 0;
      throw fail('ENOSPC');
    }
    free -= d.length;
    files.set(p, (files.get(p) ?? '') + d);
  };
  const store: SpaceStore = {
    readFileSync: (p) => {
      const f = files.get(p);
      if (f === undefined) throw fail('ENOENT');
      return f;
    },
    writeFileSync: (p, d, o) => {
      if (p.startsWith(CACHE + '/')) {
        seen.probes++;
        seen.probeBytes.push(0);
        files.set(p, '');
        take(p, d);
        seen.probeBytes[seen.probeBytes.length - 1] += d.length;
        return;
      }
      if (state === 'readonly') throw fail('EROFS');
      seen.stamps++;
      const old = files.get(p);
      if (o?.flag === 'r+') {
        if (old === undefined) throw fail('ENOENT');
        // In place: only what grows the file needs room.
        if (state === 'shared' && d.length > old.length) {
          if (d.length - old.length > free) throw fail('ENOSPC');
          free -= d.length - old.length;
        }
        files.set(p, d);
        return;
      }
      if (state === 'shared') {
        if (old !== undefined) free += old.length;
        files.set(p, '');
        take(p, d);
        return;
      }
      files.set(p, d);
    },
    appendFileSync: (p, d) => {
      take(p, d);
      seen.probeBytes[seen.probeBytes.length - 1] += d.length;
    },
    unlinkSync: (p) => {
      const f = files.get(p);
      if (f === undefined) throw fail('ENOENT');
      if (p.startsWith(CACHE + '/') || state === 'shared') free += f.length;
      files.delete(p);
    },
  };
  return { store, files, seen, setFree: (n: number) => (free = n), free: () => free };
}

describe('cache space', () => {
  it('probes with cache_min_free in PROBE_CHUNK pieces and leaves nothing behind in the cache directory', () => {
    const d = disk(100 * MB);
    expect(cacheFull(d.store, STAMP, CACHE, 8 * MB, 1000)).toEqual({ full: false, changed: false, why: '' });
    expect(d.seen.probeBytes).toEqual([8 * MB]);
    expect(PROBE_CHUNK).toBeLessThan(8 * MB);
    expect([...d.files.keys()]).toEqual([STAMP]);
    expect(d.free()).toBe(100 * MB);
    expect(d.files.get(STAMP)).toHaveLength(STAMP_BYTES);
    expect(parseStamp(d.files.get(STAMP)!)).toEqual({ at: 1000, full: false });
  });

  it('writes cache_min_free exactly, not rounded up to a whole piece', () => {
    const d = disk(100 * MB);
    cacheFull(d.store, STAMP, CACHE, 300 * 1024, 1000);
    expect(d.seen.probeBytes).toEqual([300 * 1024]);
  });

  it('askCacheSpace reads its settings from the js_vars and logs each change once, at error when full and warn when not', () => {
    const d = disk(0);
    const lines: [number, string][] = [];
    const log = { ERR: 4, WARN: 5, log: (level: number, m: string) => lines.push([level, m]) };
    const v = { media_edge_cache_dir: CACHE, media_edge_cache_space: STAMP, media_edge_cache_min_free: String(MB) };
    expect(askCacheSpace(d.store, log, v, 1000)).toBe(true);
    expect(askCacheSpace(d.store, log, v, 1000 + PROBE_EVERY_MS)).toBe(true);
    d.setFree(100 * MB);
    expect(askCacheSpace(d.store, log, v, 1000 + 2 * PROBE_EVERY_MS)).toBe(false);
    expect(lines.map((l) => l[0])).toEqual([4, 5]);
    expect(lines[0][1]).toMatch(/^media-edge: the cache directory \/disk\/cache is full \(cache_min_free 1048576 bytes: .*ENOSPC.*\): playlists and segments are served without being stored until it has room$/);
    expect(lines[1][1]).toBe('media-edge: the cache directory /disk/cache has room again: caching again');
    // No directory or stamp (an older config), or the check off: never full, nothing probed.
    const probes = d.seen.probes;
    d.setFree(0);
    for (const w of [{ ...v, media_edge_cache_dir: '' }, { ...v, media_edge_cache_space: undefined }, { ...v, media_edge_cache_min_free: '0' }, { ...v, media_edge_cache_min_free: 'x' }]) {
      expect(askCacheSpace(d.store, log, w, 9000)).toBe(false);
    }
    expect(d.seen.probes).toBe(probes);
    expect(lines).toHaveLength(2);
  });

  it('with cache_min_free 0 (the check off) never probes nor stamps, and says not full', () => {
    const d = disk(0);
    for (const minFree of [0, -1, NaN]) expect(cacheFull(d.store, STAMP, CACHE, minFree, 1000)).toEqual({ full: false, changed: false, why: '' });
    expect(d.seen.probeBytes).toEqual([]);
    expect([...d.files.keys()]).toEqual([]);
  });

  it('says full while the disk has less than cache_min_free, even with room for a playlist: the next segments would not fit', () => {
    const d = disk(MB);
    const v = cacheFull(d.store, STAMP, CACHE, 4 * MB, 1000);
    expect(v.full).toBe(true);
    expect(v.changed).toBe(true);
    expect(v.why).toContain('ENOSPC');
    // The half-written probe is gone: the disk has what it had.
    expect(d.free()).toBe(MB);
    expect([...d.files.keys()]).toEqual([STAMP]);
    d.setFree(5 * MB);
    expect(cacheFull(d.store, STAMP, CACHE, 4 * MB, 1000 + PROBE_EVERY_MS)).toEqual({ full: false, changed: true, why: '' });
  });

  it('says that it changed once per change, and not at the probes in between', () => {
    const d = disk(0);
    const changes = [0, 1, 2, 3].map((i) => cacheFull(d.store, STAMP, CACHE, MB, 1000 + i * PROBE_EVERY_MS).changed);
    expect(changes).toEqual([true, false, false, false]);
  });

  it('probes about once per PROBE_EVERY_MS for all callers: the stamp answers in between', () => {
    const d = disk(100 * MB);
    cacheFull(d.store, STAMP, CACHE, MB, 5000);
    d.setFree(0);
    for (let t = 5000; t < 5000 + PROBE_EVERY_MS; t += 100) expect(cacheFull(d.store, STAMP, CACHE, MB, t).full).toBe(false);
    expect(d.seen.probes).toBe(1);
    expect(cacheFull(d.store, STAMP, CACHE, MB, 5000 + PROBE_EVERY_MS).full).toBe(true);
    expect(d.seen.probes).toBe(2);
  });

  it('claims the stamp before it probes: a worker asking meanwhile takes the answer before instead of probing too', () => {
    const d = disk(100 * MB);
    cacheFull(d.store, STAMP, CACHE, MB, 1000);
    let during = '';
    const store: SpaceStore = {
      ...d.store,
      writeFileSync: (p, data, o) => {
        if (p.startsWith(CACHE + '/')) during = d.files.get(STAMP)!;
        d.store.writeFileSync(p, data, o);
      },
    };
    cacheFull(store, STAMP, CACHE, MB, 3000);
    expect(parseStamp(during)).toEqual({ at: 3000, full: false });
  });

  it('keeps stamping in place when the state directory shares the full disk (the default layout), and so says it once', () => {
    const d = disk(4 * MB, 'shared');
    expect(cacheFull(d.store, STAMP, CACHE, MB, 1000).full).toBe(false);
    d.setFree(0);
    const v = cacheFull(d.store, STAMP, CACHE, MB, 1000 + PROBE_EVERY_MS);
    expect(v).toEqual({ full: true, changed: true, why: expect.stringContaining('ENOSPC') });
    expect(parseStamp(d.files.get(STAMP)!)).toEqual({ at: 1000 + PROBE_EVERY_MS, full: true });
    expect(cacheFull(d.store, STAMP, CACHE, MB, 1500 + PROBE_EVERY_MS).full).toBe(true);
    expect(cacheFull(d.store, STAMP, CACHE, MB, 1000 + 2 * PROBE_EVERY_MS).changed).toBe(false);
  });

  it('probes again for a stamp it cannot read (missing, half written, edited) or from the future (a clock set back)', () => {
    const d = disk(100 * MB);
    for (const text of ['', '17', 'x 1', '1000 2 ', '1000 1x']) {
      d.files.set(STAMP, text);
      const before = d.seen.probes;
      cacheFull(d.store, STAMP, CACHE, MB, 1100);
      expect(d.seen.probes, text).toBe(before + 1);
    }
    d.files.set(STAMP, formatStamp(9000, true, 'x'));
    expect(cacheFull(d.store, STAMP, CACHE, MB, 1000).full).toBe(false);
  });

  it('a cache directory that cannot be written at all (missing, read-only) is full too: nginx could not store there either', () => {
    const d = disk(100 * MB);
    const store: SpaceStore = { ...d.store, writeFileSync: (p, data, o) => (p.startsWith(CACHE + '/') ? (() => { throw fail('EROFS'); })() : d.store.writeFileSync(p, data, o)) };
    expect(cacheFull(store, STAMP, CACHE, MB, 1000).full).toBe(true);
  });

  it('a failure of the worker, not of the disk (EMFILE), keeps the answer before', () => {
    const d = disk(0);
    expect(cacheFull(d.store, STAMP, CACHE, MB, 1000).full).toBe(true);
    const store: SpaceStore = { ...d.store, writeFileSync: (p, data, o) => (p.startsWith(CACHE + '/') ? (() => { throw fail('EMFILE'); })() : d.store.writeFileSync(p, data, o)) };
    d.setFree(100 * MB);
    expect(cacheFull(store, STAMP, CACHE, MB, 1000 + PROBE_EVERY_MS)).toEqual({ full: true, changed: false, why: expect.stringContaining('EMFILE') });
    expect(cacheFull(d.store, STAMP, CACHE, MB, 1000 + 2 * PROBE_EVERY_MS)).toEqual({ full: false, changed: true, why: '' });
  });

  it('with a state directory it cannot write, probes every time with one chunk only, finds a full disk, and never says it changed (no line per request)', () => {
    const d = disk(100 * MB, 'readonly');
    expect(cacheFull(d.store, STAMP, CACHE, 8 * MB, 1000)).toEqual({ full: false, changed: false, why: '' });
    expect(cacheFull(d.store, STAMP, CACHE, 8 * MB, 1001).full).toBe(false);
    expect(d.seen.probeBytes).toEqual([PROBE_CHUNK, PROBE_CHUNK]);
    d.setFree(0);
    expect(cacheFull(d.store, STAMP, CACHE, 8 * MB, 1002)).toEqual({ full: true, changed: false, why: expect.stringContaining('ENOSPC') });
  });

  it('tells the disk\'s failures by code, and by njs\'s messages where there is none', () => {
    for (const c of ['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'ENOENT']) expect(writeFailure(fail(c))).toBe(true);
    for (const c of ['EMFILE', 'EIO', 'EINTR']) expect(writeFailure(fail(c))).toBe(null);
    expect(writeFailure(new Error('No space left on device'))).toBe(true);
    expect(writeFailure(new Error('Read-only file system'))).toBe(true);
    expect(writeFailure(new Error('Too many open files'))).toBe(null);
    expect(writeFailure('x')).toBe(null);
  });

  it('keeps the stamp one line of a fixed length: a reason with line breaks is flattened, a long one cut', () => {
    expect(formatStamp(5, true, 'a\nb\r')).toBe('5 1 a b ' + ' '.repeat(STAMP_BYTES - 9) + '\n');
    expect(formatStamp(1796328577733, false, 'x'.repeat(200))).toHaveLength(STAMP_BYTES);
    expect(parseStamp(formatStamp(5, true, 'a\nb\r'))).toEqual({ at: 5, full: true });
    expect(parseStamp('5 0')).toEqual({ at: 5, full: false });
  });
});
