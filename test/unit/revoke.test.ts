/**
 * `media-edge revoke`'s text transform (tools/revocations.ts): adding and
 * removing a line leaves every other byte of the file as it was, twice is
 * once, and nothing the check would not read is written; and the token id
 * it derives from a token or a viewer's URL is the one the check puts in
 * links (njs/auth.ts tokenId, checkViewer), for every scheme. The command
 * around it, with real nginx: test/integration/cli.test.ts and
 * playback-auth.test.ts.
 */
import EdgeAuth from 'akamai-edgeauth';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkViewer, parseRevocations, type AuthConfig } from '../../njs/auth.ts';
import { mintToken, wowzaSecureTokenHash } from '../../njs/token.ts';
import { addRevocation, idFromToken, idProblem, keyUsers, listRevocations, removeRevocation, type Revocation } from '../../tools/revocations.ts';
import type { PlaybackAppAuth } from '../../tools/settings.ts';

const T: Revocation = { kind: 'token', id: 'AbC_-=0123456789abcdef' };
const K: Revocation = { kind: 'kid', id: '2' };
const FILE = '# leaked on 2024-05-01\nkid:1 revoked;\n\n   token:old_one revoked;   \n# end\n';

describe('the revocation file', () => {
  it('adds one line at the end, everything before it byte for byte', () => {
    const r = addRevocation(FILE, T);
    expect(r).toEqual({ ok: true, changed: true, text: `${FILE}token:${T.id} revoked;\n` });
    expect(addRevocation('', K)).toEqual({ ok: true, changed: true, text: 'kid:2 revoked;\n' });
    // A last line without its newline gets one first; a CRLF file stays CRLF.
    expect(addRevocation('kid:1 revoked;', K)).toEqual({ ok: true, changed: true, text: 'kid:1 revoked;\nkid:2 revoked;\n' });
    expect(addRevocation('# a\r\nkid:1 revoked;\r\n', K)).toEqual({ ok: true, changed: true, text: '# a\r\nkid:1 revoked;\r\nkid:2 revoked;\r\n' });
    expect(parseRevocations(addRevocation(FILE, T).ok ? (r as { text: string }).text : '')).toEqual({ list: { kids: { 1: true }, tokens: { old_one: true, [T.id]: true } }, errors: [] });
  });

  it('adding twice is adding once: unchanged, and said so', () => {
    const once = addRevocation(FILE, T);
    if (!once.ok) throw new Error(once.error);
    expect(addRevocation(once.text, T)).toEqual({ ok: true, changed: false, text: once.text });
    // Revoked already by a line written by hand, spaced differently.
    expect(addRevocation(FILE, { kind: 'token', id: 'old_one' })).toEqual({ ok: true, changed: false, text: FILE });
    // A key id and a token id with the same text are different entries.
    expect(addRevocation('token:1 revoked;\n', { kind: 'kid', id: '1' })).toMatchObject({ changed: true });
  });

  it('removes the line (every copy of it), comments, blank lines and other lines kept exactly', () => {
    expect(removeRevocation(FILE, { kind: 'token', id: 'old_one' })).toEqual({ ok: true, changed: true, text: '# leaked on 2024-05-01\nkid:1 revoked;\n\n# end\n' });
    expect(removeRevocation('kid:2 revoked;\n# x\nkid:2   revoked;\n', K)).toEqual({ ok: true, changed: true, text: '# x\n' });
    expect(removeRevocation('# a\r\nkid:2 revoked;\r\nkid:1 revoked;\r\n', K)).toEqual({ ok: true, changed: true, text: '# a\r\nkid:1 revoked;\r\n' });
    // A comment that mentions the line is a comment.
    expect(removeRevocation('# kid:2 revoked;\n', K)).toEqual({ ok: true, changed: false, text: '# kid:2 revoked;\n' });
  });

  it('removing what is not revoked changes nothing, and says so', () => {
    expect(removeRevocation(FILE, T)).toEqual({ ok: true, changed: false, text: FILE });
    expect(removeRevocation('', K)).toEqual({ ok: true, changed: false, text: '' });
    // kid:1 is revoked, token:1 is not.
    expect(removeRevocation(FILE, { kind: 'token', id: '1' })).toEqual({ ok: true, changed: false, text: FILE });
  });

  it('refuses an id the check would not read (nginx would refuse the file, or match another key)', () => {
    for (const id of ['', 'a b', 'a;b', 'x'.repeat(65), 'é', '1.AbC', 'a}', '"a"', 'a\nkid:1', '$x', 'a#b']) {
      for (const kind of ['token', 'kid'] as const) {
        const add = addRevocation(FILE, { kind, id });
        expect(add.ok, JSON.stringify(id)).toBe(false);
        expect(removeRevocation(FILE, { kind, id }).ok).toBe(false);
        expect(idProblem({ kind, id })).toContain(kind === 'kid' ? '--kid' : '--token-id');
      }
    }
    expect(idProblem({ kind: 'token', id: '1.AbC' })).toContain('me_tid');
    expect(idProblem({ kind: 'token', id: 'x'.repeat(64) })).toBeNull();
  });

  it('refuses to change a file the check cannot read, naming its lines', () => {
    const bad = '# ok\ntoken:AbC revoked;\ntoken:nope\nkid 3\n';
    const want = 'line 3: expected "token:<id> revoked;" or "kid:<key id> revoked;"; line 4: expected "token:<id> revoked;" or "kid:<key id> revoked;" (fix or remove those lines first)';
    expect(addRevocation(bad, T)).toEqual({ ok: false, error: want });
    expect(removeRevocation(bad, { kind: 'token', id: 'AbC' })).toEqual({ ok: false, error: want });
    expect(listRevocations(bad)).toEqual({ ok: false, error: want });
  });

  it('takes ids that are names of object properties as ids like any other', () => {
    for (const id of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const r: Revocation = { kind: 'kid', id };
      const added = addRevocation('', r);
      expect(added).toEqual({ ok: true, changed: true, text: `kid:${id} revoked;\n` });
      expect(listRevocations((added as { text: string }).text)).toEqual({ ok: true, keys: [`kid:${id}`] });
      expect(removeRevocation('', r)).toMatchObject({ changed: false });
      // The check reads them so too: revoked only when listed.
      expect(parseRevocations('').list.kids[id]).toBeUndefined();
      expect(parseRevocations(`kid:${id} revoked;`).list.kids[id]).toBe(true);
    }
  });

  it('lists keys, then tokens', () => {
    expect(listRevocations(FILE)).toEqual({ ok: true, keys: ['kid:1', 'token:old_one'] });
    expect(listRevocations('# nothing\n')).toEqual({ ok: true, keys: [] });
  });

  it('add then remove gives back the file, for any file of lines and comments (property)', () => {
    const line = fc.oneof(
      fc.constantFrom('', '# a comment', '   ', '#kid:9 revoked;'),
      fc.tuple(fc.constantFrom('token', 'kid'), fc.stringMatching(/^[A-Za-z0-9_=-]{1,8}$/), fc.constantFrom(' ', '  ', '\t'), fc.constantFrom('', ' ')).map(([k, id, sp, pad]) => `${pad}${k}:${id}${sp}revoked;${pad}`),
    );
    fc.assert(fc.property(fc.array(line, { maxLength: 8 }), fc.stringMatching(/^[A-Za-z0-9_=-]{9,12}$/), fc.constantFrom('token', 'kid'), (lines, id, kind) => {
      const text = lines.map((l) => `${l}\n`).join('');
      const r = { kind, id } as Revocation;
      const added = addRevocation(text, r);
      if (!added.ok || !added.changed) return false;
      expect(parseRevocations(added.text).errors).toEqual([]);
      expect(removeRevocation(added.text, r)).toEqual({ ok: true, changed: true, text });
      return true;
    }));
  });
});

describe('a token id from what an operator has', () => {
  const NOW = Math.floor(Date.now() / 1000);
  const base = { forward: false, link_secret: 'l', skew_s: 30, link_ttl_s: 600, revoked_file: '' };
  const apps: Record<string, PlaybackAppAuth> = {
    live: { scheme: 'hmac', keys: { '1': 'first-secret-0123456', '2': 'second-secret-012345' } },
    aka: { scheme: 'akamai', key_hex: ['52a152a152a152a152a152a152a1', '0a0b0c0d0e0f10111213141516171819'], param: 'hdnts' },
    wz: { scheme: 'wowza', secret: 'wowza-secret' },
    sl: { scheme: 'secure_link', secret: 's', expression: '$secure_link_expires$uri s' },
  };
  // As render.ts hands it to njs: the secure_link expression's variables in braces.
  const cfg = (app: string, param: string): AuthConfig => ({ ...base, ...apps[app], param, expression: '{secure_link_expires}{uri} s' } as AuthConfig);
  // What checkViewer puts in the link: "<kid>.<token id>".
  const linkId = (app: string, param: string, path: string, query: string): string => {
    const v = checkViewer(cfg(app, param), { path, args: query, cookie: '', clientIp: '127.0.0.1', nowS: NOW });
    if (!v.ok) throw new Error(v.reason);
    return v.tid.split('.')[1];
  };
  const idOf = (input: string) => {
    const r = idFromToken(input, apps);
    if (!r.ok) throw new Error(r.error);
    return r.id;
  };

  it('is the id in the links the check issues, for every scheme, from the URL a viewer opens', () => {
    const m = mintToken({ exp: NOW + 600, path: '/live/cam1/*', kid: '2' }, 'second-secret-012345');
    if (!m.ok) throw new Error(m.error);
    const hq = `me_token=${encodeURIComponent(m.token)}`;
    expect(idOf(`http://edge.example:8080/live/cam1/playlist.m3u8?${hq}&x=1`)).toBe(linkId('live', 'me_token', '/live/cam1/playlist.m3u8', hq));
    expect(idOf(`/live/cam1/playlist.m3u8?${hq}`)).toBe(m.token.slice(-43, -21));
    const ak = new EdgeAuth({ key: '0a0b0c0d0e0f10111213141516171819', endTime: NOW + 300 }).generateACLToken('/aka/cam1/*');
    expect(idOf(`https://e/aka/cam1/playlist.m3u8?hdnts=${ak}`)).toBe(linkId('aka', 'hdnts', '/aka/cam1/playlist.m3u8', `hdnts=${ak}`));
    const params = { wowzatokenendtime: String(NOW + 600) };
    const hash = wowzaSecureTokenHash('wz/cam1', 'wowza-secret', params, 'wowzatoken');
    const wq = `wowzatokenendtime=${params.wowzatokenendtime}&wowzatokenhash=${hash}`;
    expect(idOf(`http://e/wz/cam1/playlist.m3u8?${wq}`)).toBe(linkId('wz', 'wowzatoken', '/wz/cam1/playlist.m3u8', wq));
    const exp = NOW + 600;
    const md5 = createHash('md5').update(`${exp}/sl/cam1/playlist.m3u8 s`).digest('base64url');
    expect(idOf(`http://e/sl/cam1/playlist.m3u8?md5=${md5}&expires=${exp}`)).toBe(linkId('sl', 'md5', '/sl/cam1/playlist.m3u8', `md5=${md5}&expires=${exp}`));
  });

  it('from a whole hmac or Akamai token, as printed or percent-encoded', () => {
    const m = mintToken({ exp: NOW + 600, path: '/live/cam1/*', kid: '1' }, 'first-secret-0123456');
    if (!m.ok) throw new Error(m.error);
    expect(idOf(m.token)).toBe(m.token.slice(-43, -21));
    expect(idOf(encodeURIComponent(m.token))).toBe(m.token.slice(-43, -21));
    const ak = new EdgeAuth({ key: '52a152a152a152a152a152a152a1', endTime: NOW + 300 }).generateACLToken('/aka/*');
    expect(idOf(ak)).toBe(ak.slice(ak.indexOf('~hmac=') + 6, ak.indexOf('~hmac=') + 28));
  });

  it("from a link in a URL (path or query, as in the access log): the token id of its me_tid", () => {
    expect(idOf('/_me/1800000000/1.AbCdEfGhIjKlMnOpQrStUv/Zz0123456789abcdefghij/live/cam1/media_1.ts')).toBe('AbCdEfGhIjKlMnOpQrStUv');
    expect(idOf('http://e/q/cam1/media_1.ts?me_exp=1&me_tid=2.AbCdEfGhIjKlMnOpQrStUv.ip&me_sig=x')).toBe('AbCdEfGhIjKlMnOpQrStUv');
  });

  it('refuses, saying why, what carries no token it can read', () => {
    const cases: Array<[string, RegExp]> = [
      ['/other/cam1/playlist.m3u8?me_token=x', /playback_auth has no application "other"/],
      ['/__proto__/cam1/playlist.m3u8?me_token=x', /no application "__proto__"/],
      ['/live/cam1/playlist.m3u8', /carries no hmac token \(parameter me_token\)/],
      ['/wz/cam1/playlist.m3u8?wowzatokenendtime=1', /carries no wowza token \(parameter wowzatokenhash\)/],
      ['/live/cam1/playlist.m3u8?me_token=a&me_token=b', /malformed/],
      ['/live/cam1/playlist.m3u8?me_token=%E0%A4%A', /malformed/],
      ['/_me/1/x/y/live/cam1/a.ts', /has no token id/],
      ['garbage', /neither an hmac token/],
      ['%E0%A4%A', /percent-encoding/],
      ['', /neither/],
    ];
    for (const [input, why] of cases) {
      const r = idFromToken(input, apps);
      expect(r.ok, input).toBe(false);
      expect((r as { error: string }).error, input).toMatch(why);
    }
  });

  it('names the applications a key id belongs to', () => {
    expect(keyUsers('1', apps)).toEqual(['live (hmac key "1")', 'aka (akamai encryption key)', 'wz (wowza: its only secret)', 'sl (secure_link: its only secret)']);
    expect(keyUsers('2', apps)).toEqual(['live (hmac key "2")', 'aka (akamai transition key)']);
    expect(keyUsers('3', apps)).toEqual([]);
    expect(keyUsers('__proto__', apps)).toEqual([]);
  });
});
