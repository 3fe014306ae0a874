/**
 * A shield tier between edges and origins, built from the same modules:
 * 3 edges (balance by object) -> 2 shields (balance by stream) -> 2 origins.
 * Every object is fetched from the origins once, whichever edges ask.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get } from '../support/http.ts';
import { targets } from '../support/targets.ts';
import { useEdge } from '../support/use-edge.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';

const { targets: list } = targets();

describe.each(list)('3 edges -> 2 shields -> 2 origins on $name', (target) => {
  let origins: WowzaOrigin[];
  beforeAll(async () => {
    origins = await Promise.all([0, 1].map(() => new WowzaOrigin({ sessions: false, segmentSeconds: 4 }).start()));
  });
  afterAll(async () => {
    await Promise.all((origins ?? []).map((o) => o.stop()));
  });
  const shieldTier = [0, 1].map(() =>
    useEdge(target, () => ({ listen_rtmp: '', balance: 'stream', prefetch_limit: 0, origins: origins.map((o, i) => ({ name: `origin${i}`, http: o.address })) })),
  );
  const edgeTier = [0, 1, 2].map(() =>
    useEdge(target, () => ({ listen_rtmp: '', balance: 'object', origins: shieldTier.map((s, i) => ({ name: `shield${i}`, http: `127.0.0.1:${s.edge.httpPort}` })) })),
  );

  it('fetches each segment from the origins once across all edges', async () => {
    const edges = edgeTier.map((e) => e.edge);
    const shields = shieldTier.map((s) => s.edge);
    // Segment URIs as players get them: from the playlists (with the run the
    // shield's producer put on them).
    const paths: string[] = [];
    for (const stream of ['tierA', 'tierB', 'tierC']) {
      paths.push(`/live/${stream}/playlist.m3u8`);
      for (const bps of [800000, 400000]) {
        const list = await get(`${edges[0].url}/live/${stream}/chunklist_b${bps}.m3u8`);
        expect(list.status).toBe(200);
        paths.push(`/live/${stream}/chunklist_b${bps}.m3u8`);
        const segs = list.body.toString().split('\n').filter((l) => l && !l.startsWith('#'));
        expect(segs.length).toBe(4);
        for (const u of segs) paths.push(`/live/${stream}/${u}`);
      }
    }
    // Every edge asks for everything, all at once.
    const res = await Promise.all(edges.flatMap((e) => paths.map((p) => get(e.url + p))));
    expect(res.map((r) => r.status)).toEqual(res.map(() => 200));
    for (const p of paths.filter((x) => x.includes('.ts'))) {
      expect(origins.reduce((sum, o) => sum + o.count(p.split('?')[0]), 0), p).toBe(1);
    }
    // Both shields take part (objects are spread over them).
    const shieldHits = shields.map((s) => s.accessLog().split('\n').filter((l) => l.includes('.ts')).length);
    expect(shieldHits.every((h) => h > 0)).toBe(true);
  });
});
