/**
 * Live DASH through the edge as players see it: dash.js and shaka-player in
 * Debian's Chromium (playwright-core) play nginx-rtmp's live DASH (flat
 * layout, real H.264/AAC from ffmpeg) through the edge for more than 20 s,
 * one after the other, and once straight from the origin for comparison:
 * through the edge each plays 20 s and stalls no more than direct.
 */
import { createServer, get as httpGet, type Server } from 'node:http';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoOrigin } from '../../tools/demo.ts';
import { startFlatStream, type FlatStream } from '../support/flat-stream.ts';
import { PACKAGE_ROOT } from '../../tools/paths.ts';
import { launchPlayers } from '../support/browser.ts';
import { sleep } from '../support/http.ts';
import { targets } from '../support/targets.ts';
import { useEdge } from '../support/use-edge.ts';

const { targets: list } = targets();

/** One page per player; what happens is kept in window.__player. */
const page = (player: 'dashjs' | 'shaka') => `<!doctype html><html><body><video id="v" muted autoplay playsinline></video>
<script src="/${player}.js"></script><script>
const s = { playing: false, waitingAfterPlay: 0, errors: [] };
window.__player = s;
const v = document.getElementById('v');
v.addEventListener('playing', () => { s.playing = true; });
v.addEventListener('waiting', () => { if (s.playing) s.waitingAfterPlay++; });
const src = new URLSearchParams(location.search).get('src');
${player === 'dashjs'
    ? `const p = dashjs.MediaPlayer().create();
p.on(dashjs.MediaPlayer.events.ERROR, (e) => s.errors.push('error ' + JSON.stringify(e.error && e.error.code)));
// Autoplay by dash.js itself: a v.play() of ours before it has attached
// its MediaSource restarts resource selection, and dash.js then stops for
// good after 5-8 s (seen direct from nginx-rtmp as well as through the edge).
p.initialize(v, src, true);`
    : `shaka.polyfill.installAll();
const p = new shaka.Player();
p.attach(v).then(() => p.load(src)).catch((e) => s.errors.push('load ' + e.code));
p.addEventListener('error', (e) => s.errors.push('error ' + e.detail.code));
v.play().catch(() => {});`}
</script></body></html>`;

interface Played { played: number; waitingAfterPlay: number; errors: string[] }

describe('live DASH players in Chromium, through the edge and direct', () => {
  let stream: FlatStream;
  let origin: DemoOrigin;
  let work: string;
  let site: Server;
  let siteUrl = '';
  let browser: Browser;
  let direct: Record<string, Played> = {};

  /**
   * Each player on `mpd` for 22 s, one after the other: two cores also run
   * nginx-rtmp, ffmpeg, the edge and another test file, and two players
   * decoding at once made a player wait for CPU, not for the edge.
   */
  const playEach = async (mpd: string): Promise<Record<string, Played>> => {
    const out: Record<string, Played> = {};
    for (const player of ['dashjs', 'shaka'] as const) {
      const p = await browser.newPage();
      try {
        await p.goto(`${siteUrl}/${player}?src=${encodeURIComponent(mpd)}`);
        await p.waitForFunction('window.__player.playing', null, { timeout: 30_000 });
        const currentTime = async () => Number(await p.evaluate("document.getElementById('v').currentTime"));
        const t0 = await currentTime();
        await sleep(22_000);
        const state = (await p.evaluate('window.__player')) as { waitingAfterPlay: number; errors: string[] };
        out[player] = { played: (await currentTime()) - t0, waitingAfterPlay: state.waitingAfterPlay, errors: state.errors };
      } finally {
        await p.close();
      }
    }
    return out;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'media-edge-dash-'));
    chmodSync(work, 0o755);
    stream = await startFlatStream(work, { size: '320x240', seconds: 600 });
    origin = stream.origin;
    await sleep(6000); // a few fragments, as a viewer arriving later finds
    const scripts: Record<string, Buffer> = {
      '/dashjs.js': readFileSync(join(PACKAGE_ROOT, 'node_modules/dashjs/dist/modern/umd/dash.all.min.js')),
      '/shaka.js': readFileSync(join(PACKAGE_ROOT, 'node_modules/shaka-player/dist/shaka-player.compiled.js')),
    };
    site = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path.startsWith('/origin/')) {
        // Same-origin for the page: the direct run reads nginx-rtmp through
        // this pass-through (nginx-rtmp's server sends no CORS headers).
        httpGet(`http://127.0.0.1:${origin.httpPort}${path.slice('/origin'.length)}`, (o) => {
          res.writeHead(o.statusCode ?? 502, { 'Content-Type': o.headers['content-type'] ?? 'application/octet-stream', 'Cache-Control': 'no-store' });
          o.pipe(res);
        }).on('error', () => res.writeHead(502).end());
        return;
      }
      if (scripts[path]) res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(scripts[path]);
      else res.writeHead(200, { 'Content-Type': 'text/html' }).end(page(path === '/shaka' ? 'shaka' : 'dashjs'));
    });
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', () => r()));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    browser = await launchPlayers();
    direct = await playEach(`${siteUrl}/origin/flat/cam.mpd`);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => site?.close(r));
    await stream?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('plays direct (the baseline): both players 20 s', () => {
    for (const p of ['dashjs', 'shaka']) {
      expect(direct[p].played, p).toBeGreaterThanOrEqual(20);
      expect(direct[p].errors, p).toEqual([]);
    }
  });

  describe.each(list)('through the edge on $name', (target) => {
    const through = useEdge(target, () => ({ origins: [{ name: 'nginx-rtmp', http: `127.0.0.1:${origin.httpPort}` }] }), {
      expected: [/upstream prematurely closed/],
      moreLogs: () => `direct: ${JSON.stringify(direct)}`,
    });

    it('dash.js and shaka-player play 20 s, as smoothly as direct', async () => {
      const via = await playEach(`${through.edge.url}/flat/cam.mpd`);
      for (const p of ['dashjs', 'shaka']) {
        expect(via[p].played, p).toBeGreaterThanOrEqual(20);
        // Two waits of slack for a busy machine (seen in CI: shaka through
        // the Debian 12 container waited 3 times where direct it waited 0
        // or 1, twice); the stale manifests this guards against made shaka
        // wait every few seconds, and stall.
        expect(via[p].waitingAfterPlay, p).toBeLessThanOrEqual(direct[p].waitingAfterPlay + 2);
        expect(via[p].errors, p).toEqual([]);
      }
    }, 120_000);
  });
});
