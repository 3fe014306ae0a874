import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaults, SCHEMA, settingsReference, validate } from '../../tools/settings.ts';
import { PACKAGE_ROOT } from '../../tools/paths.ts';
import { loadModules, render, writeRendered } from '../../tools/render.ts';
import { fill } from '../../tools/template.ts';
import { nginxSeconds } from '../../tools/units.ts';

describe('settings validation', () => {
  it('takes defaults for missing fields', () => {
    const v = validate({});
    expect(v.ok && v.value).toEqual(defaults());
  });

  it.each<[Record<string, unknown>, string | null]>([
    [{ listen_http: 'localhost' }, 'listen_http: expected "port", "host:port" or "[ipv6]:port"'],
    [{ listen_http: '127.0.0.1:70000' }, 'listen_http: expected'],
    [{ listen_rtmp: 'unix:/x' }, 'listen_rtmp: expected'],
    // nginx's limit_conn refuses 65536 and more.
    [{ http_max_connections_per_address: 65536 }, 'http_max_connections_per_address: expected a whole number from 1 to 65535 (got 65536)'],
    [{ rtmp_max_connections_per_address: 0 }, 'rtmp_max_connections_per_address: expected a whole number from 1 to 65535 (got 0)'],
    [{ rtmp_inspect: 'always' }, 'rtmp_inspect: expected'],
    [{ state_max_files: 5 }, 'state_max_files: expected a whole number from 10 to 10000000 (got 5)'],
    [{ http_header_timeout: 'soon' }, 'http_header_timeout: expected'],
    [{ origins: [] }, 'origins: expected a non-empty list of origins'],
    [{ origins: [{ name: 'a', http: 'nohost' }] }, 'origins[0].http: expected "host:port"'],
    [{ origins: [{ name: 'a', http: '127.0.0.1:1' }, { name: 'a', http: '127.0.0.1:2' }] }, 'origins[1].name: duplicate origin name "a"'],
    [{ origins: [{ name: 'a', http: '127.0.0.1:1', weight: 0 }] }, 'origins[0].weight: expected a whole number from 1 to 1000 (got 0)'],
    [{ origins: [{ name: 'a', http: '127.0.0.1:1', weight: -3 }] }, 'origins[0].weight: expected a whole number from 1 to 1000'],
    [{ origins: [{ name: 'a', http: '127.0.0.1:1', backup: true }] }, 'origins: at least one origin must not be a backup'],
    [{ origins: [{ name: 'a b', http: '127.0.0.1:1' }] }, 'origins[0].name: expected 1-64 letters'],
    [{ origins: [{ name: 'a', http: '127.0.0.1:1', port: 3 }] }, 'origins[0].port: unknown field'],
    [{ playlist_ttl: 'soon' }, 'playlist_ttl: expected an nginx time'],
    [{ playlist_ttl: '500ms' }, 'playlist_ttl: expected an nginx time in whole seconds such as "1s", "10m", "1d" (no "ms"'],
    [{ origin_cooldown: '0s' }, 'origin_cooldown: expected an nginx time in whole seconds'],
    [{ live_playlist_ttl_max: '6m' }, 'live_playlist_ttl_max: at most 5m (got "6m")'],
    [{ vod_playlist_ttl: '1d', playlist_stale_grace: '0' }, null],
    [{ playlist_stale_grace: '0ms' }, 'playlist_stale_grace: expected an nginx time in whole seconds'],
    [{ not_found_ttl: '3s' }, 'not_found_ttl: at most 2s'],
    [{ cache_key_args: ['_HLS_msn', 'me_run'] }, 'cache_key_args: expected a list of up to 16 query parameter names'],
    [{ cache_key_args: ['a b'] }, 'cache_key_args: expected a list'],
    [{ origin_connect_timeout: '500ms', playlist_ttl: '1s' }, null],
    [{ cache_max_size: '1 tb' }, 'cache_max_size: expected an nginx size'],
    [{ cache_dir: '/tmp/x; evil' }, 'cache_dir: expected a file system path'],
    [{ cors_allow_origin: 'a"b' }, 'cors_allow_origin: expected an Origin value'],
    [{ worker_processes: 'many' }, 'worker_processes: expected "auto" or a number'],
    [{ cache_sise: '1g' }, 'cache_sise: unknown setting (known: '],
    [{ rtmp_duplicate_publish: 'takeover' }, 'rtmp_takeover_url: required with rtmp_duplicate_publish "takeover"'],
    [{ rtmp_duplicate_publish: 'takeover', rtmp_takeover_url: 'http://evil.example/x' }, 'rtmp_takeover_url: expected http://{origin_host}:port/path'],
    [{ rtmp_auth: { live: { mode: 'hmac', secrets: ['short'] } } }, 'rtmp_auth.live.secrets: expected one or two secrets of 16-256 characters'],
    [{ rtmp_auth: { live: { mode: 'callback', url: 'http://auth.example/x' } } }, 'rtmp_auth.live.url: expected http://IP:port/path'],
    [{ rtmp_auth: { 'bad app': { mode: 'allow' } } }, 'rtmp_auth.bad app: an application name is'],
    [{ rtmp_auth: { live: { mode: 'magic' } } }, 'rtmp_auth.live.mode: expected one of "hmac", "keys", "callback", "allow", "deny"'],
    [{ playback_auth: { live: { scheme: 'jwt' } } }, 'playback_auth.live.scheme: expected one of "hmac", "akamai", "wowza", "secure_link"'],
    [{ playback_auth: { live: { scheme: 'hmac', keys: { '1': 'short' } } } }, 'playback_auth.live.keys: expected one or two key ids'],
    [{ playback_auth: { live: { scheme: 'hmac', keys: { '1': 'a-secret-with-a-$dollar' } } } }, 'playback_auth.live.keys: expected one or two key ids'],
    [{ playback_auth: { live: { scheme: 'akamai', key_hex: ['xyz'] } } }, 'playback_auth.live.key_hex: expected one or two hex keys'],
    [{ playback_auth: { live: { scheme: 'wowza' } } }, 'playback_auth.live.secret: expected 16-256 characters'],
    [{ playback_auth: { live: { scheme: 'secure_link', secret: 'secure-link-secret-1', expression: '$uri secure-link-secret-1' } } }, 'playback_auth.live.expression: expected a secure_link_md5 expression'],
    [{ playback_auth: { live: { scheme: 'hmac', keys: { '1': 'first-secret-0123456' }, carry: 'header' } } }, 'playback_auth.live.carry: expected one of "path", "query", "cookie"'],
    [{ playback_auth: { live: { scheme: 'hmac', keys: { '1': 'first-secret-0123456' }, referrers: ['http://x'] } } }, 'playback_auth.live.referrers: expected host names'],
    [{ playback_auth: { live: { scheme: 'hmac', keys: { '1': 'first-secret-0123456' }, ttl: 3 } } }, 'playback_auth.live.ttl: unknown field'],
    [{ playback_auth: { '..': { scheme: 'hmac', keys: { '1': 'first-secret-0123456' } } } }, 'playback_auth...: an application name is'],
    // Nested objects: the field list gives the check and the "accepted:" list; a mode or scheme needs its own fields.
    [{ origins: [{ name: 'a', http: '10.0.0.1:80', port: 80 }] }, 'origins[0].port: unknown field (accepted: name, http, rtmp, weight, backup)'],
    [{ origins: [{ name: 'a' }] }, 'origins[0].http: expected "host:port"'],
    [{ origins: ['a'] }, 'origins[0]: expected an object'],
    [{ origins: [{ name: 'a', http: '10.0.0.1:80' }, { name: 'a', http: '10.0.0.2:80' }] }, 'origins[1].name: duplicate origin name "a"'],
    [{ origins: [{ name: 'a', http: '10.0.0.1:80', weight: 0 }] }, 'origins[0].weight: expected a whole number from 1 to 1000'],
    [{ rtmp_auth: { live: { mode: 'keys' } } }, 'rtmp_auth.live.key_file: expected a file system path'],
    [{ rtmp_auth: { live: { mode: 'allow', colour: 'red' } } }, 'rtmp_auth.live.colour: unknown field (accepted: mode, secrets, key_file, url, timeout, play)'],
    [{ rtmp_auth: { live: { mode: 'constructor' } } }, 'rtmp_auth.live.mode: expected one of'],
    [{ rtmp_auth: { live: { play: true } } }, 'rtmp_auth.live.mode: expected one of'],
    [{ rtmp_auth: { live: 'hmac' } }, 'rtmp_auth.live: expected an object with "mode"'],
    [{ rtmp_auth: { live: { mode: 'callback', url: 'http://127.0.0.1:9/auth', timeout: 'soon' } } }, 'rtmp_auth.live.timeout: expected an nginx time'],
    [{ playback_auth: { live: { scheme: 'secure_link', secret: 'secure-link-secret-1', expression: '$secure_link_expires$uri other-secret-000' } } }, 'playback_auth.live.expression: expected a secure_link_md5 expression'],
    [{ playback_auth: { live: { scheme: 'secure_link', secret: 'secure-link-secret-1', expression: '$secure_link_expires$uri secure-link-secret-1' } } }, null],
    [{ playback_auth: { live: { scheme: 'akamai', key_hex: ['0123456789abcdef'], escape_early: 'yes' } } }, 'playback_auth.live.escape_early: expected true or false'],
    [{ playback_auth: { live: { scheme: 'hmac', keys: { '1': 'first-secret-0123456' }, ttl: 3 } } }, 'accepted: scheme, carry, param, keys, key_hex, algorithm, mode, salt, escape_early, secret, ip, expression, referrers, forward, link_secret'],
    [{ listen_https: '127.0.0.1:8443' }, 'tls_certificate, tls_certificate_key: required with listen_https or listen_rtmps'],
    [{ segment_read_timeout: '5s' }, 'segment_read_timeout: must be shorter than origin_failover_timeout'],
    [{ segment_read_timeout: '5s', origin_failover_timeout: '8s' }, null],
    [{ segment_read_timeout: 'soon' }, 'segment_read_timeout: expected an nginx time'],
    [{ playlist_read_timeout: '5s' }, 'playlist_read_timeout: must be shorter than origin_failover_timeout'],
    [{ playlist_read_timeout: '6s', origin_failover_timeout: '8s' }, null],
    [{ playlist_read_timeout: '' }, 'playlist_read_timeout: expected an nginx time'],
    // Operations (issue 20) and the RTMP read size.
    [{ rtmp_buffer_size: '256 k' }, 'rtmp_buffer_size: expected a size such as 256k or 1m'],
    [{ rtmp_buffer_size: '0' }, 'rtmp_buffer_size: expected a size'],
    [{ rtmp_buffer_size: '1m' }, null],
    [{ control_allow: ['everyone'] }, 'control_allow[0]: expected an IPv4/IPv6 address or CIDR range'],
    [{ events_urls: ['http://receiver.example/e'], events_secret: 'events-secret-0123456789', rtmp_auth: { live: { mode: 'allow' } } }, 'events_urls[0]: expected http://IP:port/path'],
    [{ events_urls: ['http://10.0.0.5:80/e', 'http://10.0.0.5:80/e'], events_secret: 'events-secret-0123456789', rtmp_auth: { live: { mode: 'allow' } } }, 'events_urls: a URL is listed twice'],
    [{ events_urls: 'http://10.0.0.5:80/e' }, 'events_urls: expected a list of at most 8 URLs'],
    [{ events_urls: ['http://10.0.0.5:80/e'], rtmp_auth: { live: { mode: 'allow' } } }, 'events_secret: required with events_urls'],
    [{ events_urls: ['http://10.0.0.5:80/e'], events_secret: 'events-secret-0123456789' }, 'events_urls: needs rtmp_auth'],
    [{ events_urls: ['http://10.0.0.5:80/e'], events_secret: 'short', rtmp_auth: { live: { mode: 'allow' } } }, 'events_secret: expected 16-256 characters'],
    [{ events_urls: ['http://10.0.0.5:80/e'], events_secret: 'events-secret-0123456789', rtmp_auth: { live: { mode: 'allow' } }, events_heartbeat: '500ms' }, 'events_heartbeat: expected an nginx time in whole seconds'],
    [{ events_urls: ['http://10.0.0.5:80/e'], events_secret: 'events-secret-0123456789', rtmp_auth: { live: { mode: 'allow' } } }, null],
  ])('judges %j, naming the field', (input, message) => {
    const v = validate(input);
    expect(v.ok).toBe(message === null);
    if (!v.ok) expect(v.errors.join('\n')).toContain(message);
  });

  it('refuses a non-object', () => {
    expect(validate([])).toEqual({ ok: false, errors: ['settings: expected a JSON object'] });
  });
});

describe('rendering', () => {
  it('converts nginx times to seconds', () => {
    expect(nginxSeconds('1s')).toBe(1);
    expect(nginxSeconds('1d')).toBe(86400);
    expect(nginxSeconds('1h30m')).toBe(5400);
    expect(nginxSeconds('500ms')).toBe(0);
    expect(nginxSeconds('90')).toBe(90);
  });

  it('refuses unknown placeholders', () => {
    expect(() => fill('a {{nope}}', {}, 't.conf')).toThrow('t.conf: unknown placeholder {{nope}}');
    expect(() => fill('{{#if nope}}\nx;\n{{/if}}\n', {}, 't.conf')).toThrow('t.conf: unknown placeholder {{nope}}');
  });

  it('keeps an {{#if}} block only when its value is not empty, and refuses an unpaired one', () => {
    const t = '# c\n{{#if e}}\njs_engine {{e}};\n{{/if}}\nend;\n';
    expect(fill(t, { e: 'qjs' }, 't.conf')).toBe('# c\njs_engine qjs;\nend;\n');
    expect(fill(t, { e: '' }, 't.conf')).toBe('# c\nend;\n');
    expect(() => fill('{{#if e}}\nx;\n', { e: 'y' }, 't.conf')).toThrow('t.conf: {{#if}} and {{/if}} must pair');
    expect(() => fill('x {{#if e}} y {{/if}}\n', { e: 'y' }, 't.conf')).toThrow('must pair');
  });

  it('repeats an {{#each}} block per record, with the record\'s fields and {{#if}} inside, and refuses an unknown or unpaired one', () => {
    const t = 'upstream u {\n{{#each servers}}\n{{#if backup}}\n    server {{address}} backup;  # {{zone}}\n{{/if}}\n{{#if primary}}\n    server {{address}};  # {{zone}}\n{{/if}}\n{{/each}}\n}\n';
    const lists = { servers: [{ address: 'a:1', primary: 'on', backup: '' }, { address: 'b:1', primary: '', backup: 'on' }] };
    expect(fill(t, { zone: 'z' }, 't.conf', lists)).toBe('upstream u {\n    server a:1;  # z\n    server b:1 backup;  # z\n}\n');
    expect(fill(t, { zone: 'z' }, 't.conf', { servers: [] })).toBe('upstream u {\n}\n');
    expect(() => fill(t, { zone: 'z' }, 't.conf')).toThrow('t.conf: unknown list {{#each servers}}');
    expect(() => fill('{{#each s}}\nx;\n', {}, 't.conf', { s: [] })).toThrow('{{#each}} and {{/each}} must pair');
    expect(() => fill('{{#each s}}\n{{nope}};\n{{/each}}\n', {}, 't.conf', { s: [{ a: '1' }] })).toThrow('unknown placeholder {{nope}}');
  });

  it('loads the stream core module first, and only modules that exist', () => {
    expect(loadModules('/m', ['ngx_stream_module.so', 'ngx_http_js_module.so', 'ngx_stream_js_module.so'], true)).toEqual(
      ['/m/ngx_stream_module.so', '/m/ngx_http_js_module.so', '/m/ngx_stream_js_module.so'],
    );
    expect(loadModules('/m', ['ngx_http_js_module.so'], false)).toEqual(['/m/ngx_http_js_module.so']);
  });

  it('keeps the state directory from other users where it knows the workers (producer.sock is 0666), says so where not, and names a worker user this machine does not know', () => {
    const dir = mkdtempSync(join(tmpdir(), 'media-edge-render-'));
    try {
      const write = (extra: Record<string, unknown>) => {
        const v = validate({ origins: [{ name: 'a', http: '10.0.0.1:1935' }], ...extra });
        if (!v.ok) throw new Error(v.errors.join());
        return writeRendered(render(v.value, { baseDir: dir, confDir: join(dir, 'conf'), moduleFiles: [] }), join(dir, 'conf'), v.value, dir);
      };
      const mode = (d: string) => statSync(join(dir, d)).mode & 0o777;
      if (process.getuid?.() === 0) {
        // Root without `user`: the workers run as nginx's default user, unknown here.
        expect(write({})).toEqual([expect.stringContaining('set "user" to the nginx worker user')]);
        expect(mode('state')).toBe(0o755);
        // Root with `user`: the master's files stay root's, runs/ is the workers'.
        expect(write({ user: 'root' })).toEqual([]);
        expect(mode('state')).toBe(0o750);
        expect(mode('state/logs')).toBe(0o750);
        expect(mode('state/runs')).toBe(0o700);
        // Debian's worker user: root keeps state/ and logs/ (the pid file, the logs root opens), www-data gets runs/.
        expect(write({ user: 'www-data' })).toEqual([]);
        const www = statSync(join(dir, 'state/runs'));
        expect([statSync(join(dir, 'state')).uid, statSync(join(dir, 'state/logs')).uid, www.uid, www.gid]).toEqual([0, 0, 33, 33]);
        expect(statSync(join(dir, 'state')).gid).toBe(33);
        // The publish-auth file: read by the workers per RTMP session, by no one else.
        write({ user: 'www-data', origins: [{ name: 'a', http: '10.0.0.1:1935', rtmp: '10.0.0.1:1935' }], rtmp_auth: { live: { mode: 'hmac', secrets: ['a-long-enough-secret-1'] } } });
        const auth = statSync(join(dir, 'conf', 'media-edge-rtmp-auth.json'));
        expect([auth.uid, auth.gid, auth.mode & 0o777]).toEqual([0, 33, 0o640]);
        expect(() => write({ user: 'no-such-user-x' })).toThrow('user: user "no-such-user-x" is not known on this machine');
      } else {
        // nginx runs as this user, who owns them all.
        expect(write({})).toEqual([]);
        expect(mode('state')).toBe(0o750);
        expect(mode('state/runs')).toBe(0o700);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('waits the shorter of playlist_read_timeout (or segment_read_timeout) and origin_read_timeout; blocking reloads the latter', () => {
    const at = (settings: Record<string, unknown>) => {
      const v = validate({ listen_rtmp: '', origins: [{ name: 'o', http: '10.0.0.1:80' }], ...settings });
      if (!v.ok) throw new Error(v.errors.join());
      const out = render(v.value, { baseDir: '/srv/edge', confDir: '/srv/edge/conf', moduleFiles: [] });
      const playlist = /location \/_media_edge_origin\/ \{[^}]*proxy_read_timeout ([^;]+);/.exec(out['media-edge-http.conf'])?.[1];
      const segment = /proxy_read_timeout ([^;]+);/.exec(out['media-edge-segments.conf'])?.[1];
      const server = /proxy_read_timeout ([^;]+);/.exec(out['media-edge-proxy.conf'])?.[1];
      return { playlist, segment, server };
    };
    expect(at({})).toEqual({ playlist: '3s', segment: '3s', server: '10s' });
    expect(at({ origin_read_timeout: '2s' })).toEqual({ playlist: '2s', segment: '2s', server: '2s' });
    expect(at({ playlist_read_timeout: '1500ms', segment_read_timeout: '4s' })).toEqual({ playlist: '1500ms', segment: '4s', server: '10s' });
  });

  it('renders every origin with its weight and backup flag, and leaves stream out without RTMP', () => {
    const v = validate({
      listen_rtmp: '',
      origins: [
        { name: 'big', http: '10.0.0.1:80', weight: 3 },
        { name: 'spare', http: '10.0.0.2:80', backup: true },
      ],
    });
    if (!v.ok) throw new Error(v.errors.join());
    const out = render(v.value, { baseDir: '/srv/edge', confDir: '/srv/edge/conf', moduleFiles: [] });
    const http = out['media-edge-http.conf'];
    expect(http).toContain('server 10.0.0.1:80 weight=3 max_fails=1 fail_timeout=10s;  # big');
    // nginx's hash balancer refuses `backup`: backups get their own group behind error_page.
    expect(http).toMatch(/upstream media_edge_origin_backup \{[^}]*server 10\.0\.0\.2:80 weight=1 max_fails=1 fail_timeout=10s;  # spare/);
    expect(http).not.toMatch(/ backup;/);
    expect(out['media-edge-server.conf']).toContain('error_page 502 504 = @media_edge_backup_segment;');
    // Both of the producer's origin locations include the fetch, which fails over to the backups.
    expect(http).toMatch(/location \/_media_edge_origin\/ \{[^}]*proxy_read_timeout 3s;[^}]*include \/srv\/edge\/conf\/media-edge-origin-playlist\.conf;/);
    expect(http).toMatch(/location \/_media_edge_origin_blocking\/ \{[^}]*include \/srv\/edge\/conf\/media-edge-origin-playlist\.conf;/);
    expect(http).not.toMatch(/location \/_media_edge_origin_blocking\/ \{[^}]*proxy_read_timeout/);
    expect(out['media-edge-origin-playlist.conf']).toContain('error_page 502 504 = @media_edge_backup_playlist;');
    expect(http).toContain('hash $media_edge_stream consistent;');
    expect(http).not.toContain('js_shared_dict_zone'); // no router unless njs >= 0.8.1
    expect(out['media-edge-stream.conf']).toBeUndefined();
    expect(out['nginx.conf']).not.toContain('stream {');
    expect(out['nginx.conf']).toContain('pid /srv/edge/state/nginx.pid;');
    expect(out['media-edge-http.conf']).toContain('proxy_cache_path /srv/edge/state/cache ');
  });

  it('imports media-edge-http.js in no segment location without the router (njs 0.7): a miss builds only the small VM of media-edge-space.js', () => {
    const v = validate({ origins: [{ name: 'o', http: '10.0.0.1:80' }], playback_auth: { hm: { scheme: 'hmac', keys: { '1': 'k'.repeat(32) } } } });
    if (!v.ok) throw new Error(v.errors.join());
    // Each segment location's own lines, up to its first "}" (the js_import comes first).
    const segmentLocations = (out: Record<string, string>) => Object.values(out).flatMap((text) => text.match(/location ~\* \\\.\([^)]*\|key\)\$ \{[^}]*/g) ?? []);
    for (const njsShared of [false, true]) {
      const out = render(v.value, { baseDir: '/e', confDir: '/e/conf', moduleFiles: [], njsShared });
      const locations = segmentLocations(out);
      // The viewer-facing one, the protected application's, the producer's prefetch.
      expect(locations.length, String(njsShared)).toBe(3);
      for (const l of locations) expect(l.includes('js_import media_edge from media-edge-http.js;'), l).toBe(njsShared);
    }
  });

  it('asks about the cache disk on segment misses unless cache_min_free is 0, which turns the check off', () => {
    // The probe is written inside a request: at most 64m.
    expect(validate({ origins: [{ name: 'o', http: '10.0.0.1:80' }], cache_min_free: '64m' }).ok).toBe(true);
    const big = validate({ origins: [{ name: 'o', http: '10.0.0.1:80' }], cache_min_free: '65m' });
    expect(big.ok ? [] : big.errors).toEqual(['cache_min_free: at most 64m (the probe writes this much inside a request; got "65m")']);
    expect(validate({ origins: [{ name: 'o', http: '10.0.0.1:80' }], cache_min_free: '1g' }).ok).toBe(false);
    expect(validate({ origins: [{ name: 'o', http: '10.0.0.1:80' }], cache_min_free: '8 m' }).ok).toBe(false);
    const on = validate({ origins: [{ name: 'o', http: '10.0.0.1:80' }] });
    const off = validate({ origins: [{ name: 'o', http: '10.0.0.1:80' }], cache_min_free: '0' });
    if (!on.ok || !off.ok) throw new Error('invalid');
    const ctx = { baseDir: '/e', confDir: '/e/conf', moduleFiles: [] };
    const a = render(on.value, ctx);
    const b = render(off.value, ctx);
    expect(a['media-edge-segments.conf']).toContain('proxy_no_cache $media_edge_cache_full;');
    expect(a['media-edge-http.conf']).toContain('min_free=8m ');
    expect(a['media-edge-http.conf']).toContain('js_var $media_edge_cache_min_free 8388608;');
    expect(b['media-edge-segments.conf']).not.toContain('$media_edge_cache_full');
    expect(b['media-edge-http.conf']).toContain('min_free=0 ');
    expect(b['media-edge-http.conf']).toContain('js_var $media_edge_cache_min_free 0;');
    expect(a['media-edge-segments.conf']).toContain('js_import media_edge_space from media-edge-space.js;');
    expect(b['media-edge-segments.conf']).not.toContain('js_import');
    // Not stored either way: the producer's mark on playlists, and no temp files.
    expect(b['media-edge-playlist.conf']).toContain('proxy_no_cache $upstream_http_x_media_edge_no_cache;');
    expect(b['media-edge-segments.conf']).toContain('proxy_max_temp_file_size 0;');
  });
});

describe('the router', () => {
  const base = { origins: [{ name: 'a', http: '10.0.0.1:80' }, { name: 'b', http: '10.0.0.2:80', weight: 2 }] };
  it('is rendered when njs has shared dictionaries (auto) or when forced on', () => {
    const v = validate(base);
    if (!v.ok) throw new Error(v.errors.join());
    const auto = render(v.value, { baseDir: '/e', confDir: '/e/conf', moduleFiles: [], njsShared: true });
    expect(auto['media-edge-http.conf']).toContain('hash $media_edge_route consistent;');
    expect(auto['media-edge-http.conf']).toContain('js_shared_dict_zone zone=media_edge_state:1m timeout=1h evict;');
    expect(auto['media-edge-server.conf']).toContain('js_periodic media_edge.probe interval=2s;');
    // A probe ends before the next is due (js_periodic kills one still running).
    expect(auto['media-edge-server.conf']).toContain('js_fetch_timeout 1000ms;');
    const slow = validate({ ...base, probe_interval: '10s', origin_connect_timeout: '3s' });
    if (!slow.ok) throw new Error(slow.errors.join());
    expect(render(slow.value, { baseDir: '/e', confDir: '/e/conf', moduleFiles: [], njsShared: true })['media-edge-server.conf']).toContain('js_fetch_timeout 3000ms;');
    const off = validate({ ...base, njs_shared_state: 'off' });
    if (!off.ok) throw new Error(off.errors.join());
    expect(render(off.value, { baseDir: '/e', confDir: '/e/conf', moduleFiles: [], njsShared: true })['media-edge-http.conf']).not.toContain('$media_edge_route');
  });

  it('writes the ring and steering keys for njs', () => {
    const v = validate(base);
    if (!v.ok) throw new Error(v.errors.join());
    const f = JSON.parse(render(v.value, { baseDir: '/e', confDir: '/e/conf', moduleFiles: [] })['media-edge-origins.json']);
    expect(f.ring.length).toBe(480 * 10);
    expect(f.primaries).toEqual([0, 1]);
    expect(f.steer).toHaveLength(2);
  });

  it('hashes objects, not streams, for an edge in front of shields', () => {
    const v = validate({ ...base, balance: 'object' });
    if (!v.ok) throw new Error(v.errors.join());
    expect(render(v.value, { baseDir: '/e', confDir: '/e/conf', moduleFiles: [], njsShared: true })['media-edge-http.conf']).toContain('hash $media_edge_cache_key consistent;');
  });
});

describe('TLS settings', () => {
  const base = { origins: [{ name: 'a', http: '10.0.0.1:80', rtmp: '10.0.0.1:1935' }], listen_https: '443', listen_rtmps: '1936', tls_certificate: '/c.pem', tls_certificate_key: '/k.pem' };
  it('renders each listener with its own protocols and the shared ciphers', () => {
    const v = validate({ ...base, rtmps_protocols: 'TLSv1.2', tls_ciphers: 'ECDHE+AESGCM:!aNULL' });
    if (!v.ok) throw new Error(v.errors.join());
    const out = render(v.value, { baseDir: '/e', confDir: '/e/conf', moduleFiles: [] });
    expect(out['nginx.conf']).toContain('ssl_protocols TLSv1.2 TLSv1.3;');
    expect(out['media-edge-stream.conf']).toContain('ssl_protocols TLSv1.2;');
    expect(out['media-edge-stream.conf']).toContain('ssl_ciphers ECDHE+AESGCM:!aNULL;');
  });
  it('refuses unknown or repeated versions and cipher lists that are not one', () => {
    for (const bad of [{ tls_protocols: 'TLSv1.4' }, { rtmps_protocols: 'TLSv1.2 TLSv1.2' }, { rtmps_protocols: '' }, { tls_protocols: 'TLSv1.2;' }, { tls_ciphers: 'HIGH; deny all' }]) {
      const v = validate({ ...base, ...bad });
      expect(v.ok, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('the engine (njs_engine)', () => {
  const base = { origins: [{ name: 'a', http: '10.0.0.1:80', rtmp: '10.0.0.1:1935' }] };
  const engineOf = (over: object, ctx: { qjs?: boolean }) => {
    const v = validate({ ...base, ...over });
    if (!v.ok) throw new Error(v.errors.join());
    const out = render(v.value, { baseDir: '/e', confDir: '/e/conf', moduleFiles: [], njsShared: true, ...ctx });
    // The same file is included in http { } and stream { }.
    expect(out['media-edge-http.conf']).toContain('include /e/conf/media-edge-engine.conf;');
    expect(out['media-edge-stream.conf']).toContain('include /e/conf/media-edge-engine.conf;');
    return /^js_engine (\w+);$/m.exec(out['media-edge-engine.conf'])?.[1] ?? 'none';
  };

  it('"auto" is QuickJS where the nginx has it, else no directive (njs < 0.8.6 has none)', () => {
    expect(engineOf({}, { qjs: true })).toBe('qjs');
    expect(engineOf({}, { qjs: false })).toBe('none');
  });

  it('"njs" says so where js_engine exists, and stays silent where it does not', () => {
    expect(engineOf({ njs_engine: 'njs' }, { qjs: true })).toBe('njs');
    expect(engineOf({ njs_engine: 'njs' }, { qjs: false })).toBe('none');
  });

  it('"qjs" without QuickJS is refused with a clear error, before nginx would', () => {
    expect(engineOf({ njs_engine: 'qjs' }, { qjs: true })).toBe('qjs');
    expect(() => engineOf({ njs_engine: 'qjs' }, { qjs: false })).toThrow(/njs_engine: "qjs", but this nginx's njs has no QuickJS engine/);
  });

  it('refuses other values', () => {
    const v = validate({ ...base, njs_engine: 'v8' });
    expect(v.ok).toBe(false);
  });
});

describe('docs/settings.md', () => {
  it('is the settings reference generated from the schema', () => {
    const file = join(PACKAGE_ROOT, 'docs', 'settings.md');
    const doc = existsSync(file) ? readFileSync(file, 'utf8') : '';
    expect(doc, 'docs/settings.md is not what tools/settings.ts generates: run `npm run docs`').toBe(settingsReference());
  });

  it('has one block per setting, in schema order, each listed in the contents', () => {
    const ref = settingsReference();
    const names = SCHEMA.map((d) => d.name);
    expect([...ref.matchAll(/^## `(\w+)`$/gm)].map((m) => m[1])).toEqual(names);
    for (const n of names) expect(ref).toContain(`[\`${n}\`](#${n})`);
  });
});
