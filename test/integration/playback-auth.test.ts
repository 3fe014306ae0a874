/**
 * Signed playback (issue 5) through real nginx on every target, with the
 * Wowza-like test origin: each scheme accepted with tokens made the way its
 * own tools make them, every refusal reason (of tokens, checked by njs, and
 * of links, checked by nginx in C), propagation to child playlists and
 * segments (query and cookie mode), tokens kept out of the cache key and
 * away from the origin, and ffprobe playing a stream with the token only on
 * the master URL.
 */
import EdgeAuth from 'akamai-edgeauth';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mintToken, type MeToken } from '../../njs/token.ts';
import { linkSig } from '../../njs/auth.ts';
import { PACKAGE_ROOT } from '../../tools/paths.ts';
import { linkSecret } from '../../tools/render.ts';
import type { PlaybackAppAuth } from '../../tools/settings.ts';
import { get, sleep, type Resp } from '../support/http.ts';
import { targets } from '../support/targets.ts';
import { useEdge, withEdge } from '../support/use-edge.ts';
import { makeRealSegments, WowzaOrigin } from '../support/wowza-origin.ts';

const { targets: list } = targets();

const KEY1 = 'first-secret-of-16+chars';
const KEY2 = 'second-secret-for-rotation';
const AKAMAI_KEY = '52a152a152a152a152a152a152a1';
const WOWZA_SECRET = 'wowza-shared-secret-1234';
const LINK_SECRET = 'nginx-secure-link-secret';

const AUTH: Record<string, PlaybackAppAuth> = {
  live: { scheme: 'hmac', keys: { '1': KEY1, '2': KEY2 } },
  q: { scheme: 'hmac', keys: { '1': KEY1 }, carry: 'query' },
  cookie: { scheme: 'hmac', keys: { '1': KEY1 }, carry: 'cookie' },
  ref: { scheme: 'hmac', keys: { '1': KEY1 }, referrers: ['player.example.com', '*.example.org'] },
  aka: { scheme: 'akamai', key_hex: [AKAMAI_KEY] },
  akaurl: { scheme: 'akamai', key_hex: [AKAMAI_KEY], mode: 'url', param: 'hdnts' },
  akaacl: { scheme: 'akamai', key_hex: [AKAMAI_KEY], mode: 'acl' },
  akaesc: { scheme: 'akamai', key_hex: [AKAMAI_KEY], escape_early: true },
  wz: { scheme: 'wowza', secret: WOWZA_SECRET },
  sl: { scheme: 'secure_link', secret: LINK_SECRET, expression: `$secure_link_expires$uri$remote_addr ${LINK_SECRET}` },
  real: { scheme: 'hmac', keys: { '1': KEY1 } },
  fw: { scheme: 'hmac', keys: { '1': KEY1 }, forward: true },
  ls: { scheme: 'hmac', keys: { '1': KEY1 }, link_secret: 'explicit-link-secret-01' },
};

const now = () => Math.floor(Date.now() / 1000);

function token(t: Partial<MeToken> & { path: string }, key = KEY1): string {
  const r = mintToken({ exp: now() + 600, kid: '1', ...t }, key);
  if (!r.ok) throw new Error(r.error);
  return r.token;
}

/** Child URIs (non-tag lines) of a playlist body. */
function uris(body: Buffer | string): string[] {
  return body.toString().split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
}

/**
 * Wowza SecureToken v2 as a player site computes it, written from Wowza's
 * description (not with njs/token.ts): sha256 over the content path, "?",
 * and the sorted secret and prefixed parameters; base64 with - and _.
 */
function wowzaQuery(contentPath: string, params: Record<string, string>): string {
  const items = [WOWZA_SECRET, ...Object.entries(params).map(([k, v]) => `${k}=${v}`)].sort();
  const hash = createHash('sha256').update(`${contentPath}?${items.join('&')}`).digest('base64').replace(/\+/g, '-').replace(/\//g, '_');
  return [...Object.entries(params).map(([k, v]) => `${k}=${v}`), `wowzatokenhash=${hash}`].join('&');
}

/** nginx's own secure_link_md5 recipe (ngx_http_secure_link_module docs). */
function secureLink(uri: string, expires: number, addr = '127.0.0.1'): string {
  const md5 = createHash('md5').update(`${expires}${uri}${addr} ${LINK_SECRET}`).digest('base64url');
  return `md5=${md5}&expires=${expires}`;
}

/** GET, following one redirect (path mode sends a viewer with a token to its link's URL). */
async function follow(url: string, opts: Parameters<typeof get>[1] = {}): Promise<Resp & { url: string }> {
  const r = await get(url, opts);
  if (r.status !== 302) return { ...r, url };
  const next = new URL(r.headers.location as string, url).toString();
  return { ...(await get(next, opts)), url: next };
}

/** The directory of a URL (what relative URIs in its body resolve against). */
const dirOf = (url: string) => url.split('?')[0].replace(/[^/]*$/, '');

/**
 * A status after `nginx -s reload`: old workers finish their connections and
 * may still take a new one for a moment, so ask until the answer settles.
 */
async function settled(f: () => Promise<Resp>, want: number): Promise<Resp> {
  let r = await f();
  for (let i = 0; i < 50 && r.status !== want; i++) {
    await sleep(100);
    r = await f();
  }
  return r;
}

/**
 * The `media-edge` command as an operator runs it. Not spawnSync: the test
 * origins live in this process and must keep answering meanwhile.
 */
function mediaEdge(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    execFile('node', [join(PACKAGE_ROOT, 'bin/media-edge.mjs'), ...args], (e, out, err) => res({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, out, err }));
  });
}

function reason(r: Resp): string | undefined {
  return r.headers['x-media-edge-token'] as string | undefined;
}

describe.each(list)('signed playback on $name', (target) => {
  let origin: WowzaOrigin;
  let realOrigin: WowzaOrigin;
  let dir: string;
  let media: string;
  // Inside the edge's directory: containers see only that (and dist/).
  const revoked = () => join(signed.edge.dir, 'revoked.txt');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'media-edge-auth-'));
    chmodSync(dir, 0o755);
    media = join(dir, 'media');
    mkdirSync(media);
    makeRealSegments(media, 30, 1);
    origin = await new WowzaOrigin({ segmentSeconds: 4, window: 4, segmentBytes: 16 * 1024 }).start();
  });
  afterAll(async () => {
    await origin?.stop();
    await realOrigin?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const signed = useEdge(target, () => ({
    origins: [{ name: 'wowza', http: origin.address }],
    playback_auth: AUTH,
    playback_revoked_file: 'revoked.txt',
  }), { expected: [/connect\(\) failed|upstream prematurely closed/] });
  beforeEach(() => {
    origin.reset();
    writeFileSync(revoked(), '');
  });

  it('path mode: the token on the master URL sends the viewer under its link; every playlist and segment then plays from the cache unchanged; the origin never sees token or link', async () => {
    const t = token({ path: '/live/cam1/*' });
    const entry = await get(`${signed.edge.url}/live/cam1/playlist.m3u8?me_token=${t}&x=1`);
    expect(entry.status).toBe(302);
    const loc = entry.headers.location as string;
    expect(loc).toMatch(new RegExp(`^/_me/${Number(t.slice(4, t.indexOf('~'))) + 30}/1\\.${t.slice(-43, -21)}/[A-Za-z0-9_-]{22}/live/cam1/playlist\\.m3u8\\?x=1$`));
    const master = await follow(`${signed.edge.url}/live/cam1/playlist.m3u8?me_token=${t}`);
    expect(master.status).toBe(200);
    const children = uris(master.body);
    expect(children.length).toBe(2);
    for (const c of children) expect(c).not.toMatch(/me_/);
    const chunklist = await get(dirOf(master.url) + children[0]);
    expect(chunklist.status).toBe(200);
    expect(chunklist.headers['x-cache-status']).toBe('MISS');
    const again = await get(dirOf(master.url) + children[0]);
    expect(again.headers['x-cache-status']).toBe('HIT');
    const segs = uris(chunklist.body);
    expect(segs.length).toBeGreaterThan(0);
    const seg = await get(dirOf(master.url) + segs[segs.length - 1]);
    expect(seg.status).toBe(200);
    expect(seg.body.length).toBe(16 * 1024);
    expect(origin.requests.length).toBeGreaterThan(0);
    for (const r of origin.requests) expect(r.url).not.toMatch(/me_token|me_exp|me_tid|me_sig|_me\//);
  });

  it('query mode: child URIs of the playlists the viewer receives carry its link; the origin never sees token or link', async () => {
    const t = token({ path: '/q/cam1/*' });
    const master = await get(`${signed.edge.url}/q/cam1/playlist.m3u8?me_token=${t}`);
    expect(master.status).toBe(200);
    const children = uris(master.body);
    expect(children.length).toBe(2);
    const link = new RegExp(`[?&]me_exp=${Number(t.slice(4, t.indexOf('~'))) + 30}&me_tid=1\\.${t.slice(-43, -21)}&me_sig=[A-Za-z0-9_-]{22}$`);
    for (const c of children) expect(c).toMatch(link);
    for (const c of children) expect(c).not.toContain('me_token');
    const chunklist = await get(`${signed.edge.url}/q/cam1/${children[0]}`);
    expect(chunklist.status).toBe(200);
    const segs = uris(chunklist.body);
    expect(segs.length).toBeGreaterThan(0);
    for (const s of segs) expect(s).toMatch(link);
    const seg = await get(`${signed.edge.url}/q/cam1/${segs[segs.length - 1]}`);
    expect(seg.status).toBe(200);
    for (const r of origin.requests) expect(r.url).not.toMatch(/me_token|me_exp|me_tid|me_sig/);
  });

  it('viewers with different tokens share one cached playlist and one origin request per segment', async () => {
    const a = token({ path: '/live/share/*' });
    const b = token({ path: '/live/share/*', kid: '2' }, KEY2);
    const la = await follow(`${signed.edge.url}/live/share/chunklist_b800000.m3u8?me_token=${a}`);
    const lb = await follow(`${signed.edge.url}/live/share/chunklist_b800000.m3u8?me_token=${b}`);
    expect([la.status, lb.status]).toEqual([200, 200]);
    expect(dirOf(la.url)).not.toBe(dirOf(lb.url));
    expect(lb.headers['x-cache-status']).toBe('HIT');
    expect(origin.count('/live/share/chunklist_b800000.m3u8')).toBe(1);
    const sa = uris(la.body);
    for (const s of sa) {
      expect((await get(dirOf(la.url) + s)).status).toBe(200);
      expect((await get(dirOf(lb.url) + s)).status).toBe(200);
    }
    for (const s of sa) expect(origin.count(`/live/share/${s.split('?')[0]}`)).toBe(1);
    // The same in query mode, where each viewer's copy carries its own link.
    const qa = await get(`${signed.edge.url}/q/share/chunklist_b800000.m3u8?me_token=${token({ path: '/q/share/*' })}`);
    const qb = await get(`${signed.edge.url}/q/share/chunklist_b800000.m3u8?me_token=${token({ path: '/q/share/*', exp: now() + 700 })}`);
    expect(qb.headers['x-cache-status']).toBe('HIT');
    expect(qa.body.toString()).not.toBe(qb.body.toString());
    expect(origin.count('/q/share/chunklist_b800000.m3u8')).toBe(1);
  });

  it('refuses a playlist with 403 and a reason for each way a token can be wrong (never 401, never the token)', async () => {
    const p = '/live/cam2/playlist.m3u8';
    const cases: Array<[string, string]> = [
      ['', 'missing'],
      ['me_token=garbage', 'malformed'],
      [`me_token=${token({ path: '/live/cam2/*' })}&me_token=${token({ path: '/live/cam2/*' })}`, 'malformed'],
      [`me_token=${token({ path: '/live/cam2/*', exp: now() - 120 })}`, 'expired'],
      [`me_token=${token({ path: '/live/cam2/*', st: now() + 600, exp: now() + 900 })}`, 'not-yet-valid'],
      [`me_token=${token({ path: '/live/other/*' })}`, 'scope'],
      [`me_token=${token({ path: '/live/cam/*' }).replace('/live/cam/*', '/live/cam2/*')}`, 'signature'],
      [`me_token=${token({ path: '/live/cam2/*', ip: '192.0.2.9' })}`, 'ip'],
      [`me_token=${token({ path: '/live/cam2/*', kid: '9' })}`, 'unknown-key'],
    ];
    for (const [q, why] of cases) {
      const r = await get(`${signed.edge.url}${p}${q ? '?' + q : ''}`);
      expect([q, r.status, reason(r)]).toEqual([q, 403, why]);
    }
    expect(origin.count(/\/live\/cam2\//)).toBe(0);
  });

  it('refuses playlists and segments without a valid link: missing, tampered, malformed, expired, or issued for another stream', async () => {
    const t = token({ path: '/q/cam3/*' });
    const list = await get(`${signed.edge.url}/q/cam3/chunklist_b800000.m3u8?me_token=${t}`);
    const seg = uris(list.body).pop()!;
    const [name, query] = seg.split('?');
    const linkOnly = query.replace(/^me_run=[^&]*&/, '');
    expect((await get(`${signed.edge.url}/q/cam3/${seg}`)).status).toBe(200);
    // A reload with the link alone (no token): checked in C.
    const reload = await get(`${signed.edge.url}/q/cam3/chunklist_b800000.m3u8?${linkOnly}`);
    expect([reload.status, reason(reload)]).toEqual([200, undefined]);
    const cases: Array<[string, string, string]> = [
      ['bare', name, 'missing'],
      ['later expiry', `${name}?${query.replace(/me_exp=(\d+)/, (_, e) => `me_exp=${Number(e) + 60}`)}`, 'signature'],
      ['other token id', `${name}?${query.replace(/me_tid=1\.(.)/, (_, c) => `me_tid=1.${c === 'A' ? 'B' : 'A'}`)}`, 'signature'],
      ['other key id', `${name}?${query.replace('me_tid=1.', 'me_tid=2.')}`, 'signature'],
      ['bad token id', `${name}?${query.replace(/me_tid=[^&]*/, 'me_tid=x')}`, 'malformed'],
    ];
    for (const [what, p, why] of cases) {
      const r = await get(`${signed.edge.url}/q/cam3/${p}`);
      expect([what, r.status, reason(r)]).toEqual([what, 403, why]);
    }
    const other = await get(`${signed.edge.url}/q/cam4/${name}?${query}`);
    expect([other.status, reason(other)]).toEqual([403, 'signature']);
    const otherList = await get(`${signed.edge.url}/q/cam4/chunklist_b800000.m3u8?${linkOnly}`);
    expect([otherList.status, reason(otherList)]).toEqual([403, 'signature']);
    const exp = now() - 5;
    const tid = `1.${t.slice(-43, -21)}`;
    const old = await get(`${signed.edge.url}/q/cam3/${name}?me_exp=${exp}&me_tid=${tid}&me_sig=${linkSig(exp, tid, 'q/cam3', null, linkSecret(AUTH.q))}`);
    expect([old.status, reason(old)]).toEqual([403, 'expired']);
    // The same checks for a link in the path (path mode).
    const lt = token({ path: '/live/cam3/*' });
    const under = dirOf((await follow(`${signed.edge.url}/live/cam3/chunklist_b800000.m3u8?me_token=${lt}`)).url);
    const m = /\/_me\/(\d+)\/([^/]+)\/([^/]+)\//.exec(under)!;
    expect((await get(`${under}${name}`)).status).toBe(200);
    const pathCases: Array<[string, string, string]> = [
      ['later expiry', under.replace(`/_me/${m[1]}/`, `/_me/${Number(m[1]) + 60}/`), 'signature'],
      ['other stream', under.replace('/live/cam3/', '/live/cam4/'), 'signature'],
      ['bad token id', under.replace(`/${m[2]}/`, '/x/'), 'malformed'],
      // 16 spellings of the last character decode to the same bytes; only one is the signature.
      ['another spelling of the signature', under.replace(`/${m[3]}/`, `/${m[3].slice(0, 21)}${String.fromCharCode(m[3].charCodeAt(21) + 1)}/`), 'malformed'],
    ];
    for (const [what, dir, why] of pathCases) {
      const r = await get(`${dir}${name}`);
      expect([what, r.status, reason(r)]).toEqual([what, 403, why]);
    }
    const pexp = now() - 5;
    const ptid = `1.${lt.slice(-43, -21)}`;
    const stale = await get(`${signed.edge.url}/_me/${pexp}/${ptid}/${linkSig(pexp, ptid, 'live/cam3', null, linkSecret(AUTH.live))}/live/cam3/chunklist_b800000.m3u8`);
    expect([stale.status, reason(stale)]).toEqual([403, 'expired']);
  });

  it('a link of an address-bound token works from that address only', async () => {
    const t = token({ path: '/live/ipb/*', ip: '127.0.0.1' });
    const m = await follow(`${signed.edge.url}/live/ipb/chunklist_b800000.m3u8?me_token=${t}`);
    expect(m.status).toBe(200);
    expect(m.url).toMatch(/\/1\.[A-Za-z0-9_-]{22}\.ip\//);
    const seg = dirOf(m.url) + uris(m.body).pop()!;
    expect((await get(seg)).status).toBe(200);
    const elsewhere = await get(seg, { localAddress: '127.0.0.2' });
    expect([elsewhere.status, reason(elsewhere)]).toEqual([403, 'signature']);
    // Dropping ".ip" from the token id breaks the signature.
    const stripped = await get(seg.replace('.ip/', '/'), { localAddress: '127.0.0.2' });
    expect(stripped.status).toBe(403);
  });

  it('a revocation refuses the token at once and its links after nginx reloads (graceful), and can be lifted', async () => {
    const t = token({ path: '/live/rev/*', kid: '2' }, KEY2);
    const url = `${signed.edge.url}/live/rev/chunklist_b800000.m3u8?me_token=${t}`;
    const first = await follow(url);
    expect(first.status).toBe(200);
    const reloadUrl = first.url;
    const seg = dirOf(first.url) + uris(first.body).pop()!;
    writeFileSync(revoked(), '# key 2 leaked\nkid:2 revoked;\n');
    const r = await get(url);
    expect([r.status, reason(r)]).toEqual([403, 'revoked']);
    // Links are checked by nginx, which reads the file when it (re)loads.
    expect((await get(reloadUrl)).status).toBe(200);
    await signed.edge.reload();
    const viaLink = await settled(() => get(reloadUrl), 403);
    expect([viaLink.status, reason(viaLink)]).toEqual([403, 'revoked']);
    expect(reason(await get(seg))).toBe('revoked');
    writeFileSync(revoked(), `token:${t.slice(-43, -21)} revoked;\n`);
    await signed.edge.reload();
    expect(reason(await get(url))).toBe('revoked');
    expect(reason(await settled(() => get(reloadUrl), 403))).toBe('revoked');
    // Another token of the same key still plays: only that one is revoked.
    expect((await follow(`${signed.edge.url}/live/rev/chunklist_b800000.m3u8?me_token=${token({ path: '/live/rev/*', kid: '2', exp: now() + 601 }, KEY2)}`)).status).toBe(200);
    writeFileSync(revoked(), '');
    await signed.edge.reload();
    expect((await settled(() => follow(url), 200)).status).toBe(200);
    expect((await settled(() => get(reloadUrl), 200)).status).toBe(200);
  });

  // The command signals nginx through the pid file, as an operator runs it
  // where nginx runs: the local nginx. A containerized nginx is in another
  // pid namespace: there the command writes only (--no-reload) and the
  // harness reloads, which is what the command's own reload does.
  it('media-edge revoke and unrevoke change the file and reload nginx: the viewer is refused at its next playlist and on its links, others play; bad input changes nothing', async () => {
    const inContainer = Boolean(target.image);
    const settingsFile = join(signed.edge.dir, 'edge.json');
    // The edge's own settings, as far as the command reads them: the file, the apps, the state directory (nginx's -p).
    writeFileSync(settingsFile, JSON.stringify({ playback_auth: AUTH, playback_revoked_file: 'revoked.txt', state_dir: 'state', cache_dir: 'state/cache' }));
    const conf = join(signed.edge.confDir, 'nginx.conf');
    const cli = (...args: string[]) => mediaEdge([...args, '--settings', settingsFile, ...(inContainer ? ['--no-reload'] : ['--nginx-conf', conf])]);
    const reloaded = async (out: string) => {
      if (!inContainer) return expect(out).toContain('nginx -t: ok; nginx reloaded');
      expect(out).toMatch(/reload/);
      await signed.edge.reload();
    };
    const t = token({ path: '/live/crev/*' });
    const url = `${signed.edge.url}/live/crev/chunklist_b800000.m3u8?me_token=${t}`;
    const first = await follow(url);
    expect(first.status).toBe(200);
    const seg = dirOf(first.url) + uris(first.body).pop()!;
    const other = `${signed.edge.url}/live/crev/chunklist_b800000.m3u8?me_token=${token({ path: '/live/crev/*', exp: now() + 601 })}`;

    const r = await cli('revoke', '--token-id', t.slice(-43, -21));
    expect([r.code, r.err]).toEqual([0, '']);
    await reloaded(r.out);
    expect(reason(await get(url))).toBe('revoked');
    const viaLink = await settled(() => get(first.url), 403);
    expect([viaLink.status, reason(viaLink)]).toEqual([403, 'revoked']);
    // The reload does not wait for the old workers, which may take a request more.
    expect(reason(await settled(() => get(seg), 403))).toBe('revoked');
    expect((await follow(other)).status).toBe(200);

    const before = readFileSync(revoked());
    const bad = await cli('revoke', '--token-id', 'not;an-id');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--token-id "not;an-id": an id is 1 to 64 letters');
    expect(readFileSync(revoked())).toEqual(before);

    const u = await cli('unrevoke', '--token-id', t.slice(-43, -21));
    expect([u.code, u.err]).toEqual([0, '']);
    await reloaded(u.out);
    expect((await settled(() => follow(url), 200)).status).toBe(200);
    expect((await settled(() => get(first.url), 200)).status).toBe(200);
    expect((await settled(() => get(seg), 200)).status).toBe(200);
  });

  it('forward sends the token to the origin; an explicit link_secret signs the links', async () => {
    const t = token({ path: '/fw/cam1/*' });
    expect((await follow(`${signed.edge.url}/fw/cam1/playlist.m3u8?me_token=${t}`)).status).toBe(200);
    expect(origin.requests.some((r) => r.url.startsWith('/fw/cam1/playlist.m3u8?') && r.url.includes(`me_token=${t}`))).toBe(true);
    // A link made elsewhere with the same secret (another edge) opens segments here.
    const exp = now() + 60;
    const tid = `1.${'A'.repeat(22)}`;
    const seg = `media_b800000_${origin.liveEdge()}.ts`;
    const sig = linkSig(exp, tid, 'ls/cam1', null, 'explicit-link-secret-01');
    expect((await get(`${signed.edge.url}/_me/${exp}/${tid}/${sig}/ls/cam1/${seg}`)).status).toBe(200);
    const other = linkSig(exp, tid, 'ls/cam1', null, linkSecret(AUTH.live));
    expect(reason(await get(`${signed.edge.url}/_me/${exp}/${tid}/${other}/ls/cam1/${seg}`))).toBe('signature');
  });

  it('a CORS preflight for a protected playlist is answered without a token', async () => {
    const r = await get(`${signed.edge.url}/live/cam1/playlist.m3u8`, { method: 'OPTIONS', headers: { Origin: 'https://player.example.com', 'Access-Control-Request-Method': 'GET' } });
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(r.headers['access-control-allow-methods']).toContain('GET');
  });

  it('unprotected applications play without tokens', async () => {
    const r = await get(`${signed.edge.url}/open/cam1/playlist.m3u8`);
    expect(r.status).toBe(200);
    expect(r.headers['x-media-edge-token']).toBeUndefined();
    expect(uris(r.body)[0]).not.toContain('me_');
  });

  it('referrer allow-list: listed hosts and their subdomains pass, others and a missing Referer get 403 referrer', async () => {
    const u = `${signed.edge.url}/ref/cam1/playlist.m3u8?me_token=${token({ path: '/ref/cam1/*' })}`;
    expect((await follow(u, { headers: { Referer: 'https://player.example.com/watch' } })).status).toBe(200);
    expect((await follow(u, { headers: { Referer: 'https://a.b.example.org/' } })).status).toBe(200);
    const ok = await follow(u, { headers: { Referer: 'https://player.example.com/watch' } });
    const seg = dirOf(ok.url) + uris(ok.body)[0];
    for (const h of [{ Referer: 'https://evil.example/' }, { Referer: 'https://player.example.com.evil.example/' }, {} as Record<string, string>]) {
      for (const target of [u, seg]) {
        const r = await get(target, { headers: h });
        expect([r.status, reason(r)]).toEqual([403, 'referrer']);
      }
    }
  });

  it('cookie mode: the viewer gets cookies, the playlist is the cached one unchanged, and cookies alone open children and segments', async () => {
    const t = token({ path: '/cookie/cam1/*' });
    const m = await get(`${signed.edge.url}/cookie/cam1/playlist.m3u8?me_token=${t}`);
    expect(m.status).toBe(200);
    const set = ([] as string[]).concat(m.headers['set-cookie'] ?? []);
    expect(set.map((c) => c.split('=')[0]).sort()).toEqual(['me_exp', 'me_sig', 'me_tid']);
    for (const c of set) expect(c).toMatch(/; Path=\/cookie\/cam1\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
    expect(m.body.toString()).not.toContain('me_');
    const jar = set.map((c) => c.split(';')[0]).join('; ');
    const cl = await get(`${signed.edge.url}/cookie/cam1/${uris(m.body)[0]}`, { headers: { Cookie: jar } });
    expect(cl.status).toBe(200);
    const seg = uris(cl.body).pop()!;
    expect(seg).not.toMatch(/me_(token|exp|tid|sig)/);
    expect((await get(`${signed.edge.url}/cookie/cam1/${seg}`, { headers: { Cookie: jar } })).status).toBe(200);
    const none = await get(`${signed.edge.url}/cookie/cam1/${seg}`);
    expect([none.status, reason(none)]).toEqual([403, 'missing']);
    const noToken = await get(`${signed.edge.url}/cookie/cam1/${uris(m.body)[0]}`);
    expect(reason(noToken)).toBe('missing');
    // The token itself as a cookie works too (hmac and akamai).
    const byCookie = await get(`${signed.edge.url}/cookie/cam1/playlist.m3u8`, { headers: { Cookie: `me_token=${encodeURIComponent(t)}` } });
    expect(byCookie.status).toBe(200);
  });

  it('requests on one worker share nothing: each viewer gets its own link or none, whatever came before (QuickJS reuses contexts)', async () => {
    // One worker, so every request below runs in the same process, and on
    // QuickJS in contexts it reuses (js_context_reuse).
    await withEdge(target, { origins: [{ name: 'wowza', http: origin.address }], playback_auth: AUTH, worker_processes: '1' }, async (one) => {
      const linkOf = (body: Buffer) => /me_tid=([^&\s]+)&me_sig=([A-Za-z0-9_-]{22})/.exec(uris(body)[0])?.slice(1).join(' ');
      // A token's id is part of its signature: distinct tokens, distinct ids.
      const tidOf = (t: string) => `1.${t.slice(-43, -21)}`;
      const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      for (let i = 0; i < 4; i++) {
        const ta = token({ path: '/q/iso/*', exp: now() + 600 + i });
        const a = await get(`${one.url}/q/iso/chunklist_b800000.m3u8?me_token=${ta}`);
        expect(a.status).toBe(200);
        const la = linkOf(a.body)!;
        expect(la.split(' ')[0]).toBe(tidOf(ta));
        // Right after it: a viewer with its own link (checked in C, njs not
        // asked) gets its own, never the one njs just issued.
        const other = tidOf(token({ path: '/q/iso/*', exp: now() + 650 + i }));
        const mine = uris(a.body)[0].split('?')[1].replace(/me_tid=[^&]+/, `me_tid=${other}`);
        const b = await get(`${one.url}/q/iso/chunklist_b800000.m3u8?${mine}`);
        expect(reason(b)).toBe('signature'); // a link is checked, not reused
        const tb = token({ path: '/q/iso/*', exp: now() + 700 + i });
        const good = await get(`${one.url}/q/iso/chunklist_b800000.m3u8?me_token=${tb}`);
        const lb = linkOf(good.body)!;
        expect(lb.split(' ')[0]).toBe(tidOf(tb));
        const viaLink = await get(`${one.url}/q/iso/chunklist_b800000.m3u8?${uris(good.body)[0].split('?')[1]}`);
        expect(viaLink.status).toBe(200);
        expect(linkOf(viaLink.body)).toBe(lb);
        // A refused token after a granted one: 403, nothing issued.
        const bad = await get(`${one.url}/q/iso/chunklist_b800000.m3u8?me_token=${ta.slice(0, -2)}xx`);
        expect(bad.status).toBe(403);
        // Cookie mode: cookies only for the request njs granted.
        const tc = token({ path: '/cookie/iso/*', exp: now() + 800 + i });
        const c = await get(`${one.url}/cookie/iso/chunklist_b800000.m3u8?me_token=${tc}`);
        expect(([] as string[]).concat(c.headers['set-cookie'] ?? []).join(';')).toContain(`me_tid=${tidOf(tc)}`);
        const jar = ([] as string[]).concat(c.headers['set-cookie'] ?? []).map((x) => x.split(';')[0]).join('; ');
        const byCookie = await get(`${one.url}/cookie/iso/chunklist_b800000.m3u8`, { headers: { Cookie: jar } });
        expect(byCookie.status).toBe(200);
        expect(byCookie.headers['set-cookie']).toBeUndefined();
        // Path mode: the redirect names this viewer's token id.
        const tp = token({ path: '/live/iso/*', exp: now() + 900 + i });
        const p = await get(`${one.url}/live/iso/chunklist_b800000.m3u8?me_token=${tp}`);
        expect(p.headers.location as string).toMatch(new RegExp(`^/_me/\\d+/${esc(tidOf(tp))}/`));
      }
    }, { expected: [/connect\(\) failed|upstream prematurely closed/] });
  });

  it('Akamai EdgeAuth tokens minted by akamai-edgeauth play (acl mode and url mode); the origin never sees them', async () => {
    const acl = new EdgeAuth({ key: AKAMAI_KEY, windowSeconds: 300 }).generateACLToken('/aka/cam1/*');
    const m = await follow(`${signed.edge.url}/aka/cam1/playlist.m3u8?__token__=${acl}`);
    expect(m.status).toBe(200);
    const cl = await get(dirOf(m.url) + uris(m.body)[0]);
    expect(cl.status).toBe(200);
    expect((await get(dirOf(m.url) + uris(cl.body).pop())).status).toBe(200);
    const wrong = new EdgeAuth({ key: AKAMAI_KEY, windowSeconds: 300 }).generateACLToken('/aka/cam2/*');
    expect(reason(await get(`${signed.edge.url}/aka/cam1/playlist.m3u8?__token__=${wrong}`))).toBe('scope');
    const url = new EdgeAuth({ key: AKAMAI_KEY, windowSeconds: 300 }).generateURLToken('/akaurl/cam1/playlist.m3u8');
    const um = await follow(`${signed.edge.url}/akaurl/cam1/playlist.m3u8?hdnts=${url}`);
    expect(um.status).toBe(200);
    // url mode signs the master URL only; its children are opened by the link.
    expect(um.url).toMatch(/\/_me\/\d+\/1\.[0-9a-f]{22}\//);
    expect((await get(dirOf(um.url) + uris(um.body)[0])).status).toBe(200);
    expect(reason(await get(`${signed.edge.url}/akaurl/cam9/playlist.m3u8?hdnts=${url}`))).toBe('signature');
    for (const r of origin.requests) expect(r.url).not.toMatch(/__token__|hdnts|me_tid/);
  });

  it('Akamai: one application takes both kinds by default (the token says which); "mode" restricts; escape early and the query string', async () => {
    const ea = (o: Record<string, unknown> = {}) => new EdgeAuth({ key: AKAMAI_KEY, windowSeconds: 300, ...o });
    // A URL token for the master, as generateURLToken makes it, opens the
    // default application, and so does an ACL token.
    const url = ea().generateURLToken('/aka/both/playlist.m3u8');
    const m = await follow(`${signed.edge.url}/aka/both/playlist.m3u8?__token__=${url}`);
    expect(m.status).toBe(200);
    expect((await get(dirOf(m.url) + uris(m.body)[0])).status).toBe(200);
    expect((await follow(`${signed.edge.url}/aka/both/playlist.m3u8?__token__=${ea().generateACLToken('/aka/both/*')}`)).status).toBe(200);
    // Every refusal still holds for a URL token: another path, expired, tampered.
    expect(reason(await get(`${signed.edge.url}/aka/other/playlist.m3u8?__token__=${url}`))).toBe('signature');
    expect(reason(await get(`${signed.edge.url}/aka/both/playlist.m3u8?__token__=${ea({ windowSeconds: undefined, startTime: now() - 600, endTime: now() - 300 }).generateURLToken('/aka/both/playlist.m3u8')}`))).toBe('expired');
    expect(reason(await get(`${signed.edge.url}/aka/both/playlist.m3u8?__token__=${url.replace('exp=', 'exp=1')}`))).toBe('signature');
    // Restricted: each refuses the other kind, and says so.
    expect(reason(await get(`${signed.edge.url}/akaacl/both/playlist.m3u8?__token__=${ea().generateURLToken('/akaacl/both/playlist.m3u8')}`))).toBe('kind');
    expect(reason(await get(`${signed.edge.url}/akaurl/both/playlist.m3u8?hdnts=${ea().generateACLToken('/akaurl/both/*')}`))).toBe('kind');
    // Escape early: only where the application says its tokens are made so.
    const esc = ea({ escapeEarly: true }).generateURLToken('/akaesc/both/playlist.m3u8');
    expect((await follow(`${signed.edge.url}/akaesc/both/playlist.m3u8?__token__=${esc}`)).status).toBe(200);
    expect(reason(await get(`${signed.edge.url}/aka/both/playlist.m3u8?__token__=${ea({ escapeEarly: true }).generateURLToken('/aka/both/playlist.m3u8')}`))).toBe('signature');
    // The query string is not signed (Akamai's "ignore query string"): a
    // token signed over a URL with a query is refused, and a query does not
    // break a token signed over the path.
    expect(reason(await get(`${signed.edge.url}/aka/both/playlist.m3u8?x=1&__token__=${ea().generateURLToken('/aka/both/playlist.m3u8?x=1')}`))).toBe('signature');
    expect((await follow(`${signed.edge.url}/aka/both/playlist.m3u8?x=1&__token__=${url}`)).status).toBe(200);
    for (const r of origin.requests) expect(r.url).not.toMatch(/__token__|hdnts|me_tid/);
  });

  it('Wowza SecureToken: hashes made as a Wowza-integrated site makes them play, children included; the origin gets no token', async () => {
    const q = wowzaQuery('wz/cam1', { wowzatokenendtime: String(now() + 300), wowzatokenstarttime: String(now() - 10), wowzatokenCustomParameter: 'abc' });
    const m = await follow(`${signed.edge.url}/wz/cam1/playlist.m3u8?${q}`);
    expect(m.status).toBe(200);
    const cl = await get(dirOf(m.url) + uris(m.body)[0]);
    expect(cl.status).toBe(200);
    expect((await get(dirOf(m.url) + uris(cl.body).pop())).status).toBe(200);
    expect(reason(await get(`${signed.edge.url}/wz/cam2/playlist.m3u8?${q}`))).toBe('signature');
    const old = wowzaQuery('wz/cam1', { wowzatokenendtime: String(now() - 100) });
    expect(reason(await get(`${signed.edge.url}/wz/cam1/playlist.m3u8?${old}`))).toBe('expired');
    for (const r of origin.requests) expect(r.url).not.toMatch(/wowzatoken/);
  });

  it('Wowza SecureToken folded into chunklist names (_tk{base64}) is read; the origin is asked without it and viewers share one copy', async () => {
    const folded = (end: number) => Buffer.from(wowzaQuery('wz/tk', { wowzatokenendtime: String(end) })).toString('base64').replace(/\//g, '_');
    const first = await get(`${signed.edge.url}/wz/tk/chunklist_w77_b800000_tk${folded(now() + 300)}.m3u8`);
    expect(first.status).toBe(302);
    expect(first.headers.location).toMatch(/\/wz\/tk\/chunklist_w77_b800000\.m3u8$/);
    const a = await follow(`${signed.edge.url}/wz/tk/chunklist_w77_b800000_tk${folded(now() + 300)}.m3u8`);
    const b = await follow(`${signed.edge.url}/wz/tk/chunklist_w78_b800000_tk${folded(now() + 400)}.m3u8`);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(b.headers['x-cache-status']).toBe('HIT');
    expect(origin.requests.map((r) => r.url.split('?')[0]).filter((u) => u.includes('chunklist'))).toEqual(['/wz/tk/chunklist_w77_b800000.m3u8']);
    const bad = await get(`${signed.edge.url}/wz/tk/chunklist_w77_tk${folded(now() + 300).replace(/^./, 'A')}.m3u8`);
    expect(bad.status).toBe(403);
    expect(reason(await get(`${signed.edge.url}/wz/tk/chunklist_w77_tk${folded(now() - 100)}.m3u8`))).toBe('expired');
  });

  it('nginx secure_link_md5 links play; a link for another file or address does not', async () => {
    const exp = now() + 300;
    const m = await follow(`${signed.edge.url}/sl/cam1/playlist.m3u8?${secureLink('/sl/cam1/playlist.m3u8', exp)}`);
    expect(m.status).toBe(200);
    const cl = await get(dirOf(m.url) + uris(m.body)[0]);
    expect(cl.status).toBe(200);
    expect((await get(dirOf(m.url) + uris(cl.body).pop())).status).toBe(200);
    expect(reason(await get(`${signed.edge.url}/sl/cam1/playlist.m3u8?${secureLink('/sl/cam1/other.m3u8', exp)}`))).toBe('signature');
    expect(reason(await get(`${signed.edge.url}/sl/cam1/playlist.m3u8?${secureLink('/sl/cam1/playlist.m3u8', exp, '192.0.2.1')}`))).toBe('signature');
    expect(reason(await get(`${signed.edge.url}/sl/cam1/playlist.m3u8?${secureLink('/sl/cam1/playlist.m3u8', now() - 1)}`))).toBe('expired');
  });

  it('ffprobe reads a token-protected stream with the token only on the master URL', async () => {
    realOrigin ??= await new WowzaOrigin({ segmentSeconds: 1, window: 4, mediaDir: media }).start();
    await withEdge(target, { origins: [{ name: 'real', http: realOrigin.address }], playback_auth: { real: AUTH.real } }, async (real) => {
      const url = `${real.url}/real/cam1/playlist.m3u8?me_token=${token({ path: '/real/cam1/*' })}`;
      // Not spawnSync: the origin runs in this process and must keep answering.
      const r = await new Promise<{ stdout: string; stderr: string }>((res) =>
        execFile('ffprobe', ['-v', 'error', '-of', 'json', '-show_entries', 'stream=codec_type', url], { timeout: 30000 }, (_e, stdout, stderr) => res({ stdout, stderr })));
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout).streams.map((s: { codec_type: string }) => s.codec_type)).toContain('video');
      const seen = real.accessLog().split('\n').filter((l) => /\.ts/.test(l));
      expect(seen.length).toBeGreaterThan(0);
      for (const l of seen) expect(l).toMatch(/" 20[06] /);
    });
  });
});
