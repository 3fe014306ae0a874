/**
 * Viewer authorization (njs/auth.ts): which parameters are the token, what
 * reaches the origin, revocation file parsing, the link nginx checks, and
 * the producer's markers. Every scheme end to end is in
 * test/integration/playback-auth.test.ts; these pin the edges of the logic.
 */
import EdgeAuth from 'akamai-edgeauth';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkViewer, cookieValue, linkQuery, linkSig, originArgs, parseRevocations, tokenParams, withoutFoldedToken, withoutLink, type AuthConfig } from '../../njs/auth.ts';
import { keyPath } from '../../njs/rules.ts';
import { markForAuth } from '../../njs/playlist.ts';
import { mintToken } from '../../njs/token.ts';

const NOW = 1800000000;
const base = { forward: false, link_secret: 'link-secret', skew_s: 30, link_ttl_s: 600, revoked_file: '' };
const hmac: AuthConfig = { ...base, scheme: 'hmac', param: 'me_token', keys: { '1': 'first-secret-0123456', '2': 'second-secret-012345' } };
const req = (args: string, extra: Partial<{ path: string; cookie: string; clientIp: string; nowS: number }> = {}) =>
  ({ path: '/live/cam1/playlist.m3u8', args, cookie: '', clientIp: '203.0.113.7', nowS: NOW, ...extra });
const tok = (over: Partial<Parameters<typeof mintToken>[0]> = {}, key = 'first-secret-0123456') => {
  const m = mintToken({ exp: NOW + 600, path: '/live/cam1/*', kid: '1', ...over }, key);
  if (!m.ok) throw new Error(m.error);
  return m.token;
};

describe('token parameters', () => {
  it('reads the token from the query, decoded, or else from a cookie; a parameter twice is malformed', () => {
    const t = tok();
    expect(tokenParams(hmac, `a=1&me_token=${encodeURIComponent(t)}`, '')).toEqual({ me_token: t });
    expect(tokenParams(hmac, '', `x=1; me_token=${t}`)).toEqual({ me_token: t });
    expect(tokenParams(hmac, `me_token=${t}&me_token=${t}`, '')).toBe('malformed');
    expect(tokenParams(hmac, 'me_token=%E0%A4%A', '')).toBe('malformed');
    // The link's own parameters are never a token.
    expect(tokenParams(hmac, 'me_exp=1&me_tid=x&me_sig=y', '')).toEqual({});
    expect(cookieValue('a=1;b=2; me_token=v', 'me_token')).toBe('v');
    expect(cookieValue('xme_token=v', 'me_token')).toBeUndefined();
  });

  it("reads a Wowza token folded into a chunklist name (standard or URL-safe base64); a name that does not decode to text is malformed", () => {
    const wz: AuthConfig = { ...base, scheme: 'wowza', param: 'wowzatoken', secret: 's' };
    // The form seen in the wild (https://github.com/video-dev/hls.js/issues/2115).
    const name = 'chunklist_w890016922_tkd293emF0b2tlbnN0YXJ0dGltZT0xNTQ5MjkxMTQzJndvd3phdG9rZW5lbmR0aW1lPTE1NDkzMDkxNDMmd293emF0b2tlbkN1c3RvbVBhcmFtZXRlcj1hYmNkZWYmd293emF0b2tlbmhhc2g9aEJ0cnRpVTVMN1BZenRrTmtuV2pEZ3g5Qlk2Vmt1SVBLdzZZR2pydkNwYz0=.m3u8';
    expect(tokenParams(wz, '', '', `/vod/x/${name}`)).toEqual({ wowzatokenstarttime: '1549291143', wowzatokenendtime: '1549309143', wowzatokenCustomParameter: 'abcdef', wowzatokenhash: 'hBtrtiU5L7PYztkNknWjDgx9BY6VkuIPKw6YGjrvCpc=' });
    expect(withoutFoldedToken(`/vod/x/${name}`)).toBe('/vod/x/chunklist_w890016922.m3u8');
    // What nginx keys on: the location's rewrite drops the token, the key path the session id.
    expect(keyPath(withoutFoldedToken(`/vod/x/${name}`))).toBe('/vod/x/chunklist.m3u8');
    expect(keyPath(withoutFoldedToken('/vod/x/chunklist_w1_b800000_tkAAAA.m3u8'))).toBe('/vod/x/chunklist_b800000.m3u8');
    expect(tokenParams(wz, '', '', '/vod/x/chunklist_w1_tk____.m3u8')).toBe('malformed');
    // The query wins over the name; other schemes never read names.
    expect(tokenParams(wz, 'wowzatokenhash=q', '', `/vod/x/${name}`)).toEqual({ wowzatokenhash: 'q' });
    expect(tokenParams(hmac, '', '', `/vod/x/${name}`)).toEqual({});
  });

  it('sends the origin everything but the token and the link, as it came; forward keeps the token', () => {
    expect(originArgs(hmac, 'me_token=t&_HLS_msn=3&flag&a=%20b&me_sig=s')).toBe('_HLS_msn=3&flag&a=%20b');
    expect(originArgs({ ...hmac, forward: true }, 'me_token=t&a=1')).toBe('me_token=t&a=1');
    const wz: AuthConfig = { ...base, scheme: 'wowza', param: 'wowzatoken', secret: 's' };
    expect(originArgs(wz, 'wowzatokenhash=h&wowzatokenendtime=1&wowzatokenCustomParameter=c&x=1')).toBe('x=1');
    expect(withoutLink('me_exp=1&me_tid=1.a&me_sig=s&_HLS_msn=4&_HLS_part=1')).toBe('_HLS_msn=4&_HLS_part=1');
  });
});

describe('checkViewer', () => {
  it('grants a link: the expiry plus the skew allowance, key id and the first 22 characters of the signature', () => {
    const t = tok();
    expect(checkViewer(hmac, req(`me_token=${t}`))).toEqual({ ok: true, exp: NOW + 630, tid: `1.${t.slice(-43, -21)}`, ip: false });
    const bound = tok({ ip: '203.0.113.7', kid: '2' }, 'second-secret-012345');
    expect(checkViewer(hmac, req(`me_token=${bound}`))).toEqual({ ok: true, exp: NOW + 630, tid: `2.${bound.slice(-43, -21)}.ip`, ip: true });
  });

  it('refuses with the reason, revoked tokens and keys included', () => {
    const t = tok();
    expect(checkViewer(hmac, req(''))).toEqual({ ok: false, reason: 'missing' });
    expect(checkViewer(hmac, req(`me_token=${tok({ exp: NOW - 60 })}`))).toEqual({ ok: false, reason: 'expired' });
    expect(checkViewer(hmac, req(`me_token=${t}`, { path: '/live/cam2/playlist.m3u8' }))).toEqual({ ok: false, reason: 'scope' });
    expect(checkViewer(hmac, req(`me_token=${t}`), parseRevocations(`token:${t.slice(-43, -21)} revoked;`).list)).toEqual({ ok: false, reason: 'revoked' });
    expect(checkViewer(hmac, req(`me_token=${t}`), parseRevocations('kid:1 revoked;').list)).toEqual({ ok: false, reason: 'revoked' });
    expect(checkViewer(hmac, req(`me_token=${t}`), parseRevocations('kid:2 revoked;').list).ok).toBe(true);
  });

  it('akamai: the transition key is tried after the encryption key; its links say which key (2)', () => {
    const keyA = '0a0b0c0d0e0f10111213141516171819';
    const keyB = '52a152a152a152a152a152a152a1';
    const ak: AuthConfig = { ...base, scheme: 'akamai', param: '__token__', key_hex: [keyA, keyB], algorithm: 'sha256', mode: 'acl' };
    const byB = new EdgeAuth({ key: keyB, startTime: NOW - 10, endTime: NOW + 300 }).generateACLToken('/live/cam1/*');
    const v = checkViewer(ak, req(`__token__=${byB}`));
    expect(v.ok && v.tid.startsWith('2.')).toBe(true);
    const byA = new EdgeAuth({ key: keyA, endTime: NOW + 300 }).generateACLToken('/live/cam1/*');
    expect(checkViewer(ak, req(`__token__=${byA}`)).ok && (checkViewer(ak, req(`__token__=${byA}`)) as { tid: string }).tid.startsWith('1.')).toBe(true);
  });

  it('a token without expiry gets links for link_ttl', () => {
    const sl: AuthConfig = { ...base, scheme: 'secure_link', param: 'md5', secret: 'secret', expression: '{uri} secret' };
    const md5 = createHash('md5').update('/live/cam1/playlist.m3u8 secret').digest('base64url');
    expect(checkViewer(sl, req(`md5=${md5}`))).toEqual({ ok: true, exp: NOW + 600, tid: `1.${md5}`, ip: false });
  });
});

describe('revocation file', () => {
  it('is nginx map syntax; other lines are reported, not guessed', () => {
    const r = parseRevocations('# leaked\nkid:2 revoked;\n  token:AbC_-= revoked;  \n\ntoken:x\nkid 3\n');
    expect(r.list).toEqual({ kids: { '2': true }, tokens: { 'AbC_-=': true } });
    expect(r.errors).toEqual(['line 5: expected "token:<id> revoked;" or "kid:<key id> revoked;"', 'line 6: expected "token:<id> revoked;" or "kid:<key id> revoked;"']);
  });

  it('names of object properties are ids like others: revoked only when listed', () => {
    const kid = (id: string) => ({ ...hmac, keys: { [id]: 'a-secret-for-this-kid' } });
    for (const id of ['constructor', 'toString', '__proto__']) {
      const t = tok({ kid: id }, 'a-secret-for-this-kid');
      expect(checkViewer(kid(id), req(`me_token=${t}`), parseRevocations('').list).ok).toBe(true);
      expect(checkViewer(kid(id), req(`me_token=${t}`), parseRevocations(`kid:${id} revoked;`).list)).toEqual({ ok: false, reason: 'revoked' });
    }
  });
});

describe('the link', () => {
  it('is what nginx computes: secure_link_md5 "$secure_link_expires|$tid|$stream[|$remote_addr] <secret>"', () => {
    const md5 = (s: string) => createHash('md5').update(s).digest('base64url');
    expect(linkSig(1800000630, '1.abcdefghijklmnopqrstuv', 'live/cam1', null, 'sec')).toBe(md5('1800000630|1.abcdefghijklmnopqrstuv|live/cam1 sec'));
    expect(linkSig(1800000630, '1.abcdefghijklmnopqrstuv.ip', 'live/cam1', '198.51.100.4', 'sec')).toBe(md5('1800000630|1.abcdefghijklmnopqrstuv.ip|live/cam1|198.51.100.4 sec'));
    expect(linkQuery(5, '1.x', 'S', '&amp;')).toBe('me_exp=5&amp;me_tid=1.x&amp;me_sig=S');
  });

  it('changes with every field it binds (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 }), fc.stringMatching(/^[A-Za-z0-9_-]{1,8}\.[A-Za-z0-9_=-]{22}$/), fc.stringMatching(/^[a-z]{1,6}\/[a-z0-9]{1,6}$/), (exp, tid, stream) => {
      const sig = linkSig(exp, tid, stream, null, 'sec');
      expect(linkSig(exp + 1, tid, stream, null, 'sec')).not.toBe(sig);
      expect(linkSig(exp, tid + 'A', stream, null, 'sec')).not.toBe(sig);
      expect(linkSig(exp, tid, stream + 'x', null, 'sec')).not.toBe(sig);
      expect(linkSig(exp, tid, stream, '127.0.0.1', 'sec')).not.toBe(sig);
    }), { numRuns: 300 });
  });
});

describe('markForAuth (query mode)', () => {
  it('marks every child of the own stream, HLS tags included, leaves other hosts alone and lists other streams', () => {
    const hls = '#EXTM3U\r\n#EXT-X-KEY:METHOD=AES-128,URI="k.key"\r\n#EXT-X-MAP:URI="init.mp4"\r\nmedia_1.ts?me_run=r\r\n#EXT-X-PART:DURATION=1,URI="p.1.m4s"\r\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p.2.m4s"\r\n#EXT-X-RENDITION-REPORT:URI="b.m3u8",LAST-MSN=1\r\n/live/other/x.ts\r\nhttps://cdn.example/x.ts\r\n';
    const m = markForAuth(hls, false, '/live/cam1/a.m3u8');
    expect(m.text).toBe('#EXTM3U\r\n#EXT-X-KEY:METHOD=AES-128,URI="k.key?_me_l_=1"\r\n#EXT-X-MAP:URI="init.mp4?_me_l_=1"\r\nmedia_1.ts?me_run=r&_me_l_=1\r\n#EXT-X-PART:DURATION=1,URI="p.1.m4s?_me_l_=1"\r\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p.2.m4s?_me_l_=1"\r\n#EXT-X-RENDITION-REPORT:URI="b.m3u8?_me_l_=1",LAST-MSN=1\r\n/live/other/x.ts\r\nhttps://cdn.example/x.ts\r\n');
    expect(m.foreign).toEqual(['/live/other/x.ts']);
    const mpd = markForAuth('<SegmentTemplate media="c_$Number%05d$.m4s" initialization="i.m4s?me_run=r"/>', true, '/live/cam1/manifest.mpd');
    expect(mpd.text).toBe('<SegmentTemplate media="c_$Number%05d$.m4s?_me_x_=1" initialization="i.m4s?me_run=r&amp;_me_x_=1"/>');
  });

  it('marks nginx-rtmp hls_variant renditions of the own stream where stream_variants names their suffixes', () => {
    const master = '#EXTM3U\n#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=160000\nabr_low.m3u8\n#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=320000\nabr_hi.m3u8\n';
    expect(markForAuth(master, false, '/flat/abr.m3u8', ['_low', '_hi'])).toEqual({ text: master.replace(/\.m3u8\n/g, '.m3u8?_me_l_=1\n'), foreign: [] });
    expect(markForAuth(master, false, '/flat/abr.m3u8').foreign).toEqual(['abr_low.m3u8', 'abr_hi.m3u8']);
  });
});
