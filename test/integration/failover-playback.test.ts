/**
 * A real player keeps playing while the origin of its stream is killed and
 * restarted mid-stream: ffmpeg reads the live HLS through the edge, three
 * origins serve the same real media, and the one the stream hashes to dies.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ascii, buildRing, crc32, encodeRing, ringOrder } from '../../njs/ring.ts';
import { weightedOrder } from '../../njs/routing.ts';
import { sleep } from '../support/http.ts';
import { targets } from '../support/targets.ts';
import { useEdge } from '../support/use-edge.ts';
import { makeRealSegments, WowzaOrigin } from '../support/wowza-origin.ts';

const { targets: list } = targets();
const media = mkdtempSync(join(tmpdir(), 'media-edge-segments-'));
chmodSync(media, 0o755);
afterAll(() => rmSync(media, { recursive: true, force: true }));

describe.each(list)('a viewer through an origin failure on $name', (target) => {
  let origins: WowzaOrigin[];
  beforeAll(async () => {
    makeRealSegments(media, 45, 1);
    origins = await Promise.all([0, 1, 2].map(() => new WowzaOrigin({ sessions: false, segmentSeconds: 1, window: 4, mediaDir: media }).start()));
  });
  afterAll(async () => {
    await Promise.all((origins ?? []).map((o) => o.stop()));
  });
  const viewer = useEdge(target, () => ({
    origins: origins.map((o, i) => ({ name: `v${i}`, http: o.address })),
    origin_connect_timeout: '1s',
    origin_cooldown: '2s',
    playlist_ttl: '1s',
  }));

  it('ffmpeg plays 15 s of live HLS without a failed segment while its origin dies and returns', async () => {
    const { edge } = viewer;
    // The stream's origin: the router's weighted choice where it runs (njs
    // >= 0.8.1), else nginx's ring.
    const ring = { data: encodeRing(buildRing(origins.map((o) => ({ address: o.address, weight: 1 })))), servers: 3 };
    const victim = target.njsShared
      ? weightedOrder(crc32(ascii('live/viewer')), origins.map((_, i) => crc32(ascii(`v${i}`))), [1, 1, 1])[0]
      : ringOrder(ring, Buffer.from('live/viewer'))[0];
    const url = `${edge.url}/live/viewer/chunklist_b800000.m3u8`;
    let log = '';
    const player = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-i', url, '-t', '15', '-map', '0', '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] });
    player.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const done = new Promise<number | null>((r) => player.once('exit', r));

    await sleep(4000);
    const before = origins[victim].count(/\.ts$/);
    const port = origins[victim].port;
    await origins[victim].stop(); // killed mid-stream, connections and all
    await sleep(5000);
    await origins[victim].start(port); // back; takes its streams again after the cooldown
    const code = await done;

    expect(before, 'the stream was on the victim origin before it died').toBeGreaterThan(0);
    expect(log).not.toMatch(/Failed to open segment|Error|error|Invalid data/);
    expect(code).toBe(0);
  }, 60_000);
});
