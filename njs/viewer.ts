/**
 * Entry for ngx_http_js_module in the playlist locations of applications
 * with playback auth (njs/auth.ts): the token check and what nginx puts in
 * the viewer's playlist or cookies. Kept apart from media-edge-http.js and
 * imported only in those locations, because njs 0.7 runs every imported
 * module's top-level code again for each request's VM: a small module here
 * is what keeps a check on every playlist request cheap.
 */
import fs from 'fs';
import { AUTH_COOKIE, checkViewer, LINK_EXP, LINK_SIG, linkExpiry, linkSig, originArgs, parseAuthConfig, parseRevocations, type AuthConfig, type Revocations } from './auth';

/**
 * What `authorize` decided for this request, for the variables nginx reads
 * later in the same request (njs gives each request one VM, so a module
 * variable lives exactly as long as the request).
 */
let granted: { cfg: AuthConfig; exp: number; propagate: string; nowS: number; stream: string; secure: boolean } | null = null;

function readRevocations(r: NginxHTTPRequest, file: string): Revocations {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8') as string;
  } catch (e) {
    // Fail open on a missing list, loudly: refusing every viewer because an
    // optional file is gone would be an outage of its own.
    r.warn('media-edge auth: cannot read playback_revoked_file ' + file + ': nothing is revoked');
    return { tokens: {}, kids: {} };
  }
  const parsed = parseRevocations(text);
  for (let i = 0; i < parsed.errors.length; i++) r.warn('media-edge auth: ' + file + ' ' + parsed.errors[i]);
  return parsed.list;
}

/**
 * js_set $media_edge_auth, evaluated on playlist requests of applications
 * with playback auth: "" lets the viewer in, anything else is the refusal
 * reason (403 with X-Media-Edge-Token). Also sets $media_edge_origin_args,
 * the query string without the token. The application's settings come in
 * $media_edge_auth_app, set by its location (no file read per request).
 */
function authorize(r: NginxHTTPRequest): string {
  granted = null;
  const cfg = parseAuthConfig(r.variables.media_edge_auth_app || '');
  if ('error' in cfg) {
    r.error('media-edge auth: $media_edge_auth_app: ' + cfg.error);
    return 'config';
  }
  const args = r.variables.args || '';
  const nowS = Math.floor(Date.now() / 1000);
  const v = checkViewer(cfg, {
    path: r.uri,
    args: args,
    cookie: String(r.headersIn.Cookie || ''),
    clientIp: r.variables.remote_addr || '',
    referer: String(r.headersIn.Referer || ''),
    nowS: nowS,
  }, cfg.skew_s, cfg.revoked_file ? readRevocations(r, cfg.revoked_file) : undefined);
  if (!v.ok) return v.reason;
  r.variables.media_edge_origin_args = originArgs(cfg, args);
  granted = { cfg: cfg, exp: v.exp, propagate: v.propagate, nowS: nowS, stream: r.variables.media_edge_stream || '', secure: r.variables.scheme === 'https' };
  return '';
}

/** The link query for this request's stream, for a live or a VOD playlist. */
function link(vod: boolean, amp: string): string {
  const g = granted;
  if (!g) return '';
  const exp = linkExpiry(g.exp, g.nowS, g.cfg.link_ttl_s, vod);
  return LINK_EXP + '=' + exp + amp + LINK_SIG + '=' + linkSig(exp, g.stream, g.cfg.link_secret);
}

// js_set variables that sub_filter puts in place of the producer's markers
// (njs/auth.ts MARK_*); nginx evaluates each only if its marker occurs.
function authChild(r: NginxHTTPRequest): string {
  return granted ? granted.propagate : '';
}
function authLinkLive(r: NginxHTTPRequest): string {
  return link(false, '&');
}
function authLinkVod(r: NginxHTTPRequest): string {
  return link(true, '&');
}
function authLinkLiveXml(r: NginxHTTPRequest): string {
  return link(false, '&amp;');
}
function authLinkVodXml(r: NginxHTTPRequest): string {
  return link(true, '&amp;');
}

function cookie(name: string, value: string, maxAge: number): string {
  const g = granted!;
  const dir = '/' + g.stream + '/';
  // Cross-site players (page and edge on different sites) send cookies only
  // with SameSite=None, which browsers accept only with Secure.
  return name + '=' + value + '; Path=' + dir + '; Max-Age=' + Math.max(0, maxAge) + '; HttpOnly' + (g.secure ? '; Secure; SameSite=None' : '; SameSite=Lax');
}

/**
 * Cookie mode (add_header Set-Cookie of protected playlists): the token for
 * the next reloads, and the link for this stream's segments. A cookie
 * cannot tell live from VOD, so the link lasts link_ttl and every reload
 * renews it; a VOD player that reads its playlist once gets the token's
 * lifetime instead when the token has an expiry.
 */
function authCookieToken(r: NginxHTTPRequest): string {
  const g = granted;
  return g ? cookie(AUTH_COOKIE, encodeURIComponent(g.propagate), linkExpiry(g.exp, g.nowS, g.cfg.link_ttl_s, g.exp > 0) - g.nowS) : '';
}
function authCookieExp(r: NginxHTTPRequest): string {
  const g = granted;
  if (!g) return '';
  const exp = linkExpiry(g.exp, g.nowS, g.cfg.link_ttl_s, g.exp > 0);
  return cookie(LINK_EXP, String(exp), exp - g.nowS);
}
function authCookieSig(r: NginxHTTPRequest): string {
  const g = granted;
  if (!g) return '';
  const exp = linkExpiry(g.exp, g.nowS, g.cfg.link_ttl_s, g.exp > 0);
  return cookie(LINK_SIG, linkSig(exp, g.stream, g.cfg.link_secret), exp - g.nowS);
}

export default {
  authorize, authChild, authLinkLive, authLinkVod, authLinkLiveXml, authLinkVodXml, authCookieToken, authCookieExp, authCookieSig,
};
