/**
 * Viewer authorization (issue 5): which token a request carries, whether it
 * may play, and what the playlist it receives must carry on to its children.
 * Pure logic over plain values; njs/http.ts feeds it nginx's request.
 *
 * How the check stays cheap: njs checks the viewer's token only on playlist
 * requests (every reload, so expiry and revocation take effect at the next
 * reload). The segment URIs in the playlists a viewer receives carry a short
 * "link" (`me_exp`, `me_sig`) that nginx's own secure_link module checks in C
 * (https://nginx.org/en/docs/http/ngx_http_secure_link_module.html):
 *
 *   me_sig = base64url(md5("<me_exp><stream> <link secret>")), unpadded
 *
 * where <stream> is what $media_edge_stream gives for the segment (app,
 * instance, stream name; njs/rules.ts STREAM_RULES), so a link opens only the
 * stream whose playlist was checked, and <me_exp> is the viewer token's
 * expiry, capped for live playlists by link_ttl. Segments never run njs.
 */
import { allOf, isB64url, isUnixSeconds, scopeCovers, secureLinkMd5, verifyEdgeAuth, verifyToken, wowzaSecureTokenHash, type TokenReason, type TokenVerdict } from './token';
import { constantTimeEqual } from './sign';

export type Scheme = 'hmac' | 'akamai' | 'wowza' | 'secure_link';

/** One application's playback auth, as tools/render.ts writes it. */
export interface AppAuth {
  scheme: Scheme;
  /** How the token travels to child playlists: appended to their URIs, or cookies. */
  carry: 'query' | 'cookie';
  /** Query parameter (and cookie) holding the token; for wowza the prefix. */
  param: string;
  /** hmac: key id -> secret (two during rotation). */
  keys?: Record<string, string>;
  /** akamai: hex keys (the encryption key and, while rotating, the transition key). */
  key_hex?: string[];
  algorithm?: 'sha256' | 'sha1' | 'md5';
  mode?: 'acl' | 'url';
  salt?: string;
  /** wowza and secure_link: the shared secret. */
  secret?: string;
  /** wowza: the client address is part of the hash. */
  ip?: boolean;
  /**
   * secure_link: the expression nginx would hash, with {secure_link_expires},
   * {uri} and {remote_addr} for the variables ("$" cannot be written in the
   * nginx string that carries this config).
   */
  expression?: string;
  /** Allowed Referer hosts ("example.com", "*.example.com", "none" for no Referer); empty: any. */
  referrers?: string[];
  /** Send the token to the origin too. */
  forward?: boolean;
  /** The segment link secret (secure_link_md5 in the app's segment location). */
  link_secret: string;
}

/** What each protected location gives njs: its application's auth and the global settings. */
export interface AuthConfig extends AppAuth {
  skew_s: number;
  /** Longest life of a segment link issued with a live playlist. */
  link_ttl_s: number;
  revoked_file: string;
}

/** Reasons a viewer is refused: the token's, and the edge's own. */
export type AuthReason = TokenReason | 'referrer' | 'config';

export interface ViewerRequest {
  /** $uri: decoded, normalized path. */
  path: string;
  /** The raw query string ($args). */
  args: string;
  /** The Cookie header, or "". */
  cookie: string;
  clientIp: string;
  referer: string;
  nowS: number;
}

/** Revoked tokens (by signature or token id) and key ids. */
export interface Revocations {
  tokens: Record<string, true>;
  kids: Record<string, true>;
}

/** Parameters the edge adds; never sent to the origin, never in a cache key. */
export const LINK_EXP = 'me_exp';
export const LINK_SIG = 'me_sig';
/** The entry URL a URL-signed token was checked against (akamai url mode, secure_link). */
export const FROM_PARAM = 'me_from';
/** Cookie mode: the token's query parameters, URL-encoded, in one cookie. */
export const AUTH_COOKIE = 'me_auth';

export type Verdict =
  | { ok: true; exp: number; propagate: string }
  | { ok: false; reason: AuthReason };

/** The query string split into name/raw-value pairs, in order. */
export function splitArgs(args: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (args === '') return out;
  const parts = args.split('&');
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] === '') continue;
    const eq = parts[i].indexOf('=');
    out.push(eq < 0 ? [parts[i], ''] : [parts[i].slice(0, eq), parts[i].slice(eq + 1)]);
  }
  return out;
}

/** A percent-decoded query value, or null when it is not valid percent-encoded UTF-8. */
export function decodeArg(v: string): string | null {
  if (v.indexOf('%') < 0 && v.indexOf('+') < 0) return v;
  try {
    return decodeURIComponent(v.split('+').join(' '));
  } catch (e) {
    return null;
  }
}

/** The value of one cookie in a Cookie header (RFC 6265 section 5.4), or undefined. */
export function cookieValue(header: string, name: string): string | undefined {
  const parts = header.split(';');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i].trim();
    if (p.slice(0, name.length + 1) === name + '=') return p.slice(name.length + 1);
  }
  return undefined;
}

/** Is the parameter `name` one the scheme's token uses? */
export function isTokenParam(app: AppAuth, name: string): boolean {
  if (name === LINK_EXP || name === LINK_SIG || name === FROM_PARAM) return true;
  if (app.scheme === 'wowza') return name.slice(0, app.param.length) === app.param;
  if (app.scheme === 'secure_link') return name === 'md5' || name === 'expires';
  return name === app.param;
}

/** The query string without the token's parameters: what the origin gets (unless `forward`). */
export function originArgs(app: AppAuth, args: string): string {
  if (app.forward) return args;
  const kept: string[] = [];
  const parts = splitArgs(args);
  for (let i = 0; i < parts.length; i++) if (!isTokenParam(app, parts[i][0])) kept.push(parts[i][0] + '=' + parts[i][1]);
  return kept.join('&');
}

/**
 * The token's parameters (decoded) from the query string, or, when it has
 * none, from the cookies (the `me_auth` cookie of cookie mode, or for hmac
 * and akamai a cookie named like the parameter). A parameter given twice
 * makes the token malformed: which one would count is a second reading.
 */
export function tokenParams(app: AppAuth, args: string, cookie: string): Record<string, string> | 'malformed' {
  const fromQuery = collect(app, args);
  if (fromQuery === 'malformed' || Object.keys(fromQuery).length > 0) return fromQuery;
  const packed = cookieValue(cookie, AUTH_COOKIE);
  if (packed !== undefined) {
    const inner = decodeArg(packed);
    return inner === null ? 'malformed' : collect(app, inner);
  }
  if (app.scheme === 'hmac' || app.scheme === 'akamai') {
    const c = cookieValue(cookie, app.param);
    if (c !== undefined) {
      const v = decodeArg(c);
      if (v === null) return 'malformed';
      const out: Record<string, string> = {};
      out[app.param] = v;
      return out;
    }
  }
  return {};
}

function collect(app: AppAuth, args: string): Record<string, string> | 'malformed' {
  const out: Record<string, string> = {};
  const parts = splitArgs(args);
  for (let i = 0; i < parts.length; i++) {
    const name = parts[i][0];
    if (!isTokenParam(app, name) || name === LINK_EXP || name === LINK_SIG) continue;
    if (Object.prototype.hasOwnProperty.call(out, name)) return 'malformed';
    const v = decodeArg(parts[i][1]);
    if (v === null) return 'malformed';
    out[name] = v;
  }
  return out;
}

/**
 * The path a URL-signed token was issued for: the request's, or `me_from`
 * (the master it was checked on) when that is in the same directory, as a
 * stream's playlists are (shared/reference/media.md).
 */
function signedPath(path: string, p: Record<string, string>): string | null {
  const from = p[FROM_PARAM];
  if (from === undefined) return path;
  const dir = path.slice(0, path.lastIndexOf('/') + 1);
  if (from.charAt(0) !== '/' || from.length <= dir.length || from.slice(0, dir.length) !== dir || from.indexOf('/', dir.length) >= 0) return null;
  return from;
}

/** Referer allowed by the list? ("none": no Referer; "*.d": subdomains of d; else exact host.) */
export function refererAllowed(referer: string, list: string[]): boolean {
  if (list.length === 0) return true;
  if (referer === '') return list.indexOf('none') >= 0;
  const m = /^https?:\/\/([^\/?#:@]+)(:\d+)?([\/?#]|$)/i.exec(referer);
  if (!m) return false;
  const host = m[1].toLowerCase();
  for (let i = 0; i < list.length; i++) {
    const e = list[i].toLowerCase();
    if (e === host) return true;
    if (e.slice(0, 2) === '*.' && host.length > e.length - 1 && host.slice(host.length - e.length + 1) === e.slice(1)) return true;
  }
  return false;
}

/** Parse the revocation file: `kid <id>` and `token <signature or id>` lines, `#` comments. */
export function parseRevocations(text: string): { list: Revocations; errors: string[] } {
  const list: Revocations = { tokens: {}, kids: {} };
  const errors: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i].trim();
    if (t === '' || t.charAt(0) === '#') continue;
    const m = /^(kid|token)\s+(\S{1,200})$/.exec(t);
    if (!m) {
      errors.push('line ' + (i + 1) + ': expected "kid <id>" or "token <signature>"');
      continue;
    }
    if (m[1] === 'kid') list.kids[m[2]] = true;
    else list.tokens[m[2]] = true;
  }
  return { list, errors };
}

const NO_REVOCATIONS: Revocations = { tokens: {}, kids: {} };

/**
 * May this viewer have this playlist? On success, `exp` is when the token
 * ends (0: never) and `propagate` the query string that carries the token
 * on to child playlists.
 */
export function checkViewer(app: AppAuth, q: ViewerRequest, skewS: number, revocations?: Revocations): Verdict {
  const revoked = revocations || NO_REVOCATIONS;
  if (app.referrers && !refererAllowed(q.referer, app.referrers)) return { ok: false, reason: 'referrer' };
  const p = tokenParams(app, q.args, q.cookie);
  if (p === 'malformed') return { ok: false, reason: 'malformed' };
  const v = verifyScheme(app, q, p, skewS, revoked);
  if (!v.ok) return v;
  const names = Object.keys(p).sort();
  const parts: string[] = [];
  for (let i = 0; i < names.length; i++) if (names[i] !== FROM_PARAM) parts.push(names[i] + '=' + encodeURIComponent(p[names[i]]));
  if ((app.scheme === 'secure_link' || (app.scheme === 'akamai' && app.mode === 'url'))) {
    parts.push(FROM_PARAM + '=' + encodeURIComponent(p[FROM_PARAM] !== undefined ? p[FROM_PARAM] : q.path));
  }
  return { ok: true, exp: v.exp, propagate: parts.join('&') };
}

function verifyScheme(app: AppAuth, q: ViewerRequest, p: Record<string, string>, skewS: number, revoked: Revocations): { ok: true; exp: number } | { ok: false; reason: AuthReason } {
  if (app.scheme === 'hmac') {
    const raw = p[app.param];
    const rev: Record<string, true> = {};
    for (const k in revoked.kids) rev['kid:' + k] = true;
    for (const t in revoked.tokens) rev['sig:' + t] = true;
    const v = verifyToken(raw, { path: q.path, nowS: q.nowS, skewS: skewS, clientIp: q.clientIp, keys: app.keys || {}, revoked: rev });
    return v.ok ? { ok: true, exp: v.exp } : v;
  }
  if (app.scheme === 'akamai') {
    const raw = p[app.param];
    const path = signedPath(q.path, p);
    if (path === null) return { ok: false, reason: 'scope' };
    const keys = app.key_hex || [];
    let v: TokenVerdict = { ok: false, reason: 'missing' };
    for (let i = 0; i < keys.length; i++) {
      v = verifyEdgeAuth(raw, { path: path, nowS: q.nowS, skewS: skewS, clientIp: q.clientIp, keyHex: keys[i], algorithm: app.algorithm || 'sha256', mode: app.mode || 'acl', salt: app.salt });
      // A transition key is tried only when the signature did not match.
      if (v.ok || v.reason !== 'signature') break;
    }
    if (!v.ok) return v;
    const fields = (raw as string).split('~');
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      if ((f.slice(0, 5) === 'hmac=' && revoked.tokens[f.slice(5)]) || (f.slice(0, 3) === 'id=' && revoked.tokens[f.slice(3)])) return { ok: false, reason: 'revoked' };
    }
    return { ok: true, exp: v.exp };
  }
  if (app.scheme === 'wowza') return verifyWowza(app, q, p, skewS, revoked);
  return verifySecureLink(app, q, p, revoked);
}

/**
 * Wowza SecureToken v2: the hash covers the content path (the request path
 * after the first `/`, up to the playlist's file name, so every playlist of
 * one stream shares it), the prefixed parameters and the secret
 * (shared/reference/media.md).
 */
function verifyWowza(app: AppAuth, q: ViewerRequest, p: Record<string, string>, skewS: number, revoked: Revocations): { ok: true; exp: number } | { ok: false; reason: AuthReason } {
  const pre = app.param;
  const hash = p[pre + 'hash'];
  if (hash === undefined) return { ok: false, reason: 'missing' };
  const end = p[pre + 'endtime'];
  const start = p[pre + 'starttime'];
  if (!allOf(hash, 40, 100, (c) => isB64url(c) || c === 61)) return { ok: false, reason: 'malformed' };
  if ((end !== undefined && !isUnixSeconds(end)) || (start !== undefined && !isUnixSeconds(start))) return { ok: false, reason: 'malformed' };
  const path = q.path.slice(1, q.path.lastIndexOf('/'));
  if (path === '' || !scopeCovers('/' + path + '/*', q.path)) return { ok: false, reason: 'scope' };
  const signed: Record<string, string> = {};
  for (const k in p) if (k !== FROM_PARAM) signed[k] = p[k];
  const want = wowzaSecureTokenHash(path, app.secret || '', signed, pre, app.ip ? q.clientIp : undefined);
  if (!constantTimeEqual(want, hash)) return { ok: false, reason: 'signature' };
  if (revoked.tokens[hash]) return { ok: false, reason: 'revoked' };
  if (end !== undefined && q.nowS > Number(end) + skewS) return { ok: false, reason: 'expired' };
  if (start !== undefined && q.nowS + skewS < Number(start)) return { ok: false, reason: 'not-yet-valid' };
  return { ok: true, exp: end !== undefined ? Number(end) : 0 };
}

/**
 * nginx secure_link_md5 links: `md5` and `expires` parameters, the hash over
 * the app's expression with $secure_link_expires, $uri and $remote_addr
 * filled in (the variables such expressions use in practice).
 */
function verifySecureLink(app: AppAuth, q: ViewerRequest, p: Record<string, string>, revoked: Revocations): { ok: true; exp: number } | { ok: false; reason: AuthReason } {
  const md5 = p.md5;
  if (md5 === undefined) return { ok: false, reason: 'missing' };
  if (!allOf(md5, 22, 22, isB64url)) return { ok: false, reason: 'malformed' };
  const expires = p.expires;
  if (expires !== undefined && !isUnixSeconds(expires)) return { ok: false, reason: 'malformed' };
  const path = signedPath(q.path, p);
  if (path === null) return { ok: false, reason: 'scope' };
  const expr = (app.expression || '').replace(/\{(secure_link_expires|uri|remote_addr)\}/g, (_: string, name: string) =>
    name === 'uri' ? path : name === 'remote_addr' ? q.clientIp : expires || '');
  if (!constantTimeEqual(secureLinkMd5(expr), md5)) return { ok: false, reason: 'signature' };
  if (revoked.tokens[md5]) return { ok: false, reason: 'revoked' };
  // nginx: a link is expired when its time has passed (no skew in nginx either).
  if (expires !== undefined && q.nowS > Number(expires)) return { ok: false, reason: 'expired' };
  return { ok: true, exp: expires !== undefined ? Number(expires) : 0 };
}

/** The segment link value nginx checks: secure_link_md5 "$secure_link_expires$media_edge_stream <secret>". */
export function linkSig(exp: number, stream: string, secret: string): string {
  return secureLinkMd5(exp + stream + ' ' + secret);
}

/**
 * When the links given with a playlist end: the token's expiry, and for a
 * live playlist (which players reload) at most `ttl` from now; a VOD playlist
 * is read once, so its links last as long as the token. A token without
 * expiry gets `ttl` for live and a day for VOD.
 */
export function linkExpiry(tokenExp: number, nowS: number, ttlS: number, vod: boolean): number {
  const cap = vod ? nowS + 86400 : nowS + ttlS;
  return tokenExp > 0 ? Math.min(tokenExp, vod ? tokenExp : cap) : cap;
}

/**
 * Markers the producer puts on child URIs of playlists of applications in
 * query mode, which nginx's sub_filter (C, per response) replaces with what
 * this viewer's token gives: the token's parameters on child playlists, a
 * link on segments (`&` in HLS, `&amp;` in an MPD; live or VOD expiry). The
 * cached playlist holds markers, never a token. They are ordinary query
 * parameters, harmless wherever one is left in place.
 */
export const MARK_CHILD = '_me_q_=1';
export const MARK_LIVE = '_me_l_=1';
export const MARK_VOD = '_me_l_=2';
export const MARK_LIVE_XML = '_me_x_=1';
export const MARK_VOD_XML = '_me_x_=2';

/** Parse a location's $media_edge_auth_app (tools/render.ts authLocation). */
export function parseAuthConfig(text: string): AuthConfig | { error: string } {
  try {
    const c = JSON.parse(text) as AuthConfig;
    if (!c || typeof c.scheme !== 'string' || typeof c.skew_s !== 'number') return { error: 'not a playback auth config' };
    return c;
  } catch (e) {
    return { error: 'not JSON' };
  }
}
