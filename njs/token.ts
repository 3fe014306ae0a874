/**
 * Playback tokens (issue 5): pure logic, no nginx objects, so vitest imports
 * it and the njs bundle runs the same code.
 *
 * Our own token ("me1"), carried as `?me_token=` or a `me_token` cookie:
 *
 *   exp=<unix s>[~st=<unix s>]~path=<scope>[~ip=<addr>]~kid=<id>~sig=<b64url>
 *
 * Fields come in exactly this order, each at most once, nothing else; `sig`
 * is base64url(HMAC-SHA256(key[kid], everything before "~sig=")). A fixed
 * grammar means there is one way to read a token: extra separators,
 * duplicated or unknown fields, and reordering are refused before any crypto.
 *
 * A scope is an exact path or a directory followed by `*` (`/live/cam1/*`
 * covers the master, variant playlists and segments of that stream). A `*`
 * anywhere else (`/live/cam*`) is refused: it would cover `/live/cam10/`.
 *
 * Wowza SecureToken v2: see wowzaSecureTokenHash (shared/reference/media.md,
 * https://www.wowza.com/docs/how-to-protect-streaming-using-securetoken-in-wowza-streaming-engine).
 */
import crypto from 'crypto';
import { constantTimeEqual, hmacB64url } from './sign';

/** exp: when the token ends, unix seconds (0: it carries no end). */
export type TokenVerdict = { ok: true; kid: string; exp: number } | { ok: false; reason: TokenReason };

/** Machine-readable refusal reasons (sent as a header; never echo the token). */
export type TokenReason = 'missing' | 'malformed' | 'kind' | 'expired' | 'not-yet-valid' | 'scope' | 'ip' | 'signature' | 'unknown-key' | 'revoked';

export interface MeToken {
  exp: number;
  st?: number;
  path: string;
  ip?: string;
  kid: string;
}

const MAX_TOKEN_LENGTH = 1024;

// Character classes as loops, not regular expressions: this runs on every
// playlist request, and in njs a regular expression costs microseconds
// where a loop over a short string costs nanoseconds.

/** 0-9 */
export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
/** A-Z a-z 0-9 _ - (base64url, key ids) */
export function isB64url(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95;
}
/** 0-9 a-f */
export function isLowerHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102);
}
// Scope characters: printable ASCII without separators a token or URL gives
// meaning to (no `~`: it separates the fields): A-Z a-z 0-9 _ . : + = , @ ! / -
function isScopeChar(c: number): boolean {
  return isB64url(c) || c === 46 || c === 58 || c === 43 || c === 61 || c === 44 || c === 64 || c === 33 || c === 47;
}
function isIpChar(c: number): boolean {
  return (c >= 48 && c <= 58) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 46;
}

/** Is every character of s in the class, and its length within [min, max]? */
export function allOf(s: string, min: number, max: number, cls: (c: number) => boolean): boolean {
  if (s.length < min || s.length > max) return false;
  for (let i = 0; i < s.length; i++) if (!cls(s.charCodeAt(i))) return false;
  return true;
}

/** Unix seconds as the tokens write them: 1-12 digits. */
export function isUnixSeconds(s: string): boolean {
  return allOf(s, 1, 12, isDigit);
}

/** A `.` or `..` segment, or an empty one (`//`), anywhere in a path ("*" ends a scope). */
function hasDotOrEmptySegment(p: string): boolean {
  if (p.indexOf('//') >= 0) return true;
  const parts = p.split('/');
  for (let i = 1; i < parts.length; i++) {
    const seg = i === parts.length - 1 && parts[i].charAt(parts[i].length - 1) === '*' ? parts[i].slice(0, -1) : parts[i];
    if (seg === '.' || seg === '..') return true;
  }
  return false;
}

/** Why a scope is not acceptable, or null: the same rule for mint and verify. */
export function scopeProblem(scope: string): string | null {
  const star = scope.charAt(scope.length - 1) === '*';
  const body = star ? scope.slice(0, -1) : scope;
  if (body.charAt(0) !== '/' || !allOf(body, 1, MAX_TOKEN_LENGTH, isScopeChar)) return 'scope must be a path of printable characters, optionally ending in *';
  if (star && body.charAt(body.length - 1) !== '/') return 'a * must follow a /';
  if (hasDotOrEmptySegment(scope)) return 'no dot segments or empty segments';
  return null;
}

/** Does the scope cover the (already normalized) request path? */
export function scopeCovers(scope: string, path: string): boolean {
  if (scopeProblem(scope) !== null) return false;
  // Defence in depth: the edge refuses these URLs before any token check.
  if (unsafePath(path)) return false;
  if (scope.charAt(scope.length - 1) === '*') return path.length >= scope.length - 1 && path.slice(0, scope.length - 1) === scope.slice(0, -1);
  return path === scope;
}

/** Empty or dot segments, or an encoded slash, backslash or dot still in the (decoded) path. */
export function unsafePath(path: string): boolean {
  if (hasDotOrEmptySegment(path)) return true;
  if (path.indexOf('%') < 0) return false;
  const low = path.toLowerCase();
  return low.indexOf('%2f') >= 0 || low.indexOf('%5c') >= 0 || low.indexOf('%2e') >= 0;
}

/** The signed part of a token, fields in their one order. */
export function signedPart(t: MeToken): string {
  let s = 'exp=' + t.exp;
  if (t.st !== undefined) s += '~st=' + t.st;
  s += '~path=' + t.path;
  if (t.ip !== undefined) s += '~ip=' + t.ip;
  return s + '~kid=' + t.kid;
}

/** A token for `t`, or an error value when a field is not acceptable. */
export function mintToken(t: MeToken, key: string): { ok: true; token: string } | { ok: false; error: string } {
  if (!(Number.isInteger(t.exp) && t.exp > 0 && isUnixSeconds(String(t.exp)))) return { ok: false, error: 'exp must be unix seconds' };
  if (t.st !== undefined && !(Number.isInteger(t.st) && t.st >= 0 && isUnixSeconds(String(t.st)) && t.st < t.exp)) return { ok: false, error: 'st must be unix seconds before exp' };
  const sp = scopeProblem(t.path);
  if (sp) return { ok: false, error: sp };
  if (t.ip !== undefined && !allOf(t.ip, 2, 45, isIpChar)) return { ok: false, error: 'ip must be an IPv4 or IPv6 address' };
  if (!allOf(t.kid, 1, 32, isB64url)) return { ok: false, error: 'kid must be 1-32 of A-Z a-z 0-9 _ -' };
  if (!key) return { ok: false, error: 'empty key' };
  const signed = signedPart(t);
  return { ok: true, token: signed + '~sig=' + hmacB64url(key, signed) };
}

/** Strict parse: the fixed grammar above, or null. */
export function parseToken(raw: string): { token: MeToken; signed: string; sig: string } | null {
  if (raw.length === 0 || raw.length > MAX_TOKEN_LENGTH) return null;
  const at = raw.lastIndexOf('~sig=');
  if (at < 0) return null;
  const signed = raw.slice(0, at);
  const sig = raw.slice(at + 5);
  if (!allOf(sig, 43, 43, isB64url)) return null;
  const parts = signed.split('~');
  let i = 0;
  const take = (name: string): string | undefined => {
    if (i < parts.length && parts[i].slice(0, name.length + 1) === name + '=') return parts[i++].slice(name.length + 1);
    return undefined;
  };
  const exp = take('exp');
  const st = take('st');
  const path = take('path');
  const ip = take('ip');
  const kid = take('kid');
  if (i !== parts.length || exp === undefined || path === undefined || kid === undefined) return null;
  if (!isUnixSeconds(exp) || (st !== undefined && !isUnixSeconds(st))) return null;
  if (scopeProblem(path) !== null || (ip !== undefined && !allOf(ip, 2, 45, isIpChar)) || !allOf(kid, 1, 32, isB64url)) return null;
  const token: MeToken = { exp: Number(exp), path, kid };
  if (st !== undefined) token.st = Number(st);
  if (ip !== undefined) token.ip = ip;
  // Re-serialising must give back exactly what was signed (no second reading).
  if (signedPart(token) !== signed) return null;
  return { token, signed, sig };
}

export interface VerifyContext {
  path: string;
  nowS: number;
  skewS: number;
  clientIp: string;
  keys: Record<string, string>;
  revoked?: Record<string, true>;
}

/**
 * Check order: shape, key, signature, then the signed claims. The signature
 * comes before the claims, so an unsigned token learns nothing about them.
 */
export function verifyToken(raw: string | undefined, c: VerifyContext): TokenVerdict {
  if (raw === undefined || raw === '') return { ok: false, reason: 'missing' };
  const p = parseToken(raw);
  if (!p) return { ok: false, reason: 'malformed' };
  const key = Object.prototype.hasOwnProperty.call(c.keys, p.token.kid) ? c.keys[p.token.kid] : '';
  if (!key) return { ok: false, reason: 'unknown-key' };
  if (!constantTimeEqual(hmacB64url(key, p.signed), p.sig)) return { ok: false, reason: 'signature' };
  if (c.revoked && (c.revoked['kid:' + p.token.kid] || c.revoked['sig:' + p.sig])) return { ok: false, reason: 'revoked' };
  if (c.nowS > p.token.exp + c.skewS) return { ok: false, reason: 'expired' };
  if (p.token.st !== undefined && c.nowS + c.skewS < p.token.st) return { ok: false, reason: 'not-yet-valid' };
  if (!scopeCovers(p.token.path, c.path)) return { ok: false, reason: 'scope' };
  if (p.token.ip !== undefined && p.token.ip !== c.clientIp) return { ok: false, reason: 'ip' };
  return { ok: true, kid: p.token.kid, exp: p.token.exp };
}

/**
 * Wowza SecureToken v2 hash: base64 of SHA-256 over
 * `path?` + sorted([clientIp], secret, prefixed params but the hash), with
 * `+`->`-` and `/`->`_` and padding kept (Wowza's own form).
 */
export function wowzaSecureTokenHash(path: string, secret: string, params: Record<string, string>, prefix: string, clientIp?: string): string {
  const items: string[] = [];
  if (clientIp) items.push(clientIp);
  items.push(secret);
  for (const name in params) {
    if (name.slice(0, prefix.length) === prefix && name !== prefix + 'hash') items.push(name + '=' + params[name]);
  }
  items.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const b64 = crypto.createHash('sha256').update(path + '?' + items.join('&')).digest('base64') as string;
  return b64.replace(/\+/g, '-').replace(/\//g, '_');
}

export interface EdgeAuthContext {
  path: string;
  nowS: number;
  skewS: number;
  clientIp: string;
  /** The shared key as hex, as Akamai gives it. */
  keyHex: string;
  algorithm: 'sha256' | 'sha1' | 'md5';
  /**
   * Which kinds of token are accepted. A token says its kind itself: an ACL
   * token carries `acl=` and is checked against it; a URL token carries no
   * ACL and signs the request's path. "any" (the default) takes both, as an
   * operator moving from Akamai has both in the wild; "acl" or "url" only
   * restricts.
   */
  mode: 'any' | 'acl' | 'url';
  salt?: string;
  /**
   * Akamai's "escape early" (the property's "Escape token inputs"): the
   * signer URL-escaped ip, id, data and a URL token's path before signing,
   * with lowercase hex (akamai-edgeauth `_escapeEarly`). Fields are hashed
   * as sent either way; with it, a URL token's path is escaped for the hash
   * and its ip unescaped before the address is compared.
   */
  escapeEarly?: boolean;
}

/**
 * akamai-edgeauth's `_escapeEarly`: encodeURIComponent, then `~`, `'` and
 * `*` escaped too, every escape in lowercase hex.
 */
export function edgeAuthEscape(text: string): string {
  return encodeURIComponent(text)
    .replace(/[~'*]/g, (c) => '%' + c.charCodeAt(0).toString(16))
    .replace(/%../g, (m) => m.toLowerCase());
}

/** Hex digits of each HMAC. */
function hexLength(algorithm: string): number {
  return algorithm === 'sha1' ? 40 : algorithm === 'md5' ? 32 : 64;
}

/** `*` in an Akamai ACL matches any run of characters, `/` included. */
export function aclCovers(acl: string, path: string): boolean {
  const pats = acl.split('!');
  for (let i = 0; i < pats.length; i++) {
    const p = pats[i];
    if (p.charAt(0) !== '/') continue;
    const star = p.indexOf('*');
    if (star < 0) {
      if (p === path) return true;
      continue;
    }
    // The common form, one trailing `*`: a prefix, no regular expression.
    if (star === p.length - 1) {
      if (path.slice(0, star) === p.slice(0, star)) return true;
      continue;
    }
    const re = new RegExp('^' + p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$');
    if (re.test(path)) return true;
  }
  return false;
}

/** decodeURIComponent, or null for a malformed escape (never a throw). */
function safeUnescape(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch (e) {
    return null;
  }
}

function hexToBuffer(hex: string): Buffer | null {
  if (hex.length % 2 !== 0 || !allOf(hex.toLowerCase(), 2, 1024, isLowerHex)) return null;
  return Buffer.from(hex, 'hex');
}

/**
 * Akamai EdgeAuth 2.0 (`[ip=~][st=~]exp=[~acl=][~id=][~data=]~hmac=`): the
 * HMAC, keyed with the hex-decoded key, covers the fields before `hmac` as
 * sent, plus `url=<path>` in url mode and `salt=` when set
 * (the `akamai-edgeauth` npm package, lib/edgeauth.js).
 * Fields in that order, each at most once, or the token is malformed.
 */
export function verifyEdgeAuth(raw: string | undefined, c: EdgeAuthContext): TokenVerdict {
  if (raw === undefined || raw === '') return { ok: false, reason: 'missing' };
  if (raw.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'malformed' };
  const parts = raw.split('~');
  const last = parts[parts.length - 1];
  const mac = last.slice(0, 5) === 'hmac=' ? last.slice(5) : '';
  if (!allOf(mac, hexLength(c.algorithm), hexLength(c.algorithm), isLowerHex)) return { ok: false, reason: 'malformed' };
  const fields = ['ip', 'st', 'exp', 'acl', 'id', 'data'];
  const f: Record<string, string> = {};
  let next = 0;
  for (let i = 0; i < parts.length - 1; i++) {
    const eq = parts[i].indexOf('=');
    const name = eq > 0 ? parts[i].slice(0, eq) : '';
    let at = next;
    while (at < fields.length && fields[at] !== name) at++;
    if (at === fields.length) return { ok: false, reason: 'malformed' };
    f[name] = parts[i].slice(eq + 1);
    next = at + 1;
  }
  if (f.exp === undefined || !isUnixSeconds(f.exp) || (f.st !== undefined && !isUnixSeconds(f.st))) return { ok: false, reason: 'malformed' };
  const kind = f.acl !== undefined ? 'acl' : 'url';
  // A kind the application does not take is refused as such.
  if (c.mode !== 'any' && c.mode !== kind) return { ok: false, reason: 'kind' };
  const key = hexToBuffer(c.keyHex);
  if (!key) return { ok: false, reason: 'unknown-key' };
  let signed = parts.slice(0, parts.length - 1).join('~');
  // The path as the viewer asked for it, without the query: Akamai's
  // "Ignore query string" on (a URL token signed over a query is refused).
  if (kind === 'url') signed += '~url=' + (c.escapeEarly ? edgeAuthEscape(c.path) : c.path);
  if (c.salt) signed += '~salt=' + c.salt;
  const want = crypto.createHmac(c.algorithm, key).update(signed).digest('hex') as string;
  if (!constantTimeEqual(want, mac)) return { ok: false, reason: 'signature' };
  if (c.nowS > Number(f.exp) + c.skewS) return { ok: false, reason: 'expired' };
  if (f.st !== undefined && c.nowS + c.skewS < Number(f.st)) return { ok: false, reason: 'not-yet-valid' };
  if (unsafePath(c.path)) return { ok: false, reason: 'scope' };
  if (kind === 'acl' && !aclCovers(f.acl, c.path)) return { ok: false, reason: 'scope' };
  if (f.ip !== undefined && (c.escapeEarly ? safeUnescape(f.ip) : f.ip) !== c.clientIp) return { ok: false, reason: 'ip' };
  return { ok: true, kid: 'edgeauth', exp: Number(f.exp) };
}

/**
 * nginx secure_link_md5 value: base64url(MD5(expression)) without padding
 * (https://nginx.org/en/docs/http/ngx_http_secure_link_module.html), for
 * `secure_link_md5 "$secure_link_expires$uri <secret>"` links.
 */
export function secureLinkMd5(expression: string): string {
  const b64 = crypto.createHash('md5').update(expression).digest('base64url') as string;
  // Unpadded already in Node and njs; nginx compares 22 characters.
  return b64.length > 22 ? b64.slice(0, 22) : b64;
}
