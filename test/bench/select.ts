/**
 * select: cache misses (the only requests that choose an origin) through an
 * edge with 8 weighted origins vs an edge with one upstream (target >= 95%);
 * and what the cache-full check (njs/cache-space.ts) costs a miss: the
 * default vs cache_min_free 0, which turns it off.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../tools/demo.ts';
import { median, pct, ROUNDS, startBench, wrk, type Row, type Running, type WrkResult } from './common.ts';

/**
 * Fast fixture origins: nginx answering a small body on `n` ports, so the
 * origins are not what is measured. They run beside an edge of their own
 * (the local nginx), which is not measured either.
 */
export async function fixtureOrigins(n: number, noStore = false): Promise<{ ports: number[]; nginx: Running }> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  const nginx = await startBench({ origins: [{ name: 'x', http: `127.0.0.1:${ports[0]}` }] }, { fixtureOrigins: ports, fixtureNoStore: noStore });
  return { ports, nginx };
}

/** A wrk script asking for a segment of a new stream each time: every request a miss. */
export function uniqueSegmentsScript(dir: string): string {
  const script = join(dir, 'unique.lua');
  writeFileSync(script, `
local n = 0
function setup(thread) thread:set("tid", tostring(math.random(1, 1e9))) end
function request()
  n = n + 1
  return wrk.format(nil, "/live/s" .. tid .. "_" .. n .. "/media_b400000_1.ts")
end
`);
  return script;
}

export async function selectBench(rows: Row[]): Promise<void> {
  // The edges store no response (the origins say Vary: *): what is measured is the choice of origin.
  const { ports, nginx: fixture } = await fixtureOrigins(8, true);
  const weights = [1, 2, 3, 4, 1, 2, 3, 4];
  const eight = await startBench({ origins: ports.map((p, i) => ({ name: `o${i}`, http: `127.0.0.1:${p}`, weight: weights[i] })) });
  const one = await startBench({ origins: [{ name: 'o0', http: `127.0.0.1:${ports[0]}` }] });
  const unchecked = await startBench({ origins: [{ name: 'o0', http: `127.0.0.1:${ports[0]}` }], cache_min_free: '0' });
  // Every request a new stream: a cache miss, so every request selects.
  // Segments: playlist misses also pass the producer (njs), the same on both
  // sides, which is not what this row measures.
  const script = uniqueSegmentsScript(fixture.dir);
  try {
    const e: WrkResult[] = [];
    const o: WrkResult[] = [];
    const u: WrkResult[] = [];
    // The miss path involves three nginx processes on two cores: more rounds
    // (the check's row, whose difference is larger, fewer: the bench's time).
    const rounds = Math.max(ROUNDS, 5);
    for (let i = 0; i < rounds; i++) {
      e.push(await wrk(eight.url, script));
      o.push(await wrk(one.url, script));
      if (i >= rounds - 3) u.push(await wrk(unchecked.url, script));
    }
    const [eps, ops, ups] = [e, o, u].map((runs) => median(runs.map((x) => x.rps)));
    rows.push(['cache misses: requests/s (8 weighted origins vs 1 upstream)', eps.toFixed(0), ops.toFixed(0), pct(eps / ops), '>= 95%', eps / ops >= 0.95 ? 'ok' : 'MISSED']);
    // No target: the check is on by default, for what a full disk does
    // otherwise (faults: cachefull); misses are bounded by origin bandwidth,
    // and these 40-byte ones are the worst case.
    rows.push(['cache misses: requests/s, cache-full check vs off (cache_min_free 0)', ops.toFixed(0), ups.toFixed(0), pct(ops / ups), 'measured', '']);
  } finally {
    for (const x of [eight, one, unchecked, fixture]) await x.stop();
  }
}
