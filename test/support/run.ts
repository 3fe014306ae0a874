/** Run a peer program (ffmpeg, GStreamer, rtmpdump) to its end or a deadline. */
import { spawn } from 'node:child_process';

/** Exit code (null when killed at the deadline), stderr, and how long it ran; `as` another user (needs root). */
export function run(cmdline: string[], timeoutMs: number, as?: { uid: number; gid: number }): Promise<{ code: number | null; log: string; ms: number }> {
  return new Promise((res) => {
    const t0 = Date.now();
    const p = spawn(cmdline[0], cmdline.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], ...as });
    let log = '';
    p.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const kill = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(kill);
      res({ code, log, ms: Date.now() - t0 });
    });
  });
}
