/**
 * cost: what a viewer costs the server. The mixed audience (audience.ts:
 * MIX_VIEWERS players over 3 renditions of a 2 s and a 6 s stream, reloading
 * per RFC 8216) on the edge (default features), the edge with playback auth,
 * the plain proxy_cache server and Varnish, in turn: the server's CPU
 * seconds (from /proc: nginx's master and workers, varnishd's manager and
 * child) per 1000 viewer-minutes. Target: the edge at or below both
 * baselines. The simulator's own CPU and what was delivered are shown too.
 */
import { pct, type Row } from './common.ts';
import { MIX_SECONDS, MIX_VIEWERS, mixRuns, type Watched } from './audience.ts';

/** Server CPU seconds per 1000 viewer-minutes. */
export const perViewer = (w: Watched) => (w.cpu / w.viewerMinutes) * 1000;

/** Percent of one core the simulator (players and origin) used during a run. */
export const simulatorShare = (w: Watched) => pct(w.simulatorCpu / w.wallSeconds);

export async function costBench(rows: Row[]): Promise<void> {
  const runs = await mixRuns();
  const n = `${MIX_VIEWERS} viewers, 3 renditions x 2/6 s targets, ${MIX_SECONDS}s`;
  const missing = 'varnish missing';
  const compare = (label: string, ours: Watched, base: Watched | null) => {
    if (!base) return rows.push([label, perViewer(ours).toFixed(2), missing, '', '<= 100%', '']);
    const r = perViewer(ours) / perViewer(base);
    rows.push([label, perViewer(ours).toFixed(2), perViewer(base).toFixed(2), pct(r), '<= 100%', r <= 1 ? 'ok' : 'MISSED']);
  };
  const metric = `${n}: server CPU s per 1000 viewer-minutes`;
  compare(`${metric} (edge vs plain proxy_cache)`, runs.edge, runs.plain);
  compare(`${metric} (edge vs Varnish)`, runs.edge, runs.varnish);
  compare(`${metric} (edge with playback auth vs plain proxy_cache)`, runs.auth, runs.plain);
  compare(`${metric} (edge with playback auth vs Varnish)`, runs.auth, runs.varnish);
  const both = (f: (w: Watched) => string): [string, string] => [`${f(runs.edge)}, auth ${f(runs.auth)}`, `${f(runs.plain)}, ${runs.varnish ? `Varnish ${f(runs.varnish)}` : missing}`];
  const mbits = (w: Watched) => ((w.bytes * 8) / w.wallSeconds / 1e6).toFixed(0);
  rows.push([`${n}: delivered Mbit/s (edge, auth vs plain, Varnish)`, ...both(mbits), '', 'measured', '']);
  rows.push([`${n}: simulator CPU (players and origin, same 2 cores), % of one core (edge, auth vs plain, Varnish)`, ...both(simulatorShare), '', 'measured', '']);
  const ours = runs.edge.failures + runs.auth.failures;
  rows.push([`${n}: failed requests (edge, auth vs plain, Varnish)`, ...both((w) => String(w.failures)), '', '== 0', ours === 0 ? 'ok' : 'MISSED']);
}
