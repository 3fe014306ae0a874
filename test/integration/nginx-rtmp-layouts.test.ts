/**
 * nginx-rtmp as the origin, in its default flat layout (`hls_nested off`:
 * `/flat/NAME.m3u8`, `/flat/NAME-N.ts`; DASH beside it: `/flat/NAME.mpd`,
 * `/flat/NAME-init.m4v`) and its nested one (`hls_nested on`:
 * `/nested/NAME/index.m3u8`, `/nested/NAME/N.ts`), with signed playback in
 * each carry mode: a playlist and its fragments are one stream, so the link
 * a token earns opens them, and no other stream's.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../njs/token.ts';
import { publishTestPattern, type DemoOrigin } from '../../tools/demo.ts';
import { startFlatStream, type FlatStream } from '../support/flat-stream.ts';
import { get, sleep, type Resp } from '../support/http.ts';
import { targets } from '../support/targets.ts';
import { withEdge } from '../support/use-edge.ts';

const { targets: list } = targets();
const KEY = 'flat-layout-secret-0123';

const uris = (body: Buffer) => body.toString().split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
const dirOf = (url: string) => url.split('?')[0].replace(/[^/]*$/, '');

describe.each(list)('nginx-rtmp layouts and signed playback on $name', (target) => {
  let stream: FlatStream;
  let origin: DemoOrigin;
  let work: string;
  let nested: ChildProcess;
  let renditions: ChildProcess[];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'media-edge-layouts-'));
    chmodSync(work, 0o755);
    stream = await startFlatStream(work, { size: '160x120', seconds: 90 });
    origin = stream.origin;
    // The nested layout from the same origin: its live application.
    nested = publishTestPattern(`rtmp://127.0.0.1:${origin.rtmpPort}/live/cam`, { size: '160x120', seconds: 90 });
    // Two renditions of one stream (hls_variant _low and _hi in the flat application).
    renditions = ['abr_low', 'abr_hi'].map((n) => publishTestPattern(`rtmp://127.0.0.1:${origin.rtmpPort}/flat/${n}`, { size: '160x120', seconds: 90 }));
    for (const deadline = Date.now() + 30000; ;) {
      const r = await get(`http://127.0.0.1:${origin.httpPort}/nested/cam/index.m3u8`);
      const low = await get(`http://127.0.0.1:${origin.httpPort}/flat/abr_low.m3u8`);
      const master = await get(`http://127.0.0.1:${origin.httpPort}/flat/abr.m3u8`);
      if (r.status === 200 && uris(r.body).length >= 2 && low.status === 200 && uris(low.body).length >= 1 && master.status === 200) break;
      if (Date.now() > deadline) throw new Error('nginx-rtmp did not package the nested stream and the renditions in 30 s');
      await sleep(500);
    }
  });
  afterAll(async () => {
    nested?.kill('SIGKILL');
    for (const r of renditions ?? []) r.kill('SIGKILL');
    await stream?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const token = (app: string) => (mintToken({ exp: Math.floor(Date.now() / 1000) + 600, path: `/${app}/*`, kid: '1' }, KEY) as { token: string }).token;

  // nginx-rtmp's two HLS layouts, each as its docs serve it: what a viewer
  // asks for first, the shape of a fragment's name, and the same fragment
  // name of another stream.
  const layouts = {
    flat: { app: 'flat', playlist: '/flat/cam.m3u8', fragment: /^cam-\d+\.ts(\?|$)/, other: (dir: string, f: string) => dir + f.replace(/^cam-/, 'other-') },
    nested: { app: 'nested', playlist: '/nested/cam/index.m3u8', fragment: /^\d+\.ts(\?|$)/, other: (dir: string, f: string) => dir.replace('/nested/cam/', '/nested/other/') + f },
  };
  const cases = (['flat', 'nested'] as const).flatMap((layout) => (['path', 'query', 'cookie'] as const).map((carry) => [layout, carry] as const));

  it.each(cases)('%s HLS plays with a token in %s mode: playlist and fragments are one stream; another stream stays shut', async (layout, carry) => {
    const l = layouts[layout];
    await withEdge(target, {
      origins: [{ name: 'nginx-rtmp', http: `127.0.0.1:${origin.httpPort}` }],
      playback_auth: { [l.app]: { scheme: 'hmac', keys: { '1': KEY }, carry } },
    }, async (edge) => {
      let list: Resp & { url?: string } = await get(`${edge.url}${l.playlist}?me_token=${token(l.app)}`);
      let base = dirOf(`${edge.url}${l.playlist}`);
      let headers: Record<string, string> = {};
      if (carry === 'path') {
        expect(list.status).toBe(302);
        const to = new URL(list.headers.location as string, edge.url).toString();
        list = await get(to);
        base = dirOf(to);
      }
      if (carry === 'cookie') headers = { Cookie: ([] as string[]).concat(list.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ') };
      expect(list.status).toBe(200);
      const frags = uris(list.body);
      expect(frags.length).toBeGreaterThan(0);
      const last = frags[frags.length - 1];
      expect(last).toMatch(l.fragment);
      const seg = await get(base + last, { headers });
      expect(seg.status).toBe(200);
      expect(seg.body[0]).toBe(0x47); // an MPEG-TS packet
      // The same link for another stream's fragment: refused.
      const other = await get(l.other(base, last), { headers });
      expect(other.status).toBe(403);
    }, { expected: [/upstream prematurely closed/] });
  });

  it('hls_variant renditions (abr_low, abr_hi) open with the master\'s link where stream_variants names their suffixes, and only there', async () => {
    const settings = {
      origins: [{ name: 'nginx-rtmp', http: `127.0.0.1:${origin.httpPort}` }],
      playback_auth: { flat: { scheme: 'hmac' as const, keys: { '1': KEY } } },
    };
    for (const variants of [['_low', '_hi'], []]) {
      await withEdge(target, { ...settings, stream_variants: variants }, async (edge) => {
        const entry = await get(`${edge.url}/flat/abr.m3u8?me_token=${token('flat')}`);
        expect(entry.status).toBe(302);
        const to = new URL(entry.headers.location as string, edge.url).toString();
        const master = await get(to);
        expect(master.status).toBe(200);
        const children = uris(master.body);
        expect(children.map((c) => c.split('?')[0])).toEqual(['abr_low.m3u8', 'abr_hi.m3u8']);
        const child = await get(dirOf(to) + children[0]);
        if (variants.length === 0) {
          // Without the suffixes a rendition is another stream: its own link is needed.
          expect(child.status).toBe(403);
          return;
        }
        expect(child.status).toBe(200);
        const frags = uris(child.body);
        const last = frags[frags.length - 1];
        expect(last).toMatch(/^abr_low-\d+\.ts(\?|$)/);
        const seg = await get(dirOf(to) + last);
        expect(seg.status).toBe(200);
        expect(seg.body[0]).toBe(0x47);
        // The link is still for this stream only.
        expect((await get(dirOf(to) + last.replace(/^abr_low-/, 'cam-'))).status).toBe(403);
      }, { expected: [/upstream prematurely closed/] });
    }
  });

  it('flat DASH plays under a link (path mode): the manifest and its init segment', async () => {
    await withEdge(target, {
      origins: [{ name: 'nginx-rtmp', http: `127.0.0.1:${origin.httpPort}` }],
      playback_auth: { flat: { scheme: 'hmac', keys: { '1': KEY } } },
    }, async (edge) => {
      const entry = await get(`${edge.url}/flat/cam.mpd?me_token=${token('flat')}`);
      expect(entry.status).toBe(302);
      const to = new URL(entry.headers.location as string, edge.url).toString();
      const mpd = await get(to);
      expect(mpd.status).toBe(200);
      const text = mpd.body.toString();
      expect(text).toContain('type="dynamic"');
      // nginx-rtmp names the init segment `$RepresentationID$`-less: cam-init.m4v.
      const init = await get(dirOf(to) + 'cam-init.m4v');
      expect(init.status).toBe(200);
      expect(init.body.subarray(4, 8).toString()).toBe('ftyp');
    }, { expected: [/upstream prematurely closed/] });
  });
});
