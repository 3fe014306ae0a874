/**
 * A real player through the edge: hls.js in Debian's Chromium (driven by
 * playwright-core) plays a live stream of real H.264/AAC segments from the
 * Wowza-like origin (session app: chunklist_w{sid}) through the edge for
 * more than 20 s, without a stall, while the origin's request log shows one
 * request per segment. Runs on every target (the browser is on this host;
 * container edges listen on host networking).
 */
import { createServer, type Server } from 'node:http';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { CHROMIUM } from '../../tools/deps.ts';
import { PACKAGE_ROOT } from '../../tools/render.ts';
import { startEdge, dumpLogs, type Edge } from '../support/edge.ts';
import { sleep } from '../support/http.ts';
import { targets } from '../support/targets.ts';
import { makeRealSegments, WowzaOrigin } from '../support/wowza-origin.ts';

const { targets: list } = targets();
const media = mkdtempSync(join(tmpdir(), 'media-edge-player-'));
chmodSync(media, 0o755);

/** The page: hls.js on a muted, autoplaying video; what happens is kept in window.__player. */
const PAGE = `<!doctype html><html><body><video id="v" muted autoplay playsinline></video>
<script src="/hls.js"></script><script>
const s = { playing: false, waitingAfterPlay: 0, errors: [], stalls: 0, mse: MediaSource.isTypeSupported('video/mp4; codecs="avc1.42c01e, mp4a.40.2"') };
window.__player = s;
const v = document.getElementById('v');
v.addEventListener('playing', () => { s.playing = true; });
v.addEventListener('waiting', () => { if (s.playing) s.waitingAfterPlay++; });
const hls = new Hls({ lowLatencyMode: false });
hls.on(Hls.Events.ERROR, (_e, d) => {
  if (d.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) s.stalls++;
  s.errors.push((d.fatal ? 'fatal ' : '') + d.details);
});
hls.loadSource(new URLSearchParams(location.search).get('src'));
hls.attachMedia(v);
v.play().catch((e) => s.errors.push('play: ' + e.message));
</script></body></html>`;

describe.each(list)('hls.js in Chromium through the edge on $name', (target) => {
  let origin: WowzaOrigin;
  let edge: Edge;
  let site: Server;
  let siteUrl = '';
  let browser: Browser;

  beforeAll(async () => {
    makeRealSegments(media, 30, 2);
    origin = await new WowzaOrigin({ sessions: true, segmentSeconds: 2, window: 4, mediaDir: media }).start();
    edge = await startEdge(target, { origins: [{ name: 'wowza', http: origin.address }] });
    const hlsJs = readFileSync(join(PACKAGE_ROOT, 'node_modules/hls.js/dist/hls.min.js'));
    site = createServer((req, res) => {
      if (req.url === '/hls.js') res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(hlsJs);
      else res.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGE);
    });
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', () => r()));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => site?.close(r));
    await edge?.stop();
    await origin?.stop();
  });

  it('plays the live stream for more than 20 s without a stall, one origin request per segment', async () => {
    onTestFailed(() => console.error(dumpLogs(edge)));
    const page = await browser.newPage();
    await page.goto(`${siteUrl}/?src=${encodeURIComponent(`${edge.url}/live/player/playlist.m3u8`)}`);
    // Page expressions as strings: this tsconfig has Node's types, not the DOM's.
    expect(await page.evaluate('window.__player.mse'), 'Chromium plays H.264/AAC in MSE').toBe(true);
    await page.waitForFunction('window.__player.playing', null, { timeout: 20_000 });
    const currentTime = async () => Number(await page.evaluate("document.getElementById('v').currentTime"));
    const t0 = await currentTime();
    await sleep(22_000);
    const played = (await currentTime()) - t0;
    const state = (await page.evaluate('window.__player')) as { waitingAfterPlay: number; stalls: number; errors: string[] };
    await page.close();

    expect(played).toBeGreaterThanOrEqual(20);
    expect(state.waitingAfterPlay).toBe(0);
    expect(state.stalls).toBe(0);
    expect(state.errors.filter((e) => e.startsWith('fatal'))).toEqual([]);
    // Every segment the player (and the edge's prefetch) asked for came from
    // the origin once, whatever session id its name carried.
    const perSegment = new Map<string, number>();
    for (const r of origin.requests) {
      const m = /\/media_(?:w\d+_)?(b\d+_\d+)\.ts/.exec(r.url);
      if (m) perSegment.set(m[1], (perSegment.get(m[1]) ?? 0) + 1);
    }
    expect(perSegment.size).toBeGreaterThanOrEqual(10);
    expect([...perSegment].filter(([, n]) => n !== 1)).toEqual([]);
  }, 90_000);
});

afterAll(() => rmSync(media, { recursive: true, force: true }));
