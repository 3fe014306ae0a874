/**
 * node-media-server (npm, 2.x: the line that packages HLS and DASH) as an
 * origin nobody here wrote: test/support/node-media-server.cjs runs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../tools/demo.ts';
import { get, sleep } from './http.ts';

export interface NodeMediaServer {
  rtmpPort: number;
  httpPort: number;
  /** What it printed, for a failing test's report. */
  log(): string;
  /** Wait until `/<app>/<name>/` has an HLS playlist listing `fragments` and an MPD. */
  ready(app: string, name: string, fragments: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startNodeMediaServer(dir: string): Promise<NodeMediaServer> {
  const rtmpPort = await freePort();
  const httpPort = await freePort();
  const root = join(dir, 'media');
  mkdirSync(root, { recursive: true });
  let out = '';
  const proc: ChildProcess = spawn(process.execPath, [join(import.meta.dirname, 'node-media-server.cjs'), String(rtmpPort), String(httpPort), root], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own group, so that stop() also ends the ffmpeg it runs per stream.
    detached: true,
  });
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const nms: NodeMediaServer = {
    rtmpPort,
    httpPort,
    log: () => out,
    async ready(app, name, fragments, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hls = await get(`http://127.0.0.1:${httpPort}/${app}/${name}/index.m3u8`).catch(() => null);
        const mpd = await get(`http://127.0.0.1:${httpPort}/${app}/${name}/index.mpd`).catch(() => null);
        const n = hls?.status === 200 ? hls.body.toString().split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')).length : 0;
        if (n >= fragments && mpd?.status === 200) return;
        if (Date.now() > deadline) throw new Error(`node-media-server did not package ${app}/${name} in ${timeoutMs} ms:\n${out}`);
        await sleep(500);
      }
    },
    async stop() {
      if (proc.exitCode === null && proc.pid) process.kill(-proc.pid, 'SIGKILL');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
    },
  };
  // Up once its HTTP server answers.
  const deadline = Date.now() + 15000;
  while ((await get(`http://127.0.0.1:${httpPort}/`).catch(() => null)) === null) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`node-media-server did not start:\n${out}`);
    await sleep(200);
  }
  return nms;
}
