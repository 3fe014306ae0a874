/**
 * `nginx -s reload` under load drops nothing (issue 20, reloads), on every
 * target: 20 HLS viewers keep playing through three reloads without a failed
 * request, an encoder keeps publishing through them (its session stays in
 * the old worker that has it, until it ends), and the metrics count every
 * viewer request of the run.
 */
import { describe, expect, it } from 'vitest';
import { signPublish } from '../../njs/publish.ts';
import { publishTestPattern } from '../../tools/demo.ts';
import { useDemoOrigin } from '../support/demo-origin.ts';
import { get, sleep } from '../support/http.ts';
import { targets } from '../support/targets.ts';
import { useEdge } from '../support/use-edge.ts';

const { targets: list } = targets();
const SECRET = 'reload-publish-secret-01';

describe.each(list)('reloads under load on $name', (target) => {
  const demo = useDemoOrigin('reload');
  const h = useEdge(target, () => ({
    origins: [demo.entry()],
    rtmp_auth: { live: { mode: 'hmac', secrets: [SECRET] } },
  }));

  it('keeps 20 viewers and a publisher going through three reloads, and counts every request', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const encoder = publishTestPattern(`rtmp://127.0.0.1:${h.edge.rtmpPort}/live/reload?exp=${exp}&sig=${signPublish(SECRET, 'live', 'reload', exp)}&kid=1`, { size: '160x120', seconds: 22 });
    const encoded = new Promise<number | null>((res) => encoder.once('exit', (code) => res(code)));
    const playlist = `${h.edge.url}/live/reload/playlist.m3u8`;
    // The stream is on the origin (two segments or more).
    let text = '';
    for (const deadline = Date.now() + 20000; Date.now() < deadline; await sleep(500)) {
      const r = await get(playlist).catch(() => null);
      text = r && r.status === 200 ? r.body.toString() : '';
      if ((text.match(/\.ts/g) ?? []).length >= 2) break;
    }
    expect(text).toMatch(/\.ts/);
    await get(`${h.edge.url}/metrics`);
    const linesBefore = Number(/^media_edge_metrics_log_lines_total (\d+)$/m.exec((await get(`${h.edge.url}/metrics`)).body.toString())![1]);

    let requests = 0;
    const failures: string[] = [];
    let playing = true;
    const viewer = async (i: number) => {
      const headers = { 'User-Agent': `reload-viewer-${i}` };
      while (playing) {
        const pl = await get(playlist, { headers }).catch((e: Error) => ({ status: 0, body: Buffer.from(e.message) }));
        requests++;
        if (pl.status !== 200) failures.push(`playlist ${pl.status} ${pl.body.toString().slice(0, 80)}`);
        const seg = pl.status === 200 ? pl.body.toString().split('\n').filter((l) => /\.ts(\?|$)/.test(l)).pop() : undefined;
        if (seg) {
          const s = await get(`${h.edge.url}/live/reload/${seg}`, { headers }).catch((e: Error) => ({ status: 0, body: Buffer.from(e.message) }));
          requests++;
          if (s.status !== 200) failures.push(`segment ${s.status} ${s.body.toString().slice(0, 80)}`);
        }
        await sleep(500);
      }
    };
    const viewers = Array.from({ length: 20 }, (_, i) => viewer(i));
    // Three reloads, 2 s apart, while all of that goes on. Not edge.reload():
    // it waits for the old workers, and the one with the publisher stays
    // until the publisher leaves.
    for (let i = 0; i < 3; i++) {
      await sleep(2000);
      process.kill(h.edge.masterPid(), 'SIGHUP');
    }
    await sleep(2000);
    playing = false;
    await Promise.all(viewers);
    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThan(100);
    // The encoder published to its end through the reloads.
    expect(await encoded).toBe(0);
    // Every viewer request of the run is counted (the log is flushed each second).
    await sleep(1300);
    const text2 = (await get(`${h.edge.url}/metrics`)).body.toString();
    const linesAfter = Number(/^media_edge_metrics_log_lines_total (\d+)$/m.exec(text2)![1]);
    // Viewer lines, and the producer's for the playlists it made meanwhile.
    expect(linesAfter - linesBefore).toBeGreaterThanOrEqual(requests);
    expect(text2).toMatch(/^media_edge_rtmp_decisions_total\{result="allow",reason=""\} 1$/m);
  }, 90_000);
});
