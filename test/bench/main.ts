/**
 * `npm run bench`: every ratio is measured side by side in one run, under the
 * same machine load (alternating rounds), and printed as one table. One
 * module a benchmark, each saying what it measures; docs/benchmarks.md has
 * every row and the last full run.
 *
 * Needs wrk (apt-get install wrk); cpu needs valgrind, cost, capacity and
 * latency varnish (`media-edge deps --bench`), engines the media-edge:sid
 * image, faults root (tmpfs, bind mounts). Never fails on numbers; prints
 * MISSED.
 *
 * BENCH_ROUNDS, BENCH_ROUND_SECONDS, BENCH_PLAYERS_SECONDS, BENCH_MIX_*,
 * BENCH_CAPACITY_*, BENCH_FAULT*, BENCH_ONLY=a list of the names in BENCHES.
 */
import { spawnSync } from 'node:child_process';
import { authBench } from './auth.ts';
import { cacheBench } from './cache.ts';
import { capacityBench } from './capacity.ts';
import { CONNECTIONS, ROUND_SECONDS, ROUNDS, type Row } from './common.ts';
import { costBench } from './cost.ts';
import { cpuBench } from './cpu.ts';
import { enginesBench } from './engines.ts';
import { failoverBench } from './failover.ts';
import { faultsBench } from './faults.ts';
import { latencyBench } from './latency.ts';
import { metricsBench } from './metrics.ts';
import { playersBench } from './players.ts';
import { producerBench } from './producer.ts';
import { rtmpBench } from './rtmp.ts';
import { selectBench } from './select.ts';

/** In the order they run and print. */
const BENCHES: Record<string, (rows: Row[]) => Promise<void>> = {
  cache: cacheBench,
  metrics: metricsBench,
  cpu: cpuBench,
  auth: authBench,
  producer: producerBench,
  select: selectBench,
  failover: failoverBench,
  players: playersBench,
  cost: costBench,
  capacity: capacityBench,
  latency: latencyBench,
  rtmp: rtmpBench,
  engines: enginesBench,
  faults: faultsBench,
};

async function main(): Promise<void> {
  const only = (process.env.BENCH_ONLY ?? Object.keys(BENCHES).join(',')).split(',');
  const unknown = only.filter((b) => !(b in BENCHES));
  if (unknown.length) throw new Error(`BENCH_ONLY: no benchmark ${unknown.join(', ')} (${Object.keys(BENCHES).join(', ')})`);
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is missing: apt-get install wrk');
  const rows: Row[] = [];
  // Each section's time, and the whole bench's (issue 21: under 20 minutes here).
  const took: Row[] = [];
  const start = performance.now();
  for (const [name, bench] of Object.entries(BENCHES)) {
    if (!only.includes(name)) continue;
    const t0 = performance.now();
    await bench(rows);
    took.push([`bench time: ${name}, s`, ((performance.now() - t0) / 1000).toFixed(0), '', '', 'measured', '']);
  }
  const total = (performance.now() - start) / 1000;
  rows.push(...took, ['bench time: all sections run, min', (total / 60).toFixed(1), '', '', only.length === Object.keys(BENCHES).length ? '< 20' : 'measured', only.length === Object.keys(BENCHES).length ? (total < 1200 ? 'ok' : 'MISSED') : '']);
  const head: Row = ['metric', 'ours', 'baseline', 'ours/baseline', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  console.log(`\nnjs-media-edge benchmark (${ROUNDS} alternating rounds of ${ROUND_SECONDS}s, wrk -c${CONNECTIONS}, 1 nginx worker; medians)`);
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
}

main().catch((e) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(1);
});
