/**
 * The HTTP edge against hostile viewers and an odd origin (issue 14), on
 * every target. The origin misbehaves as real ones do (test/support/
 * wowza-origin.ts `odd`): servlet-style paths (`;params` dropped, then
 * decoded twice, overlong UTF-8 as dots, dots resolved), case-insensitive
 * routing, gzip for clients that ask, clip and nDVR parameters honoured, the
 * query and credentials echoed into playlists. Each attack is first shown to
 * work against the origin directly; through the edge it must not.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../njs/token.ts';
import { freePort } from '../../tools/demo.ts';
import { run } from '../support/run.ts';
import { targets } from '../support/targets.ts';
import { useEdge, withEdge } from '../support/use-edge.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';

const { targets: list } = targets();
const KEY = 'hostile-http-secret-0123456789';

/** A raw GET: the target is sent exactly as given (no URL normalisation), with any headers and body. */
function raw(port: number, target: string, headers: Record<string, string> = {}, body?: string, localAddress?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, method: 'GET', path: target, headers, agent: false, localAddress }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', rej);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

describe.each(list)('the HTTP edge against hostile viewers and an odd origin on $name', (target) => {
  let origin: WowzaOrigin;
  const token = (scope: string) => (mintToken({ exp: Math.floor(Date.now() / 1000) + 600, path: scope, kid: '1' }, KEY) as { token: string }).token;

  beforeAll(async () => {
    origin = await new WowzaOrigin({ odd: true, sessions: false }).start();
  });
  afterAll(async () => {
    await origin?.stop();
  });
  const guarded = useEdge(target, () => ({
    origins: [{ name: 'odd', http: origin.address }],
    playback_auth: { live: { scheme: 'hmac', keys: { '1': KEY } }, fw: { scheme: 'hmac', keys: { '1': KEY }, forward: true, carry: 'query' } },
    http_max_connections_per_address: 4,
    http_header_timeout: '2s',
  }));
  // A small state directory, swept on every production.
  const flooded = useEdge(target, () => ({ origins: [{ name: 'odd', http: origin.address }], state_max_files: 10, state_sweep_every: 1, playlist_ttl: '1s' }));

  const spellings: [string, () => string][] = [
    ['the protected application in upper case', () => '/LIVE/cam1/playlist.m3u8'],
    ['the protected application in mixed case, a segment', () => '/Live/cam1/media_b800000_3.ts'],
    ['a path parameter on the application', () => '/live;x/cam1/playlist.m3u8'],
    ['an empty path parameter, a segment', () => '/live;/cam1/media_b800000_3.ts'],
    ['a token scope escaped by ..;', () => `/live/cam1/x/..;/..;/cam2/playlist.m3u8?me_token=${token('/live/cam1/*')}`],
    ['overlong UTF-8 dots', () => '/open/%c0%ae%c0%ae/live/cam2/playlist.m3u8'],
    ['double-encoded dots', () => '/open/x/%252e%252e/%252e%252e/live/cam2/playlist.m3u8'],
    ['an encoded letter in the application', () => '/%6cive/cam1/playlist.m3u8'],
    ['a link over the application in another case', () => '/_me/9999999999/1.AAAAAAAAAAAAAAAAAAAAAA/AAAAAAAAAAAAAAAAAAAAAA/LIVE/cam1/playlist.m3u8'],
  ];
  it.each(spellings)('refuses %s (400 with a reason), and the origin never hears of it', async (_what, make) => {
    const t = make();
    // The odd origin would serve it (a link path is the edge's own).
    if (!t.startsWith('/_me/')) expect((await raw(origin.port, t)).status).toBe(200);
    origin.reset();
    const r = await raw(guarded.edge.httpPort, t);
    expect(r.status).toBe(400);
    expect(r.headers['x-media-edge-reject']).toMatch(/^[a-z0-9-]+$/);
    expect(origin.requests.filter((q) => q.url !== '/')).toEqual([]);
  });

  it('a link earned for stream a/X of the default instance does not open stream X of instance a', async () => {
    const r = await raw(guarded.edge.httpPort, `/live/_definst_/cam1/X/playlist.m3u8?me_token=${token('/live/_definst_/cam1/*')}`);
    expect(r.status).toBe(302);
    const to = String(r.headers.location);
    const link = /^(\/_me\/[^]*?\/)live\//.exec(to)![1];
    expect((await raw(guarded.edge.httpPort, to)).status).not.toBe(403);
    const other = await raw(guarded.edge.httpPort, `${link}live/cam1/X/playlist.m3u8`);
    expect(other.status).toBe(403);
  });

  it('producer.sock and the stream state are out of other local users\' reach', async () => {
    // nginx makes producer.sock 0666 itself; the state directory keeps others out.
    const state = join(guarded.edge.dir, 'state');
    expect(statSync(state).mode & 0o007).toBe(0);
    expect(statSync(join(state, 'runs')).mode & 0o077).toBe(0);
    expect(existsSync(join(state, 'producer.sock'))).toBe(true);
    // Tried as another user (nobody), where this test may switch users (root, as in CI).
    if (process.getuid?.() !== 0) return;
    const asNobody = async (code: string) => (await run([process.execPath, '-e', code], 10000, { uid: 65534, gid: 65534 })).log.trim();
    const sock = JSON.stringify(join(state, 'producer.sock'));
    expect(await asNobody(`require('node:net').connect(${sock}).on('error', (e) => console.error(e.code)).on('connect', () => { console.error('connected'); process.exit(0); });`)).toBe('EACCES');
    expect(await asNobody(`try { require('node:fs').readdirSync(${JSON.stringify(join(state, 'runs'))}); console.error('read'); } catch (e) { console.error(e.code); }`)).toBe('EACCES');
  });

  it('still serves the protected application, with a token, in its own spelling', async () => {
    const r = await raw(guarded.edge.httpPort, `/live/cam1/playlist.m3u8?me_token=${token('/live/cam1/*')}`);
    expect(r.status).toBe(302);
  });

  it('forwards only the parameters that change content, and keys them: a clip or DVR request poisons nothing', async () => {
    origin.reset();
    const clip = await raw(guarded.edge.httpPort, '/open/cam1/chunklist_b800000.m3u8?wowzaplaystart=0&wowzaplayduration=2000&junk=1');
    expect(clip.body.toString()).toContain('#EXT-X-ENDLIST');
    const dvr = await raw(guarded.edge.httpPort, '/open/cam1/chunklist_b800000.m3u8?DVR&tracker=abc');
    expect(dvr.body.toString()).toContain('#X-DVR-WINDOW');
    const plain = await raw(guarded.edge.httpPort, '/open/cam1/chunklist_b800000.m3u8?cachebuster=7');
    expect(plain.status).toBe(200);
    expect(plain.body.toString()).not.toContain('#EXT-X-ENDLIST');
    expect(plain.body.toString()).not.toContain('#X-DVR-WINDOW');
    const urls = origin.requests.map((q) => q.url).filter((u) => u.includes('chunklist'));
    expect(urls).toEqual([
      '/open/cam1/chunklist_b800000.m3u8?DVR&wowzaplaystart=0&wowzaplayduration=2000'.replace('DVR&', ''),
      '/open/cam1/chunklist_b800000.m3u8?DVR',
      '/open/cam1/chunklist_b800000.m3u8',
    ]);
    // Nothing of the viewer's query is echoed back to anyone.
    expect(plain.body.toString()).toContain('#X-ECHO:query=;');
    // A segment's query never reaches the origin.
    const seg = await raw(guarded.edge.httpPort, '/open/cam1/media_b800000_3.ts?x=1&me_token=abc');
    expect(seg.status).toBe(200);
    const segUrls = origin.requests.filter((q) => q.url.includes('media_b800000_3.ts')).map((q) => q.url);
    expect(segUrls).toContain('/open/cam1/media_b800000_3.ts');
    for (const u of segUrls) expect(u).toMatch(/^\/open\/cam1\/media_b800000_3\.ts(\?me_run=[A-Za-z0-9_-]+)?$/);
    // The session id, forwarded and not keyed, only in the form Wowza issues.
    await raw(guarded.edge.httpPort, '/open/cam1/media_b800000_2.ts?wowzasessionid=12345');
    await raw(guarded.edge.httpPort, '/open/cam1/media_b800000_1.ts?wowzasessionid=%3Cscript%3E');
    expect(origin.requests.filter((q) => /media_b800000_[12]\.ts/.test(q.url)).map((q) => q.url).sort()).toEqual([
      '/open/cam1/media_b800000_1.ts',
      '/open/cam1/media_b800000_2.ts?wowzasessionid=12345',
    ]);
  });

  it('asks the origin for identity encoding: a gzip-asking viewer never blacks out the others', async () => {
    origin.reset();
    const gz = await raw(guarded.edge.httpPort, '/open/gz/chunklist_b800000.m3u8', { 'Accept-Encoding': 'gzip, deflate' });
    expect(gz.headers['content-encoding']).toBeUndefined();
    expect(gz.body.toString()).toMatch(/^#EXTM3U/);
    const other = await raw(guarded.edge.httpPort, '/open/gz/chunklist_b800000.m3u8');
    expect(other.body.toString()).toMatch(/^#EXTM3U/);
    expect(origin.requests.every((q) => q.headers['accept-encoding'] === 'identity')).toBe(true);
  });

  it('sends no viewer credential and no request body to the origin, on playlists, segments and prefetches', async () => {
    origin.reset();
    const creds = { Cookie: 'me_sig=x; ME_SIG=y; session=secret', Authorization: 'Basic dXNlcjpwYXNz' };
    const pl = await raw(guarded.edge.httpPort, '/open/creds/chunklist_b800000.m3u8', creds);
    expect(pl.body.toString()).toContain('#X-ECHO:query=;cookie=;authorization=');
    // Produced again once a segment is new: now with prefetches.
    await new Promise((r) => setTimeout(r, 2600));
    await raw(guarded.edge.httpPort, '/open/creds/chunklist_b800000.m3u8', creds);
    expect((await raw(guarded.edge.httpPort, '/open/creds/media_b800000_3.ts', creds, 'a body that must not be forwarded')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 500)); // prefetches
    expect(origin.requests.length).toBeGreaterThan(2);
    for (const q of origin.requests) {
      expect(q.headers.cookie, q.url).toBeUndefined();
      expect(q.headers.authorization, q.url).toBeUndefined();
      expect(q.headers['content-length'], q.url).toBeUndefined();
      expect(q.headers['transfer-encoding'], q.url).toBeUndefined();
    }
  });

  it('bounds the requests one address has in progress; other addresses are served', async () => {
    origin.reset();
    origin.faults = [{ match: /slow\d\/media_b800000_3\.ts$/, delayMs: 1500 }];
    const burst = Array.from({ length: 6 }, (_, i) => raw(guarded.edge.httpPort, `/open/slow${i}/media_b800000_3.ts`));
    await new Promise((r) => setTimeout(r, 300));
    const other = await raw(guarded.edge.httpPort, '/open/cam1/playlist.m3u8', {}, undefined, '127.0.0.2');
    const statuses = (await Promise.all(burst)).map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    expect(other.status).toBe(200);
    origin.faults = [];
  });

  it('closes a connection whose request header never ends after http_header_timeout', async () => {
    const t0 = Date.now();
    const closed = await new Promise<number>((res) => {
      const s = connect(guarded.edge.httpPort, '127.0.0.1', () => s.write('GET /open/cam1/playlist.m3u8 HTTP/1.1\r\nHost: x\r\n'));
      s.on('close', () => res(Date.now() - t0));
      s.on('error', () => undefined);
      s.resume();
      setTimeout(() => { s.destroy(); res(-1); }, 8000);
    });
    expect(closed).toBeGreaterThan(1500);
    expect(closed).toBeLessThan(6000);
  });

  it('a flood of stream names cannot fill the state directory or multiply origin load; a watched stream still gets prefetch', async () => {
    origin.reset();
    for (let i = 0; i < 40; i++) expect((await raw(flooded.edge.httpPort, `/open/flood${i}/chunklist_b800000.m3u8`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    // One origin request per name: no prefetch for names seen once.
    expect(origin.requests.filter((q) => q.url.includes('/flood')).length).toBe(40);
    // A hard bound: state_max_files, 10 here (5 slots, a run file and a last good copy each).
    const files = readdirSync(join(flooded.edge.dir, 'state/runs'));
    expect(files.length).toBeLessThanOrEqual(10);
    expect(files.filter((f) => !/^\d+\.(run|last)$/.test(f))).toEqual([]);
    expect(flooded.edge.errorLog()).toMatch(/flood\d+\/chunklist_b800000\.m3u8: no state slot free in \S+ \(state_max_files 10\)/);
  });

  it('prefetches for a stream produced before', async () => {
    await withEdge(target, { origins: [{ name: 'odd', http: origin.address }], playlist_ttl: '1s' }, async (e) => {
      origin.reset();
      await raw(e.httpPort, '/open/watched/chunklist_b800000.m3u8');
      // Past the first copy's life and its stale-while-revalidate second (the
      // 2 s target: kept 1 s, which nginx may round up to 2): a new production.
      await new Promise((r) => setTimeout(r, 3100));
      await raw(e.httpPort, '/open/watched/chunklist_b800000.m3u8');
      // Prefetch runs after the answer, in the background: wait for it, up to 3 s.
      const prefetched = () => origin.requests.filter((q) => /watched\/media_/.test(q.url)).length;
      for (const deadline = Date.now() + 3000; prefetched() === 0 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 100));
      expect(prefetched()).toBeGreaterThan(0);
    });
  });

  it('"forward": true: the token reaches the origin, and an answer the origin echoes it into reaches no other viewer', async () => {
    origin.reset();
    const tA = token('/fw/cam1/*');
    const a = await raw(guarded.edge.httpPort, `/fw/cam1/playlist.m3u8?me_token=${tA}&junk=1`);
    expect(a.status).toBe(200);
    expect(a.body.toString()).toContain(`me_token=${tA}`); // the origin echoed it, to this viewer
    expect(origin.requests.some((q) => q.url.includes(`me_token=${tA}`))).toBe(true);
    // Another viewer, another token: never the first one's answer.
    const tB = (mintToken({ exp: Math.floor(Date.now() / 1000) + 900, path: '/fw/cam1/*', kid: '1' }, KEY) as { token: string }).token;
    const b = await raw(guarded.edge.httpPort, `/fw/cam1/playlist.m3u8?me_token=${tB}`);
    expect(b.status).toBe(200);
    expect(b.body.toString()).not.toContain(tA);
    // A request under the link sends only what the key holds, and is shared.
    const child = /^(chunklist_b800000\.m3u8\?[^\r\n]*me_sig=[^\r\n&]*)/m.exec(a.body.toString())![1];
    const c = await raw(guarded.edge.httpPort, `/fw/cam1/${child}`);
    expect(c.status).toBe(200);
    expect(c.body.toString()).not.toContain(tA);
    expect(c.body.toString()).toContain('#X-ECHO:query=;');
    // Segments too: a parameter the key does not hold never reaches the origin,
    // so it cannot change what the cache keeps for everyone.
    const seg = /^(media_b800000_\d+\.ts\?[^\r\n]*me_sig=[^\r\n&]*)/m.exec(c.body.toString())![1];
    origin.reset();
    const d = await raw(guarded.edge.httpPort, `/fw/cam1/${seg}&junk=1&wowzaplaystart=0`);
    expect(d.status).toBe(200);
    const n0 = Number(/media_b800000_(\d+)/.exec(seg)![1]);
    const asked = origin.requests.filter((q) => q.url.includes(`media_b800000_${n0}.ts`));
    expect(asked.length).toBe(1);
    expect(asked[0].url).not.toMatch(/junk|me_sig|me_exp|me_tid/);
    // A segment request that brings the token itself goes as it is, and what
    // it gets is nobody else's: not stored, so each such request reaches the
    // origin, and a viewer without the token never gets its answer.
    const n1 = n0 + 1;
    const next = `/fw/cam1/${seg.replace(/media_b800000_\d+/, `media_b800000_${n1}`)}`;
    const mine = (q: { url: string }) => q.url.includes(`media_b800000_${n1}.ts`);
    expect((await raw(guarded.edge.httpPort, `${next}&me_token=${tB}&junk=2`)).status).toBe(200);
    expect((await raw(guarded.edge.httpPort, `${next}&me_token=${tB}&junk=3`)).status).toBe(200);
    expect(origin.requests.filter((q) => mine(q) && q.url.includes(`me_token=${tB}`)).map((q) => /junk=\d/.exec(q.url)?.[0])).toEqual(['junk=2', 'junk=3']);
    expect((await raw(guarded.edge.httpPort, next)).status).toBe(200);
    // Whatever else asked the origin for it (this request, or a prefetch) sent only what the key holds.
    expect(origin.requests.filter((q) => mine(q) && !q.url.includes('me_token=')).filter((q) => /junk|me_sig/.test(q.url))).toEqual([]);
  });

  it('"forward": true behind a failed primary: what the backup answers a token-bearing segment is nobody else\'s either', async () => {
    await withEdge(target, {
      origins: [{ name: 'dead', http: `127.0.0.1:${await freePort()}` }, { name: 'odd', http: origin.address, backup: true }],
      playback_auth: { fw: { scheme: 'hmac', keys: { '1': KEY }, forward: true, carry: 'query' } },
    }, async (e) => {
      const a = await raw(e.httpPort, `/fw/cam2/playlist.m3u8?me_token=${token('/fw/cam2/*')}`);
      expect(a.status).toBe(200);
      const child = /^(chunklist_b800000\.m3u8\?[^\r\n]*me_sig=[^\r\n&]*)/m.exec(a.body.toString())![1];
      const c = await raw(e.httpPort, `/fw/cam2/${child}`);
      expect(c.status).toBe(200);
      const seg = /^(media_b800000_(\d+)\.ts\?[^\r\n]*me_sig=[^\r\n&]*)/m.exec(c.body.toString())!;
      const mine = (q: { url: string }) => q.url.includes(`/fw/cam2/media_b800000_${seg[2]}.ts`);
      const t = token('/fw/cam2/*');
      expect((await raw(e.httpPort, `/fw/cam2/${seg[1]}&me_token=${t}&junk=2`)).status).toBe(200);
      expect((await raw(e.httpPort, `/fw/cam2/${seg[1]}&me_token=${t}&junk=3`)).status).toBe(200);
      expect(origin.requests.filter((q) => mine(q) && q.url.includes('me_token=')).map((q) => /junk=\d/.exec(q.url)?.[0])).toEqual(['junk=2', 'junk=3']);
      expect((await raw(e.httpPort, `/fw/cam2/${seg[1]}`)).status).toBe(200);
      expect(origin.requests.filter((q) => mine(q) && !q.url.includes('me_token=')).filter((q) => /junk|me_sig/.test(q.url))).toEqual([]);
    });
  });
});
