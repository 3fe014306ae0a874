/** The `media-edge` command as a user runs it (the built bin, real nginx -t). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
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

  it('prints usage for an unknown command', () => {
    const r = cli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('usage:');
  });
});
