/**
 * Real players through the edge: hls.js and video.js (its own HLS engine,
 * VHS) in Debian's Chromium (driven by playwright-core) play, side by side,
 * a live stream of real H.264/AAC segments from the Wowza-like origin
 * (session app: chunklist_w{sid}) through the edge for more than 20 s,
 * without a stall, while the origin's request log shows one request per
 * segment (both players and the prefetch share the cache). Runs on every target (the browser is on this host;
 * container edges listen on host networking).
 */
import { createServer, type Server } from 'node:http';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../tools/paths.ts';
import { launchPlayers } from '../support/browser.ts';
import { sleep } from '../support/http.ts';
import { targets } from '../support/targets.ts';
import { useEdge } from '../support/use-edge.ts';
import { makeRealSegments, WowzaOrigin } from '../support/wowza-origin.ts';

const { targets: list } = targets();
const media = mkdtempSync(join(tmpdir(), 'media-edge-player-'));
chmodSync(media, 0o755);

/**
 * One page per player, on a muted, autoplaying video; what happens is kept in
 * window.__player, and window.__time() reads the position. video.js plays
 * HLS with its own engine (VHS, mux.js), not hls.js.
 */
const STATE = `const s = { playing: false, waitingAfterPlay: 0, errors: [], stalls: 0, mse: MediaSource.isTypeSupported('video/mp4; codecs="avc1.42c01e, mp4a.40.2"') };
window.__player = s;
const src = new URLSearchParams(location.search).get('src');`;
const PAGES = {
  hlsjs: `<!doctype html><html><body><video id="v" muted autoplay playsinline></video>
<script src="/hls.js"></script><script>
${STATE}
const v = document.getElementById('v');
window.__time = () => v.currentTime;
v.addEventListener('playing', () => { s.playing = true; });
v.addEventListener('waiting', () => { if (s.playing) s.waitingAfterPlay++; });
const hls = new Hls({ lowLatencyMode: false });
hls.on(Hls.Events.ERROR, (_e, d) => {
  if (d.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) s.stalls++;
  s.errors.push((d.fatal ? 'fatal ' : '') + d.details);
});
hls.loadSource(src);
hls.attachMedia(v);
v.play().catch((e) => s.errors.push('play: ' + e.message));
</script></body></html>`,
  videojs: `<!doctype html><html><body><video id="v" class="video-js" muted autoplay playsinline></video>
<script src="/video.js"></script><script>
${STATE}
const p = videojs('v', { autoplay: 'muted', muted: true, html5: { vhs: { overrideNative: true } } });
window.__time = () => p.currentTime();
p.on('playing', () => { s.playing = true; });
p.on('waiting', () => { if (s.playing) s.waitingAfterPlay++; });
p.on('error', () => s.errors.push('fatal ' + (p.error() ? p.error().code + ' ' + p.error().message : '?')));
p.src({ src: src, type: 'application/x-mpegURL' });
</script></body></html>`,
};
type Player = keyof typeof PAGES;

describe.each(list)('hls.js and video.js in Chromium through the edge on $name', (target) => {
  let origin: WowzaOrigin;
  let site: Server;
  let siteUrl = '';
  let browser: Browser;

  beforeAll(async () => {
    makeRealSegments(media, 30, 2);
    origin = await new WowzaOrigin({ sessions: true, segmentSeconds: 2, window: 4, mediaDir: media }).start();
  });
  afterAll(async () => {
    await origin?.stop();
  });
  const players = useEdge(target, () => ({ origins: [{ name: 'wowza', http: origin.address }] }));
  beforeAll(async () => {
    const scripts: Record<string, Buffer> = {
      '/hls.js': readFileSync(join(PACKAGE_ROOT, 'node_modules/hls.js/dist/hls.min.js')),
      '/video.js': readFileSync(join(PACKAGE_ROOT, 'node_modules/video.js/dist/video.min.js')),
    };
    site = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (scripts[path]) res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(scripts[path]);
      else res.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGES[path === '/videojs' ? 'videojs' : 'hlsjs']);
    });
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', () => r()));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    browser = await launchPlayers();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => site?.close(r));
  });

  it('both play the live stream side by side for more than 20 s without a stall, one origin request per segment', async () => {
    const results = await Promise.all((['hlsjs', 'videojs'] as Player[]).map(async (player) => {
      const page = await browser.newPage();
      try {
        await page.goto(`${siteUrl}/${player}?src=${encodeURIComponent(`${players.edge.url}/live/player/playlist.m3u8`)}`);
        // Page expressions as strings: this tsconfig has Node's types, not the DOM's.
        expect(await page.evaluate('window.__player.mse'), 'Chromium plays H.264/AAC in MSE').toBe(true);
        await page.waitForFunction('window.__player.playing', null, { timeout: 20_000 });
        const currentTime = async () => Number(await page.evaluate('window.__time()'));
        const t0 = await currentTime();
        await sleep(22_000);
        const played = (await currentTime()) - t0;
        const state = (await page.evaluate('window.__player')) as { waitingAfterPlay: number; stalls: number; errors: string[] };
        return { player, played, ...state };
      } finally {
        await page.close();
      }
    }));
    for (const r of results) {
      expect(r.played, r.player).toBeGreaterThanOrEqual(20);
      expect(r.waitingAfterPlay, r.player).toBe(0);
      expect(r.stalls, r.player).toBe(0);
      expect(r.errors.filter((e) => e.startsWith('fatal')), r.player).toEqual([]);
    }
    // Every segment the players (and the edge's prefetch) asked for came from
    // the origin once, whatever session id its name carried.
    const perSegment = new Map<string, number>();
    for (const r of origin.requests) {
      const m = /\/media_(?:w\d+_)?(b\d+_\d+)\.ts/.exec(r.url);
      if (m) perSegment.set(m[1], (perSegment.get(m[1]) ?? 0) + 1);
    }
    expect(perSegment.size).toBeGreaterThanOrEqual(10);
    const twice = [...perSegment].filter(([, n]) => n !== 1);
    // What the origin got for those, should it happen (once in CI, sid-njs): the URLs and their run tags.
    const seen = origin.requests.filter((r) => twice.some(([k]) => r.url.includes(`_${k}.ts`))).map((r) => `${r.time} ${r.method} ${r.url}`);
    expect(twice, seen.join('\n')).toEqual([]);
  }, 90_000);
});

afterAll(() => rmSync(media, { recursive: true, force: true }));
