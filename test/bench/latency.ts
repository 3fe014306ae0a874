/**
 * latency: how far behind the origin's live edge a viewer is put by the
 * cache in front of it. Every playlist a player of the mixed audience
 * (audience.ts, the runs the cost section measures) receives is compared
 * with the origin at that moment: 0 s when it lists the origin's newest
 * segment, else the time since the first segment it lacks appeared at the
 * origin. p50 and p99 per target duration, edge vs plain proxy_cache and
 * Varnish. What a player adds itself (its reload interval, the segments it
 * buffers) is the same behind every cache and not in the figure.
 *
 * The edge's bound: a live playlist is stored half its target duration
 * less a second (njs/playlist.ts liveBound) and nginx keeps it to the end
 * of the second its validity ends in, so a copy is at most liveBound + 1 s
 * old (2 s for a 2 s target, 3 s for 6 s), and its `Age` tells the player
 * how old. The target is that bound; the Age row shows what players were told.
 */
import { liveBound } from '../../njs/playlist.ts';
import { percentile, type Row } from './common.ts';
import { MIX_SECONDS, MIX_VIEWERS, mixRuns, TARGETS, type Watched } from './audience.ts';

export async function latencyBench(rows: Row[]): Promise<void> {
  const runs = await mixRuns();
  const n = `${MIX_VIEWERS} viewers, ${MIX_SECONDS}s`;
  const p = (xs: number[], q: number) => percentile(xs, q).toFixed(2);
  const both = (w: Watched | null, td: number) => (w ? `${p(w.lag[td], 0.5)} / ${p(w.lag[td], 0.99)}` : 'varnish missing');
  for (const td of TARGETS) {
    const bound = liveBound(td) + 1;
    const p99 = percentile(runs.edge.lag[td], 0.99);
    // Judged at the precision shown: the refresh itself takes milliseconds.
    const verdict = Number(p99.toFixed(1)) <= bound ? 'ok' : 'MISSED';
    const metric = `${n}, ${td} s target: seconds behind the origin's live edge, p50 / p99`;
    rows.push([`${metric} (edge vs plain proxy_cache)`, both(runs.edge, td), both(runs.plain, td), '', `p99 <= ${bound} s`, verdict]);
    rows.push([`${metric} (edge vs Varnish)`, both(runs.edge, td), both(runs.varnish, td), '', `p99 <= ${bound} s`, verdict]);
    const age = (w: Watched | null) => (!w ? 'varnish missing' : w.age[td].length ? String(percentile(w.age[td], 0.99)) : 'none');
    rows.push([`${n}, ${td} s target: playlist Age header p99, s (edge vs Varnish; plain sends none)`, age(runs.edge), age(runs.varnish), '', 'measured', '']);
  }
}
