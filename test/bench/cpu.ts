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
  if (spawnSync('valgrind', ['--version']).error) {
    rows.push([label, 'valgrind missing', '', '', '', '']);
    return;
  }
  const origin = await new WowzaOrigin({ segmentSeconds: 60, window: 4, segmentBytes: 1024, sessions: false }).start();
  const plainPort = await freePort();
  const r = await renderBench({ origins: [{ name: 'origin', http: origin.address }], live_playlist_ttl_max: '29s' }, { plain: [{ port: plainPort, zone: 'plain', playlistTtl: '30s' }] });
  const out = join(r.dir, 'callgrind.out');
  const proc = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`, NGINX_BIN, '-p', r.stateDir, '-e', r.errorLog, '-c', r.conf, '-g', 'daemon off; master_process off;'], { stdio: 'ignore' });
  const control = (...args: string[]) => spawnSync('callgrind_control', [...args, String(proc.pid)], { encoding: 'utf8' });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const hits = async (url: string, n: number) => {
    for (let i = 0; i < n; i++) if ((await playerGet(agent, url)).status !== 200) throw new Error(`cpu: ${url} did not answer 200`);
  };
  const N = 1000;
  const pl = '/live/bench/chunklist_b800000.m3u8';
  try {
    await waitHealthy(`${r.url}/health`, null, r.errorLog, 60000);
    await hits(`${r.url}${pl}`, 50);
    await hits(`http://127.0.0.1:${plainPort}${pl}`, 50);
    control('-i', 'on');
    await hits(`${r.url}${pl}`, N);
    control('-d', 'edge');
    await hits(`http://127.0.0.1:${plainPort}${pl}`, N);
    control('-d', 'plain');
    const total = (f: string) => Number(/^(?:summary|totals): (\d+)/m.exec(readFileSync(f, 'utf8'))?.[1]);
    const e = total(`${out}.1`) / N;
    const p = total(`${out}.2`) / N;
    rows.push([label, e.toFixed(0), p.toFixed(0), pct(e / p), '', '']);
  } finally {
    agent.destroy();
    proc.kill('SIGQUIT');
    await new Promise((res) => (proc.exitCode !== null ? res(null) : proc.once('exit', res)));
    reportBadLines(r.dir, readFileSync(r.errorLog, 'utf8'));
    await origin.stop();
    rmSync(r.dir, { recursive: true, force: true });
  }
}
