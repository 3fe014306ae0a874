/**
 * What every benchmark module shares: the run's settings (BENCH_* variables),
 * the table's rows, wrk, medians, and the edge under test, started by the
 * tests' own harness (test/support/edge.ts) with the baselines beside it in
 * the same nginx (test/bench/nginx/).
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../../tools/paths.ts';
import type { Settings } from '../../tools/settings.ts';
import { badLines, renderEdge, startEdge, type Edge, type RenderedEdge, type Wrap } from '../support/edge.ts';
import { localTarget, type Target } from '../support/targets.ts';

export const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 3);
// 5: the whole bench within 20 minutes here (issue 21), with medians still of several rounds.
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
export const PLAYERS_SECONDS = Number(process.env.BENCH_PLAYERS_SECONDS ?? 45);
export const CONNECTIONS = 32;

export type Row = [metric: string, ours: string, baseline: string, ratio: string, target: string, verdict: string];

export interface WrkResult {
  rps: number;
  p99ms: number;
}

/** wrk in a child process; async, because test origins live in this process. */
export async function wrk(url: string, script?: string): Promise<WrkResult> {
  const args = ['-t2', `-c${CONNECTIONS}`, `-d${ROUND_SECONDS}s`, '--latency', ...(script ? ['-s', script] : []), url];
  const r = await promisify(execFile)('wrk', args, { encoding: 'utf8' });
  if (process.env.BENCH_DEBUG) console.error(url, r.stdout);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const m = /\s99%\s+([\d.]+)(us|ms|s)/.exec(r.stdout);
  const p99ms = m ? Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[m[2]] : NaN;
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout);
  if (non2xx) throw new Error(`wrk saw ${non2xx[1]} error responses from ${url}`);
  return { rps, p99ms };
}

/** The middle value; for an even count the mean of the two middle ones (not the upper one, which would flatter a ratio). */
export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
}

export interface PlayerResponse {
  status: number;
  body: string;
  ms: number;
  /** Body bytes received (also when the body is not kept). */
  bytes: number;
  headers: IncomingHttpHeaders;
}

/**
 * One player request on a shared keep-alive agent; a failure is status 0,
 * never a throw. `keepBody` false counts a segment's bytes without keeping
 * them: megabyte segments in JS strings would cost the simulator more than
 * the server under test.
 */
export function playerGet(agent: Agent, url: string, keepBody = true): Promise<PlayerResponse> {
  return new Promise((res) => {
    const t0 = performance.now();
    const failed = () => res({ status: 0, body: '', ms: performance.now() - t0, bytes: 0, headers: {} });
    const req = request(url, { agent, timeout: 15000 }, (r) => {
      let body = '';
      let bytes = 0;
      if (keepBody) r.setEncoding('latin1');
      r.on('data', (c: string | Buffer) => {
        bytes += c.length;
        if (keepBody) body += c;
      });
      r.on('end', () => res({ status: r.statusCode ?? 0, body, ms: performance.now() - t0, bytes, headers: r.headers }));
      r.on('error', failed);
      // A body cut short ends in neither 'end' nor always 'error' (after 'end' this is a no-op).
      r.on('close', failed);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', failed);
    req.end();
  });
}

/** VmRSS of the children of `pid` (nginx's workers), in bytes. */
function workersRss(pid: number): number {
  let total = 0;
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const st = readFileSync(`/proc/${p}/status`, 'utf8');
      if (Number(/\nPPid:\s+(\d+)/.exec(st)?.[1]) !== pid) continue;
      total += Number(/\nVmRSS:\s+(\d+) kB/.exec(st)?.[1] ?? 0) * 1024;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/** utime + stime of a process and its children, in seconds (/proc/PID/stat, 100 ticks/s): nginx's master and workers, varnishd's manager and child. */
export function cpuSeconds(pid: number): number {
  const ticks = (p: string) => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8');
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      return { ppid: Number(rest[1]), t: Number(rest[11]) + Number(rest[12]) };
    } catch {
      return null;
    }
  };
  let total = 0;
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const s = ticks(p);
    if (s && (Number(p) === pid || s.ppid === pid)) total += s.t;
  }
  return total / 100;
}

/** A plain proxy_cache server beside the edge (test/bench/nginx/media-edge-http.conf). */
export interface PlainServer {
  port: number;
  /** Its cache zone, one per server. */
  zone: string;
  /** Playlists sent without sendfile, as the edge sends them. */
  sendfileOff?: boolean;
  playlistTtl?: string;
}

/** What runs in the edge's nginx beside it (test/bench/nginx/). */
export interface Baselines {
  plain?: PlainServer[];
  /** Ports of fast fixture origins (a small body for every request). */
  fixtureOrigins?: number[];
  /** The fixture origins answer `Vary: *`, which nginx never stores (the edge's own proxy_no_cache is still evaluated). */
  fixtureNoStore?: boolean;
  /** The edge writes its logs (access log, metrics log): for edge-against-edge comparisons. */
  logs?: boolean;
  /** Stream servers whose njs filter only forwards (test/bench/nginx/forward.js), to `upstream`, reading `bufferSize` at a time. */
  forward?: { port: number; upstream: string; bufferSize: string }[];
}

function wrap(b: Baselines): Wrap {
  return {
    templates: join(PACKAGE_ROOT, 'test/bench/nginx'),
    values: (dir) => ({
      vars: { quiet: b.logs ? '' : 'on', wrap_dir: join(dir, 'wrap') },
      lists: {
        plain_servers: (b.plain ?? []).map((p) => ({
          port: String(p.port),
          zone: p.zone,
          cache_dir: join(dir, `${p.zone}-cache`),
          playlist_ttl: p.playlistTtl ?? '1s',
          sendfile_off: p.sendfileOff ? 'on' : '',
        })),
        fixture_origins: (b.fixtureOrigins ?? []).map((p) => ({ port: String(p), no_store: b.fixtureNoStore ? 'on' : '' })),
        forward_filters: (b.forward ?? []).map((f) => ({ port: String(f.port), upstream: f.upstream, buffer_size: f.bufferSize })),
      },
    }),
  };
}

function benchSettings(settings: Partial<Settings>): Partial<Settings> {
  // Every simulated viewer comes from 127.0.0.1: lift the per-address limit.
  return { worker_processes: '1', http_max_connections_per_address: 65535, ...settings };
}

/** An edge rendered as startBench starts it, for a benchmark that runs nginx itself (under valgrind). */
export function renderBench(settings: Partial<Settings>, baselines: Baselines = {}): Promise<RenderedEdge> {
  return renderEdge(localTarget(), benchSettings(settings), { wrap: wrap(baselines) });
}

export interface Running extends Edge {
  /** CPU seconds the nginx master and its workers have used so far (/proc). */
  cpu(): number;
  /** Resident memory of the workers, bytes (/proc/PID/status VmRSS). */
  workersRss(): number;
}

/**
 * Start an edge (one worker) with `baselines` in its nginx, on the local
 * nginx or a container target (host networking: CPU and memory are read
 * from this machine's /proc, where the container's master is an ordinary
 * process). stop() prints what the error log should not have: a benchmark
 * never fails on it.
 */
export async function startBench(settings: Partial<Settings>, baselines: Baselines = {}, target: Target = localTarget()): Promise<Running> {
  const edge = await startEdge(target, benchSettings(settings), { wrap: wrap(baselines) });
  return {
    ...edge,
    cpu: () => cpuSeconds(edge.masterPid()),
    workersRss: () => workersRss(edge.masterPid()),
    async stop() {
      reportBadLines(edge.dir, edge.errorLog());
      await edge.stop();
    },
  };
}

export function reportBadLines(dir: string, log: string): void {
  const bad = badLines(log);
  if (bad.length) console.error(`nginx error log (${dir}):\n${bad.join('\n')}`);
}
