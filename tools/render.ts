/**
 * Renders the nginx templates in nginx/ from validated settings. Every
 * directive is in a template; this file computes only values: `{{name}}`
 * placeholders, `{{#if}}` blocks (on or off) and `{{#each}}` blocks (one per
 * origin, parameter or rule), so the templates stay plain nginx that a
 * person can read and copy (the language: template.ts).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { abs, findModulesDir, MODULE_DIRS, PACKAGE_ROOT, TEMPLATE_DIR } from './paths.ts';
import { fill, type Lists } from './template.ts';
import { nginxSeconds, parseMs, parseSize } from './units.ts';
import { GATE_OTHER_METHOD, gateFastRequest, gateRules, KEY_PATH_RULES, KIND_RULES, PLAYLIST_EXTENSIONS, SEGMENT_EXTENSIONS, SESSION_ID_HINT, streamRules, type Rule } from '../njs/rules.ts';
import { buildRing, encodeRing, steeringKeys } from '../njs/ring.ts';
import { TK_NAME } from '../njs/auth.ts';
import { createHash } from 'node:crypto';
import type { PlaybackAppAuth, Settings } from './settings.ts';

export const TEMPLATES = ['nginx.conf', 'media-edge-http.conf', 'media-edge-server.conf', 'media-edge-headers.conf', 'media-edge-playlist.conf', 'media-edge-proxy.conf', 'media-edge-origin-playlist.conf', 'media-edge-segments.conf', 'media-edge-forward.conf', 'media-edge-engine.conf', 'media-edge-stream.conf'];

export interface RenderContext {
  /** Directory the settings file is in; relative paths resolve against it. */
  baseDir: string;
  /** Directory the rendered files will be written to (nginx.conf includes from there). */
  confDir: string;
  /**
   * The module files present in the nginx that will run the config (for
   * load_module). Default: read from the first of MODULE_DIRS that exists here.
   */
  moduleFiles?: string[];
  /**
   * Whether the nginx that will run the config has njs >= 0.8.1 (shared
   * dictionaries, js_periodic); decides `njs_shared_state: "auto"`.
   * Default false. See detectNjsShared() in tools/nginx.ts.
   */
  njsShared?: boolean;
  /**
   * Whether that nginx's njs has the QuickJS engine (`js_engine qjs`);
   * decides `njs_engine: "auto"`, and "qjs" is refused without it. Default
   * false. See detectQjs() in tools/nginx.ts.
   */
  qjs?: boolean;
}

export const ORIGINS_FILE = 'media-edge-origins.json';
export const RTMP_AUTH_FILE = 'media-edge-rtmp-auth.json';
/** The events sender's settings (njs/events.ts EventsConfig). */
export const EVENTS_FILE = 'media-edge-events.json';
/** The protected applications' locations (they hold secrets). */
export const PLAYBACK_AUTH_CONF = 'media-edge-auth.conf';
/** The directories of state_dir: logs/ and tmp/ (the master's), runs/, metrics/, kicks/, events/ and space/ (the workers' own, WORKERS_DIRS). */
const WORK_DIRS = ['logs', 'tmp', 'runs', 'metrics', 'metrics/publishers', 'kicks', 'events', 'space'];
const WORKERS_DIRS = ['runs', 'metrics', 'metrics/publishers', 'kicks', 'events', 'space'];

/** This package's version (package.json), for media_edge_build_info. */
const EDGE_VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Files holding secrets: readable by nginx's group, not by everyone. */
const SECRET_FILES = [RTMP_AUTH_FILE, PLAYBACK_AUTH_CONF, EVENTS_FILE];

/** Above this many ring points the router is not used (the ring file would be large). */
export const MAX_ROUTER_POINTS = 16000;

export type Rendered = Record<string, string>;

/**
 * The modules to load (nginx.conf's load_module lines) for what the edge
 * needs that is not built in. The stream core module is dynamic on Debian
 * (ngx_stream_module.so) and must load before ngx_stream_js_module; on
 * builds where it is static the file does not exist.
 */
export function loadModules(dir: string, files: string[], withStream: boolean): string[] {
  const wanted = ['ngx_http_js_module.so'];
  if (withStream) wanted.unshift('ngx_stream_module.so'), wanted.push('ngx_stream_js_module.so');
  return wanted.filter((f) => files.includes(f)).map((f) => join(dir, f));
}

/**
 * The servers of an upstream, for its `{{#each}}`. HTTP origins go to a
 * consistent-hash group, which cannot hold backup servers (nginx refuses
 * `backup` with `hash`), so backups get a group of their own behind an
 * error_page fallback; the RTMP group is weighted round robin, where
 * `backup` works natively ({{#if backup}} in media-edge-stream.conf).
 */
function upstreamServers(s: Settings, key: 'http' | 'rtmp', which: 'primary' | 'backup' | 'all'): Record<string, string>[] {
  return s.origins
    .filter((o) => o[key] && (which === 'all' || (which === 'backup') === Boolean(o.backup)))
    .map((o) => ({ address: o[key]!, weight: String(o.weight ?? 1), name: o.name, primary: o.backup ? '' : 'on', backup: o.backup ? 'on' : '' }));
}

/**
 * What njs reads at run time (status endpoint, router): the origins, and the
 * ring nginx builds over the primary origins with a steering key per origin.
 * A file, not a js_var: nginx caps one configuration token at 4 KB.
 */
export function originsFile(s: Settings): string {
  const primaries: number[] = [];
  s.origins.forEach((o, i) => { if (!o.backup) primaries.push(i); });
  const points = buildRing(primaries.map((i) => ({ address: s.origins[i].http, weight: s.origins[i].weight ?? 1 })));
  const ring = points.length <= MAX_ROUTER_POINTS ? encodeRing(points) : '';
  return JSON.stringify({
    balance: s.balance,
    origins: s.origins.map((o) => ({ name: o.name, http: o.http, rtmp: o.rtmp ?? null, weight: o.weight ?? 1, backup: Boolean(o.backup) })),
    ring,
    primaries,
    steer: ring ? steeringKeys({ data: ring, servers: primaries.length }, primaries.map((i) => s.origins[i].name)) : [],
  }) + '\n';
}

/**
 * The publish-auth file njs reads per RTMP session. Key lists are read here
 * and inlined (still hashed), so the worker reads one file.
 */
export function rtmpAuthFile(s: Settings, baseDir: string): string {
  const apps: Record<string, unknown> = {};
  for (const [app, a] of Object.entries(s.rtmp_auth)) {
    if (a.mode === 'keys') {
      const file = abs(baseDir, a.key_file!);
      const keys: Record<string, string> = {};
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        const t = line.trim();
        if (t === '' || t.startsWith('#')) return;
        const m = /^([A-Za-z0-9_.-]+\/[A-Za-z0-9_.:-]+)\s+([0-9a-f]{64})$/.exec(t);
        if (!m) throw new Error(`${file}:${i + 1}: expected "app/stream <sha256 hex of the key>"`);
        keys[m[1]] = m[2];
      });
      apps[app] = { mode: 'keys', keys, play: Boolean(a.play) };
    } else if (a.mode === 'callback') {
      apps[app] = { mode: 'callback', url: a.url, timeout_ms: a.timeout ? parseMs(a.timeout) : 3000, play: Boolean(a.play) };
    } else {
      apps[app] = { mode: a.mode, secrets: a.secrets, play: Boolean(a.play) };
    }
  }
  return JSON.stringify({
    apps,
    skew_s: nginxSeconds(s.rtmp_key_skew),
    preauth_bytes: s.rtmp_preauth_bytes,
    preauth_ms: parseMs(s.rtmp_preauth_timeout),
    reject_delay_ms: parseMs(s.rtmp_reject_delay),
    reject_delay_max_ms: parseMs(s.rtmp_reject_delay_max),
    duplicate: s.rtmp_duplicate_publish,
    inspect: s.rtmp_inspect,
    // One drop URL per origin host, {app} and {stream} filled in per use:
    // a takeover, a kick (njs/http.ts kick).
    drop_urls: s.rtmp_takeover_url
      ? [...new Set(s.origins.filter((o) => o.rtmp).map((o) => o.rtmp!.slice(0, o.rtmp!.lastIndexOf(':')).replace(/^\[|\]$/g, '')))]
          .map((host) => s.rtmp_takeover_url.split('{origin_host}').join(host))
      : [],
  }) + '\n';
}

/** The default token parameter of each scheme (wowza: the prefix). */
const DEFAULT_PARAM: Record<PlaybackAppAuth['scheme'], string> = { hmac: 'me_token', akamai: '__token__', wowza: 'wowzatoken', secure_link: 'md5' };

/**
 * The secret of an application's segment links: the setting, or derived from
 * the scheme's secrets, so edges rendered from the same settings accept each
 * other's links (a viewer's playlist and segments may come from different
 * edges behind a load balancer).
 */
export function linkSecret(a: PlaybackAppAuth): string {
  if (a.link_secret) return a.link_secret;
  const material = JSON.stringify([a.scheme, a.keys ?? null, a.key_hex ?? null, a.secret ?? null, a.salt ?? null]);
  return createHash('sha256').update('media-edge segment links\n' + material).digest('base64url');
}

/**
 * What njs/viewer.ts `authorize` reads from $media_edge_auth_app in an
 * application's location (njs/auth.ts AuthConfig): a JSON string in the
 * config, so that no file is read per request. nginx cannot write a `$` in
 * a string, so secure_link expressions name variables as {uri}.
 */
export function authAppConfig(s: Settings, baseDir: string, a: PlaybackAppAuth): string {
  return JSON.stringify({
    scheme: a.scheme,
    param: tokenParam(a),
    keys: a.keys,
    key_hex: a.key_hex,
    algorithm: a.algorithm ?? 'sha256',
    mode: a.mode ?? 'any',
    salt: a.salt,
    escape_early: Boolean(a.escape_early),
    secret: a.secret,
    ip: Boolean(a.ip),
    expression: a.expression?.replace(/\$(secure_link_expires|uri|remote_addr)/g, '{$1}'),
    forward: Boolean(a.forward),
    link_secret: linkSecret(a),
    skew_s: nginxSeconds(s.playback_token_skew),
    link_ttl_s: nginxSeconds(s.playback_link_ttl),
    revoked_file: s.playback_revoked_file ? abs(baseDir, s.playback_revoked_file) : '',
  });
}

/** The query parameter (and cookie) of an application's tokens; for wowza the prefix. */
export function tokenParam(a: PlaybackAppAuth): string {
  return a.param ?? DEFAULT_PARAM[a.scheme];
}

/** The query argument whose presence means "this request brings a token" (njs checks it). */
function tokenArg(a: PlaybackAppAuth): string {
  if (a.scheme === 'wowza') return `$arg_${tokenParam(a)}hash`;
  return `$arg_${tokenParam(a)}`;
}

/**
 * Playback auth's values (njs/auth.ts has the design): the directives are in
 * media-edge-http.conf, media-edge-server.conf and media-edge-headers.conf
 * under {{#if playback_auth}}, and media-edge-auth.conf is
 * nginx/media-edge-auth.conf plus one media-edge-auth-app.conf per
 * application (`^~` prefix locations, so they win over the generic playlist
 * and segment locations). A playlist request that brings a token is checked
 * by njs (js_set `authorize`, the small media-edge-viewer.js); every request
 * that brings a link (child playlists, reloads, segments) is checked by
 * nginx's secure_link in C, and revocations by maps over the revocation
 * file. In query mode the producer marks child URIs and sub_filter puts the
 * viewer's link there; in cookie mode the viewer gets the link as cookies.
 * media-edge-auth.conf holds secrets: a file of its own, not world-readable.
 */
function playbackVars(s: Settings, baseDir: string): Record<string, string> {
  const on = Object.keys(s.playback_auth).length > 0;
  const revoked = on && s.playback_revoked_file ? abs(baseDir, s.playback_revoked_file) : '';
  return {
    playback_auth: on ? 'on' : '',
    playback_revoked_path: revoked,
    link_good_verdict: revoked ? '$media_edge_link_revoked' : '""',
  };
}

/** media-edge-auth.conf, or "" without playback auth. */
function authFile(s: Settings, baseDir: string, vars: Record<string, string>): string {
  const apps = Object.entries(s.playback_auth);
  if (apps.length === 0) return '';
  const backups = vars.origin_backup !== '';
  const one = readFileSync(join(TEMPLATE_DIR, 'media-edge-auth-app.conf'), 'utf8');
  const blocks = apps.map(([app, a]) => {
    const carry = a.carry ?? 'path';
    return fill(one, {
      ...vars,
      app,
      scheme: a.scheme,
      carry,
      link_secret: linkSecret(a),
      referrers: (a.referrers ?? []).join(' '),
      auth_app: authAppConfig(s, baseDir, a),
      token_arg: tokenArg(a),
      forward: a.forward ? 'on' : '',
      not_forward: a.forward ? '' : 'on',
      carry_path: carry === 'path' ? 'on' : '',
      carry_cookie: carry === 'cookie' ? 'on' : '',
      carry_query: carry === 'query' ? 'on' : '',
      wowza_token_name: a.scheme === 'wowza' && !a.forward ? TK_NAME : '',
      backup_segment_location: a.forward ? '@media_edge_backup_segment_forward' : '@media_edge_backup_segment',
    }, 'media-edge-auth-app.conf');
  });
  const forwardBackup = backups && apps.some(([, a]) => a.forward) ? 'on' : '';
  return fill(readFileSync(join(TEMPLATE_DIR, PLAYBACK_AUTH_CONF), 'utf8'), { ...vars, forward_backup: forwardBackup }, PLAYBACK_AUTH_CONF) + '\n' + blocks.join('\n');
}

/** Whether njs state shared between requests/sessions (njs >= 0.8.1) is used. */
export function sharedState(s: Settings, ctx: RenderContext): boolean {
  return s.njs_shared_state === 'on' || (s.njs_shared_state === 'auto' && Boolean(ctx.njsShared));
}

/**
 * The value of `js_engine`, or "" to leave the directive out (njs's own
 * engine on an njs that has no such directive). "qjs" without QuickJS is a
 * settings error, said before nginx would say it less clearly.
 */
export function jsEngine(s: Settings, ctx: RenderContext): string {
  if (s.njs_engine === 'qjs' && !ctx.qjs) throw new Error('njs_engine: "qjs", but this nginx\'s njs has no QuickJS engine (njs >= 0.8.6 built with QuickJS; Debian 12 and 13 have none): use "auto" or "njs"');
  if (s.njs_engine === 'qjs' || (s.njs_engine === 'auto' && ctx.qjs)) return 'qjs';
  // Where js_engine exists (QuickJS builds), say "njs" outright: the default
  // of a future njs may change.
  return ctx.qjs ? 'njs' : '';
}

/** Whether the router (origin memory, probes) is rendered. */
export function routerEnabled(s: Settings, ctx: RenderContext): boolean {
  const shared = sharedState(s, ctx);
  const points = s.origins.filter((o) => !o.backup).reduce((n, o) => n + (o.weight ?? 1) * 160, 0);
  return shared && s.balance === 'stream' && points <= MAX_ROUTER_POINTS;
}

/**
 * A probe's fetch timeout: the connect timeout, but at most half the
 * interval, so that a probe of a hanging origin ends before the next one is
 * due (js_periodic kills a run still going: "already running, killing
 * previous instance", and that run's findings are lost).
 */
export function probeTimeout(s: Settings): string {
  return `${Math.max(100, Math.min(parseMs(s.origin_connect_timeout), Math.floor(parseMs(s.probe_interval) / 2)))}ms`;
}

/** What the producer (njs/producer.ts) is told: njs/playlist.ts CachePolicy plus limits. */
export function cachePolicy(s: Settings): Record<string, number | boolean | string[]> {
  return {
    fallback: nginxSeconds(s.playlist_ttl),
    liveMax: nginxSeconds(s.live_playlist_ttl_max),
    master: nginxSeconds(s.master_playlist_ttl),
    vod: nginxSeconds(s.vod_playlist_ttl),
    mpdMax: nginxSeconds(s.dynamic_mpd_ttl_max),
    notFound: nginxSeconds(s.not_found_ttl),
    blocking: nginxSeconds(s.llhls_blocking_ttl),
    grace: nginxSeconds(s.playlist_stale_grace),
    honorOrigin: s.playlist_origin_cache_control === 'honor',
    maxBytes: s.playlist_max_bytes,
    prefetch: s.prefetch_limit,
    sweepEvery: s.state_sweep_every,
    maxFiles: s.state_max_files,
    expose: s.expose_origin,
    variants: s.stream_variants,
  };
}

const pad2 = (n: number) => (n < 10 ? '0' : '') + n;

/**
 * The `Age` table: key "<now><produced>", each a second of the minute (two
 * digits), value (now - produced) mod 60. Exact for ages up to 59 s: the
 * producer stamps only playlists kept at most AGE_MAX_TTL (29) seconds, which
 * are never older than twice that plus a second (njs/playlist.ts). Its 3600
 * entries fit nginx's default map_hash_max_size (the keys are dense digit
 * strings; `nginx -t` in the tests builds it).
 */
export function ageTable(): Record<string, string> {
  const t: Record<string, string> = {};
  for (let now = 0; now < 60; now++) for (let p = 0; p < 60; p++) t[pad2(now) + pad2(p)] = String((now - p + 60) % 60);
  return t;
}

/**
 * The entries of an nginx `map` from a rule table (njs/rules.ts), for its
 * `{{#each}}`: regexes are checked in the order they appear, first match
 * wins, as in the table. (The maps over `$uri` are `volatile` in the
 * templates: nginx shares a request's cached variable values with its
 * subrequests, so a cacheable map would give every prefetch subrequest the
 * value computed for the first one; seen: four prefetches, one key.)
 */
export function mapRules(rules: Rule[]): Record<string, string>[] {
  return rules.map((r) => {
    if (/["\n]/.test(r.re) || r.re.endsWith('\\')) throw new Error(`rule ${r.value}: pattern cannot be quoted for nginx`);
    return { pattern: `${r.ci ? '~*' : '~'}${r.re}`, value: r.value };
  });
}

/**
 * The cache key, as proxy_cache_key and $media_edge_cache_key say it: the
 * name without session ids, then the allow-listed parameters.
 */
const CACHE_KEY = '$media_edge_key_name$media_edge_key_args';

/** The query parameters that are part of the cache key, in their order. */
function keyArgs(s: Settings): string[] {
  return [...s.cache_key_args, 'me_run'];
}

/** Forwarded to the origin, never keyed: Wowza's session id (README, "Security notes"). */
const SESSION_ARG = 'wowzasessionid';

/**
 * One map per keyed parameter (media-edge-http.conf, `{{#each key_args}}`):
 * "&name=value" ("&name" for a bare flag such as Wowza's `?DVR`) when the
 * query has it (the first one, as nginx's $arg_ takes), else "". The key and
 * the origin's query are made of these and of wowzasessionid's map.
 */
function argList(s: Settings): Record<string, string>[] {
  return keyArgs(s).map((name, i) => ({ name, variable: argVar(s, name, i) }));
}

function argVar(s: Settings, name: string, i: number): string {
  return name === SESSION_ARG ? '$media_edge_q_sid' : `$media_edge_q_${i}`;
}

function argValues(s: Settings, withSession: boolean): string {
  return [...keyArgs(s), ...(withSession ? [SESSION_ARG] : [])].map((n, i) => argVar(s, n, i)).join('');
}

/** The events sender's tick: a try that times out ends before the next begins. */
function eventsIntervalMs(s: Settings): number {
  return (Math.ceil(parseMs(s.events_timeout) / 1000) + 1) * 1000;
}

export function render(s: Settings, ctx: RenderContext): Rendered {
  const stateDir = abs(ctx.baseDir, s.state_dir);
  const withStream = s.listen_rtmp !== '' && s.origins.some((o) => o.rtmp);
  const modulesDir = s.modules_dir ? s.modules_dir : findModulesDir() ?? MODULE_DIRS[0];
  const moduleFiles = ctx.moduleFiles ?? (existsSync(modulesDir) ? readdirSync(modulesDir) : []);
  // Backups: a group of their own, behind error_page fallbacks ({{#if origin_backup}}).
  const backupServers = upstreamServers(s, 'http', 'backup');
  const events = withStream && Object.keys(s.rtmp_auth).length > 0 && s.events_urls.length > 0;
  if (events && !sharedState(s, ctx) && !s.metrics) {
    throw new Error('events_urls: on this njs (< 0.8.1: no js_periodic) events are sent when /metrics is scraped; set metrics to true and scrape it');
  }
  const vars: Record<string, string> = {
    ...Object.fromEntries(Object.entries(s).filter(([, v]) => typeof v === 'string')),
    state_dir: stateDir,
    cache_dir: abs(ctx.baseDir, s.cache_dir),
    njs_dir: s.njs_dir ? abs(ctx.baseDir, s.njs_dir) : join(PACKAGE_ROOT, 'dist'),
    conf_dir: ctx.confDir,
    js_engine: jsEngine(s, ctx),
    error_log: join(stateDir, 'logs', 'error.log'),
    access_log: join(stateDir, 'logs', 'access.log'),
    rtmp_access_log: join(stateDir, 'logs', 'rtmp-access.log'),
    rtmp_max_connections_per_address: String(s.rtmp_max_connections_per_address),
    http_max_connections_per_address: String(s.http_max_connections_per_address),
    // One of the three hash keys of the origin group.
    balance_object: s.balance === 'object' ? 'on' : '',
    balance_route: s.balance !== 'object' && routerEnabled(s, ctx) ? 'on' : '',
    balance_stream: s.balance !== 'object' && !routerEnabled(s, ctx) ? 'on' : '',
    origin_max_fails: String(s.origin_max_fails),
    // The router (origin memory, probes): {{#if router}} in media-edge-http.conf and media-edge-server.conf.
    router: routerEnabled(s, ctx) ? 'on' : '',
    probe_timeout: probeTimeout(s),
    ...playbackVars(s, ctx.baseDir),
    // The playlist producer's server (media-edge-http.conf).
    producer_socket: join(stateDir, 'producer.sock'),
    producer_log: join(stateDir, 'logs', 'producer.log'),
    cache_policy: JSON.stringify(cachePolicy(s)),
    runs_dir: join(stateDir, 'runs'),
    // The cache-full probe (njs/cache-space.ts): its last answer, and how much it writes.
    cache_space_stamp: join(stateDir, 'space', 'cache'),
    cache_min_free_bytes: String(parseSize(s.cache_min_free)),
    cache_space_check: parseSize(s.cache_min_free) > 0 ? 'on' : '',
    producer_buffer_size: String(2 * s.playlist_max_bytes),
    origin_memory_log: routerEnabled(s, ctx) ? join(stateDir, 'logs', 'origin-memory.log') : '',
    session_id_hint: SESSION_ID_HINT,
    cache_key: CACHE_KEY,
    cache_key_args_values: argValues(s, false),
    origin_args_values: argValues(s, true),
    // Segments and non-blocking playlist fetches wait the shorter of the two: origin_read_timeout still bounds every origin read.
    segment_read_wait: parseMs(s.segment_read_timeout) < parseMs(s.origin_read_timeout) ? s.segment_read_timeout : s.origin_read_timeout,
    playlist_read_wait: parseMs(s.playlist_read_timeout) < parseMs(s.origin_read_timeout) ? s.playlist_read_timeout : s.origin_read_timeout,
    playlist_lock_timeout: `${Math.ceil((2 * parseMs(s.origin_read_timeout)) / 1000)}s`,
    segment_cache_honor: s.segment_origin_cache_control === 'honor' ? 'on' : '',
    segment_cache_override: s.segment_origin_cache_control === 'honor' ? '' : 'on',
    segment_client_cache_control: s.segment_origin_cache_control === 'honor' ? '' : `public, max-age=${nginxSeconds(s.segment_ttl)}, immutable`,
    origins_file: join(ctx.confDir, ORIGINS_FILE),
    origin_backup: backupServers.length ? 'on' : '',
    origin_tries: String(s.origins.filter((o) => !o.backup).length),
    origin_keepalive: String(Math.min(1024, 32 * s.origins.filter((o) => !o.backup).length)),
    rtmp_tries: String(s.origins.filter((o) => o.rtmp).length),
    expose_origin: s.expose_origin ? 'on' : '',
    rtmp_shared: Object.keys(s.rtmp_auth).length && sharedState(s, ctx) ? 'on' : '',
    publish_auth: Object.keys(s.rtmp_auth).length ? 'on' : '',
    // Kicks need the publish-auth filter, which refuses kicked streams.
    kick: withStream && Object.keys(s.rtmp_auth).length ? 'on' : '',
    kicks_dir: join(stateDir, 'kicks'),
    // Publish events (njs/events.ts): the filter and nginx write the log,
    // the sender (js_periodic on njs >= 0.8.1, else each /metrics scrape) reads it.
    events: events ? 'on' : '',
    events_periodic: events && sharedState(s, ctx) ? 'on' : '',
    events_on_scrape: events && !sharedState(s, ctx) ? 'on' : '',
    events_log: join(stateDir, 'logs', 'events-rtmp.log'),
    events_dir: join(stateDir, 'events'),
    events_file: join(ctx.confDir, EVENTS_FILE),
    events_timeout: s.events_timeout,
    // The sender's tick: a try that times out ends before the next begins.
    events_interval: `${eventsIntervalMs(s) / 1000}s`,
    // Publishing sessions keep a file each: the metrics count them, the heartbeat lists them.
    publisher_files: (s.metrics || events) && withStream && Object.keys(s.rtmp_auth).length ? 'on' : '',
    rtmp_auth_file: join(ctx.confDir, RTMP_AUTH_FILE),
    not_found_max_age: String(nginxSeconds(s.not_found_ttl)),
    gate_other_method: GATE_OTHER_METHOD,
    gate_fast: gateFastRequest(Object.keys(s.playback_auth)),
    playlist_extensions: PLAYLIST_EXTENSIONS,
    segment_extensions: SEGMENT_EXTENSIONS,
    tls_certificate_path: s.tls_certificate ? abs(ctx.baseDir, s.tls_certificate) : '',
    tls_certificate_key_path: s.tls_certificate_key ? abs(ctx.baseDir, s.tls_certificate_key) : '',
    with_stream: withStream ? 'on' : '',
    // The viewer's metrics line (media-edge-http.conf): through a map only where playback auth can name the viewer.
    metrics_with_auth: s.metrics && Object.keys(s.playback_auth).length ? 'on' : '',
    metrics_without_auth: s.metrics && !Object.keys(s.playback_auth).length ? 'on' : '',
    // Metrics (njs/metrics.ts): the log nginx writes, the totals the workers keep.
    metrics: s.metrics ? 'on' : '',
    metrics_with_router: s.metrics && routerEnabled(s, ctx) ? 'on' : '',
    metrics_periodic: s.metrics && sharedState(s, ctx) ? 'on' : '',
    metrics_count_on_produce: s.metrics && !sharedState(s, ctx) ? '1' : '',
    metrics_log: join(stateDir, 'logs', 'metrics.log'),
    metrics_dir: join(stateDir, 'metrics'),
    metrics_rtmp_log: withStream ? join(stateDir, 'logs', 'metrics-rtmp.log') : '',
    metrics_publishers: join(stateDir, 'metrics', 'publishers'),
    metrics_publishers_read: withStream && Object.keys(s.rtmp_auth).length ? join(stateDir, 'metrics', 'publishers') : '',
    metrics_window_ms: String(parseMs(s.metrics_viewer_window)),
    metrics_max_streams: String(s.metrics_max_streams),
    stream_variants_list: s.stream_variants.join(','),
    edge_version: EDGE_VERSION,
  };
  const lists: Lists = {
    load_modules: loadModules(modulesDir, moduleFiles, withStream).map((p) => ({ module_path: p })),
    gate_rules: mapRules(gateRules(Object.keys(s.playback_auth), vars.kick === 'on')),
    kind_rules: mapRules(KIND_RULES),
    stream_rules: mapRules(streamRules(s.stream_variants)),
    key_path_rules: mapRules(KEY_PATH_RULES),
    key_args: argList(s),
    age_table: Object.entries(ageTable()).map(([key, age]) => ({ key, age })),
    origin_http_servers: upstreamServers(s, 'http', 'primary'),
    origin_backup_servers: backupServers,
    origin_rtmp_servers: upstreamServers(s, 'rtmp', 'all'),
    status_allow: s.status_allow.map((a) => ({ address: a })),
    control_allow: s.control_allow.map((a) => ({ address: a })),
  };
  const out: Rendered = {};
  for (const t of TEMPLATES) {
    if (t === 'media-edge-stream.conf' && !withStream) continue;
    out[t] = fill(readFileSync(join(TEMPLATE_DIR, t), 'utf8'), vars, t, lists);
  }
  out[ORIGINS_FILE] = originsFile(s);
  if (withStream && Object.keys(s.rtmp_auth).length) out[RTMP_AUTH_FILE] = rtmpAuthFile(s, ctx.baseDir);
  if (vars.events) {
    out[EVENTS_FILE] = JSON.stringify({ urls: s.events_urls, secret: s.events_secret, heartbeat_ms: parseMs(s.events_heartbeat), timeout_ms: parseMs(s.events_timeout), interval_ms: eventsIntervalMs(s) }) + '\n';
  }
  const auth = authFile(s, ctx.baseDir, vars);
  if (auth) out[PLAYBACK_AUTH_CONF] = auth;
  return out;
}

/** The uid and gid of the `user` setting ("name [group]"), when this process may give files to it (root); else null. */
export function workerOwner(user: string): { uid: number; gid: number } | null {
  if (!user || process.getuid?.() !== 0) return null;
  const [name, group] = user.split(' ');
  const look = (cmd: string, args: string[], what: string) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch (e) {
      throw new Error(`user: ${what} is not known on this machine (${cmd} ${args.join(' ')})`);
    }
  };
  const gid = group ? Number(look('getent', ['group', group], `group "${group}"`).split(':')[2]) : Number(look('id', ['-g', name], `user "${name}"`).trim());
  return { uid: Number(look('id', ['-u', name], `user "${name}"`).trim()), gid: gid };
}

/**
 * Write rendered files and create the directories nginx expects to exist.
 * Returns what the operator should know (printed by `media-edge render`).
 */
export function writeRendered(files: Rendered, confDir: string, s: Settings, baseDir: string): string[] {
  mkdirSync(confDir, { recursive: true });
  // The auth files hold secrets: not for everyone to read.
  for (const [name, text] of Object.entries(files)) writeFileSync(join(confDir, name), text, { mode: SECRET_FILES.includes(name) ? 0o640 : 0o644 });
  return prepareState(s, baseDir, SECRET_FILES.filter((f) => f in files).map((f) => join(confDir, f)));
}

/** The first line of a revocation file that render (or `media-edge revoke`) creates. */
export const REVOKED_FILE_HEADER = '# Revoked playback tokens and keys: "token:<id> revoked;" or "kid:<key id> revoked;" lines (media-edge revoke adds them).\n';

/**
 * The directories and files nginx expects besides the rendered ones:
 * state_dir and its parts with their owners (restrictState), the secret
 * files' group, the revocation list. Also run when nothing was rendered
 * anew (`media-edge install` of unchanged settings), which repairs them.
 */
export function prepareState(s: Settings, baseDir: string, secrets: string[]): string[] {
  const stateDir = abs(baseDir, s.state_dir);
  for (const d of WORK_DIRS) mkdirSync(join(stateDir, d), { recursive: true });
  const warnings = restrictState(stateDir, s.user, secrets);
  // nginx includes the revocation list in maps: it must exist to start.
  if (s.playback_revoked_file && Object.keys(s.playback_auth).length) {
    const f = abs(baseDir, s.playback_revoked_file);
    if (!existsSync(f)) writeFileSync(f, REVOKED_FILE_HEADER);
  }
  return warnings;
}

/** Files holding secrets among rendered ones. */
export function secretFiles(files: Rendered): string[] {
  return SECRET_FILES.filter((f) => f in files);
}

/**
 * nginx makes every unix socket it listens on 0666 (ngx_open_listening_sockets),
 * producer.sock included: only the state directory keeps other local users
 * from it and from the stream state in runs/. That needs the workers' user:
 * - run as root with `user` set: state_dir, logs/ and tmp/ stay root's with
 *   the workers' group, 0750 (the root master writes the pid file and opens
 *   the logs there, so the workers must not own them: CVE-2016-1247), and
 *   runs/ and metrics/ are the workers', 0700. nginx itself gives the log files, cache and
 *   temp directories it creates to the workers.
 * - not root and no `user`: nginx runs as this user, who owns them all.
 * - otherwise the workers' user is not known here: left as they are, said.
 */
function restrictState(stateDir: string, user: string, secrets: string[]): string[] {
  const dirs = ['', ...WORK_DIRS].map((d) => join(stateDir, d));
  const workersOwn = (d: string) => WORKERS_DIRS.some((w) => d.endsWith('/' + w));
  const owner = workerOwner(user);
  if (owner) {
    for (const d of dirs) {
      const workers = workersOwn(d);
      chownSync(d, workers ? owner.uid : 0, owner.gid);
      chmodSync(d, workers ? 0o700 : 0o750);
    }
    // The workers read the publish-auth file per RTMP session (njs/stream.ts):
    // root's, readable by their group (0640), by no one else.
    for (const f of secrets) chownSync(f, 0, owner.gid);
    return [];
  }
  const uid = process.getuid?.();
  if (uid !== 0 && !user) {
    // Only what this user owns (an earlier render as root may have given runs/ away).
    for (const d of dirs) if (statSync(d).uid === uid) chmodSync(d, workersOwn(d) || d.endsWith('/tmp') ? 0o700 : 0o750);
    return [];
  }
  return [`${stateDir}: left as it is, so other local users may reach producer.sock (nginx makes it 0666) and read runs/: ${uid === 0 ? 'set "user" to the nginx worker user' : 'run media-edge render as root'} to give it to the workers alone`];
}
