/**
 * Entry for ngx_http_js_module in the playlist locations of applications
 * with playback auth (njs/auth.ts): the token check and what nginx puts in
 * the viewer's playlist or cookies. Kept apart from media-edge-http.js and
 * imported only in those locations, because njs 0.7 runs every imported
 * module's top-level code again for each request's VM: a small module here
 * is what keeps a check on every playlist request cheap.
 */
import fs from 'fs';
import { checkViewer, LINK_EXP, LINK_SIG, LINK_TID, linkQuery, linkSig, originArgs, parseAuthConfig, parseRevocations, withoutFoldedToken, type Revocations } from './auth';

interface Grant { exp: number; tid: string; sig: string; nowS: number; dir: string; secure: boolean }

/*
 * What `authorize` granted, for the variables nginx reads later in the same
 * request, is kept in the request's own variable ($media_edge_grant, a
 * js_var), never in a module variable: njs's own engine gives each request a
 * fresh VM, but QuickJS reuses contexts between requests (js_context_reuse),
 * so module state would outlive its request there and could hand one
 * viewer's link to the next.
 */
function grantOf(r: NginxHTTPRequest): Grant | null {
  const g = r.variables.media_edge_grant || '';
  return g ? (JSON.parse(g) as Grant) : null;
}

function readRevocations(r: NginxHTTPRequest, file: string): Revocations {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8') as string;
  } catch (e) {
    // nginx itself includes this file, so it existed at the last (re)load;
    // if it is gone now, say so and keep going.
    r.warn('media-edge auth: cannot read playback_revoked_file ' + file + ': nothing is revoked');
    return { tokens: {}, kids: {} };
  }
  const parsed = parseRevocations(text);
  for (let i = 0; i < parsed.errors.length; i++) r.warn('media-edge auth: ' + file + ' ' + parsed.errors[i]);
  return parsed.list;
}

/**
 * js_set $media_edge_auth: nginx evaluates it only for a playlist request of
 * a protected application that carries a token, or carries no link at all
 * (media-edge-auth.conf); a link is checked in C. "" lets the viewer in,
 * anything else is the refusal reason (403 with X-Media-Edge-Token). Also
 * sets $media_edge_origin_args, the query string without the token. The
 * application's settings come in $media_edge_auth_app, set by its location.
 */
function authorize(r: NginxHTTPRequest): string {
  r.variables.media_edge_grant = '';
  const cfg = parseAuthConfig(r.variables.media_edge_auth_app || '');
  if ('error' in cfg) {
    r.error('media-edge auth: $media_edge_auth_app: ' + cfg.error);
    return 'config';
  }
  const args = r.variables.args || '';
  const nowS = Math.floor(Date.now() / 1000);
  const clientIp = r.variables.remote_addr || '';
  const v = checkViewer(cfg, { path: r.uri, args: args, cookie: String(r.headersIn.Cookie || ''), clientIp: clientIp, nowS: nowS },
    cfg.revoked_file ? readRevocations(r, cfg.revoked_file) : undefined);
  if (!v.ok) return v.reason;
  r.variables.media_edge_origin_args = originArgs(cfg, args);
  const stream = r.variables.media_edge_stream || '';
  const g: Grant = { exp: v.exp, tid: v.tid, sig: linkSig(v.exp, v.tid, stream, v.ip ? clientIp : null, cfg.link_secret), nowS: nowS, dir: r.uri.slice(0, r.uri.lastIndexOf('/') + 1), secure: r.variables.scheme === 'https' };
  r.variables.media_edge_grant = JSON.stringify(g);
  return '';
}

/**
 * js_set $media_edge_auth_redirect (path mode): the same playlist under the
 * viewer's link, without the token in the query.
 */
function authRedirect(r: NginxHTTPRequest): string {
  const granted = grantOf(r);
  if (!granted) return '';
  const args = r.variables.media_edge_origin_args || '';
  // A Wowza chunklist name with the token folded in goes without it.
  return '/_me/' + granted.exp + '/' + granted.tid + '/' + granted.sig + withoutFoldedToken(r.uri) + (args ? '?' + args : '');
}

/** js_set $media_edge_auth_link: the link sub_filter puts on child URIs of an HLS playlist. */
function authLink(r: NginxHTTPRequest): string {
  const granted = grantOf(r);
  return granted ? linkQuery(granted.exp, granted.tid, granted.sig, '&') : '';
}

/** js_set $media_edge_auth_link_xml: the same in an MPD (XML attribute). */
function authLinkXml(r: NginxHTTPRequest): string {
  const granted = grantOf(r);
  return granted ? linkQuery(granted.exp, granted.tid, granted.sig, '&amp;') : '';
}

function cookie(g: Grant, name: string, value: string): string {
  // Cross-site players (page and edge on different sites) send cookies only
  // with SameSite=None, which browsers accept only with Secure.
  // The playlist's directory: its stream's other playlists and segments.
  return name + '=' + value + '; Path=' + g.dir + '; Max-Age=' + Math.max(0, g.exp - g.nowS) + '; HttpOnly' + (g.secure ? '; Secure; SameSite=None' : '; SameSite=Lax');
}

// Cookie mode (add_header Set-Cookie of protected playlists): the link as
// cookies, for the path of this stream; nginx reads them when the query
// has no link.
function authCookieExp(r: NginxHTTPRequest): string {
  const granted = grantOf(r);
  return granted ? cookie(granted, LINK_EXP, String(granted.exp)) : '';
}
function authCookieTid(r: NginxHTTPRequest): string {
  const granted = grantOf(r);
  return granted ? cookie(granted, LINK_TID, granted.tid) : '';
}
function authCookieSig(r: NginxHTTPRequest): string {
  const granted = grantOf(r);
  return granted ? cookie(granted, LINK_SIG, granted.sig) : '';
}

export default { authorize, authRedirect, authLink, authLinkXml, authCookieExp, authCookieTid, authCookieSig };
