/**
 * Viewer authorization (issue 5): which token a request carries, whether it
 * may play, and the link its playlist hands on. Pure logic over plain values;
 * njs/viewer.ts feeds it nginx's request.
 *
 * How the check stays cheap: njs checks a viewer's token (any scheme) only
 * on the playlist request that carries it, usually the master. The child
 * URIs in what that viewer receives (variant playlists, segments, parts,
 * keys) carry a link instead, which nginx's own secure_link module checks in
 * C on every later request, reloads included
 * (https://nginx.org/en/docs/http/ngx_http_secure_link_module.html):
 *
 *   me_exp=<E>&me_tid=<kid>.<token id>[.ip]&me_sig=<S>
 *   (token id: the first 22 characters of the token's signature)
 *   S = base64url(md5("<E>|<tid>|<stream>[|<client address>] <link secret>"))
 *
 * <E> is the token's expiry (plus the skew allowance), so expiry takes
 * effect mid-session at the next reload; <stream> is $media_edge_stream
 * (njs/rules.ts STREAM_RULES), so a link opens one stream; the tid names
 * the token and its key, so a revocation (an nginx map over the same
 * file njs reads) cuts the viewer off at the next reload; `.ip` binds the
 * link to the client address when the token was bound to it. The `|`
 * separators keep the fields apart: E is digits, the tid has no `|`.
 */
import { allOf, isB64url, isUnixSeconds, scopeCovers, secureLinkMd5, verifyEdgeAuth, verifyToken, wowzaSecureTokenHash, type TokenReason, type TokenVerdict } from './token';
import { constantTimeEqual } from './sign';

export type Scheme = 'hmac' | 'akamai' | 'wowza' | 'secure_link';

/** One application's playback auth, as tools/render.ts writes it. */
export interface AppAuth {
  scheme: Scheme;
  /** Query parameter (and cookie) holding the token; for wowza the prefix. */
  param: string;
  /** hmac: key id -> secret (two during rotation). */
  keys?: Record<string, string>;
  /** akamai: hex keys (the encryption key and, while rotating, the transition key). */
  key_hex?: string[];
  algorithm?: 'sha256' | 'sha1' | 'md5';
  /** akamai: accept only this kind of token (default: both). */
  mode?: 'acl' | 'url';
  salt?: string;
  /** akamai: the signer escaped inputs early (Akamai's "Escape token inputs"). */
  escape_early?: boolean;
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
  /** Send the token to the origin too. */
  forward?: boolean;
  /** The links' secret (secure_link_md5 in the application's location). */
  link_secret: string;
}

/** What each protected location gives njs: its application's auth and the global settings. */
export interface AuthConfig extends AppAuth {
  skew_s: number;
  /** Life of a link issued for a token that carries no expiry. */
  link_ttl_s: number;
  revoked_file: string;
}

/** Reasons a viewer is refused: the token's, and the edge's own. */
export type AuthReason = TokenReason | 'config';

export interface ViewerRequest {
  /** $uri: decoded, normalized path. */
  path: string;
  /** The raw query string ($args). */
  args: string;
  /** The Cookie header, or "". */
  cookie: string;
  clientIp: string;
  nowS: number;
}

/** Revoked tokens (by signature or token id) and key ids. */
export interface Revocations {
  tokens: Record<string, true>;
  kids: Record<string, true>;
}

/**
 * Wowza SecureToken folds a viewer's token into its chunklist names:
 * `chunklist_w{sid}[_...]_tk{base64 of the token's query}.m3u8` (seen in the
 * wild: https://github.com/video-dev/hls.js/issues/2115). Base64 here is
 * standard or URL-safe, never with `/` (it would be a path separator).
 */
export const TK_NAME = '_tk([A-Za-z0-9+=_-]+)\\.m3u8$';

/** A chunklist path without a folded token (what the origin is asked for). */
export function withoutFoldedToken(path: string): string {
  return path.replace(new RegExp(TK_NAME), '.m3u8');
}

/** The link's parameters (and cookies); never sent to the origin, never in a cache key. */
export const LINK_EXP = 'me_exp';
export const LINK_TID = 'me_tid';
export const LINK_SIG = 'me_sig';

/** A granted viewer's link: its expiry, its token id, and whether it binds the client address. */
export type Verdict =
  | { ok: true; exp: number; tid: string; ip: boolean }
  | { ok: false; reason: AuthReason };

/** The query string split into name/raw-value pairs, in order. */
function splitArgs(args: string): Array<[string, string]> {
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
function decodeArg(v: string): string | null {
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
function isTokenParam(app: AppAuth, name: string): boolean {
  if (name === LINK_EXP || name === LINK_TID || name === LINK_SIG) return true;
  if (app.scheme === 'wowza') return name.slice(0, app.param.length) === app.param;
  if (app.scheme === 'secure_link') return name === 'md5' || name === 'expires';
  return name === app.param;
}

/** The query string without the parameters `drop` names, the others as they came. */
function filterArgs(args: string, drop: (name: string) => boolean): string {
  const kept: string[] = [];
  const parts = args.split('&');
  for (let i = 0; i < parts.length; i++) {
    const eq = parts[i].indexOf('=');
    if (parts[i] !== '' && !drop(eq < 0 ? parts[i] : parts[i].slice(0, eq))) kept.push(parts[i]);
  }
  return kept.join('&');
}

/** The query string without the token's parameters: what the origin gets (unless `forward`). */
export function originArgs(app: AppAuth, args: string): string {
  return app.forward ? args : filterArgs(args, (name) => isTokenParam(app, name));
}

/** The query string without a link (what the producer sends to the origin). */
export function withoutLink(args: string): string {
  return filterArgs(args, (name) => name === LINK_EXP || name === LINK_TID || name === LINK_SIG);
}

/**
 * The token's parameters (decoded) from the query string, or, when it has
 * none, for hmac and akamai from a cookie named like the parameter, for
 * wowza from a chunklist name with the token folded in (rules.ts TK_NAME).
 * A parameter given twice makes the token malformed: which one would count
 * is a second reading.
 */
export function tokenParams(app: AppAuth, args: string, cookie: string, path?: string): Record<string, string> | 'malformed' {
  const fromQuery = collect(app, args);
  if (fromQuery === 'malformed' || Object.keys(fromQuery).length > 0) return fromQuery;
  if (app.scheme === 'wowza' && path) {
    const tk = new RegExp(TK_NAME).exec(path);
    if (tk) {
      const text = Buffer.from(tk[1].split('-').join('+').split('_').join('/'), 'base64').toString();
      return allOf(text, 1, 2048, (c) => c >= 32 && c < 127) ? collect(app, text) : 'malformed';
    }
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
    if (!isTokenParam(app, name) || name === LINK_EXP || name === LINK_TID || name === LINK_SIG) continue;
    if (Object.prototype.hasOwnProperty.call(out, name)) return 'malformed';
    const v = decodeArg(parts[i][1]);
    if (v === null) return 'malformed';
    out[name] = v;
  }
  return out;
}

/**
 * What a revoked token id or key id may be: characters an nginx map key
 * needs no quotes for, and that base64url, hex and key ids use.
 */
export const REVOKED_ID = '[A-Za-z0-9_=-]{1,64}';

/** One line of the revocation file (trimmed): kind and id in groups 1 and 2. */
export const REVOKED_LINE = new RegExp('^(kid|token):(' + REVOKED_ID + ')\\s+revoked;$');

/**
 * Parse the revocation file. It is nginx map syntax, because nginx includes
 * the same file in the maps that check links in C: `token:<id> revoked;`
 * and `kid:<key id> revoked;` lines, `#` comments.
 */
export function parseRevocations(text: string): { list: Revocations; errors: string[] } {
  // Without a prototype: an id such as "constructor" or "__proto__" is an id like any other.
  const list: Revocations = { tokens: Object.create(null), kids: Object.create(null) };
  const errors: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i].trim();
    if (t === '' || t.charAt(0) === '#') continue;
    const m = REVOKED_LINE.exec(t);
    if (!m) {
      errors.push('line ' + (i + 1) + ': expected "token:<id> revoked;" or "kid:<key id> revoked;"');
      continue;
    }
    if (m[1] === 'kid') list.kids[m[2]] = true;
    else list.tokens[m[2]] = true;
  }
  return { list, errors };
}

const NO_REVOCATIONS: Revocations = { tokens: Object.create(null), kids: Object.create(null) };

/**
 * May this viewer have this playlist? On success, the link its children
 * carry: `exp` (unix seconds), `tid` and whether the link binds the address.
 */
export function checkViewer(app: AuthConfig, q: ViewerRequest, revocations?: Revocations): Verdict {
  const revoked = revocations || NO_REVOCATIONS;
  const p = tokenParams(app, q.args, q.cookie, q.path);
  if (p === 'malformed') return { ok: false, reason: 'malformed' };
  const v = verifyScheme(app, q, p, app.skew_s);
  if (!v.ok) return v;
  const id = tokenId(app, p);
  if (revoked.tokens[id] || revoked.kids[v.kid]) return { ok: false, reason: 'revoked' };
  const exp = v.exp > 0 ? v.exp + app.skew_s : q.nowS + app.link_ttl_s;
  return { ok: true, exp: exp, tid: v.kid + '.' + id + (v.ip ? '.ip' : ''), ip: v.ip };
}

/**
 * A token's id in links and revocations: the first 22 characters of its
 * signature (132 bits of base64url, 88 of hex), short enough for nginx's
 * default map hash buckets; "" when `p` (tokenParams) holds no signature.
 * Apart from the check, so that `media-edge revoke --token` names a token
 * exactly as its links do.
 */
export function tokenId(app: AppAuth, p: Record<string, string>): string {
  let sig: string | undefined;
  if (app.scheme === 'hmac' || app.scheme === 'akamai') {
    // The signature is the last field of both: `~sig=` (token.ts), `~hmac=` (EdgeAuth).
    const raw = p[app.param];
    const field = app.scheme === 'hmac' ? '~sig=' : '~hmac=';
    const at = raw === undefined ? -1 : raw.lastIndexOf(field);
    sig = at < 0 ? undefined : (raw as string).slice(at + field.length);
  } else if (app.scheme === 'wowza') sig = p[app.param + 'hash'];
  else sig = p.md5;
  return sig === undefined ? '' : sig.slice(0, 22);
}

type SchemeVerdict = { ok: true; exp: number; kid: string; ip: boolean } | { ok: false; reason: AuthReason };

function verifyScheme(app: AppAuth, q: ViewerRequest, p: Record<string, string>, skewS: number): SchemeVerdict {
  if (app.scheme === 'hmac') {
    const raw = p[app.param];
    const v = verifyToken(raw, { path: q.path, nowS: q.nowS, skewS: skewS, clientIp: q.clientIp, keys: app.keys || {} });
    if (!v.ok) return v;
    return { ok: true, exp: v.exp, kid: v.kid, ip: (raw as string).indexOf('~ip=') > 0 };
  }
  if (app.scheme === 'akamai') {
    const raw = p[app.param];
    const keys = app.key_hex || [];
    let v: TokenVerdict = { ok: false, reason: 'missing' };
    let used = 0;
    for (let i = 0; i < keys.length; i++) {
      used = i;
      v = verifyEdgeAuth(raw, { path: q.path, nowS: q.nowS, skewS: skewS, clientIp: q.clientIp, keyHex: keys[i], algorithm: app.algorithm || 'sha256', mode: app.mode || 'any', salt: app.salt, escapeEarly: app.escape_early === true });
      // A transition key is tried only when the signature did not match.
      if (v.ok || v.reason !== 'signature') break;
    }
    if (!v.ok) return v;
    const s = raw as string;
    return { ok: true, exp: v.exp, kid: String(used + 1), ip: s.slice(0, 3) === 'ip=' };
  }
  if (app.scheme === 'wowza') return verifyWowza(app, q, p, skewS);
  return verifySecureLink(app, q, p);
}

/**
 * Wowza SecureToken v2: the hash covers the content path (the request path
 * after the first `/`, up to the playlist's file name, so every playlist of
 * one stream shares it), the prefixed parameters and the secret
 * (shared/reference/media.md).
 */
function verifyWowza(app: AppAuth, q: ViewerRequest, p: Record<string, string>, skewS: number): SchemeVerdict {
  const pre = app.param;
  const hash = p[pre + 'hash'];
  if (hash === undefined) return { ok: false, reason: 'missing' };
  const end = p[pre + 'endtime'];
  const start = p[pre + 'starttime'];
  if (!allOf(hash, 40, 100, (c) => isB64url(c) || c === 61)) return { ok: false, reason: 'malformed' };
  if ((end !== undefined && !isUnixSeconds(end)) || (start !== undefined && !isUnixSeconds(start))) return { ok: false, reason: 'malformed' };
  const path = q.path.slice(1, q.path.lastIndexOf('/'));
  if (path === '' || !scopeCovers('/' + path + '/*', q.path)) return { ok: false, reason: 'scope' };
  const want = wowzaSecureTokenHash(path, app.secret || '', p, pre, app.ip ? q.clientIp : undefined);
  if (!constantTimeEqual(want, hash)) return { ok: false, reason: 'signature' };
  if (end !== undefined && q.nowS > Number(end) + skewS) return { ok: false, reason: 'expired' };
  if (start !== undefined && q.nowS + skewS < Number(start)) return { ok: false, reason: 'not-yet-valid' };
  return { ok: true, exp: end !== undefined ? Number(end) : 0, kid: '1', ip: Boolean(app.ip) };
}

/**
 * nginx secure_link_md5 links: `md5` and `expires` parameters, the hash over
 * the app's expression with $secure_link_expires, $uri and $remote_addr
 * filled in (the variables such expressions use in practice).
 */
function verifySecureLink(app: AppAuth, q: ViewerRequest, p: Record<string, string>): SchemeVerdict {
  const md5 = p.md5;
  if (md5 === undefined) return { ok: false, reason: 'missing' };
  if (!allOf(md5, 22, 22, isB64url)) return { ok: false, reason: 'malformed' };
  const expires = p.expires;
  if (expires !== undefined && !isUnixSeconds(expires)) return { ok: false, reason: 'malformed' };
  const path = q.path;
  const expr = (app.expression || '').replace(/\{(secure_link_expires|uri|remote_addr)\}/g, (_: string, name: string) =>
    name === 'uri' ? path : name === 'remote_addr' ? q.clientIp : expires || '');
  if (!constantTimeEqual(secureLinkMd5(expr), md5)) return { ok: false, reason: 'signature' };
  // nginx: a link is expired when its time has passed (no skew in nginx either).
  if (expires !== undefined && q.nowS > Number(expires)) return { ok: false, reason: 'expired' };
  return { ok: true, exp: expires !== undefined ? Number(expires) : 0, kid: '1', ip: (app.expression || '').indexOf('{remote_addr}') >= 0 };
}

/** The link's signature, as nginx's secure_link_md5 in a protected location computes it. */
export function linkSig(exp: number, tid: string, stream: string, clientIp: string | null, secret: string): string {
  return secureLinkMd5(exp + '|' + tid + '|' + stream + (clientIp !== null ? '|' + clientIp : '') + ' ' + secret);
}

/** The link as query parameters (`&` in HLS, `&amp;` in an MPD). */
export function linkQuery(exp: number, tid: string, sig: string, amp: string): string {
  return LINK_EXP + '=' + exp + amp + LINK_TID + '=' + tid + amp + LINK_SIG + '=' + sig;
}

/**
 * Markers the producer puts on child URIs of playlists of protected
 * applications in query mode, which nginx's sub_filter (C, per response)
 * replaces with the viewer's link (`&` in HLS, `&amp;` in an MPD). The
 * cached playlist holds markers, never a token or a link. They are ordinary
 * query parameters, harmless wherever one is left in place.
 */
export const MARK_LINK = '_me_l_=1';
export const MARK_LINK_XML = '_me_x_=1';

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
