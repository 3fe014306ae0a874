/** The `media-edge` command as a user runs it (the built bin, real nginx -t). */
import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../tools/paths.ts';
import { settingsReference } from '../../tools/settings.ts';
import { parseStreamName, verifyLocal } from '../../njs/publish.ts';
import { verifyToken } from '../../njs/token.ts';

const dir = mkdtempSync(join(tmpdir(), 'media-edge-cli-'));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]) {
  const r = spawnSync('node', [join(PACKAGE_ROOT, 'bin/media-edge.mjs'), ...args], { encoding: 'utf8', cwd: dir });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function settings(name: string, value: unknown): string {
  const f = join(dir, name);
  writeFileSync(f, typeof value === 'string' ? value : JSON.stringify(value));
  return f;
}

describe('media-edge', () => {
  it('renders a valid settings file and runs nginx -t on it', () => {
    const f = settings('ok.json', { listen_http: '127.0.0.1:1', listen_rtmp: '127.0.0.1:2', user: process.getuid?.() === 0 ? 'root' : '' });
    const r = cli(['render', '--settings', f, '--out', join(dir, 'out')]);
    expect(r.err).toBe('');
    expect(r.out).toContain('nginx -t: ok');
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'out/nginx.conf'), 'utf8')).toContain(`include ${join(dir, 'out')}/media-edge-http.conf;`);
  });

  it('names the wrong setting and the accepted values', () => {
    const f = settings('bad.json', { playlist_ttl: 'soon', origins: [{ name: 'a', http: '127.0.0.1:1', weight: 0 }] });
    const r = cli(['render', '--settings', f, '--out', join(dir, 'bad')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('playlist_ttl: expected an nginx time in whole seconds such as "1s", "10m", "1d" (no "ms"; nginx counts this one in seconds) (got "soon")');
    expect(r.err).toContain('origins[0].weight: expected a whole number from 1 to 1000 (got 0)');
  });

  it('refuses a malformed revocation file, naming the line (nginx would refuse every reload)', () => {
    writeFileSync(join(dir, 'revoked.txt'), '# revoked\ntoken:AAAAAAAAAAAAAAAAAAAAAA revoked;\ntoken:nope\nkid:2 revoked;\n');
    const f = settings('revoked.json', { playback_auth: { live: { scheme: 'hmac', keys: { '1': 'a-secret-of-enough-length' } } }, playback_revoked_file: 'revoked.txt' });
    const r = cli(['check', '--settings', f]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${join(dir, 'revoked.txt')}: line 3: expected "token:<id> revoked;" or "kid:<key id> revoked;"`);
    writeFileSync(join(dir, 'revoked.txt'), 'token:AAAAAAAAAAAAAAAAAAAAAA revoked;\n');
    expect(cli(['check', '--settings', f]).code).toBe(0);
  });

  it('says where a settings file is not JSON', () => {
    const r = cli(['check', '--settings', settings('broken.json', '{"listen_http": ')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/broken\.json: .*JSON/);
  });

  it("shows nginx's own message when nginx refuses the rendered config", () => {
    // Valid to the schema, refused by nginx: two listeners on one address.
    const f = settings('clash.json', { listen_http: '127.0.0.1:9', listen_rtmp: '127.0.0.1:9', cache_keys_zone_size: '0', user: process.getuid?.() === 0 ? 'root' : '' });
    const r = cli(['render', '--settings', f, '--out', join(dir, 'clash')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('nginx -t rejected');
    expect(r.err).toMatch(/nginx: \[emerg\]/);
  });

  it('prints the settings reference', () => {
    const r = cli(['docs', '--out', '-']);
    expect(r.out).toBe(settingsReference());
  });

  it('mints publish and play keys the edge accepts, for hmac applications only', () => {
    const secrets = ['first-secret-0123456789', 'second-secret-0123456789'];
    const f = settings('auth.json', { rtmp_auth: { live: { mode: 'hmac', secrets }, open: { mode: 'allow' } } });
    const now = Math.floor(Date.now() / 1000);
    for (const [extra, kind] of [[[], 'publish'], [['--kid', '2'], 'publish'], [['--play'], 'play']] as const) {
      const r = cli(['mint-key', '--settings', f, '--app', 'live', '--stream', 'cam1', '--ttl', '600', ...extra]);
      expect(r.code, r.err).toBe(0);
      const key = /stream key: (\S+)/.exec(r.out)![1];
      expect(r.out).toContain(`${kind === 'play' ? 'play from' : 'publish to'}: rtmp://127.0.0.1:1935/live/${key}`);
      const name = parseStreamName(key);
      expect(Number(name.params.exp) - now).toBeGreaterThanOrEqual(599);
      expect(verifyLocal({ mode: 'hmac', secrets }, 'live', name, now, 0, kind)).toEqual({ ok: true });
      // A publish key is no play key, and the reverse.
      expect(verifyLocal({ mode: 'hmac', secrets }, 'live', name, now, 0, kind === 'play' ? 'publish' : 'play').ok).toBe(false);
    }
    const open = cli(['mint-key', '--settings', f, '--app', 'open', '--stream', 'cam1']);
    expect(open.code).toBe(1);
    expect(open.err).toContain('rtmp_auth.open: not in hmac mode');
    const kid3 = cli(['mint-key', '--settings', f, '--app', 'live', '--stream', 'cam1', '--kid', '3']);
    expect(kid3.err).toContain('has no secret 3');
  });

  it('mints a playback token and prints a playback URL that carries it; refuses what it cannot mint', () => {
    const keys = { '1': 'playback-secret-one-0123', '2': 'playback-secret-two-0123' };
    const f = settings('play.json', { listen_http: '127.0.0.1:8080', playback_auth: { live: { scheme: 'hmac', keys }, ext: { scheme: 'secure_link', secret: 'secure-link-secret-0123', expression: '$secure_link_expires$uri secure-link-secret-0123' } } });
    const now = Math.floor(Date.now() / 1000);
    const r = cli(['mint-token', '--settings', f, '--path', '/live/cam1/playlist.m3u8', '--ttl', '600', '--kid', '2', '--ip', '203.0.113.9']);
    expect(r.code, r.err).toBe(0);
    const token = /^token: +(\S+)$/m.exec(r.out)![1];
    expect(r.out).toContain(`play:     http://127.0.0.1:8080/live/cam1/playlist.m3u8?me_token=${encodeURIComponent(token)}`);
    expect(r.out).toMatch(/^scope: +\/live\/cam1\/\*$/m);
    const ctx = { nowS: now, skewS: 0, clientIp: '203.0.113.9', keys };
    const v = verifyToken(token, { ...ctx, path: '/live/cam1/media_5.ts' });
    expect(v.ok && v.kid === '2' && v.exp >= now + 599).toBe(true);
    expect(verifyToken(token, { ...ctx, path: '/live/cam2/playlist.m3u8' })).toEqual({ ok: false, reason: 'scope' });
    expect(verifyToken(token, { ...ctx, path: '/live/cam1/playlist.m3u8', clientIp: '198.51.100.1' })).toEqual({ ok: false, reason: 'ip' });
    expect(cli(['mint-token', '--settings', f, '--path', '/ext/cam1/playlist.m3u8']).err).toContain('playback_auth.ext: not the hmac scheme');
    expect(cli(['mint-token', '--settings', f, '--path', '/live/cam1/playlist.m3u8', '--kid', '3']).err).toContain('has no key "3"');
    expect(cli(['mint-token', '--settings', f, '--path', '/live/cam1/playlist.m3u8', '--scope', '/live/cam*']).err).toContain('cannot mint: a * must follow a /');
  });

  it('writes the settings reference to --out, creating its directory, over a stale one', () => {
    const out = join(dir, 'docs', 'settings.md');
    expect(cli(['docs', '--out', out]).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(settingsReference());
    writeFileSync(out, 'stale\n');
    expect(cli(['docs', '--out', out]).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(settingsReference());
  });

  it('prints usage for an unknown command or option (exit 2)', () => {
    const r = cli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('usage:');
    const o = cli(['check', '--frobnicate']);
    expect(o.code).toBe(2);
    expect(o.err).toContain("Unknown option '--frobnicate'");
    expect(cli(['render']).code).toBe(2);
  });

  describe('revoke', () => {
    // A rendered edge, not started: nginx -t runs on its nginx.conf, a reload finds no nginx.
    const keys = { '1': 'playback-secret-one-0123' };
    const auth = { live: { scheme: 'hmac', keys }, wz: { scheme: 'wowza', secret: 'wowza-secret-0123' } };
    const base = { listen_http: '127.0.0.1:8080', listen_rtmp: '127.0.0.1:1', state_dir: 'rv-state', cache_dir: 'rv-state/cache', user: process.getuid?.() === 0 ? 'root' : '', playback_auth: auth };
    const f = settings('rv.json', { ...base, playback_revoked_file: 'rv-revoked.txt' });
    const file = join(dir, 'rv-revoked.txt');
    const conf = join(dir, 'rv-out', 'nginx.conf');
    const ID = 'AbCdEfGhIjKlMnOpQrStUv';
    const revoke = (...args: string[]) => cli(['revoke', '--settings', f, ...args]);
    const unrevoke = (...args: string[]) => cli(['unrevoke', '--settings', f, ...args]);

    it('adds and removes the line, keeping the file\'s other lines, mode and inode; twice is once; lists', () => {
      expect(cli(['render', '--settings', f, '--out', join(dir, 'rv-out')]).code).toBe(0);
      writeFileSync(file, '# leaked keys\nkid:9 revoked;\n');
      chmodSync(file, 0o640);
      // As root, a file of another owner (nginx's workers, say) stays theirs.
      const owner = process.getuid?.() === 0 ? 65534 : statSync(file).uid;
      chownSync(file, owner, owner === 65534 ? 65534 : statSync(file).gid);
      const r = revoke('--token-id', ID, '--nginx-conf', conf, '--no-reload');
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(`revoked token:${ID} in ${file}`);
      expect(r.out).toContain(`not reloaded (--no-reload): token checks read the file at once; its links are refused once nginx reloads: `);
      expect(r.out).toContain(`-c ${conf} -t && `);
      expect(r.out).toContain(`-c ${conf} -s reload`);
      expect(readFileSync(file, 'utf8')).toBe(`# leaked keys\nkid:9 revoked;\ntoken:${ID} revoked;\n`);
      expect(statSync(file).mode & 0o777).toBe(0o640);
      expect(statSync(file).uid).toBe(owner);
      const ino = statSync(file).ino;
      const again = revoke('--token-id', ID, '--no-reload');
      expect([again.code, again.out.trim()]).toEqual([0, `token:${ID}: already revoked in ${file}; nothing changed`]);
      expect(statSync(file).ino).toBe(ino);
      expect(revoke('--list').out).toBe(`kid:9\ntoken:${ID}\n`);
      const key = revoke('--kid', '1', '--no-reload');
      expect(key.code, key.err).toBe(0);
      expect(key.out).toContain('key id 1 is a key of: live (hmac key "1"), wz (wowza: its only secret)');
      expect(unrevoke('--kid', '1', '--no-reload').code).toBe(0);
      const u = unrevoke('--token-id', ID, '--no-reload');
      expect([u.code, u.out]).toEqual([0, expect.stringContaining(`unrevoked token:${ID} in ${file}`)]);
      expect(readFileSync(file, 'utf8')).toBe('# leaked keys\nkid:9 revoked;\n');
      const none = unrevoke('--token-id', ID, '--no-reload');
      expect([none.code, none.out.trim()]).toEqual([0, `token:${ID}: not revoked in ${file}; nothing changed`]);
      expect([statSync(file).mode & 0o777, statSync(file).uid]).toEqual([0o640, owner]);
    });

    it('derives the token id from a playback URL as mint-token prints it, or from the token', () => {
      writeFileSync(file, '');
      const m = cli(['mint-token', '--settings', f, '--path', '/live/cam1/playlist.m3u8']);
      const token = /^token: +(\S+)$/m.exec(m.out)![1];
      const url = /^play: +(\S+)$/m.exec(m.out)![1];
      const r = revoke('--token', url, '--no-reload');
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(`revoked token:${token.slice(-43, -21)} (from the hmac token of application "live")`);
      expect(revoke('--token', token, '--no-reload').out).toContain('already revoked');
      expect(readFileSync(file, 'utf8')).toBe(`token:${token.slice(-43, -21)} revoked;\n`);
    });

    it('tests with nginx -t: when it refuses, the previous file is back and nothing reloads (exit 1)', () => {
      writeFileSync(file, '# as it was\n');
      writeFileSync(join(dir, 'rv-broken.conf'), 'events {}\nhttp { no_such_directive on; }\n');
      const r = revoke('--token-id', ID, '--nginx-conf', join(dir, 'rv-broken.conf'));
      expect(r.code).toBe(1);
      expect(r.err).toContain(`nginx -t rejected the configuration with the change; ${file} is as it was, and nginx was not reloaded:`);
      expect(r.err).toMatch(/\[emerg\] unknown directive "no_such_directive"/);
      expect(readFileSync(file, 'utf8')).toBe('# as it was\n');
      // nginx -t passes on the rendered edge; the reload then finds no nginx running it.
      const down = revoke('--token-id', ID, '--nginx-conf', conf);
      expect(down.code).toBe(1);
      expect(down.err).toContain('nginx -t passed, but the reload failed:');
      expect(down.err).toMatch(/nginx\.pid/);
      expect(readFileSync(file, 'utf8')).toBe(`# as it was\ntoken:${ID} revoked;\n`);
      // No temporary file is left beside it.
      expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    });

    it('refuses bad input with exit 2, naming what is wrong, and leaves the file byte for byte', () => {
      const before = '# keep\r\ntoken:AAAA revoked;\r\n';
      writeFileSync(file, before);
      const cases: Array<[string[], string]> = [
        [['revoke', '--settings', f, '--token-id', 'a;b'], '--token-id "a;b": an id is 1 to 64 letters, digits, "_", "=" or "-"'],
        [['unrevoke', '--settings', f, '--kid', ''], '--kid "": an id is'],
        [['revoke', '--settings', f, '--token-id', ID, '--kid', '1'], 'give exactly one of --token-id ID, --kid KID or --token TOKEN|URL (got more than one)'],
        [['revoke', '--settings', f], 'give exactly one of --token-id ID, --kid KID or --token TOKEN|URL (got none)'],
        [['revoke', '--settings', f, '--list', '--kid', '1'], '--list takes no'],
        [['revoke', '--settings', f, '--token', 'garbage'], '--token: neither an hmac token'],
        [['revoke', '--settings', f, '--token', '/other/cam1/playlist.m3u8?me_token=x'], 'playback_auth has no application "other"'],
        [['revoke', '--settings', f, '--token-id', ID, '--nginx-conf', join(dir, 'nope.conf')], `--nginx-conf ${join(dir, 'nope.conf')}: no such file`],
        [['revoke', '--settings', f, '--token-id'], "Option '--token-id <value>' argument missing"],
        [['revoke', '--settings', settings('rv-none.json', base), '--token-id', ID], 'rv-none.json sets no playback_revoked_file: set it (e.g. "playback_revoked_file": "revoked.txt")'],
        [['revoke', '--settings', settings('rv-open.json', { playback_revoked_file: 'rv-revoked.txt' }), '--token-id', ID], 'has no playback_auth'],
      ];
      for (const [args, want] of cases) {
        const r = cli(args);
        expect([args.join(' '), r.code]).toEqual([args.join(' '), 2]);
        expect(r.err).toContain(want);
        expect(r.out).toBe('');
        expect(readFileSync(file, 'utf8')).toBe(before);
      }
      // (Each id and token the transform refuses: test/unit/revoke.test.ts.)
      // A file the check cannot read is not changed either: its line is named.
      const bad = '# ok\ntoken:AAAA revoked;\ntoken:AAAA\n';
      writeFileSync(file, bad);
      for (const args of [['revoke', '--token-id', ID], ['unrevoke', '--token-id', 'AAAA'], ['revoke', '--list']]) {
        const r = cli([...args, '--settings', f, '--no-reload']);
        expect(r.code).toBe(2);
        expect(r.err).toContain(`${file}: line 3: expected "token:<id> revoked;" or "kid:<key id> revoked;" (fix or remove that line first)`);
        expect(readFileSync(file, 'utf8')).toBe(bad);
      }
      // The default settings file is install's.
      if (!statSync('/etc/media-edge/edge.json', { throwIfNoEntry: false })) expect(cli(['revoke', '--list']).err).toContain('/etc/media-edge/edge.json');
    });

    it('changes the file a symlink points to, and creates a missing one with its header', () => {
      const real = join(dir, 'rv-real.txt');
      writeFileSync(real, '');
      rmSync(file, { force: true });
      symlinkSync(real, file);
      expect(revoke('--token-id', ID, '--no-reload').code).toBe(0);
      expect(readFileSync(real, 'utf8')).toBe(`token:${ID} revoked;\n`);
      rmSync(file);
      expect(revoke('--kid', '2', '--no-reload').code).toBe(0);
      expect(readFileSync(file, 'utf8')).toMatch(/^# Revoked playback tokens and keys: .*\nkid:2 revoked;\n$/);
      rmSync(file);
      expect(unrevoke('--kid', '2', '--no-reload').out).toContain('not revoked');
      expect(revoke('--list').out).toBe(`${file}: nothing is revoked\n`);
    });
  });
});
