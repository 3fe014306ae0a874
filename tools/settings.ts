/**
 * The settings file: one schema that validates, gives the `Settings` type
 * (read from its checks), feeds the renderer (render.ts) and generates the
 * settings reference (docs/settings.md), so none can disagree.
 *
 * The file is JSON. Relative paths are resolved against the settings file's
 * directory. Every field is optional; defaults describe a loopback demo edge.
 */

import { nginxSeconds, parseMs, parseSize } from './units.ts';
import type { AppAuth, Scheme } from '../njs/auth.ts';

export interface Origin {
  /** Unique name, used in logs and (later) the status endpoint. */
  name: string;
  /** host:port (or unix:/path) of the origin's HTTP (HLS/DASH) service. */
  http: string;
  /** host:port of the origin's RTMP service; omit for playback-only origins. */
  rtmp?: string;
  /** nginx upstream weight, 1..1000. */
  weight?: number;
  /** Used only when every non-backup origin is down. */
  backup?: boolean;
}

/** Publish auth for one application (see njs/publish.ts). */
export interface RtmpAppAuth {
  mode: 'hmac' | 'keys' | 'callback' | 'allow' | 'deny';
  /** hmac: one or two secrets (two during rotation; keys minted with kid 1 or 2). */
  secrets?: string[];
  /** keys: file of `{app}/{stream} {sha256 hex of the key}` lines. */
  key_file?: string;
  /** callback: http://IP:port/path of an nginx-rtmp on_publish style service. */
  url?: string;
  /** callback: how long to wait for it. */
  timeout?: string;
  /** Check RTMP `play` too, with the same mode. */
  play?: boolean;
}

/**
 * Playback auth for one application: njs/auth.ts AppAuth (the fields njs
 * reads) as the settings file gives them, plus what only nginx uses.
 */
export interface PlaybackAppAuth extends Partial<Omit<AppAuth, 'scheme'>> {
  scheme: Scheme;
  /** How the link reaches children: a path prefix ("path"), their URIs ("query"), cookies ("cookie"). */
  carry?: 'path' | 'query' | 'cookie';
  /** Referer hosts nginx's valid_referers allows. */
  referrers?: string[];
}

/**
 * The validated settings: one field per entry of SCHEMA, of the type its
 * check accepts (see Check).
 */
export type Settings = {
  -readonly [D in (typeof SCHEMA)[number] as D['name']]: D extends SettingDef<string, infer T> ? T : never;
};

/**
 * A value check: an error message naming the field, or null. `T` is what a
 * value that passes is (never set at run time): the Settings type is read
 * from the checks of SCHEMA, so a setting cannot exist in one and not the
 * other.
 */
type Check<T = unknown> = ((value: unknown, path: string) => string | null) & { readonly accepts?: T };

export interface SettingDef<N extends string = string, T = unknown> {
  name: N;
  syntax: string;
  /** NoInfer: the check alone says the type (a default "stream" must not narrow it). */
  default: NoInfer<T>;
  /** The nginx context the setting ends up in. */
  context: string;
  doc: string;
  check: Check<T>;
}

/** One setting of SCHEMA, its type read from its check. */
function setting<N extends string, T>(d: SettingDef<N, T>): SettingDef<N, T> {
  return d;
}

// ---- value checks: each returns an error message naming the field, or null.

const TIME = /^(\d+(ms|s|m|h|d|w|M|y)?)+$/;
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$/;

function isStr(v: unknown): v is string {
  return typeof v === 'string';
}

const time: Check<string> = (v, p) =>
  isStr(v) && TIME.test(v) ? null : `${p}: expected an nginx time such as "500ms", "2s", "10m", "1d" (got ${show(v)})`;
/** For directives that count in whole seconds (proxy_cache_valid, inactive, fail_timeout). */
const seconds: Check<string> = (v, p) =>
  isStr(v) && /^(\d+(s|m|h|d|w|M|y)?)+$/.test(v) && !/^0+[smhdwMy]?$/.test(v)
    ? null
    : `${p}: expected an nginx time in whole seconds such as "1s", "10m", "1d" (no "ms"; nginx counts this one in seconds) (got ${show(v)})`;
/**
 * Longest short playlist lifetime (everything but VOD playlists and static
 * MPDs) and longest stale grace. (Only playlists kept at most 29 s carry an
 * `Age`: njs/playlist.ts AGE_MAX_TTL.)
 */
export const MAX_SHORT_PLAYLIST_SECONDS = 300;

const shortPlaylistSeconds = (zero: boolean): Check<string> => (v, p) => {
  if (zero && (v === '0' || v === '0s')) return null;
  return seconds(v, p) ?? (nginxSeconds(v as string) <= MAX_SHORT_PLAYLIST_SECONDS ? null : `${p}: at most 5m (got ${show(v)})`);
};

const size: Check<string> = (v, p) =>
  isStr(v) && !Number.isNaN(parseSize(v)) ? null : `${p}: expected an nginx size such as "512k", "10m", "1g" (got ${show(v)})`;
/**
 * The cache-full probe's size: it is written inside a request, by the
 * worker (njs/cache-space.ts), and holds that much of the disk while it
 * runs, so it stays small.
 */
export const MAX_CACHE_MIN_FREE = '64m';
const cacheMinFree: Check<string> = (v, p) =>
  size(v, p) ?? (parseSize(v as string) <= parseSize(MAX_CACHE_MIN_FREE) ? null : `${p}: at most ${MAX_CACHE_MIN_FREE} (the probe writes this much inside a request; got ${show(v)})`);
const path: Check<string> = (v, p) =>
  isStr(v) && v.length > 0 && !/[\s;{}"']/.test(v)
    ? null
    : `${p}: expected a file system path without spaces, quotes, ';' or braces (got ${show(v)})`;
/** A space-separated list of ssl_protocols values, each once. */
const tlsProtocols: Check<string> = (v, p) => {
  const allowed = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
  if (!isStr(v)) return `${p}: expected TLS versions, space-separated ("TLSv1.2 TLSv1.3")`;
  const list = v.split(' ');
  if (list.length === 0 || list.some((x) => !allowed.includes(x)) || new Set(list).size !== list.length) {
    return `${p}: expected TLS versions from ${allowed.join(', ')}, each once, separated by one space`;
  }
  return null;
};

const text = (re: RegExp, what: string): Check<string> => (v, p) =>
  isStr(v) && re.test(v) ? null : `${p}: expected ${what} (got ${show(v)})`;

function port(s: string): boolean {
  if (!/^\d{1,5}$/.test(s)) return false;
  const n = Number(s);
  return n >= 1 && n <= 65535;
}

/** host:port, [v6]:port or unix:/path: an upstream `server` address. */
export const address: Check<string> = (v, p) => {
  const msg = `${p}: expected "host:port", "[ipv6]:port" or "unix:/path" (got ${show(v)})`;
  if (!isStr(v)) return msg;
  if (v.startsWith('unix:/')) return path(v.slice(5), p) === null ? null : msg;
  const i = v.lastIndexOf(':');
  if (i <= 0) return msg;
  return HOST.test(v.slice(0, i)) && port(v.slice(i + 1)) ? null : msg;
};

/** A `listen` address: port, host:port or [v6]:port. */
const listen: Check<string> = (v, p) => {
  if (isStr(v) && port(v)) return null;
  return address(v, p) === null && isStr(v) && !v.startsWith('unix:') ? null
    : `${p}: expected "port", "host:port" or "[ipv6]:port" (got ${show(v)})`;
};

const boolean: Check<boolean> = (v, p) => (typeof v === 'boolean' ? null : `${p}: expected true or false (got ${show(v)})`);

const wholeNumber = (min: number, max: number): Check<number> => (v, p) =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? null : `${p}: expected a whole number from ${min} to ${max} (got ${show(v)})`;

const oneOf = <V extends string>(...values: V[]): Check<V> => (v, p) =>
  isStr(v) && (values as string[]).includes(v) ? null : `${p}: expected one of ${values.map((x) => JSON.stringify(x)).join(', ')} (got ${show(v)})`;

/** Query parameter names for the cache key (nginx `$arg_<name>`). */
const argList: Check<string[]> = (v, p) =>
  Array.isArray(v) && v.length <= 16 && v.every((a) => isStr(a) && /^[A-Za-z0-9_]{1,64}$/.test(a) && a !== 'me_run')
    ? null
    : `${p}: expected a list of up to 16 query parameter names (letters, digits, "_"; not "me_run", always in) (got ${show(v)})`;

/** nginx-rtmp `hls_variant` suffixes: distinct, and plain enough to sit in a regex unescaped (njs/rules.ts variantRules). */
const suffixList: Check<string[]> = (v, p) =>
  Array.isArray(v) && v.length <= 16 && v.every((a) => isStr(a) && /^[A-Za-z0-9_-]{1,32}$/.test(a)) && new Set(v).size === v.length
    ? null
    : `${p}: expected a list of up to 16 distinct suffixes (letters, digits, "_", "-"), as in nginx-rtmp's hls_variant, e.g. ["_low", "_hi"] (got ${show(v)})`;

/** Addresses or CIDR ranges for nginx `allow`, e.g. "127.0.0.1", "10.0.0.0/8", "::1". */
const cidrList: Check<string[]> = (v, p) => {
  if (!Array.isArray(v)) return `${p}: expected a list of addresses or CIDR ranges such as ["127.0.0.1", "10.0.0.0/8"]`;
  for (let i = 0; i < v.length; i++) {
    if (!isStr(v[i]) || !/^([0-9.]{7,15}|[0-9A-Fa-f:]{2,39})(\/\d{1,3})?$/.test(v[i])) {
      return `${p}[${i}]: expected an IPv4/IPv6 address or CIDR range (got ${show(v[i])})`;
    }
  }
  return null;
};

/**
 * An object of known fields, each checked where present and the `required`
 * ones (given the object: a mode or scheme needs its own) also when absent.
 * The field list gives both the checks and the "accepted:" list of an
 * unknown field's message.
 */
function fields(list: Record<string, Check>, what: string, required: (o: Record<string, unknown>) => string[]): Check<Record<string, unknown>> {
  const names = Object.keys(list);
  return (v, p) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return `${p}: expected ${what}`;
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!names.includes(k)) return `${p}.${k}: unknown field (accepted: ${names.join(', ')})`;
    const needed = required(o);
    for (const k of names) {
      if (o[k] === undefined && !needed.includes(k)) continue;
      const e = list[k](o[k], `${p}.${k}`);
      if (e) return e;
    }
    return null;
  };
}

/** What a choice (a mode, a scheme) also needs, by its value; nothing for a value not in the table. */
function needs(table: Record<string, string[]>, value: unknown): string[] {
  return isStr(value) && Object.prototype.hasOwnProperty.call(table, value) ? table[value] : [];
}

/** An object of application name -> `check`, names as `name` says. */
function apps(check: Check, name: RegExp, nameRule: string, what: string): Check {
  return (v, p) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return `${p}: expected an object of application name -> ${what}`;
    for (const [app, a] of Object.entries(v as Record<string, unknown>)) {
      if (!name.test(app) || app === '.' || app === '..') return `${p}.${app}: ${nameRule}`;
      const e = check(a, `${p}.${app}`);
      if (e) return e;
    }
    return null;
  };
}

/** An address URL njs can fetch (no resolver: an address, not a host name). */
const fetchUrl: Check<string> = (v, p) => isStr(v) && /^http:\/\/(\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:]+\]):\d{1,5}(\/[^\s"']*)?$/.test(v)
  ? null : `${p}: expected http://IP:port/path (an address, not a host name: njs fetch resolves no names here) (got ${show(v)})`;

const urlList: Check<string[]> = (v, p) => {
  if (!Array.isArray(v) || v.length > 8) return `${p}: expected a list of at most 8 URLs such as ["http://10.0.0.5:8000/events"]`;
  for (let k = 0; k < v.length; k++) {
    const e = fetchUrl(v[k], `${p}[${k}]`);
    if (e) return e;
  }
  return new Set(v).size === v.length ? null : `${p}: a URL is listed twice`;
};

const RTMP_APP_FIELDS: Record<string, Check> = {
  mode: oneOf('hmac', 'keys', 'callback', 'allow', 'deny'),
  secrets: (v, p) => Array.isArray(v) && v.length >= 1 && v.length <= 2 && v.every((x) => isStr(x) && x.length >= 16 && x.length <= 256)
    ? null : `${p}: expected one or two secrets of 16-256 characters (two while rotating)`,
  key_file: path,
  url: fetchUrl,
  timeout: time,
  play: boolean,
};
const RTMP_MODE_NEEDS: Record<string, string[]> = { hmac: ['secrets'], keys: ['key_file'], callback: ['url'] };

const rtmpAuth = apps(
  fields(RTMP_APP_FIELDS, 'an object with "mode"', (o) => ['mode', ...needs(RTMP_MODE_NEEDS, o.mode)]),
  /^([A-Za-z0-9_.-]{1,64}|\*)$/, "an application name is letters, digits, '_', '.', '-' (or \"*\" for every other application)", '{"mode": ...}',
) as Check<{ [app: string]: RtmpAppAuth }>;

/** A secret nginx can hold in a quoted string, and njs in JSON. */
const secretText = (x: unknown) => isStr(x) && x.length >= 16 && x.length <= 256 && !/[\s"'\\;{}$]/.test(x);
const SECRET_RULE = "16-256 characters, no spaces, quotes, ';', '{}', '$'";

const PLAYBACK_APP_FIELDS: Record<string, Check> = {
  scheme: oneOf('hmac', 'akamai', 'wowza', 'secure_link'),
  carry: oneOf('path', 'query', 'cookie'),
  param: text(/^[A-Za-z0-9_]{1,32}$/, 'a parameter name of letters, digits and _'),
  keys: (v, p) => {
    const k = v as Record<string, unknown> | undefined;
    return k && typeof k === 'object' && !Array.isArray(k) && Object.keys(k).length >= 1 && Object.keys(k).length <= 2
      && Object.entries(k).every(([id, x]) => /^[A-Za-z0-9_-]{1,32}$/.test(id) && secretText(x))
      ? null : `${p}: expected one or two key ids (1-32 of A-Z a-z 0-9 _ -) -> secrets of ${SECRET_RULE}`;
  },
  key_hex: (v, p) => Array.isArray(v) && v.length >= 1 && v.length <= 2 && v.every((x) => isStr(x) && /^([0-9a-fA-F]{2}){8,64}$/.test(x))
    ? null : `${p}: expected one or two hex keys (the encryption key, then a transition key while rotating)`,
  algorithm: oneOf('sha256', 'sha1', 'md5'),
  mode: oneOf('acl', 'url'),
  salt: (v, p) => (secretText(v) ? null : `${p}: 16-256 characters`),
  escape_early: boolean,
  secret: (v, p) => (secretText(v) ? null : `${p}: expected ${SECRET_RULE}`),
  ip: boolean,
  // The secret must be in it too: checked with the secret (playbackApp).
  expression: (v, p) => isStr(v) && v.includes('$secure_link_expires') && /^(\$(secure_link_expires|uri|remote_addr)|[^\s$"'])+( [^\s$"']+)?$/.test(v)
    ? null : `${p}: expected a secure_link_md5 expression of $secure_link_expires, $uri, $remote_addr and the secret, e.g. "$secure_link_expires$uri$remote_addr <secret>"`,
  referrers: (v, p) => Array.isArray(v) && v.every((r) => isStr(r) && /^(none|(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*)$/.test(r))
    ? null : `${p}: expected host names ("example.com", "*.example.com") and "none" for requests without a Referer`,
  forward: boolean,
  link_secret: text(/^[A-Za-z0-9_-]{16,128}$/, '16-128 of A-Z a-z 0-9 _ -'),
};
const PLAYBACK_SCHEME_NEEDS: Record<string, string[]> = { hmac: ['keys'], akamai: ['key_hex'], wowza: ['secret'], secure_link: ['secret', 'expression'] };

const playbackFields = fields(PLAYBACK_APP_FIELDS, 'an object with "scheme"', (o) => ['scheme', ...needs(PLAYBACK_SCHEME_NEEDS, o.scheme)]);
const playbackApp: Check = (v, p) => {
  const e = playbackFields(v, p);
  if (e) return e;
  const o = v as Record<string, unknown>;
  return o.scheme === 'secure_link' && !(o.expression as string).includes(o.secret as string) ? PLAYBACK_APP_FIELDS.expression(undefined, `${p}.expression`) : null;
};

const playbackAuth = apps(playbackApp, /^[A-Za-z0-9_.-]{1,64}$/, "an application name is letters, digits, '_', '.', '-' (the first path segment of its URLs)", '{"scheme": ...}') as Check<{ [app: string]: PlaybackAppAuth }>;

/** The check, or "" (off). */
const orEmpty = (c: Check<string>): Check<string> => (v, p) => (v === '' ? null : c(v, p));

const optionalListen = orEmpty(listen);

/** At most 2 s: a longer 404 keeps a restarted stream dark. */
const notFoundSeconds: Check<string> = (v, p) =>
  seconds(v, p) ?? (/^[0-2]s?$/.test(v as string) ? null : `${p}: at most 2s (a longer 404 keeps a restarted stream dark) (got ${show(v)})`);

const originFields = fields({
  name: text(/^[A-Za-z0-9_-]{1,64}$/, "1-64 letters, digits, '_' or '-'"),
  http: address,
  rtmp: address,
  weight: wholeNumber(1, 1000),
  backup: boolean,
}, 'an object', () => ['name', 'http']);

const origins: Check<Origin[]> = (v, p) => {
  if (!Array.isArray(v) || v.length === 0) return `${p}: expected a non-empty list of origins`;
  const seen = new Set<string>();
  for (let i = 0; i < v.length; i++) {
    const e = originFields(v[i], `${p}[${i}]`);
    if (e) return e;
    const name = (v[i] as Origin).name;
    if (seen.has(name)) return `${p}[${i}].name: duplicate origin name "${name}"`;
    seen.add(name);
  }
  if (v.every((o) => (o as Origin).backup)) return `${p}: at least one origin must not be a backup`;
  return null;
};

function show(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

export const SCHEMA = [
  setting({ name: 'listen_http', syntax: '"[host:]port"', default: '127.0.0.1:8080', context: 'server', check: listen,
    doc: 'Where viewers fetch HLS/DASH (the `listen` of the example server).' }),
  setting({ name: 'listen_rtmp', syntax: '"[host:]port" or ""', default: '127.0.0.1:1935', context: 'stream', check: optionalListen,
    doc: 'Where encoders publish RTMP; `""` leaves the stream section out.' }),
  setting({ name: 'listen_https', syntax: '"[host:]port" or ""', default: '', context: 'server', check: optionalListen,
    doc: 'A TLS listener for viewers in the example server (`listen ... ssl`), with `tls_certificate`; `""`: none. For a drop-in, add `listen 443 ssl` and your certificate to your own server.' }),
  setting({ name: 'listen_rtmps', syntax: '"[host:]port" or ""', default: '', context: 'stream', check: optionalListen,
    doc: 'RTMPS ingest: a TLS listener in the RTMP server (nginx stream `ssl`), with `tls_certificate`; encoders publish to `rtmps://host:port/app/stream`, the edge decrypts, checks the publish like RTMP, and relays plain RTMP to the origin. `""`: none.' }),
  setting({ name: 'tls_certificate', syntax: 'path', default: '', context: 'server, stream', check: orEmpty(path),
    doc: 'PEM certificate (chain) for `listen_https` and `listen_rtmps` (`ssl_certificate`).' }),
  setting({ name: 'tls_certificate_key', syntax: 'path', default: '', context: 'server, stream', check: orEmpty(path),
    doc: 'Its PEM private key (`ssl_certificate_key`); keep it readable by nginx\'s master only.' }),
  setting({ name: 'tls_protocols', syntax: 'TLS versions, space-separated', default: 'TLSv1.2 TLSv1.3', context: 'server', check: tlsProtocols,
    doc: 'TLS versions of `listen_https` (`ssl_protocols`).' }),
  setting({ name: 'rtmps_protocols', syntax: 'TLS versions, space-separated', default: 'TLSv1.2 TLSv1.3', context: 'stream', check: tlsProtocols,
    doc: 'TLS versions of `listen_rtmps` (`ssl_protocols`). Encoders built on librtmp with GnuTLS (GStreamer `rtmpsink`, `rtmpdump`, Debian\'s librtmp) fail the handshake with TLS 1.3 on offer: `"TLSv1.2"` serves them (README, "RTMPS").' }),
  setting({ name: 'tls_ciphers', syntax: 'OpenSSL cipher list', default: 'HIGH:!aNULL:!MD5', context: 'server, stream', check: text(/^[A-Za-z0-9:+!@=._-]{1,512}$/, 'an OpenSSL cipher list (letters, digits and : + ! @ = . _ -)'),
    doc: 'TLS 1.2 cipher suites of both listeners (`ssl_ciphers`; nginx\'s default). TLS 1.3 suites are OpenSSL\'s own.' }),
  setting({ name: 'origins', syntax: '[{"name", "http", "rtmp"?, "weight"?, "backup"?}]',
    default: [{ name: 'origin', http: '127.0.0.1:8088', rtmp: '127.0.0.1:1936' }], context: 'http, stream', check: origins,
    doc: 'The Wowza origins: `http` and `rtmp` are `host:port`; `weight` 1-1000 (default 1); `backup` true keeps an origin for when the others are down. Names are unique.' }),
  setting({ name: 'balance', syntax: '"stream" or "object"', default: 'stream', context: 'upstream', check: oneOf('stream', 'object'),
    doc: 'How requests choose an origin: `"stream"` hashes the stream identity (app, instance, stream name; every playlist, segment and key of a stream on one origin), `"object"` hashes the cache key (for edges in front of shields: each object cached once in the shield tier, whichever viewer or prefetch asks). Weighted consistent hashing either way.' }),
  setting({ name: 'origin_max_fails', syntax: 'number', default: 1, context: 'upstream', check: wholeNumber(1, 100),
    doc: 'Failed attempts (connect error, timeout, 5xx) within `origin_cooldown` after which an origin is avoided for `origin_cooldown` (`max_fails`).' }),
  setting({ name: 'origin_cooldown', syntax: 'time (seconds)', default: '10s', context: 'upstream', check: seconds,
    doc: 'How long a failed origin is avoided before it is tried again by itself (`fail_timeout`).' }),
  setting({ name: 'origin_failover_timeout', syntax: 'time', default: '5s', context: 'server, stream', check: time,
    doc: 'Longest total time one viewer request (or one RTMP connect) spends trying origins in turn before the edge answers 502/504.' }),
  setting({ name: 'expose_origin', syntax: 'true or false', default: false, context: 'server', check: boolean,
    doc: 'Send `X-Media-Edge-Origin` (the origin addresses tried, `$upstream_addr`) and `X-Media-Edge-Origin-Status` (their statuses) to viewers. The access log always has both.' }),
  setting({ name: 'status_allow', syntax: '["address or CIDR", ...]', default: ['127.0.0.1', '::1'], context: 'location', check: cidrList,
    doc: 'Who may read `GET /media-edge/status` (origins, weights, live state); everyone else gets 403.' }),
  setting({ name: 'control_allow', syntax: '["address or CIDR", ...]', default: ['127.0.0.1', '::1'], context: 'location', check: cidrList,
    doc: 'Who may use the edge\'s control endpoints, which change what it does: `POST /media-edge/kick` (README, "Kicking a publisher"). Everyone else gets 403. Kept apart from `status_allow` so that whoever may read metrics cannot drop publishers.' }),
  setting({ name: 'njs_shared_state', syntax: '"auto", "on" or "off"', default: 'auto', context: 'http', check: oneOf('auto', 'on', 'off'),
    doc: 'Origin memory and periodic probes, which need njs >= 0.8.1 (`js_shared_dict_zone`, `js_periodic`). `"auto"`: on when the nginx that `media-edge render` finds accepts them. On, the router also splits streams exactly by weight (README, "Origins"). Off, nginx alone balances and fails over (its ring\'s shares; every miss for a stream that lives on one origin only asks its ring origin first).' }),
  setting({ name: 'njs_engine', syntax: '"auto", "njs" or "qjs"', default: 'auto', context: 'http, stream', check: oneOf('auto', 'njs', 'qjs'),
    doc: 'The JavaScript engine of the edge\'s modules (`js_engine`, njs >= 0.8.6). `"qjs"`: QuickJS, which njs 1.0 recommends; `media-edge render` refuses it where the nginx it finds has no QuickJS. `"njs"`: njs\'s own engine, the only one of njs < 0.8.6 (Debian 12 and 13). `"auto"`: QuickJS where the nginx has it, else njs (README, "Supported versions": why, measured).' }),
  setting({ name: 'origin_memory_ttl', syntax: 'time', default: '1h', context: 'http', check: time,
    doc: 'How long the edge remembers on which origin a stream was found after its own origin said 404 (njs >= 0.8.1).' }),
  setting({ name: 'probe_interval', syntax: 'time', default: '2s', context: 'location', check: time,
    doc: 'How often one worker probes every origin (njs >= 0.8.1); misses avoid origins that failed the last probe. A probe waits `origin_connect_timeout` for an answer, but at most half this interval, so it ends before the next is due.' }),
  setting({ name: 'probe_path', syntax: 'URL path', default: '/', context: 'location', check: text(/^\/[A-Za-z0-9._~!$&()*+,=:@%\/-]{0,200}$/, 'a URL path starting with "/"'),
    doc: 'What probes and the status endpoint request from each origin; any HTTP answer counts as up (Wowza answers `/` with its version).' }),
  setting({ name: 'rtmp_auth', syntax: '{"app" or "*": {"mode", ...}}', default: {}, context: 'stream', check: rtmpAuth,
    doc: 'Publish auth per application; `{}` relays RTMP without checks. Modes: `{"mode": "hmac", "secrets": ["s1", "s2"]}` (expiring signed keys, `media-edge mint-key` makes them; two secrets while rotating), `{"mode": "keys", "key_file": "keys.txt"}` (lines `app/stream sha256-of-key`; publish as `stream?key=...`), `{"mode": "callback", "url": "http://IP:port/path", "timeout": "3s"}` (nginx-rtmp `on_publish` form; 2xx allows), `"allow"`, `"deny"`. `"play": true` checks RTMP playback (`play`) too, with keys minted `--play`. Applications not listed (and no `"*"`) are refused.' }),
  setting({ name: 'playback_auth', syntax: '{"app": {"scheme", ...}}', default: {}, context: 'server (a location per application)', check: playbackAuth,
    doc: 'Signed playback per application (the first path segment); applications not listed play without tokens. `"scheme"`: `"hmac"` (our token, `{"keys": {"1": "secret", "2": "next secret"}}`, `media-edge mint-token` makes them, parameter `me_token`), `"akamai"` (EdgeAuth 2.0, `{"key_hex": ["hex key", "transition key"], "algorithm": "sha256", "salt": ...}`, parameter `__token__`; set `"param": "hdnts"` for that name; ACL tokens (they carry `acl=`) and URL tokens (they sign the request path) are both accepted, `"mode": "acl"` or `"url"` takes only that kind; `"escape_early": true` for tokens signed with Akamai\'s "escape early"; see "Signed playback"), `"wowza"` (SecureToken v2 with SHA-256, `{"secret": ..., "ip": false}`, `"param"` is the prefix, default `wowzatoken`), `"secure_link"` (nginx secure_link_md5 links with `md5` and `expires`, `{"secret": ..., "expression": "$secure_link_expires$uri$remote_addr secret"}`). The token is checked where it arrives (usually the master playlist); the child URIs the viewer receives carry a link (`me_exp`, `me_tid`, `me_sig`) that nginx checks in C on every later request, until the token\'s expiry. `"carry"`: `"path"` (default: the request that brings the token is redirected (302) to the same URL under `/_me/<link>/`, so the relative URIs of every playlist, served unchanged from the cache, carry the link; the cheapest), `"query"` (the child URIs of each playlist the viewer receives get the link appended, by nginx\'s sub_filter; for origins whose playlists use absolute paths, and players that do not follow redirects) or `"cookie"` (the viewer gets it as cookies for the playlist\'s directory; playlists are served unchanged). `"referrers"`: allowed Referer hosts (`"*.example.com"`; `"none"` also allows requests without one; nginx `valid_referers`); `"forward": true` sends the token to the origin too; `"link_secret"`: the secret of links (default: derived from the scheme\'s secrets, so edges with the same settings accept each other\'s links). Refusals are 403 with `X-Media-Edge-Token: <reason>`.' }),
  setting({ name: 'playback_token_skew', syntax: 'time (seconds)', default: '30s', context: 'server', check: seconds,
    doc: 'Clock skew allowed when checking a playback token\'s expiry and start time (secure_link tokens get none, as in nginx); links last this much past the token.' }),
  setting({ name: 'playback_link_ttl', syntax: 'time (seconds)', default: '12h', context: 'server', check: seconds,
    doc: 'Life of the links issued for a token that carries no expiry (a Wowza token without `endtime`, a secure_link without `expires`); a player then needs the token again.' }),
  setting({ name: 'playback_revoked_file', syntax: 'path', default: '', context: 'server', check: orEmpty(path),
    doc: 'Revoked tokens and keys, in nginx map syntax: lines `token:<id> revoked;` (the first 22 characters of the token\'s signature: hmac: the `sig`; akamai: the `hmac`; wowza: the hash; secure_link: the `md5`; also the part after the `.` in a link\'s `me_tid`) and `kid:<key id> revoked;` (akamai: `1` the encryption key, `2` the transition key). njs reads it on each token check; nginx includes it in the maps that check links, so the file needs an nginx reload (graceful: no viewer is dropped), after which a revoked viewer is refused at its next playlist reload. `media-edge revoke --token-id ID` (or `--kid KID`, or `--token` with the token or the viewer\'s URL) adds the line, runs `nginx -t` and reloads, putting the file back if nginx refuses it; `media-edge unrevoke` removes it, `media-edge revoke --list` lists. Created empty by `media-edge render` if missing.' }),
  setting({ name: 'rtmp_preauth_bytes', syntax: 'number', default: 65536, context: 'stream', check: wholeNumber(1024, 1048576),
    doc: 'Most bytes a client may send before its publish is decided; more closes the session.' }),
  setting({ name: 'rtmp_preauth_timeout', syntax: 'time', default: '10s', context: 'stream', check: time,
    doc: 'Longest time from connect to a publish decision; then the session is closed.' }),
  setting({ name: 'rtmp_reject_delay', syntax: 'time', default: '1s', context: 'stream', check: time,
    doc: 'How long a refused publisher waits for its error, which slows down key guessing.' }),
  setting({ name: 'rtmp_idle_timeout', syntax: 'time', default: '30s', context: 'stream', check: time,
    doc: 'An RTMP session in which nothing flows either way for this long is closed (`proxy_timeout`): dead encoders, and refused clients that stay connected and silent.' }),
  setting({ name: 'http_max_connections_per_address', syntax: 'number', default: 256, context: 'http, server', check: wholeNumber(1, 65535),
    doc: 'Most requests in progress at once from one viewer address (nginx `limit_conn`; more get `429`). Generous by default: many viewers can share one address (NAT). nginx counts a connection once its request header is in; a connection that never finishes its header is bounded by `http_header_timeout` instead.' }),
  setting({ name: 'http_header_timeout', syntax: 'time (seconds)', default: '10s', context: 'server', check: seconds,
    doc: 'How long a viewer may take to send a request header (`client_header_timeout`; nginx\'s default is 60s): half-sent requests that hold connections are closed after this.' }),
  setting({ name: 'rtmp_max_connections_per_address', syntax: 'number', default: 32, context: 'stream', check: wholeNumber(1, 65535),
    doc: 'Most RTMP connections open at once from one client address (nginx `limit_conn`, every njs version): with the refusal delay, this bounds how fast one address can guess keys.' }),
  setting({ name: 'rtmp_reject_delay_max', syntax: 'time', default: '16s', context: 'stream', check: time,
    doc: 'With njs >= 0.8: each failure from an address within `rtmp_fail_window` doubles its delay, up to this. (On 0.7.9 every refusal waits `rtmp_reject_delay`.)' }),
  setting({ name: 'rtmp_fail_window', syntax: 'time (seconds)', default: '10m', context: 'stream', check: seconds,
    doc: 'How long failed publish attempts from an address are remembered (njs >= 0.8).' }),
  setting({ name: 'rtmp_inspect', syntax: '"session" or "decision"', default: 'session', context: 'stream', check: oneOf('session', 'decision'),
    doc: 'How long the publish-auth filter reads a session. `"session"`: all of it, so every later `publish`/`play` of the session is checked too; on njs\'s own engine this holds about as many bytes of memory as the session carried until it ends (README, "RTMP publish auth", Memory). `"decision"`: it steps aside after the first allowed `publish` or `play`, and memory stays flat, but later commands of that session are not checked by the edge: only for origins that check every publish themselves.' }),
  setting({ name: 'rtmp_duplicate_publish', syntax: '"origin", "refuse" or "takeover"', default: 'origin', context: 'stream', check: oneOf('origin', 'refuse', 'takeover'),
    doc: 'A second publisher of a stream: `"origin"` leaves it to the origin\'s own rule (nginx-rtmp refuses it; check your Wowza application\'s setting); `"refuse"` refuses it at the edge while the first is live through this edge (njs >= 0.8); `"takeover"` lets it in: the edge first asks every origin to drop the current publisher (`rtmp_takeover_url`), so an encoder reconnecting after a network drop is not locked out by its half-dead earlier session.' }),
  setting({ name: 'rtmp_takeover_url', syntax: 'URL template', default: '', context: 'stream',
    check: orEmpty(text(/^http:\/\/(\{origin_host\}|\d{1,3}(\.\d{1,3}){3})(:\d{1,5})?\/[^\s"']*$/, 'http://{origin_host}:port/path with {app} and {stream}, e.g. nginx-rtmp\'s /control/drop/publisher?app={app}&name={stream}')),
    doc: 'The origin API that drops a publisher, called (GET) on each RTMP origin: with `"takeover"` before the newcomer\'s publish, and by every kick (`POST /media-edge/kick`); `{origin_host}`, `{app}` and `{stream}` are filled in. nginx-rtmp: `http://{origin_host}:8080/control/drop/publisher?app={app}&name={stream}`; Wowza: its REST API\'s disconnect action for the incoming stream.' }),
  setting({ name: 'rtmp_buffer_size', syntax: 'size', default: '256k', context: 'stream', check: text(/^[1-9][0-9]{0,6}[km]?$/, 'a size such as 256k or 1m'),
    doc: 'nginx `proxy_buffer_size` of the RTMP server: the most one read moves, each way. The publish-auth filter runs once per read, so a bigger buffer means fewer runs per MB: with 256k the filter carried 50% (4 KB chunks) to 93% (64 KB chunks) of a plain proxy\'s media throughput on the development machine, with nginx\'s 16k 32% to 62% (README, "RTMP publish auth", Throughput). The cost is memory: up to twice this per session (each direction\'s buffer is allocated when first used).' }),
  setting({ name: 'rtmp_key_skew', syntax: 'time (seconds)', default: '30s', context: 'stream', check: seconds,
    doc: 'Clock skew allowed when checking the expiry of hmac keys.' }),
  setting({ name: 'state_dir', syntax: 'path', default: 'state', context: 'main', check: path,
    doc: 'Directory for the pid file, logs and temp files of the example `nginx.conf`.' }),
  setting({ name: 'cache_dir', syntax: 'path', default: 'state/cache', context: 'http', check: path,
    doc: 'The `proxy_cache_path` directory. While its disk has less than `cache_min_free` free, responses are sent without being stored instead of being cut short (README, "Cache disk full").' }),
  setting({ name: 'cache_max_size', syntax: 'size', default: '1g', context: 'http', check: size,
    doc: 'Largest size of the cache on disk (`max_size`); least recently used objects go first. nginx enforces it only at its cache manager\'s runs (every few seconds), so keep it well below the disk.' }),
  setting({ name: 'cache_min_free', syntax: 'size, at most 64m', default: '8m', context: 'http', check: cacheMinFree,
    doc: 'Free space the cache\'s disk must keep. nginx\'s cache manager removes the least recently used objects to keep it (`min_free`, at its runs, every few seconds; when other files fill the disk, that can be the whole cache); in between, about once a second, a worker writes this much into `cache_dir`, inside a request, and removes it, and while that fails playlists and segments are sent without being stored instead of being cut short (README, "Cache disk full"). Enough for the segment misses in progress at once (the largest segment times those); the write holds that much of the disk while it runs and makes its request wait, hence at most 64m. `0` turns the check off (nginx\'s `min_free` too): for a cache on a disk of its own with `cache_max_size` well below it; without the router (njs 0.7.9, or `njs_shared_state` off) segment misses then run no njs at all (`npm run bench`, select).' }),
  setting({ name: 'cache_inactive', syntax: 'time (seconds)', default: '10m', context: 'http', check: seconds,
    doc: 'Objects not requested for this long are removed, fresh or not (`inactive`); also bounds how long stale copies can be served.' }),
  setting({ name: 'cache_keys_zone_size', syntax: 'size', default: '10m', context: 'http', check: size,
    doc: 'Shared memory for cache keys (`keys_zone`); 1m holds about 8000 objects.' }),
  setting({ name: 'playlist_ttl', syntax: 'time (seconds)', default: '1s', context: 'http (producer)', check: shortPlaylistSeconds(false),
    doc: 'The short default: how long a 200 playlist the edge cannot parse (not UTF-8, HTML error page, over `playlist_max_bytes`, no `#EXTM3U`...) is cached; it is passed through unchanged and logged. Also a dynamic MPD without `minimumUpdatePeriod`.' }),
  setting({ name: 'live_playlist_ttl_max', syntax: 'time (seconds)', default: '5s', context: 'http (producer)', check: shortPlaylistSeconds(false),
    doc: 'Upper bound for a live or EVENT media playlist, which is fresh for at most half its `EXT-X-TARGETDURATION` (RFC 8216 6.2.2): nginx keeps an object up to 1 s past its whole-second validity, so the edge stores half the target less 1 s, at least 1 s (targets of 2-3 s: fresh 1-2 s); below a 2 s target it is not stored, only collapsed; 1 s at most with LL-HLS parts.' }),
  setting({ name: 'master_playlist_ttl', syntax: 'time (seconds)', default: '5s', context: 'http (producer)', check: shortPlaylistSeconds(false),
    doc: 'How long a multivariant (master) playlist is cached.' }),
  setting({ name: 'vod_playlist_ttl', syntax: 'time (seconds)', default: '1h', context: 'http (producer)', check: seconds,
    doc: 'Playlists with `EXT-X-ENDLIST` or `EXT-X-PLAYLIST-TYPE:VOD`, and static MPDs: they do not change.' }),
  setting({ name: 'dynamic_mpd_ttl_max', syntax: 'time (seconds)', default: '5s', context: 'http (producer)', check: shortPlaylistSeconds(false),
    doc: 'Upper bound for a dynamic MPD, which is cached for half its `minimumUpdatePeriod` less a second, as live HLS playlists for half their target duration (README, "What the edge does with them").' }),
  setting({ name: 'llhls_blocking_ttl', syntax: 'time (seconds)', default: '1s', context: 'http (producer)', check: shortPlaylistSeconds(false),
    doc: 'Responses to LL-HLS blocking reloads (`_HLS_msn`, `_HLS_part`) are one playlist version and sent `immutable`; the edge keeps them this long (at most half the target duration), so that a restarted stream reaching the same numbers never gets the previous run\'s answer.' }),
  setting({ name: 'playlist_stale_grace', syntax: 'time (seconds) or "0"', default: '6s', context: 'http (producer)', check: shortPlaylistSeconds(true),
    doc: 'When every origin fails (or the one that answered sent a body cut short of its `Content-Length`, or one it cannot parse), the producer serves a playlist\'s last good copy for this long past its expiry (kept in `<state_dir>/runs`, sent `no-store`, logged), never longer; then viewers get the error. `0` turns this off. Segments are served for their own lifetime (`segment_ttl`) and never after it.' }),
  setting({ name: 'playlist_max_bytes', syntax: 'number', default: 1048576, context: 'http (producer)', check: wholeNumber(4096, 16777216),
    doc: 'Largest playlist or MPD the edge parses; a larger one is passed through unchanged with `playlist_ttl`. Also sizes `subrequest_output_buffer_size`: a body of more than twice this is refused with 502 and logged.' }),
  setting({ name: 'playlist_origin_cache_control', syntax: '"override" or "honor"', default: 'override', context: 'http (producer)', check: oneOf('override', 'honor'),
    doc: '`override`: playlist lifetimes come from the content (the settings above). `honor`: an origin `Cache-Control` with `max-age`/`s-maxage` or `no-store`/`no-cache`/`private` is obeyed (live playlists still never beyond half the target duration); Wowza session apps send `no-cache`, so this turns playlist caching off for them.' }),
  setting({ name: 'segment_origin_cache_control', syntax: '"override" or "honor"', default: 'override', context: 'location', check: oneOf('override', 'honor'),
    doc: '`override`: segments are cached for `segment_ttl` and viewers get `max-age` of the same. `honor`: the origin\'s `Cache-Control`/`Expires` decide and are passed to viewers (`segment_ttl` applies when the origin sends neither).' }),
  setting({ name: 'cache_key_args', syntax: '["name", ...]', default: ['_HLS_msn', '_HLS_part', '_HLS_skip', 'DVR', 'wowzadvrplayliststart', 'wowzadvrplaylistduration', 'wowzaplaystart', 'wowzaplayduration'], context: 'http', check: argList,
    doc: 'Query parameters that change the content (LL-HLS, Wowza nDVR and clip parameters by default): the only ones forwarded to the origin, and part of the cache key, so what reaches the origin is what the key holds. Every other parameter (tokens, cache busters, anything unknown) is neither forwarded nor keyed; `wowzasessionid` is forwarded and not keyed (see "Security notes"). `me_run` (the stream run, see "How it works") is always in. Names match without regard to case; a bare flag (`?DVR`) counts.' }),
  setting({ name: 'stream_variants', syntax: '["suffix", ...]', default: [], context: 'http', check: suffixList,
    doc: 'The suffixes of nginx-rtmp `hls_variant` lines on the origin (`["_low", "_hi"]`): streams published as `NAME_low`, `NAME_hi` are renditions of `NAME`, whose master playlist `NAME.m3u8` lists `NAME_low.m3u8` (flat) or `NAME_low/index.m3u8` (nested). With them, a rendition\'s playlist and fragments belong to stream `NAME`: the link a token for the master earns opens every rendition, and origin choice keeps them together. Every path whose name ends in a suffix is read so, Wowza\'s too (`/live/cam_low/playlist.m3u8` is stream `live/cam`).' }),
  setting({ name: 'prefetch_limit', syntax: 'number', default: 4, context: 'http (producer)', check: wholeNumber(0, 64),
    doc: 'When the edge fetches a live media playlist, it fetches the segments (and LL-HLS parts) the playlist newly lists into the cache in the background, at most this many per playlist refresh; 0 turns prefetch off. Only for a stream produced before (from its second refresh on): names requested once, a flood of them included, cost the origin one request each.' }),
  setting({ name: 'events_urls', syntax: '["http://IP:port/path", ...]', default: [], context: 'http (sender), stream (filter)', check: urlList,
    doc: 'Where publish events go (README, "Publish events"): publish started (allowed or refused, with the reason), publish ended (duration, bytes in, why) and a heartbeat listing the live publishers, each POSTed as JSON to every URL, signed with `events_secret`. Needs `rtmp_auth` (the filter sees the publishes; `"allow"` mode sends events without checking keys). A receiver that is down or slow never delays a publish; events are retried with backoff, in order, and survive reloads. `[]`: no events.' }),
  setting({ name: 'events_secret', syntax: 'string (16-256 characters)', default: '', context: 'http (sender)', check: orEmpty(text(/^[^\s"'\\]{16,256}$/, '16-256 characters, no spaces or quotes')),
    doc: 'The HMAC-SHA256 key of the events\' `X-Media-Edge-Signature: sha256=<hex of HMAC(secret, body)>` header. Required with `events_urls`.' }),
  setting({ name: 'events_heartbeat', syntax: 'time (seconds)', default: '30s', context: 'http (sender)', check: seconds,
    doc: 'How often the heartbeat (every live publisher of this edge) is sent. Only the newest heartbeat waits for a receiver that is down.' }),
  setting({ name: 'events_timeout', syntax: 'time', default: '2s', context: 'http (sender)', check: time,
    doc: 'Longest wait for a receiver\'s answer; no answer counts as a failure and is retried. Events leave at most this plus a second after they happen (njs >= 0.8.1).' }),
  setting({ name: 'metrics', syntax: 'true or false', default: true, context: 'http, server', check: boolean,
    doc: '`GET /metrics` (Prometheus text format, for the `status_allow` addresses) and the metrics log behind it, `<state_dir>/logs/metrics.log` (README, "Metrics": every metric, what it costs). `false`: neither.' }),
  setting({ name: 'metrics_viewer_window', syntax: 'time (seconds)', default: '30s', context: 'server (/metrics)', check: seconds,
    doc: 'Viewers of a stream (`media_edge_stream_viewers`) are the distinct viewers seen within this window before a scrape: keep it above the longest playlist reload interval (the target duration; a DASH `minimumUpdatePeriod`).' }),
  setting({ name: 'metrics_max_streams', syntax: 'number', default: 1000, context: 'server (/metrics)', check: wholeNumber(1, 100000),
    doc: 'Streams with labels of their own in `/metrics`; viewers and bytes of any stream past these are counted under `app="_other"`, so a flood of names cannot grow memory or a Prometheus server.' }),
  setting({ name: 'state_sweep_every', syntax: 'number', default: 1000, context: 'http (producer)', check: wholeNumber(1, 1000000),
    doc: 'The producer keeps a small file per playlist in `<state_dir>/runs` (stream run, last good copy; `state_max_files` bounds them). One playlist production in this many (at random) removes files not written for an hour, at most 1000 at a time, and logs a playlist that found no slot free.' }),
  setting({ name: 'state_max_files', syntax: 'number', default: 20000, context: 'http (producer)', check: wholeNumber(10, 10000000),
    doc: 'Most files in `<state_dir>/runs`, a hard bound: the directory has half as many slots, each a run file and perhaps a last good copy (plus the temporary file of a write in progress). A playlist may use one of 8 slots picked by its name\'s hash; a new one takes a free slot or one whose playlist was not produced for a minute, and while all 8 are in use it gets no state (no run tag, no last good copy, no prefetch, no second try at another origin; logged as `no state slot free`, about one new playlist in 15,000 with a third of the slots in use): a flood of stream names cannot fill the disk or push out streams being watched. Run files are a few hundred bytes, last good copies a playlist each.' }),
  setting({ name: 'segment_ttl', syntax: 'time (seconds)', default: '1d', context: 'location', check: seconds,
    doc: 'How long a 200/206 segment, init segment, part or key is fresh (they are immutable).' }),
  setting({ name: 'not_found_ttl', syntax: 'time (seconds)', default: '1s', context: 'server', check: notFoundSeconds,
    doc: 'How long a 404/410 for a playlist or segment is cached: 2s at most, so that a stream that was missing comes back within a second or two of the origin having it.' }),
  setting({ name: 'origin_connect_timeout', syntax: 'time', default: '2s', context: 'server, stream', check: time,
    doc: 'Time to connect to an origin (HTTP and RTMP) before it counts as failed.' }),
  setting({ name: 'origin_read_timeout', syntax: 'time', default: '10s', context: 'server', check: time,
    doc: 'Longest wait for an origin response (between two reads) for LL-HLS blocking playlist reloads (they wait at the origin), and for a collapsed request behind the cache lock; it also bounds `playlist_read_timeout` and `segment_read_timeout`.' }),
  setting({ name: 'segment_read_timeout', syntax: 'time', default: '3s', context: 'location (segments)', check: time,
    doc: 'Longest wait between two reads of a segment, part, init segment or key from an origin (or `origin_read_timeout`, if that is shorter). Shorter than `origin_failover_timeout`, so that a viewer\'s request to an origin that hangs moves on to the next origin in time, and the hung one counts as failed; longer than an LL-HLS part takes to appear (a preload hint is answered when the part is there).' }),
  setting({ name: 'playlist_read_timeout', syntax: 'time', default: '3s', context: 'location (producer)', check: time,
    doc: 'Longest wait between two reads of a playlist or manifest from an origin (or `origin_read_timeout`, if that is shorter), except LL-HLS blocking reloads (`_HLS_msn`, `_HLS_part`), which wait at the origin by design and get `origin_read_timeout`. Shorter than `origin_failover_timeout`, so that a playlist fetch from an origin that hangs moves on to the next origin inside the request, and the hung one counts as failed.' }),
  setting({ name: 'cors_allow_origin', syntax: 'string', default: '*', context: 'server', check: text(/^[^"\\\r\n;{}]{1,256}$/, 'an Origin value or "*"'),
    doc: 'The `Access-Control-Allow-Origin` sent with every response.' }),
  setting({ name: 'njs_dir', syntax: 'path', default: '', context: 'http, stream', check: orEmpty(path),
    doc: 'Directory holding the njs bundles (`media-edge-http.js`, `-viewer.js`, `-space.js`, `-stream.js`; `js_path`); `""` means this package\'s `dist/`.' }),
  setting({ name: 'modules_dir', syntax: 'path', default: '', context: 'main', check: orEmpty(path),
    doc: 'Where the nginx dynamic modules are, for the `load_module` lines of the example `nginx.conf`; `""` finds them (`/usr/lib/nginx/modules`, `/etc/nginx/modules`, ...).' }),
  setting({ name: 'worker_processes', syntax: '"auto" or number', default: 'auto', context: 'main', check: text(/^(auto|[1-9]\d{0,2})$/, '"auto" or a number of workers'),
    doc: 'nginx `worker_processes` in the example `nginx.conf`.' }),
  setting({ name: 'user', syntax: 'string', default: '', context: 'main', check: text(/^([a-z_][a-z0-9_-]{0,31}( [a-z_][a-z0-9_-]{0,31})?)?$/, 'a user name (and group), or ""'),
    doc: 'nginx `user` for workers when started as root; `""` leaves nginx\'s default. Run as root, `media-edge render` also closes `state_dir` to all but root and this user (root\'s with its group, 0750; `runs/` its own, 0700), and refuses a user this machine does not know.' }),
];

export type Result<T> = { ok: true; value: T } | { ok: false; errors: string[] };

/** Defaults for every field. */
export function defaults(): Settings {
  const s: Record<string, unknown> = {};
  for (const d of SCHEMA) s[d.name] = structuredClone(d.default);
  return s as unknown as Settings;
}

/**
 * Validate parsed JSON: unknown fields and wrong values are errors that name
 * the field and the accepted values. Missing fields take their defaults.
 */
export function validate(input: unknown): Result<Settings> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, errors: ['settings: expected a JSON object'] };
  }
  const errors: string[] = [];
  const known = new Set(SCHEMA.map((d) => d.name as string));
  const i = input as Record<string, unknown>;
  if (i.rtmp_duplicate_publish === 'takeover' && !i.rtmp_takeover_url) {
    errors.push('rtmp_takeover_url: required with rtmp_duplicate_publish "takeover" (the origin API that drops a publisher)');
  }
  for (const k of Object.keys(input)) {
    if (!known.has(k)) errors.push(`${k}: unknown setting (known: ${[...known].join(', ')})`);
  }
  if (Array.isArray(i.events_urls) && i.events_urls.length && !i.events_secret) {
    errors.push('events_secret: required with events_urls (receivers verify the events with it)');
  }
  if (Array.isArray(i.events_urls) && i.events_urls.length && !(i.rtmp_auth && typeof i.rtmp_auth === 'object' && Object.keys(i.rtmp_auth).length)) {
    errors.push('events_urls: needs rtmp_auth (the publish-auth filter sees the publishes; "allow" mode checks nothing)');
  }
  for (const name of ['segment_read_timeout', 'playlist_read_timeout'] as const) {
    if (typeof i[name] === 'string' && parseMs(i[name] as string) >= parseMs(typeof i.origin_failover_timeout === 'string' ? i.origin_failover_timeout : '5s')) {
      errors.push(`${name}: must be shorter than origin_failover_timeout, or a hung origin is never left for the next one`);
    }
  }
  if ((i.listen_https || i.listen_rtmps) && !(i.tls_certificate && i.tls_certificate_key)) {
    errors.push('tls_certificate, tls_certificate_key: required with listen_https or listen_rtmps');
  }
  const out = defaults() as unknown as Record<string, unknown>;
  for (const d of SCHEMA) {
    const v = (input as Record<string, unknown>)[d.name];
    if (v === undefined) continue;
    const e = d.check(v, d.name);
    if (e) errors.push(e);
    else out[d.name] = v;
  }
  return errors.length ? { ok: false, errors } : { ok: true, value: out as unknown as Settings };
}

/**
 * The settings reference (docs/settings.md), generated from SCHEMA: a
 * contents line, then one block per setting in SCHEMA order (its name as a
 * heading, then syntax, default and context, then its doc).
 */
export function settingsReference(): string {
  const lines = [
    '# Settings reference',
    '',
    '<!-- Generated from the schema in tools/settings.ts by `npm run docs`; edit the schema, not this file. -->',
    '',
    'Settings are one JSON file; every field is optional. How the file is read and checked, with an example:',
    '[README, "Configuration reference"](../README.md#configuration-reference). Context is the nginx context',
    'the setting ends up in. Where a setting says see "Signed playback", "Security notes" or "How it works",',
    'that is a section of the [README](../README.md).',
    '',
    'Contents: ' + SCHEMA.map((d) => `[\`${d.name}\`](#${d.name})`).join(', ') + '.',
  ];
  for (const d of SCHEMA) {
    lines.push('', `## \`${d.name}\``, '', `- Syntax: ${d.syntax}`, `- Default: \`${JSON.stringify(d.default)}\``, `- Context: ${d.context}`, '', d.doc);
  }
  return lines.join('\n') + '\n';
}
