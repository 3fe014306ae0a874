/**
 * The cache-full probe (njs/cache-space.ts) on node's fs: a real directory
 * for room, and a store whose writes fail as a full disk's do. The same
 * code in real nginx on a full tmpfs: test/integration/cache-full.test.ts.
 */
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheFull, formatStamp, parseStamp, PROBE_BYTES, PROBE_EVERY_MS, type SpaceStore } from '../../njs/cache-space.ts';

let dir = '';
let stamp = '';
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'media-edge-space-'));
  fs.mkdirSync(join(dir, 'cache'));
  stamp = join(dir, 'cache-space');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** node's fs, with writes into the cache directory failing while `full()`, and every write counted. */
function store(full: () => boolean, writes: string[] = []): SpaceStore {
  return {
    readFileSync: (p, e) => fs.readFileSync(p, e),
    unlinkSync: (p) => fs.unlinkSync(p),
    writeFileSync: (p, d) => {
      writes.push(p);
      if (full() && p.startsWith(join(dir, 'cache') + '/')) {
        // As the kernel does: the file is created, the write fails.
        fs.writeFileSync(p, '');
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      fs.writeFileSync(p, d);
    },
  };
}

describe('cache space', () => {
  it('probes with PROBE_BYTES and leaves nothing behind in the cache directory', () => {
    const sizes: number[] = [];
    const s: SpaceStore = { ...store(() => false), writeFileSync: (p, d) => { if (p.includes('/cache/')) sizes.push(d.length); fs.writeFileSync(p, d); } };
    expect(cacheFull(s, stamp, join(dir, 'cache'), 1000)).toEqual({ full: false, changed: false, why: '' });
    expect(sizes).toEqual([PROBE_BYTES]);
    expect(fs.readdirSync(join(dir, 'cache'))).toEqual([]);
    expect(parseStamp(fs.readFileSync(stamp, 'utf8'))).toEqual({ at: 1000, full: false });
  });

  it('says full when the probe cannot be written, removes the half-made probe, and says it changed once', () => {
    let isFull = true;
    const s = store(() => isFull);
    const first = cacheFull(s, stamp, join(dir, 'cache'), 1000);
    expect(first.full).toBe(true);
    expect(first.changed).toBe(true);
    expect(first.why).toContain('ENOSPC');
    expect(fs.readdirSync(join(dir, 'cache'))).toEqual([]);
    expect(cacheFull(s, stamp, join(dir, 'cache'), 1000 + PROBE_EVERY_MS)).toEqual({ full: true, changed: false, why: expect.stringContaining('ENOSPC') });
    isFull = false;
    expect(cacheFull(s, stamp, join(dir, 'cache'), 1000 + 2 * PROBE_EVERY_MS)).toEqual({ full: false, changed: true, why: '' });
  });

  it('probes at most once per PROBE_EVERY_MS for all callers: the stamp answers in between', () => {
    const writes: string[] = [];
    let isFull = false;
    const s = store(() => isFull, writes);
    cacheFull(s, stamp, join(dir, 'cache'), 5000);
    isFull = true;
    for (let t = 5000; t < 5000 + PROBE_EVERY_MS; t += 100) expect(cacheFull(s, stamp, join(dir, 'cache'), t).full).toBe(false);
    expect(writes.filter((w) => w.includes('/cache/'))).toHaveLength(1);
    expect(cacheFull(s, stamp, join(dir, 'cache'), 5000 + PROBE_EVERY_MS).full).toBe(true);
    expect(writes.filter((w) => w.includes('/cache/'))).toHaveLength(2);
  });

  it('probes again for a stamp it cannot read (missing, half written, edited) or from the future (a clock set back)', () => {
    const writes: string[] = [];
    const s = store(() => false, writes);
    const probes = () => writes.filter((w) => w.includes('/cache/')).length;
    for (const text of ['', '17', 'x 1', '1000 2 ', '1000 1x']) {
      fs.writeFileSync(stamp, text);
      const before = probes();
      cacheFull(s, stamp, join(dir, 'cache'), 1100);
      expect(probes(), text).toBe(before + 1);
    }
    fs.writeFileSync(stamp, formatStamp(9000, true, 'x'));
    expect(cacheFull(s, stamp, join(dir, 'cache'), 1000).full).toBe(false);
  });

  it('a cache directory that cannot be written at all (missing, read-only) is full too: nginx could not store there either', () => {
    const v = cacheFull(store(() => false), stamp, join(dir, 'missing'), 1000);
    expect(v.full).toBe(true);
    expect(v.why).toContain('ENOENT');
  });

  it('a state directory that cannot be written only means probing every time', () => {
    const writes: string[] = [];
    const s = store(() => false, writes);
    const gone = join(dir, 'no-such-dir', 'cache-space');
    expect(cacheFull(s, gone, join(dir, 'cache'), 1000).full).toBe(false);
    expect(cacheFull(s, gone, join(dir, 'cache'), 1001).full).toBe(false);
    expect(writes.filter((w) => w.includes('/cache/'))).toHaveLength(2);
  });

  it('keeps the stamp one line: a reason with line breaks is flattened', () => {
    expect(formatStamp(5, true, 'a\nb\r')).toBe('5 1 a b ');
    expect(parseStamp('5 1 a b ')).toEqual({ at: 5, full: true });
    expect(parseStamp('5 0')).toEqual({ at: 5, full: false });
  });
});
