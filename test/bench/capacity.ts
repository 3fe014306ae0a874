/**
 * capacity: the most simulated viewers a system serves with playlist p99
 * under 100 ms and no failed request. The mixed audience (audience.ts) in
 * steps of BENCH_CAPACITY_STEPS viewers, BENCH_CAPACITY_SECONDS each, on the
 * edge, the plain proxy_cache server and Varnish in turn, each stopping at
 * its first step that misses. Bounded: at most steps x seconds per system.
 *
 * The players run in this process on the same two cores as the server (and,
 * on the development machine, beside other work), so the figure is this
 * machine's with its own load generator: the server's and the simulator's
 * CPU at the step missed are shown, and the simulator's at the last one
 * passed. Where the server used a fraction of a core when the step missed,
 * the simulator and the machine, not the server, stopped the count.
 */
import { pct, percentile, type Row } from './common.ts';
import { mixOrigin, startSystems, watch, type System } from './audience.ts';
import { simulatorShare } from './cost.ts';

const STEPS = (process.env.BENCH_CAPACITY_STEPS ?? '300,600,900,1200').split(',').map(Number);
const STEP_SECONDS = Number(process.env.BENCH_CAPACITY_SECONDS ?? 12);
const P99_MS = 100;

interface Capacity {
  /** Viewers of the last passing step (0: none passed). */
  passed: number;
  /** The simulator's share of a core at that step. */
  simulator: string;
  /** Why it stopped: the first missing step, or that the last step passed. */
  stop: string;
}

async function capacity(system: System, origin: Parameters<typeof watch>[1]): Promise<Capacity> {
  const out: Capacity = { passed: 0, simulator: '', stop: `passed the last step (${STEPS.at(-1)})` };
  for (const n of STEPS) {
    const w = await watch(system, origin, n, STEP_SECONDS);
    const p99 = percentile(w.playlistMs, 0.99);
    const load = `server ${pct(w.cpu / w.wallSeconds)}, simulator ${simulatorShare(w)} of a core`;
    if (process.env.BENCH_DEBUG) console.error(`capacity: ${system.name}, ${n} viewers: playlist p50/p99 ${percentile(w.playlistMs, 0.5).toFixed(1)}/${p99.toFixed(1)} ms, segment p99 ${percentile(w.segmentMs, 0.99).toFixed(1)} ms, ${w.failures} failed, ${load}`);
    if (p99 >= P99_MS || w.failures) {
      out.stop = `${n}: p99 ${p99.toFixed(0)} ms, ${w.failures} failed (${load})`;
      break;
    }
    out.passed = n;
    out.simulator = simulatorShare(w);
  }
  return out;
}

export async function capacityBench(rows: Row[]): Promise<void> {
  const origin = await mixOrigin();
  const systems = await startSystems(origin);
  try {
    const edge = await capacity(systems.edge, origin);
    const plain = await capacity(systems.plain, origin);
    const varnish = systems.varnish && (await capacity(systems.varnish, origin));
    const n = `capacity, steps ${STEPS.join('/')} x ${STEP_SECONDS}s`;
    const verdict = (base: Capacity | null) => (!base ? '' : edge.passed >= base.passed ? 'ok' : 'MISSED');
    const count = (c: Capacity | null) => (c ? String(c.passed) : 'varnish missing');
    rows.push([`${n}: most viewers with playlist p99 < ${P99_MS} ms, no failure (edge vs plain proxy_cache)`, count(edge), count(plain), '', '>= baseline', verdict(plain)]);
    rows.push([`${n}: most viewers with playlist p99 < ${P99_MS} ms, no failure (edge vs Varnish)`, count(edge), count(varnish), '', '>= baseline', verdict(varnish)]);
    rows.push([`${n}: the first step missed, and the CPU then (edge vs plain; Varnish)`, edge.stop, `${plain.stop}; ${varnish?.stop ?? 'varnish missing'}`, '', '', '']);
    rows.push([`${n}: simulator CPU at the last passing step, % of one core (edge vs plain; Varnish)`, edge.simulator, `${plain.simulator}; ${varnish?.simulator ?? 'varnish missing'}`, '', 'measured', '']);
  } finally {
    await systems.stop();
    await origin.stop();
  }
}
