/**
 * RTMP publishing spread over the origins by weight, failover when an origin
 * refuses connections, and a stream published to any origin playable through
 * the edge's HLS.
 */
import { type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, publishTestPattern, startDemoOrigin, type DemoOrigin } from '../../tools/demo.ts';
import { get, sleep } from '../support/http.ts';
import { targets } from '../support/targets.ts';
import { useEdge } from '../support/use-edge.ts';

const { targets: list } = targets();

/** A TCP listener standing in for an origin's RTMP port: counts connections. */
async function tcpOrigin(): Promise<{ port: number; accepted: () => number; close: () => Promise<void> }> {
  let n = 0;
  const socks: Socket[] = [];
  const srv: Server = createServer((s) => {
    n++;
    socks.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    port: (srv.address() as { port: number }).port,
    accepted: () => n,
    close: () => new Promise<void>((r) => { socks.forEach((s) => s.destroy()); srv.close(() => r()); }),
  };
}

/** Open a connection through the edge and hold it until the origin side has it. */
function openThrough(port: number): Promise<Socket> {
  return new Promise((res, rej) => {
    const s = connect(port, '127.0.0.1', () => res(s));
    s.on('error', rej);
  });
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(20);
}

describe.each(list)('RTMP origin selection on $name', (target) => {
  let a: Awaited<ReturnType<typeof tcpOrigin>>;
  let b: Awaited<ReturnType<typeof tcpOrigin>>;

  beforeAll(async () => {
    a = await tcpOrigin();
    b = await tcpOrigin();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });
  const weighted = useEdge(target, () => ({
    origins: [
      { name: 'small', http: '127.0.0.1:9', rtmp: `127.0.0.1:${a.port}`, weight: 1 },
      { name: 'big', http: '127.0.0.1:9', rtmp: `127.0.0.1:${b.port}`, weight: 3 },
    ],
    rtmp_max_connections_per_address: 1000, // 200 at once from one test client
  }));
  const failing = useEdge(target, async () => ({
    origins: [
      { name: 'dead', http: '127.0.0.1:9', rtmp: `127.0.0.1:${await freePort()}`, weight: 5 },
      { name: 'alive', http: '127.0.0.1:9', rtmp: `127.0.0.1:${b.port}` },
    ],
    origin_connect_timeout: '1s',
  }));

  it('spreads 200 publisher connections 1:3 by weight', async () => {
    const a0 = a.accepted();
    const b0 = b.accepted();
    const socks: Socket[] = [];
    for (let i = 0; i < 200; i++) socks.push(await openThrough(weighted.edge.rtmpPort));
    await waitFor(() => a.accepted() + b.accepted() - a0 - b0 === 200);
    socks.forEach((s) => s.destroy());
    const na = a.accepted() - a0;
    const nb = b.accepted() - b0;
    expect(na + nb).toBe(200);
    expect(Math.abs(na / 200 - 0.25)).toBeLessThan(0.05);
  });

  it('moves to the next origin when one refuses connections', async () => {
    const b0 = b.accepted();
    const socks: Socket[] = [];
    for (let i = 0; i < 20; i++) socks.push(await openThrough(failing.edge.rtmpPort));
    await waitFor(() => b.accepted() - b0 === 20);
    socks.forEach((s) => s.destroy());
    expect(b.accepted() - b0).toBe(20);
  });
});

describe.each(list)('RTMP published to either origin, played through the edge on $name', (target) => {
  let dir: string;
  let origins: DemoOrigin[];
  const publishers: ChildProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'media-edge-rtmp2-'));
    chmodSync(dir, 0o755);
    origins = [];
    for (const n of ['a', 'b']) origins.push(await startDemoOrigin(join(dir, n), await freePort(), await freePort()));
  });
  afterAll(async () => {
    for (const o of origins ?? []) await o.nginx.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const relay = useEdge(target, () => ({
    origins: origins.map((o, i) => ({ name: `rtmp${i}`, http: `127.0.0.1:${o.httpPort}`, rtmp: `127.0.0.1:${o.rtmpPort}` })),
  }));
  afterAll(() => {
    publishers.forEach((p) => p.kill('SIGKILL'));
  });

  it('publishes two streams through the edge (one per origin) and plays both through it', async () => {
    for (const name of ['one', 'two']) {
      publishers.push(publishTestPattern(`rtmp://127.0.0.1:${relay.edge.rtmpPort}/live/${name}`, { size: '160x120', seconds: 30 }));
      await sleep(300); // connect in order: round robin gives one to each origin
    }
    const where: Record<string, number> = {};
    for (const name of ['one', 'two']) {
      let ok = false;
      for (let i = 0; i < 60 && !ok; i++) {
        const r = await get(`${relay.edge.url}/live/${name}/playlist.m3u8`);
        ok = r.status === 200 && /\.ts/.test(r.body.toString());
        if (!ok) await sleep(500);
      }
      expect(ok, `${name} never became playable through the edge`).toBe(true);
      for (let k = 0; k < origins.length; k++) {
        if ((await get(`http://127.0.0.1:${origins[k].httpPort}/live/${name}/playlist.m3u8`)).status === 200) where[name] = k;
      }
    }
    // Each origin got one stream, and the edge found each on its own origin.
    expect(new Set(Object.values(where)).size).toBe(2);
  });
});
