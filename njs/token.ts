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

export type TokenVerdict = { ok: true; kid: string } | { ok: false; reason: TokenReason };

/** Machine-readable refusal reasons (sent as a header; never echo the token). */
export type TokenReason = 'missing' | 'malformed' | 'expired' | 'not-yet-valid' | 'scope' | 'ip' | 'signature' | 'unknown-key' | 'revoked';

export interface MeToken {
  exp: number;
  st?: number;
  path: string;
  ip?: string;
  kid: string;
}

const MAX_TOKEN_LENGTH = 1024;
const DIGITS = /^[0-9]{1,12}$/;
const KID = /^[A-Za-z0-9_-]{1,32}$/;
const SIG = /^[A-Za-z0-9_-]{43}$/;
// Printable ASCII without separators a token or URL gives meaning to (no `~`:
// it separates the fields).
const SCOPE = /^\/[A-Za-z0-9_.:+=,@!\/-]*\*?$/;
const IP = /^[0-9A-Fa-f:.]{2,45}$/;

/** Why a scope is not acceptable, or null: the same rule for mint and verify. */
export function scopeProblem(scope: string): string | null {
  if (!SCOPE.test(scope)) return 'scope must be a path of printable characters, optionally ending in *';
  if (scope.indexOf('*') >= 0 && !/\/\*$/.test(scope)) return 'a * must follow a /';
  if (/\/\.\.?(\/|\*?$)/.test(scope) || scope.indexOf('//') >= 0) return 'no dot segments or empty segments';
  return null;
}

/** Does the scope cover the (already normalized) request path? */
export function scopeCovers(scope: string, path: string): boolean {
  if (scopeProblem(scope) !== null) return false;
  // Defence in depth: the edge refuses these URLs before any token check.
  if (path.indexOf('//') >= 0 || /\/\.\.?(\/|$)/.test(path) || /%2f|%5c|%2e/i.test(path)) return false;
  if (scope.charAt(scope.length - 1) === '*') return path.length >= scope.length - 1 && path.slice(0, scope.length - 1) === scope.slice(0, -1);
  return path === scope;
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
  if (!(Number.isInteger(t.exp) && t.exp > 0 && DIGITS.test(String(t.exp)))) return { ok: false, error: 'exp must be unix seconds' };
  if (t.st !== undefined && !(Number.isInteger(t.st) && t.st >= 0 && DIGITS.test(String(t.st)) && t.st < t.exp)) return { ok: false, error: 'st must be unix seconds before exp' };
  const sp = scopeProblem(t.path);
  if (sp) return { ok: false, error: sp };
  if (t.ip !== undefined && !IP.test(t.ip)) return { ok: false, error: 'ip must be an IPv4 or IPv6 address' };
  if (!KID.test(t.kid)) return { ok: false, error: 'kid must be 1-32 of A-Z a-z 0-9 _ -' };
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
  if (!SIG.test(sig)) return null;
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
  if (!DIGITS.test(exp) || (st !== undefined && !DIGITS.test(st))) return null;
  if (scopeProblem(path) !== null || (ip !== undefined && !IP.test(ip)) || !KID.test(kid)) return null;
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
  return { ok: true, kid: p.token.kid };
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
  /** acl: the token carries its ACL; url: the request path is signed, not carried. */
  mode: 'acl' | 'url';
  salt?: string;
}

const EDGEAUTH_FIELDS = ['ip', 'st', 'exp', 'acl', 'id', 'data'];
const HEX_LENGTH: Record<string, number> = { sha256: 64, sha1: 40, md5: 32 };

/** `*` in an Akamai ACL matches any run of characters, `/` included. */
export function aclCovers(acl: string, path: string): boolean {
  const pats = acl.split('!');
  for (let i = 0; i < pats.length; i++) {
    const p = pats[i];
    if (p.charAt(0) !== '/') continue;
    const re = new RegExp('^' + p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$');
    if (re.test(path)) return true;
  }
  return false;
}

function hexToBuffer(hex: string): Buffer | null {
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) return null;
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
  if (mac.length !== HEX_LENGTH[c.algorithm] || !/^[0-9a-f]+$/.test(mac)) return { ok: false, reason: 'malformed' };
  const f: Record<string, string> = {};
  let next = 0;
  for (let i = 0; i < parts.length - 1; i++) {
    const eq = parts[i].indexOf('=');
    const name = eq > 0 ? parts[i].slice(0, eq) : '';
    let at = next;
    while (at < EDGEAUTH_FIELDS.length && EDGEAUTH_FIELDS[at] !== name) at++;
    if (at === EDGEAUTH_FIELDS.length) return { ok: false, reason: 'malformed' };
    f[name] = parts[i].slice(eq + 1);
    next = at + 1;
  }
  if (f.exp === undefined || !DIGITS.test(f.exp) || (f.st !== undefined && !DIGITS.test(f.st))) return { ok: false, reason: 'malformed' };
  if ((c.mode === 'acl') !== (f.acl !== undefined)) return { ok: false, reason: 'malformed' };
  const key = hexToBuffer(c.keyHex);
  if (!key) return { ok: false, reason: 'unknown-key' };
  let signed = parts.slice(0, parts.length - 1).join('~');
  if (c.mode === 'url') signed += '~url=' + c.path;
  if (c.salt) signed += '~salt=' + c.salt;
  const want = crypto.createHmac(c.algorithm, key).update(signed).digest('hex') as string;
  if (!constantTimeEqual(want, mac)) return { ok: false, reason: 'signature' };
  if (c.nowS > Number(f.exp) + c.skewS) return { ok: false, reason: 'expired' };
  if (f.st !== undefined && c.nowS + c.skewS < Number(f.st)) return { ok: false, reason: 'not-yet-valid' };
  if (c.path.indexOf('//') >= 0 || /\/\.\.?(\/|$)/.test(c.path) || /%2f|%5c|%2e/i.test(c.path)) return { ok: false, reason: 'scope' };
  if (c.mode === 'acl' && !aclCovers(f.acl, c.path)) return { ok: false, reason: 'scope' };
  if (f.ip !== undefined && f.ip !== c.clientIp) return { ok: false, reason: 'ip' };
  return { ok: true, kid: 'edgeauth' };
}

/**
 * nginx secure_link_md5 value: base64url(MD5(expression)) without padding
 * (https://nginx.org/en/docs/http/ngx_http_secure_link_module.html), for
 * `secure_link_md5 "$secure_link_expires$uri <secret>"` links.
 */
export function secureLinkMd5(expression: string): string {
  return (crypto.createHash('md5').update(expression).digest('base64url') as string).replace(/=+$/, '');
}
