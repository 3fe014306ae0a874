/**
 * The producer's state slots (njs/state.ts): the bound on <runs_dir> holds
 * whatever names arrive, a playlist finds its own slot again, and a slot
 * changes hands only when its playlist was idle.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CANDIDATES, candidateSlots, chooseSlot, formatSlot, ownsCopy, parseSlot, stateKey, type SlotRead } from '../../njs/state.ts';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** A directory of run files, as the producer sees it: slot -> text. */
function produce(dir: Map<number, string>, key: string, slots: number, now: number, evictMs: number) {
  const reads: SlotRead[] = candidateSlots(md5(key), slots).map((slot) => ({ slot, text: dir.get(slot) ?? null }));
  const c = chooseSlot(key, reads, now, evictMs);
  if (c.slot >= 0) dir.set(c.slot, formatSlot(key, now, null));
  return c;
}

describe('state slots', () => {
  it('gives each key distinct candidates within the slots, the same every time', () => {
    fc.assert(fc.property(fc.string(), fc.integer({ min: 1, max: 100000 }), (key, slots) => {
      const a = candidateSlots(md5(key), slots);
      expect(a).toEqual(candidateSlots(md5(key), slots));
      expect(a.length).toBe(Math.min(CANDIDATES, slots));
      expect(new Set(a).size).toBe(a.length);
      for (const n of a) expect(n >= 0 && n < slots).toBe(true);
    }));
  });

  it('finds a slot for nearly every new playlist with a third of the slots in use (the table\'s default: 10000 slots)', () => {
    // 3000 playlists produced within the minute: each new one after them
    // gets no state (no run, no last good copy, no second try) only if all
    // of its candidates are taken, so about 0.3^CANDIDATES of them.
    const dir = new Map<number, string>();
    for (let i = 0; i < 3000; i++) produce(dir, `/live/busy${i}/chunklist_b400000.m3u8`, 10000, 1000, 60000);
    let none = 0;
    for (let i = 0; i < 100000; i++) {
      const key = `/live/new${i}/chunklist_b400000.m3u8`;
      const reads = candidateSlots(md5(key), 10000).map((slot) => ({ slot, text: dir.get(slot) ?? null }));
      if (chooseSlot(key, reads, 2000, 60000).slot < 0) none++;
    }
    // About 0.3^8 of 100,000 is 6.6 (with 4 candidates it was about 800).
    expect(none).toBeLessThanOrEqual(15);
  });

  it('keeps the first four candidates of earlier versions, so an upgrade finds each playlist\'s slot (and its run) again', () => {
    fc.assert(fc.property(fc.string(), fc.integer({ min: 1, max: 100000 }), (key, slots) => {
      const h = md5(key);
      // The earlier code, as it was (fewer than 4 where slots is smaller).
      const old: number[] = [];
      for (let i = 0; i < 4; i++) {
        let n = parseInt(h.slice(i * 8, i * 8 + 8), 16) % slots;
        for (let t = 0; old.indexOf(n) >= 0 && t < slots; t++) n = (n + 1) % slots;
        if (old.indexOf(n) < 0) old.push(n);
      }
      expect(candidateSlots(h, slots).slice(0, old.length)).toEqual(old);
    }));
  });

  it('never holds more slots than there are, whatever a flood of names does; a playlist finds its own slot again', () => {
    fc.assert(fc.property(fc.array(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 64 }), (names, slots) => {
      const dir = new Map<number, string>();
      const got = new Map<string, number>();
      for (const n of names) {
        const c = produce(dir, `/live/${n}/chunklist.m3u8`, slots, 1000, 60000);
        if (c.slot >= 0 && !got.has(n)) got.set(n, c.slot);
      }
      expect(dir.size).toBeLessThanOrEqual(slots);
      // Within the eviction time nobody takes another's slot: each keeps its first.
      for (const [n, slot] of got) {
        const c = chooseSlot(`/live/${n}/chunklist.m3u8`, candidateSlots(md5(`/live/${n}/chunklist.m3u8`), slots).map((s) => ({ slot: s, text: dir.get(s) ?? null })), 2000, 60000);
        expect(c.slot).toBe(slot);
        expect(c.own?.key).toBe(`/live/${n}/chunklist.m3u8`);
      }
    }));
  });

  it('a new name gets no slot while its candidates are held by playlists produced within the eviction time, and one once they are idle', () => {
    const dir = new Map<number, string>();
    for (let i = 0; i < 8; i++) produce(dir, `/live/s${i}/p.m3u8`, 4, 0, 60000);
    expect(dir.size).toBe(4);
    expect(produce(dir, '/live/new/p.m3u8', 4, 30000, 60000).slot).toBe(-1);
    const later = produce(dir, '/live/new/p.m3u8', 4, 61000, 60000);
    expect(later.slot).toBeGreaterThanOrEqual(0);
    expect(later.own).toBeNull(); // not its state: it starts afresh
  });

  it('a slot written in the future (the clock stepped back) can be taken', () => {
    expect(chooseSlot('/live/b/p.m3u8', [{ slot: 1, text: formatSlot('/live/a/p.m3u8', 10_000_000, null) }], 1000, 60000).slot).toBe(1);
    expect(chooseSlot('/live/b/p.m3u8', [{ slot: 1, text: formatSlot('/live/a/p.m3u8', 30000, null) }], 1000, 60000).slot).toBe(-1);
  });

  it('a DVR or clip playlist has state of its own; LL-HLS reloads and session ids do not make another playlist', () => {
    expect(stateKey('/live/a/chunklist.m3u8', '')).toBe('/live/a/chunklist.m3u8');
    expect(stateKey('/live/a/chunklist.m3u8', '_HLS_msn=12&_HLS_part=1&wowzasessionid=99')).toBe('/live/a/chunklist.m3u8');
    expect(stateKey('/live/a/chunklist.m3u8', 'DVR&wowzadvrplayliststart=60000')).toBe('/live/a/chunklist.m3u8?DVR&wowzadvrplayliststart=60000');
    expect(stateKey('/live/a/chunklist.m3u8', '_hls_skip=YES&wowzaplaystart=0&wowzaplayduration=2000')).toBe('/live/a/chunklist.m3u8?wowzaplaystart=0&wowzaplayduration=2000');
  });

  it('a broken or foreign run file is no state of this playlist; its run survives the round trip', () => {
    expect(parseSlot('{')).toBeNull();
    expect(parseSlot('{"run":1}')).toBeNull();
    expect(parseSlot('{"key":"/a","at":"x"}')).toBeNull();
    const st = parseSlot(formatSlot('/live/a/p.m3u8', 5, { run: 'r1', seq: 3, last: 9, at: 5 }));
    expect(st).toEqual({ key: '/live/a/p.m3u8', at: 5, run: { run: 'r1', seq: 3, last: 9, at: 5 } });
    expect(parseSlot(formatSlot('/live/a/p.mpd', 5, null))?.run).toBeNull();
    // A broken file is a free slot.
    expect(chooseSlot('/live/b/p.m3u8', [{ slot: 3, text: '{' }], 0, 60000)).toEqual({ slot: 3, own: null });
    expect(ownsCopy('/live/a/p.m3u8', { key: '/live/a/p.m3u8' })).toBe(true);
    expect(ownsCopy('/live/a/p.m3u8', { key: '/live/b/p.m3u8' })).toBe(false);
    expect(ownsCopy('/live/a/p.m3u8', {})).toBe(false);
  });
});
