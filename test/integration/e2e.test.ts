/**
 * End to end with real peers: ffmpeg publishes over RTMP through the edge's
 * stream port to an nginx-rtmp origin (the Wowza stand-in), which packages
 * HLS; the edge serves that HLS, and ffprobe decodes what comes out.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishTestPattern } from '../../tools/demo.ts';
import { useDemoOrigin } from '../support/demo-origin.ts';
import { get, sleep } from '../support/http.ts';
import { targets } from '../support/targets.ts';
import { useEdge } from '../support/use-edge.ts';

const { targets: list } = targets();

function ffprobe(args: string[]): { ok: boolean; out: string; json: any } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-of', 'json', ...args], { encoding: 'utf8', timeout: 30000 });
  let json: any = null;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    /* reported below */
  }
  return { ok: r.status === 0, out: r.stdout + r.stderr, json };
}

describe.each(list)('RTMP in, HLS out, through the edge on $name', (target) => {
  let ffmpeg: ChildProcess;
  let ffmpegErr = '';

  const demo = useDemoOrigin('e2e');
  const relay = useEdge(target, () => ({
    origins: [demo.entry()],
  }), { moreLogs: () => `--- ffmpeg ---\n${ffmpegErr}` });
  beforeAll(() => {
    ffmpeg = publishTestPattern(`rtmp://127.0.0.1:${relay.edge.rtmpPort}/live/e2e`, { size: '320x240', seconds: 40 });
    ffmpeg.stderr?.on('data', (d: Buffer) => (ffmpegErr += d.toString()));
  });
  afterAll(() => {
    ffmpeg?.kill('SIGKILL');
  });
  const playlist = () => `${relay.edge.url}/live/e2e/playlist.m3u8`;

  it('serves the published stream as decodable HLS, segments cached', async () => {
    const { edge } = relay;
    // Wait until the origin has packaged at least three segments.
    let text = '';
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      const r = await get(playlist());
      text = r.body.toString();
      if (r.status === 200 && (text.match(/\.ts/g) ?? []).length >= 3) break;
      await sleep(500);
    }
    expect(text).toMatch(/#EXTM3U/);
    const segs = text.split('\n').filter((l) => /\.ts(\?|$)/.test(l));
    expect(segs.length).toBeGreaterThanOrEqual(3);

    // The playlist through the edge describes H.264 video and AAC audio.
    const streams = ffprobe(['-show_entries', 'stream=codec_type,codec_name', playlist()]);
    expect(streams.ok, streams.out).toBe(true);
    const codecs = streams.json.streams.map((s: any) => `${s.codec_type}:${s.codec_name}`).sort();
    expect(codecs).toEqual(['audio:aac', 'video:h264']);

    // A segment fetched through the edge decodes into real frames, and a
    // second viewer gets it from the cache.
    const segUrl = `${edge.url}/live/e2e/${segs[segs.length - 2]}`;
    const frames = ffprobe(['-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', segUrl]);
    expect(frames.ok, frames.out).toBe(true);
    expect(Number(frames.json.streams[0].nb_read_frames)).toBeGreaterThan(10);
    const again = await get(segUrl);
    expect(again.status).toBe(200);
    expect(again.headers['x-cache-status']).toBe('HIT');
  });

  it('relays RTMP to the origin (the stream access log names the origin)', async () => {
    const { edge } = relay;
    ffmpeg.kill('SIGINT');
    await new Promise((r) => ffmpeg.once('exit', r));
    let log = '';
    for (let i = 0; i < 30 && !log.includes(`upstream=127.0.0.1:${demo.origin.rtmpPort}`); i++) {
      await sleep(200);
      log = (await import('node:fs')).readFileSync(join(edge.dir, 'state/logs/rtmp-access.log'), 'utf8');
    }
    expect(log).toContain(`upstream=127.0.0.1:${demo.origin.rtmpPort}`);
    expect(log).toMatch(/njs=\d+\.\d+\.\d+/);
    expect(edge.badLogLines()).toEqual([]);
  });
});
