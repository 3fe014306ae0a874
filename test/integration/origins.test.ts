/**
 * Weighted origin selection against real nginx and several real origins:
 * the split follows the weights, streams stay on one origin, adding/removing
 * an origin moves only its streams, failover happens inside the request, a
 * failed origin cools down and comes back by itself, backups and the status
 * endpoint work.
 */
import { createServer as createTcpServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, sleep } from '../support/http.ts';
import { targets, type Target } from '../support/targets.ts';
import { useEdge, withEdge } from '../support/use-edge.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';
import { freePort } from '../../tools/demo.ts';
import { ascii, buildRing, crc32, encodeRing, ringOrder } from '../../njs/ring.ts';
import { weightedOrder } from '../../njs/routing.ts';

const { targets: list } = targets();

/** The ring nginx builds for these origins and weights (njs/ring.ts replicates it). */
function ringOf(origins: WowzaOrigin[], weights: number[]) {
  return { data: encodeRing(buildRing(origins.map((o, i) => ({ address: o.address, weight: weights[i] })))), servers: origins.length };
}

/**
 * Where a stream goes first: with the router (njs >= 0.8.1) its weighted
 * choice (njs/routing.ts weightedOrder, by origin name), else nginx's ring.
 */
interface Placement { ring: { data: string; servers: number }; names: string[]; weights: number[]; router: boolean }

function placement(target: Target, origins: WowzaOrigin[], names: string[], weights: number[]): Placement {
  return { ring: ringOf(origins, weights), names, weights, router: target.njsShared };
}

function firstOrigin(p: Placement, stream: string): number {
  if (p.router) return weightedOrder(crc32(ascii(stream)), p.names.map((n) => crc32(ascii(n))), p.weights)[0];
  return ringOrder(p.ring, Buffer.from(stream))[0];
}

/** A stream name `{prefix}{n}` of app `live` that goes to `origin` first. */
function streamOn(p: Placement, prefix: string, origin: number): string {
  for (let i = 0; ; i++) if (firstOrigin(p, `live/${prefix}${i}`) === origin) return `${prefix}${i}`;
}

/** Fetch many URLs, `batch` at a time. */
async function fetchAll(urls: string[], batch = 50) {
  const out = [];
  for (let i = 0; i < urls.length; i += batch) out.push(...(await Promise.all(urls.slice(i, i + batch).map((u) => get(u)))));
  return out;
}

describe.each(list)('origin selection on $name', (target) => {
  const WEIGHTS = [1, 2, 3];
  let origins: WowzaOrigin[];
  const originOf = (addr: string | string[] | undefined) => origins.findIndex((o) => String(addr).split(', ').pop() === o.address);
  const weighted = () => origins.map((o, i) => ({ name: `o${i}`, http: o.address, weight: WEIGHTS[i] }));

  beforeAll(async () => {
    origins = await Promise.all(WEIGHTS.map(() => new WowzaOrigin({ sessions: false }).start()));
  });
  afterAll(async () => {
    await Promise.all((origins ?? []).map((o) => o.stop()));
  });
  const all = useEdge(target, () => ({ origins: weighted(), expose_origin: true, origin_cooldown: '3s', origin_connect_timeout: '1s', origin_read_timeout: '1s', prefetch_limit: 0 }));
  // The same edge without the third origin.
  const two = useEdge(target, () => ({ origins: weighted().slice(0, 2), expose_origin: true, prefetch_limit: 0 }));
  // With prefetch (the default), for the segments of a playlist a second try got.
  const prefetching = useEdge(target, () => ({ origins: weighted(), expose_origin: true }));

  it(target.njsShared
    ? 'splits 3000 streams by weight (1:2:3) exactly, as the router decides'
    : 'splits 3000 streams by weight (1:2:3), as nginx\'s ring does', async () => {
    origins.forEach((o) => o.reset());
    const urls = Array.from({ length: 3000 }, (_, i) => `${all.edge.url}/live/split${i}/chunklist_b400000.m3u8`);
    const res = await fetchAll(urls);
    expect(res.every((r) => r.status === 200)).toBe(true);
    const counts = origins.map((o) => o.count(/chunklist/));
    expect(counts.reduce((a, b) => a + b)).toBe(3000);
    // The router's choice (njs/routing.ts), or our replica of nginx's ring
    // (njs/ring.ts), predicts every choice nginx made.
    const p = placement(target, origins, WEIGHTS.map((_, i) => `o${i}`), WEIGHTS);
    const wrong = res.filter((r, i) => firstOrigin(p, `live/split${i}`) !== originOf(r.headers['x-media-edge-origin']));
    expect(wrong.length).toBe(0);
    const total = WEIGHTS.reduce((a, b) => a + b);
    // The router: each origin's expected share is its weight's; 3000 names
    // add sampling noise (0.7 points of 1/6): 2.5 points is over three
    // standard deviations. nginx's ring alone: 160 points per unit of weight,
    // whose share varies with the addresses by about share/sqrt(points)
    // (2.3 points of 50% for weight 3), plus the noise: 7.5 points.
    counts.forEach((c, i) => expect(Math.abs(c / 3000 - WEIGHTS[i] / total)).toBeLessThan(target.njsShared ? 0.025 : 0.075));
  });

  it("keeps every playlist, segment and key of a stream on the stream's origin", async () => {
    for (let s = 0; s < 20; s++) {
      const base = `${all.edge.url}/live/_definst_/sticky${s}`;
      const n = origins[0].liveEdge();
      const paths = ['playlist.m3u8', 'chunklist_b800000.m3u8', 'chunklist_b400000.m3u8', `media_b800000_${n}.ts`, `media_b400000_${n - 1}.ts`];
      const res = await Promise.all(paths.map((p) => get(`${base}/${p}`)));
      // Without the default instance name it is the same stream.
      res.push(await get(`${all.edge.url}/live/sticky${s}/media_b800000_${n - 2}.ts`));
      expect(res.map((r) => r.status)).toEqual(res.map(() => 200));
      expect(new Set(res.map((r) => originOf(r.headers['x-media-edge-origin']))).size).toBe(1);
    }
  });

  it('removing an origin moves only the streams that were on it', async () => {
    const names = Array.from({ length: 600 }, (_, i) => `/live/move${i}/chunklist_b400000.m3u8`);
    const before = await fetchAll(names.map((p) => all.edge.url + p));
    const after = await fetchAll(names.map((p) => two.edge.url + p));
    let moved = 0;
    before.forEach((b, i) => {
      const was = originOf(b.headers['x-media-edge-origin']);
      const now = originOf(after[i].headers['x-media-edge-origin']);
      if (was !== 2) expect(now).toBe(was); // streams of the remaining origins stay put
      else moved++;
    });
    expect(moved).toBeGreaterThan(200); // about half of 600 were on the weight-3 origin
  });

  it('finds a live stream that exists on one origin only', async () => {
    origins[0].streams = /^onlyhere$/;
    origins[1].streams = /^onlyhere$/;
    origins[2].streams = /^nowhere$/;
    try {
      const r = await get(`${all.edge.url}/live/onlyhere/chunklist_b400000.m3u8`);
      expect(r.status).toBe(200);
      expect([0, 1]).toContain(originOf(r.headers['x-media-edge-origin']));
      // Streams that exist only on origin 2, whatever their hash says.
      origins[0].streams = /^nowhere$/;
      origins[1].streams = /^nowhere$/;
      origins[2].streams = /^lonely/;
      const res = await fetchAll(Array.from({ length: 30 }, (_, i) => `${all.edge.url}/live/lonely${i}/chunklist_b800000.m3u8`));
      expect(res.map((x) => x.status)).toEqual(res.map(() => 200));
      expect(res.every((x) => originOf(x.headers['x-media-edge-origin']) === 2)).toBe(true);
      // A stream that is nowhere is a (briefly cached) 404 after asking each origin once.
      const gone = await get(`${all.edge.url}/live/ghost/chunklist_b800000.m3u8`);
      expect(gone.status).toBe(404);
    } finally {
      origins.forEach((o) => (o.streams = null));
    }
  });

  it('fails over inside the request, avoids the failed origin for the cooldown, then takes it back', async () => {
    const stream = streamOn(placement(target, origins, WEIGHTS.map((_, i) => `o${i}`), WEIGHTS), 'fo', 1);
    const port = origins[1].port;
    await origins[1].stop();
    const n = origins[0].liveEdge();
    const r = await get(`${all.edge.url}/live/${stream}/media_b400000_${n}.ts`);
    expect(r.status).toBe(200);
    expect(r.ms).toBeLessThan(2000);
    expect(String(r.headers['x-media-edge-origin'])).toContain(', '); // two attempts in one request
    expect(originOf(r.headers['x-media-edge-origin'])).not.toBe(1);

    // Back up at once, but still cooling down: new objects of the stream avoid it.
    await origins[1].start(port);
    origins[1].reset();
    const during = await get(`${all.edge.url}/live/${stream}/media_b400000_${n - 1}.ts`);
    expect(during.status).toBe(200);
    expect(origins[1].viewerRequests()).toBe(0);

    // After the cooldown (3 s here) it gets its streams back by itself. nginx
    // compares fail_timeout in whole seconds, so the cooldown ends within 4 s.
    await sleep(4500);
    const later = await get(`${all.edge.url}/live/${stream}/media_b800000_${origins[0].liveEdge()}.ts`);
    expect(later.status).toBe(200);
    expect(originOf(later.headers['x-media-edge-origin'])).toBe(1);
  });

  it('asks the next origin when one answers a playlist with junk or a body cut short (a success to nginx): the viewer gets a fresh playlist, not a stale copy or an error', async () => {
    const p = placement(target, origins, WEIGHTS.map((_, i) => `o${i}`), WEIGHTS);
    for (const [name, fault] of [['junk', { garbage: 2048 }], ['cut', { truncate: 0.5 }]] as const) {
      const stream = streamOn(p, name, 0);
      const pl = `${all.edge.url}/live/${stream}/chunklist_b400000.m3u8`;
      // Produced once before the fault: a name never produced gets no second try.
      expect((await get(pl)).status, name).toBe(200);
      origins[0].faults = [{ match: new RegExp(`/${stream}/.*\\.m3u8$`), ...fault }];
      try {
        // Past its 1 s lifetime the stored copy is served while it is produced again.
        await sleep(1100);
        let r = await get(pl);
        for (let i = 0; i < 20 && originOf(r.headers['x-media-edge-origin']) === 0; i++) {
          await sleep(200);
          r = await get(pl);
        }
        expect(r.status, name).toBe(200);
        expect(r.body.toString(), name).toMatch(/^#EXTM3U\n[\s\S]*media_b400000_\d+\.ts/);
        // Produced from the second origin's answer, and stored as a fresh playlist.
        expect(originOf(r.headers['x-media-edge-origin']), name).not.toBe(0);
        expect(String(r.headers['x-media-edge-ttl']), name).not.toMatch(/stale|unparsed/);
        expect(all.edge.errorLog(), name).toMatch(new RegExp(`/live/${stream}/chunklist_b400000\\.m3u8: origin (playlist not understood|body cut short).* from ${origins[0].address.replace(/\./g, '\\.')}; asking o[12]`));
      } finally {
        origins[0].faults = [];
      }
    }
  });

  it("gives a viewer nothing through the second try's internal paths: no origin is steered, nothing reaches the stream", async () => {
    const p = placement(target, origins, WEIGHTS.map((_, i) => `o${i}`), WEIGHTS);
    const stream = streamOn(p, 'steer', 0);
    // The stream's own paths: what a steered request would have asked for.
    const own = new RegExp(`^/live/${stream}/`);
    const before = origins.map((o) => o.count(own));
    for (const path of [
      `/_media_edge_origin_retry/media-edge-steer:o1:0/live/${stream}/chunklist_b400000.m3u8`,
      `/_media_edge_prefetch_retry/media-edge-steer:o1:0/live/${stream}/media_b400000_1.ts`,
      `/_MEDIA_EDGE_ORIGIN_RETRY/media-edge-steer:o1:0/live/${stream}/chunklist_b400000.m3u8`,
      `/_media_edge_origin_retry%2Fmedia-edge-steer:o1:0/live/${stream}/chunklist_b400000.m3u8`,
    ]) {
      const r = await get(`${all.edge.url}${path}`);
      expect(r.status, path).toBeGreaterThanOrEqual(400);
    }
    // A segment path is proxied as it is (the origin answers 404 for a name it
    // has not); none reached an origin as the stream's playlist or segment.
    expect(origins.map((o) => o.count(own))).toEqual(before);
  });

  it("prefetches a second try's segments from the origin that answered it: viewers of an origin that cuts every body get whole segments, from the cache", async () => {
    const p = placement(target, origins, WEIGHTS.map((_, i) => `o${i}`), WEIGHTS);
    const stream = streamOn(p, 'cutall', 0);
    const pl = `${prefetching.edge.url}/live/${stream}/chunklist_b400000.m3u8`;
    // Known to the producer before the fault: prefetch starts from a stream's second production.
    const before = await get(pl);
    expect(before.status).toBe(200);
    const listed = (b: Buffer) => b.toString().split('\n').filter((l) => /\.ts/.test(l)).map((l) => l.split('?')[0]);
    origins[0].faults = [{ match: new RegExp(`/${stream}/`), truncate: 0.5 }];
    try {
      // The live playlist is kept 1 s (2 s segments): a request after that
      // gets the stored copy while it is produced again (stale-while-revalidate).
      // What it newly lists is prefetched (at most prefetch_limit, 4): wait
      // for a production that lists a segment the first did not.
      const fresh = (b: Buffer) => b.toString().split('\n').filter((l) => /\.ts/.test(l) && !listed(before.body).includes(l.split('?')[0]));
      await sleep(1100);
      let r = await get(pl);
      for (let i = 0; i < 30 && (originOf(r.headers['x-media-edge-origin']) === 0 || fresh(r.body).length === 0); i++) {
        await sleep(200);
        r = await get(pl);
      }
      expect(r.status).toBe(200);
      expect(originOf(r.headers['x-media-edge-origin'])).not.toBe(0);
      const uris = fresh(r.body);
      expect(uris.length).toBeGreaterThan(0);
      await sleep(500);
      for (const u of uris) {
        const seg = await get(`${prefetching.edge.url}/live/${stream}/${u}`);
        expect(seg.status, u).toBe(200);
        expect(seg.body.length, u).toBe(Number(seg.headers['content-length']));
        expect(seg.headers['x-cache-status'], u).toBe('HIT');
        expect(originOf(seg.headers['x-media-edge-origin']), u).not.toBe(0);
      }
    } finally {
      origins[0].faults = [];
    }
  });

  // These two leave an origin cooling down: they run after the
  // tests above, and before the ones that stop origins.
  it('fails over inside the request when the origin answers 5xx', async () => {
    const stream = streamOn(placement(target, origins, WEIGHTS.map((_, i) => `o${i}`), WEIGHTS), 'err', 0);
    origins[0].faults = [{ match: new RegExp(`/${stream}/`), status: 503 }];
    try {
      const r = await get(`${all.edge.url}/live/${stream}/chunklist_b400000.m3u8`);
      expect(r.status).toBe(200);
      expect(r.headers['x-media-edge-origin-status']).toMatch(/^503, 200$/);
      expect(originOf(r.headers['x-media-edge-origin'])).not.toBe(0);
    } finally {
      origins[0].faults = [];
    }
  });

  it('fails over inside the request when the origin hangs, within the timeouts', async () => {
    const stream = streamOn(placement(target, origins, WEIGHTS.map((_, i) => `o${i}`), WEIGHTS), 'hang', 2);
    origins[2].faults = [{ match: new RegExp(`/${stream}/`), delayMs: 5000 }];
    try {
      const r = await get(`${all.edge.url}/live/${stream}/chunklist_b400000.m3u8`);
      expect(r.status).toBe(200);
      expect(r.ms).toBeLessThan(2500); // one read timeout (1 s), then the next origin
      expect(r.headers['x-media-edge-origin-status']).toMatch(/^504, 200$/);
    } finally {
      origins[2].faults = [];
    }
  });

  it('fails over inside a segment request when the origin hangs, with the default timeouts', async () => {
    // origin_read_timeout 10 s is longer than origin_failover_timeout 5 s:
    // segments wait segment_read_timeout (3 s) so that the next origin is still tried.
    const p = placement(target, origins.slice(0, 2), ['o0', 'o1'], WEIGHTS.slice(0, 2));
    const stream = streamOn(p, 'seghang', 1);
    origins[1].faults = [{ match: new RegExp(`/${stream}/.*\\.ts$`), delayMs: 8000 }];
    try {
      const r = await get(`${two.edge.url}/live/${stream}/media_b400000_${origins[0].liveEdge()}.ts`);
      expect(r.status).toBe(200);
      expect(r.ms).toBeGreaterThan(2500);
      expect(r.ms).toBeLessThan(4500);
      expect(r.headers['x-media-edge-origin-status']).toMatch(/^504, 200$/);
    } finally {
      origins[1].faults = [];
    }
  });

  it('fails over inside a playlist request when the origin hangs, with the default timeouts; a blocking reload may wait', async () => {
    // Playlist fetches wait playlist_read_timeout (3 s), shorter than
    // origin_failover_timeout (5 s): the next origin is still tried. Before,
    // they waited origin_read_timeout (10 s), and the viewer got a 504.
    const p = placement(target, origins.slice(0, 2), ['o0', 'o1'], WEIGHTS.slice(0, 2));
    const stream = streamOn(p, 'plhang', 0);
    origins[0].faults = [{ match: new RegExp(`/${stream}/.*\\.m3u8`), delayMs: 8000 }];
    // An edge of its own: the test above leaves origin 1 cooling down in
    // `two` (origin_cooldown, 10 s), and this one needs it to fail over to.
    try {
      await withEdge(target, { origins: weighted().slice(0, 2), expose_origin: true, prefetch_limit: 0 }, async (edge) => {
        const r = await get(`${edge.url}/live/${stream}/chunklist_b400000.m3u8`);
        expect(r.status).toBe(200);
        expect(r.ms).toBeGreaterThan(2500);
        expect(r.ms).toBeLessThan(4500);
        expect(r.headers['x-media-edge-origin-status']).toMatch(/^504, 200$/);
        // An LL-HLS blocking reload waits at the origin longer than that, by
        // design: both origins take 4 s, and one answers it (origin 1: origin
        // 0 is cooling down now).
        for (const o of origins.slice(0, 2)) o.faults = [{ match: new RegExp(`/${stream}/.*\\.m3u8`), delayMs: 4000 }];
        const b = await get(`${edge.url}/live/${stream}/chunklist_b800000.m3u8?_HLS_msn=${origins[0].liveEdge()}`);
        expect(b.status).toBe(200);
        expect(b.ms).toBeGreaterThan(3500);
        expect(b.headers['x-media-edge-origin-status']).toBe('200');
      });
    } finally {
      for (const o of origins.slice(0, 2)) o.faults = [];
    }
  });

  it('all origins down: 502 quickly, and cached objects are still served', async () => {
    const n = origins[0].liveEdge();
    const cached = `${all.edge.url}/live/alldown/media_b400000_${n}.ts`;
    expect((await get(cached)).status).toBe(200);
    const ports = origins.map((o) => o.port);
    await Promise.all(origins.map((o) => o.stop()));
    try {
      const miss = await get(`${all.edge.url}/live/alldown/media_b400000_${n - 1}.ts`);
      expect(miss.status).toBe(502);
      expect(miss.ms).toBeLessThan(3000);
      const hit = await get(cached);
      expect(hit.status).toBe(200);
      expect(hit.headers['x-cache-status']).toBe('HIT');
    } finally {
      await Promise.all(origins.map((o, i) => o.start(ports[i])));
    }
  });

  it('reports origins, weights, shares and live state on /media-edge/status', async () => {
    const port = origins[2].port;
    await origins[2].stop();
    try {
      const r = await get(`${all.edge.url}/media-edge/status`);
      expect(r.status).toBe(200);
      const body = JSON.parse(r.body.toString());
      expect(body.balance).toBe('stream');
      // The engine that runs, as the target claims it.
      expect(body.engine).toBe(target.engine === 'qjs' ? 'QuickJS' : 'njs');
      expect(body.njs).toMatch(/^\d+\.\d+\.\d+$/);
      expect(body.origins.map((o: any) => [o.name, o.weight, o.share, o.state])).toEqual([
        ['o0', 1, 0.167, 'up'],
        ['o1', 2, 0.333, 'up'],
        ['o2', 3, 0.5, 'down'],
      ]);
    } finally {
      await origins[2].start(port);
    }
  });
});

describe.each(list)('backup origins and status access on $name', (target) => {
  let backup: WowzaOrigin;
  beforeAll(async () => {
    backup = await new WowzaOrigin({ sessions: false }).start();
  });
  afterAll(async () => {
    await backup?.stop();
  });
  const spare = useEdge(target, async () => ({
    origins: [
      { name: 'dead-a', http: `127.0.0.1:${await freePort()}` },
      { name: 'dead-b', http: `127.0.0.1:${await freePort()}`, weight: 2 },
      { name: 'spare', http: backup.address, backup: true },
    ],
    status_allow: ['192.0.2.1'],
    prefetch_limit: 0,
  }));

  it('serves from the backup when every primary origin fails', async () => {
    const pl = await get(`${spare.edge.url}/live/b1/chunklist_b400000.m3u8`);
    expect(pl.status).toBe(200);
    const seg = await get(`${spare.edge.url}/live/b1/media_b400000_${backup.liveEdge()}.ts`);
    expect(seg.status).toBe(200);
    expect(backup.count(/chunklist/)).toBe(1);
    // Cached like any other object.
    expect((await get(`${spare.edge.url}/live/b1/chunklist_b400000.m3u8`)).headers['x-cache-status']).toBe('HIT');
  });

  it('refuses the status endpoint to addresses outside status_allow', async () => {
    const r = await get(`${spare.edge.url}/media-edge/status`);
    expect(r.status).toBe(403);
  });
});

describe.each(list)('origin memory and probes on $name', (target) => {
  let origins: WowzaOrigin[];
  let ring: Placement;
  const attemptsOf = (r: { headers: Record<string, unknown> }) => String(r.headers['x-media-edge-origin']).split(', ').length;

  beforeAll(async () => {
    origins = await Promise.all([0, 1, 2].map(() => new WowzaOrigin({ sessions: false }).start()));
    ring = placement(target, origins, [0, 1, 2].map((i) => `m${i}`), [1, 1, 1]);
  });
  afterAll(async () => {
    await Promise.all((origins ?? []).map((o) => o.stop()));
  });
  const memory = useEdge(target, () => ({
    origins: origins.map((o, i) => ({ name: `m${i}`, http: o.address })),
    expose_origin: true,
    probe_interval: '500ms',
    prefetch_limit: 0,
  }));

  it(target.njsShared
    ? 'remembers where a stream was found: later misses go there in one attempt'
    : 'without njs >= 0.8.1, every miss asks the ring origin first (documented fallback)', async () => {
    // A stream whose ring origin is 0 lives only on origin 2.
    const stream = streamOn(ring, 'mem', 0);
    origins[0].streams = origins[1].streams = /^none$/;
    origins[2].streams = new RegExp(`^${stream}$`);
    try {
      const first = await get(`${memory.edge.url}/live/${stream}/chunklist_b400000.m3u8`);
      expect(first.status).toBe(200);
      expect(attemptsOf(first)).toBeGreaterThan(1);
      await sleep(200); // the log phase has run
      const n = origins[2].liveEdge();
      const later = await get(`${memory.edge.url}/live/${stream}/media_b400000_${n}.ts`);
      expect(later.status).toBe(200);
      if (target.njsShared) {
        expect(attemptsOf(later)).toBe(1);
        expect(memory.edge.dir && (await import('node:fs')).readFileSync(`${memory.edge.dir}/state/logs/origin-memory.log`, 'utf8')).toContain(`live/${stream} remembered on m2`);
      } else {
        expect(attemptsOf(later)).toBeGreaterThan(1);
      }
    } finally {
      origins.forEach((o) => (o.streams = null));
    }
  });

  it(target.njsShared
    ? 'avoids an origin that failed its periodic probe before any viewer request fails on it'
    : 'without njs >= 0.8.1, the first miss after an origin dies fails over inside the request', async () => {
    const stream = streamOn(ring, 'probe', 1);
    const port = origins[1].port;
    await origins[1].stop();
    try {
      await sleep(1500); // three probe intervals
      if (target.njsShared) {
        const st = JSON.parse((await get(`${memory.edge.url}/media-edge/status`)).body.toString());
        expect(st.origins[1].periodic_probe).toBe('down');
      }
      const r = await get(`${memory.edge.url}/live/${stream}/chunklist_b800000.m3u8`);
      expect(r.status).toBe(200);
      expect(attemptsOf(r)).toBe(target.njsShared ? 1 : 2);
    } finally {
      await origins[1].start(port);
    }
  });

  it(target.njsShared
    ? 'asks again past an origin the probes have down, after junk from the first'
    : 'without njs >= 0.8.1, the second try asks the ring\'s next origin even when it is down, then the one after it (documented fallback)', async () => {
    // Goes to m0 first; after m0, nginx's ring (the second try's order) has m1 before m2.
    const r0 = ringOf(origins, [1, 1, 1]);
    let stream = '';
    for (let i = 0; !stream; i++) {
      const name = `pdown${i}`;
      if (firstOrigin(ring, `live/${name}`) === 0 && ringOrder(r0, Buffer.from(`live/${name}`)).filter((x) => x !== 0)[0] === 1) stream = name;
    }
    const pl = `${memory.edge.url}/live/${stream}/chunklist_b400000.m3u8`;
    expect((await get(pl)).status).toBe(200); // produced once: a second try is for a stream seen before
    const port = origins[1].port;
    await origins[1].stop();
    try {
      // Until the probes have m1 down (every 500 ms here), at most 10 s.
      if (target.njsShared) {
        const until = Date.now() + 10000;
        const down = async () => JSON.parse((await get(`${memory.edge.url}/media-edge/status`)).body.toString()).origins[1].periodic_probe === 'down';
        while (!(await down()) && Date.now() < until) await sleep(200);
        expect(await down()).toBe(true);
      }
      origins[0].faults = [{ match: new RegExp(`/${stream}/.*\\.m3u8$`), garbage: 2048 }];
      await sleep(1100); // past the copy's 1 s lifetime
      let r = await get(pl);
      for (let i = 0; i < 20 && String(r.headers['x-media-edge-origin']).split(', ').pop() !== origins[2].address; i++) {
        await sleep(200);
        r = await get(pl);
      }
      expect(r.status).toBe(200);
      expect(r.body.toString()).toMatch(/^#EXTM3U\n[\s\S]*media_b400000_\d+\.ts/);
      expect(String(r.headers['x-media-edge-origin']).split(', ').pop()).toBe(origins[2].address);
      const asked = memory.edge.errorLog().split('\n').filter((l) => l.includes(`/live/${stream}/chunklist_b400000.m3u8: origin playlist not understood`) && l.includes('; asking '));
      expect(asked.length).toBeGreaterThan(0);
      // With probes the second try skips m1; without, it asks m1 first,
      // which fails, and then m2, within the same production.
      if (target.njsShared) for (const l of asked) expect(l).toMatch(/; asking m2(,|$)/);
      else expect(asked[0]).toMatch(/; asking m1(,|$)/);
    } finally {
      origins[0].faults = [];
      await origins[1].start(port);
    }
  });

  it(target.njsShared
    ? 'a probe of an origin that hangs ends before the next one is due, and marks it down'
    : 'without njs >= 0.8.1 there are no probes: the status says so (documented fallback)', async () => {
    // Accepts and never answers: each probe waits for its timeout.
    const socks: Socket[] = [];
    const hang = createTcpServer((c) => socks.push(c));
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', () => r()));
    const hangAt = `127.0.0.1:${(hang.address() as { port: number }).port}`;
    try {
      await withEdge(target, {
        origins: [{ name: 'good', http: origins[0].address }, { name: 'hangs', http: hangAt }],
        probe_interval: '400ms',
        origin_connect_timeout: '2s',
      }, async (probed) => {
        await sleep(2000); // five intervals
        const st = JSON.parse((await get(`${probed.url}/media-edge/status`)).body.toString());
        expect(st.origins.map((o: { periodic_probe: string }) => o.periodic_probe)).toEqual(target.njsShared ? ['up', 'down'] : ['unavailable (njs < 0.8.1)', 'unavailable (njs < 0.8.1)']);
        // js_periodic kills a run still going when the next is due, and logs it.
        expect(probed.errorLog()).not.toMatch(/already running/);
      }, { expected: [/upstream timed out|connect\(\) failed/] });
    } finally {
      socks.forEach((c) => c.destroy());
      hang.close();
    }
  });
});
