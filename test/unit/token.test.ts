import fc from 'fast-check';
import EdgeAuth from 'akamai-edgeauth';
import { describe, expect, it } from 'vitest';
import { aclCovers, edgeAuthEscape, mintToken, parseToken, scopeCovers, scopeProblem, secureLinkMd5, verifyEdgeAuth, verifyToken, wowzaSecureTokenHash, type MeToken } from '../../njs/token.ts';

const KEYS = { '1': 'first-secret', '2': 'second-secret' };
const NOW = 1_800_000_000;
const base: MeToken = { exp: NOW + 600, path: '/live/cam1/*', kid: '1' };
const mint = (t: Partial<MeToken> = {}, key = KEYS['1']): string => {
  const r = mintToken({ ...base, ...t }, key);
  if (!r.ok) throw new Error(r.error);
  return r.token;
};
const ctx = (over: Partial<Parameters<typeof verifyToken>[1]> = {}) => ({ path: '/live/cam1/chunklist_b800000.m3u8', nowS: NOW, skewS: 5, clientIp: '203.0.113.7', keys: KEYS, ...over });

describe('our playback token (me1)', () => {
  it('accepts a minted token for every path under its scope, with either active key', () => {
    for (const p of ['/live/cam1/playlist.m3u8', '/live/cam1/chunklist_b800000.m3u8', '/live/cam1/media_b800000_12.ts']) {
      expect(verifyToken(mint(), ctx({ path: p }))).toEqual({ ok: true, kid: '1', exp: base.exp });
    }
    expect(verifyToken(mint({ kid: '2' }, KEYS['2']), ctx())).toEqual({ ok: true, kid: '2', exp: base.exp });
  });

  it('refuses with the reason: missing, expired, not yet valid, scope, ip, signature, unknown key, revoked', () => {
    expect(verifyToken(undefined, ctx())).toEqual({ ok: false, reason: 'missing' });
    expect(verifyToken(mint({ exp: NOW - 6 }), ctx())).toEqual({ ok: false, reason: 'expired' });
    expect(verifyToken(mint({ exp: NOW - 5 }), ctx()).ok).toBe(true); // within the skew
    expect(verifyToken(mint({ st: NOW + 60 }), ctx())).toEqual({ ok: false, reason: 'not-yet-valid' });
    expect(verifyToken(mint(), ctx({ path: '/live/cam10/playlist.m3u8' }))).toEqual({ ok: false, reason: 'scope' });
    expect(verifyToken(mint({ ip: '198.51.100.1' }), ctx())).toEqual({ ok: false, reason: 'ip' });
    expect(verifyToken(mint({ ip: '203.0.113.7' }), ctx()).ok).toBe(true);
    expect(verifyToken(mint({}, 'wrong-key'), ctx())).toEqual({ ok: false, reason: 'signature' });
    expect(verifyToken(mint({ kid: '9' }), ctx())).toEqual({ ok: false, reason: 'unknown-key' });
    expect(verifyToken(mint(), ctx({ revoked: { 'kid:1': true } }))).toEqual({ ok: false, reason: 'revoked' });
    const t = mint();
    expect(verifyToken(t, ctx({ revoked: { ['sig:' + t.slice(t.lastIndexOf('=') + 1)]: true } }))).toEqual({ ok: false, reason: 'revoked' });
  });

  it('refuses extra separators, duplicated, unknown or reordered fields, huge values and non-ASCII', () => {
    const t = mint();
    const sig = t.slice(t.indexOf('~sig='));
    const signed = t.slice(0, t.indexOf('~sig='));
    for (const bad of [
      t + '~', '~' + t, t.replace('~path', '~~path'), t.replace('~kid=1', '~kid=1~kid=1'),
      signed + '~exp=1' + sig, signed + '~x=1' + sig, t.replace(/^exp=(\d+)~path=([^~]+)/, 'path=$2~exp=$1'),
      t + '&a=b', t.replace('exp=', 'exp=0'.repeat(600)), t.replace('/live', '/lïve'), t.replace('cam1', 'cam%31'),
      'exp=1~path=/~kid=1~sig=' + 'A'.repeat(44), '',
    ]) {
      expect(verifyToken(bad, ctx()).ok, bad).toBe(false);
    }
  });

  it('path scopes: a * only after a /, no dot or empty segments, no encoded slashes', () => {
    expect(scopeProblem('/a/b*')).toMatch(/follow a \//);
    expect(scopeProblem('/a/../b/*')).not.toBeNull();
    expect(scopeProblem('/a//b/*')).not.toBeNull();
    expect(scopeCovers('/a/b/*', '/a/bc')).toBe(false);
    expect(scopeCovers('/a/b/*', '/a/b/c.ts')).toBe(true);
    expect(scopeCovers('/a/b/*', '/a/b/../c/x.ts')).toBe(false);
    expect(scopeCovers('/a/b/*', '/a/b//x.ts')).toBe(false);
    expect(scopeCovers('/a/b/*', '/a/b/%2e%2e/x.ts')).toBe(false);
    expect(scopeCovers('/a/b/*', '/a/b%2fc/x.ts')).toBe(false);
    expect(scopeCovers('/a/b/x.m3u8', '/a/b/x.m3u8')).toBe(true);
    expect(scopeCovers('/a/b/x.m3u8', '/a/b/x.m3u8x')).toBe(false);
    expect(mintToken({ ...base, path: '/live/cam*' }, 'k')).toEqual({ ok: false, error: 'a * must follow a /' });
    // A scope the parser could not read back is refused when minting.
    expect(mintToken({ ...base, path: '/live/a~kid=2/*' }, 'k').ok).toBe(false);
  });

  it('property: whatever mintToken accepts verifies, with the claims it was given', () => {
    const seg = fc.stringMatching(/^[A-Za-z0-9_.:+=,@!~%-]{1,8}$/);
    fc.assert(
      fc.property(fc.array(seg, { minLength: 1, maxLength: 4 }), fc.boolean(), fc.option(fc.integer({ min: 0, max: NOW }), { nil: undefined }), fc.option(fc.constantFrom('203.0.113.7', '2001:db8::1'), { nil: undefined }), fc.constantFrom('1', '2'), (segs, dir, st, ip, kid) => {
        const path = '/' + segs.join('/') + (dir ? '/*' : '');
        const r = mintToken({ exp: NOW + 60, st, path, ip, kid }, KEYS[kid as '1' | '2']);
        if (!r.ok) return;
        const p = parseToken(r.token)!;
        expect(p.token).toEqual({ exp: NOW + 60, path, kid, ...(st === undefined ? {} : { st }), ...(ip === undefined ? {} : { ip }) });
        const target = dir ? path.slice(0, -1) + 'x.ts' : path;
        expect(verifyToken(r.token, ctx({ path: target, clientIp: ip ?? '203.0.113.7' })).ok).toBe(scopeCovers(path, target));
      }),
      { numRuns: 2000 },
    );
  });

  it('property: every mutation of a valid token that changes a signed field is refused', () => {
    const valid = mint({ st: NOW - 60, ip: '203.0.113.7' });
    const alphabet = 'abcdefxyz0123456789~=&%/*.-_:AZ';
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.constantFrom('replace', 'insert', 'delete'), fc.constantFrom(...alphabet.split('')), (at, op, ch) => {
        const m = op === 'replace' ? valid.slice(0, at) + ch + valid.slice(at + 1) : op === 'insert' ? valid.slice(0, at) + ch + valid.slice(at) : valid.slice(0, at) + valid.slice(at + 1);
        if (m === valid) return;
        const v = verifyToken(m, ctx({ path: '/live/cam1/x.ts' }));
        // A mutation is accepted only if it reads back to the same signed fields and signature.
        if (v.ok) {
          const a = parseToken(m)!;
          const b = parseToken(valid)!;
          expect(a.signed).toBe(b.signed);
          expect(a.sig).toBe(b.sig);
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('Wowza SecureToken v2', () => {
  // Published vectors (shared/reference/media.md).
  it('verifies the published vectors', () => {
    expect(wowzaSecureTokenHash('2020s-v/mp4:eeb162-1-20200331-18431.mp4', 'afakesecret', { wowzatokenendtime: '1595365679' }, 'wowzatoken', '172.18.0.1')).toBe('YVNbN1yQoLZdB1iL0-dao8Bjn0emRwZuSPmTw738TtQ=');
    expect(
      wowzaSecureTokenHash('2020s-v/mp4:eeb162-1-20200331-18431.mp4', 'afakesecret69420', { wowzatokenstarttime: '1595275679', wowzatokenendtime: '1595365679', wowzatokenhash: 'ignored', other: 'x' }, 'wowzatoken', '172.18.0.1'),
    ).toBe('21m26u_t6BykDG7PTuUWhoob3LJ-KzoZvKTkh9EgQ0k=');
  });
});

describe('Akamai EdgeAuth 2.0, tokens minted by the akamai-edgeauth package', () => {
  const keyHex = '52a152a152a152a152a152a152a1';
  const ea = (o: Record<string, unknown>) => new EdgeAuth({ key: keyHex, endTime: NOW + 300, ...o });
  const c = (o: Partial<Parameters<typeof verifyEdgeAuth>[1]> = {}) => ({ path: '/live/cam1/chunklist.m3u8', nowS: NOW, skewS: 5, clientIp: '203.0.113.7', keyHex, algorithm: 'sha256' as const, mode: 'acl' as const, ...o });

  it('accepts acl and url tokens, sha256/sha1/md5, ! -joined ACLs, ip, st, id, data, salt', () => {
    expect(verifyEdgeAuth(ea({}).generateACLToken('/live/cam1/*'), c())).toEqual({ ok: true, kid: 'edgeauth', exp: NOW + 300 });
    expect(verifyEdgeAuth(ea({}).generateACLToken(['/vod/*', '/live/cam1/*']), c()).ok).toBe(true);
    for (const algorithm of ['sha1', 'md5'] as const) expect(verifyEdgeAuth(ea({ algorithm }).generateACLToken('/live/*'), c({ algorithm })).ok).toBe(true);
    expect(verifyEdgeAuth(ea({}).generateURLToken('/live/cam1/chunklist.m3u8'), c({ mode: 'url' })).ok).toBe(true);
    expect(verifyEdgeAuth(ea({ ip: '203.0.113.7', startTime: NOW - 10, sessionId: 's1', payload: 'p', salt: 'pepper' }).generateACLToken('/live/*'), c({ salt: 'pepper' })).ok).toBe(true);
  });

  it('takes both kinds by default (the token says which), and only one where mode restricts', () => {
    const acl = ea({}).generateACLToken('/live/cam1/*');
    const url = ea({}).generateURLToken('/live/cam1/chunklist.m3u8');
    expect(verifyEdgeAuth(acl, c({ mode: 'any' })).ok).toBe(true);
    expect(verifyEdgeAuth(url, c({ mode: 'any' })).ok).toBe(true);
    expect(verifyEdgeAuth(url, c({ mode: 'acl' }))).toEqual({ ok: false, reason: 'kind' });
    expect(verifyEdgeAuth(acl, c({ mode: 'url' }))).toEqual({ ok: false, reason: 'kind' });
    // A URL token opens the path it signs, and no other.
    expect(verifyEdgeAuth(url, c({ mode: 'any', path: '/live/cam1/other.m3u8' }))).toEqual({ ok: false, reason: 'signature' });
    // An ACL stripped from a token does not make it a URL token.
    expect(verifyEdgeAuth(acl.replace(/~acl=[^~]*/, ''), c({ mode: 'any' }))).toEqual({ ok: false, reason: 'signature' });
  });

  it('reads tokens signed with escape early where set: the URL escaped for the hash, the ip unescaped', () => {
    const url = ea({ escapeEarly: true }).generateURLToken('/live/cam1/chunklist.m3u8');
    expect(verifyEdgeAuth(url, c({ mode: 'any', escapeEarly: true })).ok).toBe(true);
    expect(verifyEdgeAuth(url, c({ mode: 'any' }))).toEqual({ ok: false, reason: 'signature' });
    const v6 = ea({ escapeEarly: true, ip: '2001:db8::7' }).generateACLToken('/live/*');
    expect(v6).toContain('ip=2001%3adb8%3a%3a7');
    expect(verifyEdgeAuth(v6, c({ escapeEarly: true, clientIp: '2001:db8::7' })).ok).toBe(true);
    expect(verifyEdgeAuth(v6, c({ escapeEarly: true, clientIp: '2001:db8::8' }))).toEqual({ ok: false, reason: 'ip' });
    expect(edgeAuthEscape("/a b/~'*")).toBe('%2fa%20b%2f%7e%27%2a');
  });

  it('refuses wrong key, expired, not yet valid, outside the ACL, other ip, url of another path, tampering', () => {
    expect(verifyEdgeAuth(new EdgeAuth({ key: 'aa' + keyHex.slice(2), endTime: NOW + 300 }).generateACLToken('/live/*'), c())).toEqual({ ok: false, reason: 'signature' });
    expect(verifyEdgeAuth(ea({ endTime: NOW - 10 }).generateACLToken('/live/*'), c())).toEqual({ ok: false, reason: 'expired' });
    expect(verifyEdgeAuth(ea({ startTime: NOW + 60 }).generateACLToken('/live/*'), c())).toEqual({ ok: false, reason: 'not-yet-valid' });
    expect(verifyEdgeAuth(ea({}).generateACLToken('/live/cam2/*'), c())).toEqual({ ok: false, reason: 'scope' });
    expect(verifyEdgeAuth(ea({ ip: '198.51.100.1' }).generateACLToken('/live/*'), c())).toEqual({ ok: false, reason: 'ip' });
    expect(verifyEdgeAuth(ea({}).generateURLToken('/live/cam1/other.m3u8'), c({ mode: 'url' }))).toEqual({ ok: false, reason: 'signature' });
    expect(verifyEdgeAuth(ea({}).generateACLToken('/live/*'), c({ path: '/live/a/../../etc' }))).toEqual({ ok: false, reason: 'scope' });
    const t = ea({}).generateACLToken('/live/cam1/*');
    for (const bad of [t.replace('acl=/live/cam1/*', 'acl=/*'), t.replace('exp=', 'exp=9'), t + '~', 'exp=1~' + t, t.replace('~acl', '~acl=/x~acl'), t.toUpperCase(), '']) {
      expect(verifyEdgeAuth(bad, c()).ok, bad).toBe(false);
    }
    expect(aclCovers('/a/b*', '/a/bc')).toBe(true); // Akamai's own wildcard semantics
    expect(aclCovers('/a/b/*', '/a/bc')).toBe(false);
  });
});

describe('nginx secure_link_md5', () => {
  it('matches the documented form: base64url(md5), no padding', () => {
    // echo -n '2147483647/s/link127.0.0.1 secret' | openssl md5 -binary | openssl base64 | tr +/ -_ | tr -d =
    expect(secureLinkMd5('2147483647/s/link127.0.0.1 secret')).toBe('_e4Nc3iduzkWRm01TBBNYw');
  });
});
