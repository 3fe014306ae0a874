/**
 * nginx-rtmp packaging a live test stream in its flat layout: the demo
 * origin's `flat` application (nginx/examples/demo-origin.conf), fed by
 * ffmpeg, ready once both the HLS playlist lists two fragments and the MPD
 * is there.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, publishTestPattern, startDemoOrigin, type DemoOrigin } from '../../tools/demo.ts';
import { get, sleep } from './http.ts';

export interface FlatStream {
  origin: DemoOrigin;
  ffmpeg: ChildProcess;
  stop(): Promise<void>;
}

/** Start the origin in `work/origin` and publish `flat/{name}` for `seconds`. */
export async function startFlatStream(work: string, opts: { name?: string; size: string; seconds: number }): Promise<FlatStream> {
  const name = opts.name ?? 'cam';
  const origin = await startDemoOrigin(join(work, 'origin'), await freePort(), await freePort());
  const ffmpeg = publishTestPattern(`rtmp://127.0.0.1:${origin.rtmpPort}/flat/${name}`, { size: opts.size, seconds: opts.seconds });
  const stop = async () => {
    ffmpeg.kill('SIGKILL');
    await origin.nginx.stop();
  };
  const deadline = Date.now() + 30000;
  for (;;) {
    const hls = await get(`http://127.0.0.1:${origin.httpPort}/flat/${name}.m3u8`);
    const mpd = await get(`http://127.0.0.1:${origin.httpPort}/flat/${name}.mpd`);
    const fragments = hls.body.toString().split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    if (hls.status === 200 && fragments.length >= 2 && mpd.status === 200) return { origin, ffmpeg, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error('nginx-rtmp did not package the flat stream (HLS and DASH) in 30 s');
    }
    await sleep(500);
  }
}
