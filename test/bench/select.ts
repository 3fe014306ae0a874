/**
 * select: cache misses (the only requests that choose an origin) through an
 * edge with 8 weighted origins vs an edge with one upstream (target >= 95%).
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
export async function fixtureOrigins(n: number): Promise<{ ports: number[]; nginx: Running }> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  const nginx = await startBench({ origins: [{ name: 'x', http: `127.0.0.1:${ports[0]}` }] }, { fixtureOrigins: ports });
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
  const { ports, nginx: fixture } = await fixtureOrigins(8);
  const weights = [1, 2, 3, 4, 1, 2, 3, 4];
  // Both edges store no response (noStore): what is measured is the choice of origin.
  const eight = await startBench({ origins: ports.map((p, i) => ({ name: `o${i}`, http: `127.0.0.1:${p}`, weight: weights[i] })) }, { noStore: true });
  const one = await startBench({ origins: [{ name: 'o0', http: `127.0.0.1:${ports[0]}` }] }, { noStore: true });
  // Every request a new stream: a cache miss, so every request selects.
  // Segments: playlist misses also pass the producer (njs), the same on both
  // sides, which is not what this row measures.
  const script = uniqueSegmentsScript(fixture.dir);
  try {
    const e: WrkResult[] = [];
    const o: WrkResult[] = [];
    // The miss path involves three nginx processes on two cores: more rounds.
    for (let i = 0; i < Math.max(ROUNDS, 5); i++) {
      e.push(await wrk(eight.url, script));
      o.push(await wrk(one.url, script));
    }
    const ratio = median(e.map((x) => x.rps)) / median(o.map((x) => x.rps));
    rows.push(['cache misses: requests/s (8 weighted origins vs 1 upstream)', median(e.map((x) => x.rps)).toFixed(0), median(o.map((x) => x.rps)).toFixed(0), pct(ratio), '>= 95%', ratio >= 0.95 ? 'ok' : 'MISSED']);
  } finally {
    for (const x of [eight, one, fixture]) await x.stop();
  }
}
