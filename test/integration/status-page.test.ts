/**
 * The status page (GET /media-edge/) in Debian's Chromium: it renders from
 * the edge alone (no external assets), refreshes by itself, and its numbers
 * are /metrics' numbers. A screenshot is kept in test-results/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../tools/paths.ts';
import { launchPlayers } from '../support/browser.ts';
import { get, sleep } from '../support/http.ts';
import { targets } from '../support/targets.ts';
import { useEdge } from '../support/use-edge.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';

const { targets: list } = targets();
const local = list.filter((t) => t.name === 'local');

describe.each(local)('the status page on $name', (target) => {
  let origin: WowzaOrigin;
  let browser: Browser;
  let players: NodeJS.Timeout | null = null;
  beforeAll(async () => {
    origin = await new WowzaOrigin({ segmentSeconds: 2, window: 4, segmentBytes: 20000 }).start();
  });
  afterAll(() => origin?.stop());
  const h = useEdge(target, () => ({ origins: [{ name: 'wowza', http: origin.address }, { name: 'gone', http: '127.0.0.1:9' }] }), { expected: [/connect\(\) failed/] });
  beforeAll(async () => {
    // 3 players on one stream, 2 on another, each reloading every second.
    const tick = () => {
      for (const [stream, n] of [['pagecam', 3], ['pageother', 2]] as const) {
        for (let i = 0; i < n; i++) {
          const headers = { 'User-Agent': `page-player-${i}` };
          void get(`${h.edge.url}/live/_definst_/${stream}/playlist.m3u8`, { headers }).catch(() => null);
          void get(`${h.edge.url}/live/_definst_/${stream}/media_w1_b800000_${origin.liveEdge()}.ts`, { headers }).catch(() => null);
        }
      }
    };
    tick();
    players = setInterval(tick, 1000);
    browser = await launchPlayers();
  }, 60_000);
  afterAll(async () => {
    if (players) clearInterval(players);
    await browser?.close();
  });

  it('renders origins, streams with their viewers, bandwidth and the hit ratio, as /metrics says, and refreshes by itself', async () => {
    const page = await browser.newPage();
    const outside: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(h.edge.url)) outside.push(r.url());
    });
    try {
      await sleep(1500);
      const resp = await page.goto(`${h.edge.url}/media-edge/`);
      expect(resp?.status()).toBe(200);
      expect(resp?.headers()['content-type']).toContain('text/html');
      // Two reads: bandwidth needs a difference. (Polled from here: the page's
      // CSP allows no eval, which page.waitForFunction would need.)
      const updates = async () => Number(await page.getAttribute('body', 'data-updates'));
      const waitUpdates = async (n: number, ms: number) => {
        const deadline = Date.now() + ms;
        while ((await updates()) < n && Date.now() < deadline) await sleep(200);
        expect(await updates()).toBeGreaterThanOrEqual(n);
      };
      await waitUpdates(2, 20000);
      const text = (await get(`${h.edge.url}/metrics`)).body.toString();
      const value = (name: string) => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
      const cell = (row: string, test: string) => page.textContent(`tr${row} td[data-test="${test}"]`);
      expect(Number(await cell('[data-stream="live/pagecam"]', 'viewers'))).toBe(value('media_edge_stream_viewers{app="live",stream="pagecam"}'));
      expect(Number(await cell('[data-stream="live/pagecam"]', 'viewers'))).toBe(3);
      expect(Number(await cell('[data-stream="live/pageother"]', 'viewers'))).toBe(2);
      expect(await cell('[data-stream="live/pagecam"]', 'bandwidth')).toMatch(/bit\/s$/);
      expect(await page.textContent('#viewers-total')).toBe('5');
      expect(await page.textContent('#hit-ratio')).toMatch(/^\d+\.\d %$/);
      expect(await cell('[data-origin="wowza"]', 'state')).toBe('up');
      expect(await cell('[data-origin="gone"]', 'state')).toBe('down');
      expect(await page.textContent('#build')).toContain('njs ');
      expect(await page.textContent('#error')).toBe('');
      // It refreshes by itself.
      await waitUpdates((await updates()) + 1, 15000);
      mkdirSync(join(PACKAGE_ROOT, 'test-results'), { recursive: true });
      await page.screenshot({ path: join(PACKAGE_ROOT, 'test-results', 'status-page.png'), fullPage: true });
      expect(outside).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it('is for the status_allow addresses only, like /metrics', async () => {
    const r = await get(`${h.edge.url}/media-edge/`, { localAddress: '127.0.0.2' });
    expect(r.status).toBe(403);
    expect((await get(`${h.edge.url}/metrics`, { localAddress: '127.0.0.2' })).status).toBe(403);
  });
});
