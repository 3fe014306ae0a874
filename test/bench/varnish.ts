/**
 * Varnish, the benchmark's second baseline: Debian's varnishd run in the
 * foreground from a directory of its own, with the VCL a competent operator
 * would write for live HLS (test/bench/varnish/edge.vcl). Its CPU is read
 * from /proc as nginx's is: the manager and its child (the cache process,
 * all its threads).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../tools/demo.ts';
import { PACKAGE_ROOT } from '../../tools/paths.ts';
import { fill } from '../../tools/template.ts';
import { get, sleep } from '../support/http.ts';
import { cpuSeconds } from './common.ts';

export interface Varnish {
  url: string;
  /** CPU seconds varnishd (manager and cache child) has used so far. */
  cpu(): number;
  stop(): Promise<void>;
}

/** Debian's varnishd is there (apt-get install varnish). */
export function varnishPresent(): boolean {
  return !spawnSync('varnishd', ['-V']).error;
}

/** Start varnishd in front of `origin` (host:port); resolves once it answers. */
export async function startVarnish(origin: string): Promise<Varnish> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-varnish-'));
  // Started as root, varnishd reads the VCL and works as its own users.
  chmodSync(dir, 0o755);
  const [host, port] = origin.split(':');
  const vcl = join(dir, 'edge.vcl');
  const template = join(PACKAGE_ROOT, 'test/bench/varnish/edge.vcl');
  writeFileSync(vcl, fill(readFileSync(template, 'utf8'), { origin_host: host, origin_port: port }, template));
  const listen = await freePort();
  const proc: ChildProcess = spawn('varnishd', [
    '-F', '-n', join(dir, 'n'), '-a', `127.0.0.1:${listen}`, '-f', vcl, '-s', 'malloc,256m',
    // nginx keeps idle keep-alive connections 65 s (nginx/nginx.conf);
    // Varnish's 5 s would close a player's connection between two reloads
    // of a 6 s playlist, and the next request would race the close.
    '-p', 'timeout_idle=65',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const url = `http://127.0.0.1:${listen}`;
  const stop = async () => {
    if (proc.exitCode === null) {
      const exited = new Promise((res) => proc.once('exit', res));
      proc.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) break;
    if (await get(`${url}/`, { timeoutMs: 500 }).then(() => true, () => false)) {
      return { url, cpu: () => cpuSeconds(proc.pid!), stop };
    }
    await sleep(100);
  }
  await stop();
  throw new Error(`varnishd did not start: ${stderr.trim()}`);
}
