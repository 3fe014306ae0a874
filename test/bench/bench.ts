/**
 * `npm run bench`: the edge against a plain nginx proxy_cache, side by side in
 * one run and in the same nginx process (two servers, alternating rounds), so
 * the ratios are measured under the same machine load.
 *
 *   - cache-hit segment (200 KB) and cache-hit playlist: requests/s and p99
 *     latency (wrk), target edge >= 90% of plain;
 *   - 200 concurrent clients fetching one new segment: origin requests,
 *     target exactly 1 for the edge.
 *
 * Needs wrk (apt-get install wrk). Prints a table; never fails on numbers.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../tools/demo.ts';
import { startNginx, waitHealthy } from '../../tools/nginx.ts';
import { render, writeRendered } from '../../tools/render.ts';
import { validate } from '../../tools/settings.ts';
import { get } from '../support/http.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';

const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 32;

interface WrkResult {
  rps: number;
  p99ms: number;
}

/** wrk in a child process; async, because the test origin lives in this process. */
async function wrk(url: string): Promise<WrkResult> {
  const r = await promisify(execFile)('wrk', ['-t2', `-c${CONNECTIONS}`, `-d${ROUND_SECONDS}s`, '--latency', url], { encoding: 'utf8' });
  if (process.env.BENCH_DEBUG) console.error(url, r.stdout);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const m = /\s99%\s+([\d.]+)(us|ms|s)/.exec(r.stdout);
  const p99ms = m ? Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[m[2]] : NaN;
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout);
  if (non2xx) throw new Error(`wrk saw ${non2xx[1]} error responses from ${url}`);
  return { rps, p99ms };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** A plain proxy_cache server with no njs at all, in the same nginx. */
function plainServer(port: number, cacheDir: string): string {
  return `
    proxy_cache_path ${cacheDir} levels=1:2 keys_zone=plain:10m max_size=1g inactive=10m use_temp_path=off;
    server {
        listen 127.0.0.1:${port} reuseport;
        access_log off;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_ignore_headers Cache-Control Expires;
        proxy_cache plain;
        proxy_cache_key $uri$is_args$args;
        location ~ \\.m3u8$ {
            proxy_cache_valid 200 1s;
            proxy_pass http://media_edge_origin;
        }
        location / {
            proxy_cache_valid 200 1d;
            proxy_pass http://media_edge_origin;
        }
    }
`;
}

async function main(): Promise<void> {
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is missing: apt-get install wrk');
  const dir = mkdtempSync(join(tmpdir(), 'media-edge-bench-'));
  chmodSync(dir, 0o755);
  const origin = await new WowzaOrigin({ segmentSeconds: 2, window: 4, segmentBytes: 200 * 1024, sessions: false }).start();
  const edgePort = await freePort();
  const plainPort = await freePort();
  const v = validate({
    listen_http: `127.0.0.1:${edgePort}`,
    listen_rtmp: '',
    origins: [{ name: 'origin', http: origin.address }],
    worker_processes: '1',
    playlist_ttl: '1s',
    ...(process.getuid?.() === 0 ? { user: 'root' } : {}),
  });
  if (!v.ok) throw new Error(v.errors.join('\n'));
  const confDir = join(dir, 'conf');
  const files = render(v.value, { baseDir: dir, confDir });
  // Both servers share the process, the origin upstream and the workers.
  files['nginx.conf'] = files['nginx.conf'].replace(/(\n\s*include [^\n]*media-edge-http\.conf;\n)/, `$1${plainServer(plainPort, join(dir, 'plain-cache'))}`);
  // Access logging costs the same on both sides only if both do it: turn ours off.
  files['media-edge-server.conf'] = files['media-edge-server.conf'].replace(/access_log [^;]+;/, 'access_log off;');
  writeRendered(files, confDir, v.value, dir);
  const errorLog = join(dir, 'state/logs/error.log');
  const nginx = startNginx(join(confDir, 'nginx.conf'), join(dir, 'state'), errorLog);
  const rows: string[][] = [];
  try {
    await waitHealthy(`http://127.0.0.1:${edgePort}/health`, nginx, errorLog);
    const edge = `http://127.0.0.1:${edgePort}`;
    const plain = `http://127.0.0.1:${plainPort}`;
    const seg = `/live/bench/media_b800000_${origin.liveEdge()}.ts`;
    const pl = '/live/bench/chunklist_b800000.m3u8';
    for (const base of [edge, plain]) for (const p of [seg, pl]) await get(base + p); // warm

    for (const [label, path] of [['cache-hit segment (200 KB)', seg], ['cache-hit playlist', pl]] as const) {
      const e: WrkResult[] = [];
      const p: WrkResult[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        e.push(await wrk(edge + path));
        p.push(await wrk(plain + path));
      }
      const er = median(e.map((x) => x.rps));
      const pr = median(p.map((x) => x.rps));
      const ratio = er / pr;
      rows.push([`${label}: requests/s`, er.toFixed(0), pr.toFixed(0), `${(ratio * 100).toFixed(1)}%`, '>= 90%', ratio >= 0.9 ? 'ok' : 'MISSED']);
      const el = median(e.map((x) => x.p99ms));
      const pl99 = median(p.map((x) => x.p99ms));
      rows.push([`${label}: p99 latency ms`, el.toFixed(2), pl99.toFixed(2), `${((el / pl99) * 100).toFixed(1)}%`, '', '']);
    }

    // 200 viewers miss on the same brand-new segment at once.
    const counts: number[] = [];
    for (const base of [edge, plain]) {
      const n = origin.liveEdge() + 1; // not published yet: wait until it is
      while (origin.liveEdge() < n) await new Promise((r) => setTimeout(r, 50));
      const path = `/live/bench/media_b400000_${n}.ts${base === plain ? '?plain' : ''}`;
      origin.faults = [{ match: /\.ts$/, delayMs: 300 }];
      const before = origin.count(/\.ts$/);
      const res = await Promise.all(Array.from({ length: 200 }, () => get(base + path)));
      origin.faults = [];
      if (res.some((r) => r.status !== 200)) throw new Error(`${base}: not every concurrent request got 200`);
      counts.push(origin.count(/\.ts$/) - before);
    }
    rows.push(['origin requests, 200 clients on one new segment', String(counts[0]), String(counts[1]), '', '== 1', counts[0] === 1 ? 'ok' : 'MISSED']);
  } finally {
    await nginx.stop();
    await origin.stop();
    const bad = readFileSync(errorLog, 'utf8').split('\n').filter((l) => /\[(alert|crit|emerg)\]|js exception/.test(l));
    if (bad.length) console.error(`nginx error log:\n${bad.join('\n')}`);
    rmSync(dir, { recursive: true, force: true });
  }

  const head = ['metric', 'edge', 'plain proxy_cache', 'edge/plain', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  console.log(`\nnjs-media-edge benchmark (${ROUNDS} alternating rounds of ${ROUND_SECONDS}s, wrk -c${CONNECTIONS}, 1 worker; medians)`);
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
}

main().catch((e) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(1);
});
