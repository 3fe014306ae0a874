/**
 * cpu: instructions nginx runs per cache-hit playlist, edge vs plain,
 * counted by callgrind (needs valgrind): repeatable on a busy machine,
 * system calls not included.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { freePort } from '../../tools/demo.ts';
import { NGINX_BIN, waitHealthy } from '../../tools/nginx.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';
import { pct, playerGet, renderBench, reportBadLines, type Row } from './common.ts';
import type { RenderedEdge } from '../support/edge.ts';

/**
 * What one cache-hit playlist costs nginx itself, edge vs the plain server,
 * in instructions counted by valgrind's callgrind: a count, not a time, so
 * it is the same on a busy machine and shows the edge's own logic apart from
 * system calls (which callgrind does not count). One nginx process
 * (master_process off) serves both; counting is switched on after warming,
 * and each side's requests are dumped on their own. 60 s segments keep the
 * playlist fresh for the whole run, so every request is a hit.
 */
export async function cpuBench(rows: Row[]): Promise<void> {
  const label = 'cache-hit playlist: instructions per request in nginx (edge vs plain; callgrind)';
  if (!hasValgrind()) {
    rows.push([label, 'valgrind missing', '', '', '', '']);
    return;
  }
  const origin = await new WowzaOrigin({ segmentSeconds: 60, window: 4, segmentBytes: 1024, sessions: false }).start();
  const plainPort = await freePort();
  const pl = '/live/bench/chunklist_b800000.m3u8';
  try {
    const r = await renderBench({ origins: [{ name: 'origin', http: origin.address }], live_playlist_ttl_max: '29s' }, { plain: [{ port: plainPort, zone: 'plain', playlistTtl: '30s' }] });
    const [e, p] = await instructionsPerRequest(r, [`${r.url}${pl}`, `http://127.0.0.1:${plainPort}${pl}`]);
    rows.push([label, e.toFixed(0), p.toFixed(0), pct(e / p), '', '']);
  } finally {
    await origin.stop();
  }
}

export function hasValgrind(): boolean {
  return !spawnSync('valgrind', ['--version']).error;
}

/**
 * Instructions nginx runs per request for each URL in turn, counted by
 * callgrind in one nginx process (master_process off) of the rendered edge
 * `r` (removed afterwards): each URL asked 50 times to warm, then N times
 * counted, each URL's count dumped on its own. Every answer must be 200.
 */
export async function instructionsPerRequest(r: RenderedEdge, urls: string[], n = 1000): Promise<number[]> {
  const out = join(r.dir, 'callgrind.out');
  const proc = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`, NGINX_BIN, '-p', r.stateDir, '-e', r.errorLog, '-c', r.conf, '-g', 'daemon off; master_process off;'], { stdio: 'ignore' });
  const control = (...args: string[]) => spawnSync('callgrind_control', [...args, String(proc.pid)], { encoding: 'utf8' });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const hits = async (url: string, k: number) => {
    for (let i = 0; i < k; i++) if ((await playerGet(agent, url)).status !== 200) throw new Error(`cpu: ${url} did not answer 200`);
  };
  try {
    await waitHealthy(`${r.url}/health`, null, r.errorLog, 60000);
    for (const u of urls) await hits(u, 50);
    control('-i', 'on');
    const counts: number[] = [];
    for (let i = 0; i < urls.length; i++) {
      await hits(urls[i], n);
      const dump = control('-d', `url${i}`);
      if (dump.status !== 0) throw new Error(`cpu: callgrind_control -d failed: ${dump.stderr || dump.stdout}`);
      const count = Number(/^(?:summary|totals): (\d+)/m.exec(readFileSync(`${out}.${i + 1}`, 'utf8'))?.[1]) / n;
      if (!Number.isFinite(count)) throw new Error(`cpu: no instruction count in ${out}.${i + 1}`);
      counts.push(count);
    }
    return counts;
  } finally {
    agent.destroy();
    proc.kill('SIGQUIT');
    await new Promise((res) => (proc.exitCode !== null ? res(null) : proc.once('exit', res)));
    try {
      reportBadLines(r.dir, readFileSync(r.errorLog, 'utf8'));
    } finally {
      rmSync(r.dir, { recursive: true, force: true });
    }
  }
}
