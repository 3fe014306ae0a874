/**
 * node-media-server as the origin (issue 15: a peer nobody here wrote), on
 * every target: ffmpeg publishes through the edge with a key (none: refused,
 * nothing packaged), node-media-server packages HLS and DASH in its own
 * nested layout (`/live/NAME/index.m3u8`, `index1.ts`; `index.mpd`,
 * `init-stream0.m4s`, `chunk-stream0-00001.m4s`), and viewers play both
 * under a link: every file of the stream opens, another stream's stays shut,
 * and the MPD through the edge is about as fresh as direct (it was up to
 * 14.7 s old, against 4.5 s direct, before MPDs got the playlist rule).
 */
import { mkdtempSync, rmSync, chmodSync, existsSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signPublish } from '../../njs/publish.ts';
import { mintToken } from '../../njs/token.ts';
import { publishTestPattern } from '../../tools/demo.ts';
import { get, sleep } from '../support/http.ts';
import { run } from '../support/run.ts';
import { startNodeMediaServer, type NodeMediaServer } from '../support/node-media-server.ts';
import { targets } from '../support/targets.ts';
import { useEdge } from '../support/use-edge.ts';

const { targets: list } = targets();
const PUBLISH_SECRET = 'nms-publish-secret-0123456789';
const PLAY_KEY = 'nms-playback-secret-0123456789';

const uris = (body: Buffer) => body.toString().split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
const dirOf = (url: string) => url.split('?')[0].replace(/[^/]*$/, '');
const publishTime = (mpd: string) => Date.parse(/publishTime="([^"]+)"/.exec(mpd)?.[1] ?? '');

describe('node-media-server as the origin', () => {
  let work: string;
  let nms: NodeMediaServer;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'media-edge-nms-'));
    chmodSync(work, 0o755);
    nms = await startNodeMediaServer(work);
  });
  afterAll(async () => {
    await nms?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe.each(list.map((t, i) => ({ ...t, stream: `cam${i}` })))('through the edge on $name', (target) => {
    let ffmpeg: ChildProcess;
    const key = () => {
      const exp = Math.floor(Date.now() / 1000) + 600;
      return `${target.stream}?exp=${exp}&sig=${signPublish(PUBLISH_SECRET, 'live', target.stream, exp, 'publish')}`;
    };
    const token = () => (mintToken({ exp: Math.floor(Date.now() / 1000) + 600, path: `/live/${target.stream}/*`, kid: '1' }, PLAY_KEY) as { token: string }).token;
    /** The link's directory for the stream (path mode: the token's request is redirected under it). */
    const linkFor = async (file: string) => {
      const entry = await get(`${relay.edge.url}/live/${target.stream}/${file}?me_token=${token()}`);
      expect(entry.status).toBe(302);
      return new URL(entry.headers.location as string, relay.edge.url).toString();
    };

    const relay = useEdge(target, () => ({
      origins: [{ name: 'nms', http: `127.0.0.1:${nms.httpPort}`, rtmp: `127.0.0.1:${nms.rtmpPort}` }],
      rtmp_auth: { live: { mode: 'hmac', secrets: [PUBLISH_SECRET] } },
      playback_auth: { live: { scheme: 'hmac', keys: { '1': PLAY_KEY } } },
    }), { expected: [/upstream prematurely closed/], moreLogs: () => nms.log() });
    beforeAll(async () => {
      ffmpeg = publishTestPattern(`rtmp://127.0.0.1:${relay.edge.rtmpPort}/live/${key()}`, { size: '160x120', seconds: 60 });
      await nms.ready('live', target.stream, 2, 30000);
    }, 60_000);
    afterAll(async () => {
      ffmpeg?.kill('SIGKILL');
    });

    it('publishes with a key; without one ffmpeg is refused and node-media-server packages nothing', async () => {
      const refused = await run(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25', '-t', '3',
        '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'flv', `rtmp://127.0.0.1:${relay.edge.rtmpPort}/live/${target.stream}-nokey`], 20000);
      expect(refused.code).not.toBe(0);
      expect(relay.edge.errorLog()).toContain(`deny app=live stream=${target.stream}-nokey`);
      expect(existsSync(join(work, 'media/live', `${target.stream}-nokey`))).toBe(false);
    });

    it('HLS under a link: the playlist and its segments are one stream; another stream stays shut', async () => {
      const to = await linkFor('index.m3u8');
      const list = await get(to);
      expect(list.status).toBe(200);
      const segs = uris(list.body);
      expect(segs.length).toBeGreaterThan(0);
      const last = segs[segs.length - 1];
      expect(last).toMatch(/^index\d+\.ts(\?|$)/);
      const seg = await get(dirOf(to) + last);
      expect(seg.status).toBe(200);
      expect(seg.body[0]).toBe(0x47); // an MPEG-TS packet
      const other = await get(dirOf(to).replace(`/live/${target.stream}/`, '/live/other/') + last);
      expect(other.status).toBe(403);
    });

    it('DASH under a link: the MPD, its init and media segments; the MPD is about as fresh as direct', async () => {
      const to = await linkFor('index.mpd');
      const mpd = await get(to);
      expect(mpd.status).toBe(200);
      const text = mpd.body.toString();
      expect(text).toContain('type="dynamic"');
      const init = await get(dirOf(to) + 'init-stream1.m4s');
      expect(init.status).toBe(200);
      expect(init.body.subarray(4, 8).toString()).toBe('ftyp');
      const numbers = [...text.matchAll(/<S t="\d+" d="\d+"(?: r="(\d+)")?/g)];
      expect(numbers.length).toBeGreaterThan(0);
      const chunk = await get(dirOf(to) + 'chunk-stream1-00001.m4s');
      expect([200, 404]).toContain(chunk.status); // the first may have left the window
      // How old is the MPD a viewer gets (now less its publishTime)? Through
      // the edge and direct, side by side, over a few of its updates.
      const age = { via: 0, direct: 0 };
      for (let i = 0; i < 16; i++) {
        const [via, direct] = await Promise.all([get(to), get(`http://127.0.0.1:${nms.httpPort}/live/${target.stream}/index.mpd`)]);
        expect(via.status).toBe(200);
        const now = Date.now();
        age.via = Math.max(age.via, now - publishTime(via.body.toString()));
        age.direct = Math.max(age.direct, now - publishTime(direct.body.toString()));
        await sleep(500);
      }
      // Its minimumUpdatePeriod is 6 s: the edge keeps a copy for half that
      // less a second (2 s), so it is at most that much older than direct,
      // plus one sampling step (seen: 1.5-2.5 s older; it was 10 s older).
      expect(age.via, JSON.stringify(age)).toBeLessThanOrEqual(age.direct + 3000);
    }, 30_000);
  });
});
