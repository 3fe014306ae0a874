/**
 * URL rules of the HTTP edge, as data: an ordered list of regular expressions
 * per question, first match wins.
 *
 * One table, three users:
 *   - tools/render.ts renders each table into an nginx `map` (PCRE), which is
 *     what runs per request: a map costs nothing, while any njs handler on
 *     the hot path costs a VM per request (about a quarter of the playlist
 *     cache-hit rate, measured by `npm run bench`);
 *   - njs code (the playlist producer) classifies with the same table;
 *   - unit tests run it in Node, and test/njs runs it in the real njs CLI.
 * Patterns therefore stay in the subset where PCRE, V8 and njs agree: no
 * lookaround, no backreferences, `\x5c` for a backslash (an nginx quoted
 * string would eat `\\`).
 *
 * Raw request-target rules judge `$request_uri`, the bytes the origin would
 * see: nginx normalizes `$uri` (decodes %XX, merges dot segments), but
 * `proxy_pass` without a URI part forwards the raw target.
 * RFC 3986 sections 2.1 (percent-encoding), 3.3 (path), 5.2.4 (dot segments).
 */

export interface Rule {
  /** Regular expression source (PCRE/JS common subset). */
  re: string;
  /** Case-insensitive (`~*` in nginx, flag `i` in JS). */
  ci: boolean;
  /** The result; `$1`..`$9` are replaced by the pattern's captures, as nginx does. */
  value: string;
}

/** Longest raw request target we accept; Wowza URLs are far shorter. */
export const MAX_REQUEST_URI = 4096;

/** Every rule looks only at the path, the part before the first `?`. */
const PATH = '^[^?]*';

/**
 * A path of plain segments: none empty, none starting with a dot, no `%` or
 * backslash. Non-capturing groups: nginx runs this for every viewer request,
 * and captures would be copied each time. (A segment ends only at `/`, which
 * its characters exclude, so a failing match backtracks linearly.)
 */
const FAST_SEGMENTS = '(?:/[A-Za-z0-9_:~+=,@!-][A-Za-z0-9_.:~+=,@!-]*)+';
const FAST_PATH = '^' + FAST_SEGMENTS + '(?:\\?|$)';

/**
 * Percent-encoded UTF-8 as RFC 3629 (section 4) allows it: no overlong forms
 * (`%c0%ae` is a dot to some decoders), no surrogates, nothing past U+10FFFF.
 * ASCII bytes may be encoded here; the rules before this one say which.
 */
const UTF8_PCT =
  '%[0-7][0-9a-f]' +
  '|%(?:c[2-9a-f]|d[0-9a-f])%[89ab][0-9a-f]' +
  '|%e0%[ab][0-9a-f]%[89ab][0-9a-f]' +
  '|%(?:e[1-9a-c]|e[ef])%[89ab][0-9a-f]%[89ab][0-9a-f]' +
  '|%ed%[89][0-9a-f]%[89ab][0-9a-f]' +
  '|%f0%[9ab][0-9a-f]%[89ab][0-9a-f]%[89ab][0-9a-f]' +
  '|%f[1-3]%[89ab][0-9a-f]%[89ab][0-9a-f]%[89ab][0-9a-f]' +
  '|%f4%8[0-9a-f]%[89ab][0-9a-f]%[89ab][0-9a-f]';

/**
 * Why a raw request target is refused (value of X-Media-Edge-Reject), or no
 * match when it is acceptable.
 *
 * One canonical spelling of every path: whatever an origin does with a
 * target (decode it once or twice, drop `;parameters` and then resolve dots
 * as servlet containers do, fold case), it must read the path the edge
 * judged. So a target is refused when it has `;` in its path, an encoded
 * unreserved character (RFC 3986 section 6.2.2.2: `%41` is `A`, `%2e` is
 * `.`), an encoded `%` (double encoding: `%252e`), or bytes that are not
 * well-formed UTF-8 once decoded (overlong `%c0%ae`), raw bytes past ASCII
 * included. Protected applications are also refused in any other case
 * (gateRules).
 */
export const REJECT_RULES: Rule[] = [
  // Absolute-form (GET http://host/x) and `*` targets are for proxies.
  { re: '^[^/]', ci: false, value: 'not-origin-form' },
  { re: `^.{${MAX_REQUEST_URI + 1}}`, ci: false, value: 'uri-too-long' },
  // Fast path: a path of plain segments (no %, no backslash, no segment that
  // is empty or starts with a dot) is acceptable; ordinary Wowza URLs stop
  // here after one regex instead of trying every rule below.
  { re: FAST_PATH, ci: false, value: '' },
  { re: `${PATH}%00`, ci: false, value: 'nul-byte' },
  // CR/LF and other controls: header injection at origins that decode.
  { re: `${PATH}%(0[1-9a-f]|1[0-9a-f]|7f)`, ci: true, value: 'control-char' },
  // An encoded slash or backslash hides a segment boundary from us but not
  // from every origin; a raw backslash is a separator on some.
  { re: `${PATH}(%2f|%5c|\\x5c)`, ci: true, value: 'encoded-separator' },
  { re: `${PATH}/(\\.|%2e){1,2}(/|\\?|$)`, ci: true, value: 'dot-segment' },
  // Path parameters: servlet containers drop `;...` from a segment and then
  // resolve the dots left (`/a/..;/b`), others keep them.
  { re: `${PATH};`, ci: false, value: 'path-parameter' },
  // Path scopes (tokens) must see one spelling of every path.
  { re: `${PATH}//`, ci: false, value: 'empty-segment' },
  { re: `${PATH}%([0-9a-f]?)([^0-9a-f]|$)`, ci: true, value: 'bad-percent-encoding' },
  { re: `${PATH}%25`, ci: false, value: 'double-encoding' },
  { re: `${PATH}%(3[0-9]|4[1-9a-f]|5[0-9a]|6[1-9a-f]|7[0-9a]|2d|2e|5f|7e)`, ci: true, value: 'encoded-unreserved' },
  { re: `^(?!(?:[^%?\\x80-\\xff]|${UTF8_PCT})*(?:\\?|$))`, ci: true, value: 'bad-utf8' },
];

/**
 * The gate's rule for the applications with playback auth: any other case
 * of one (`/LIVE/` for `live`), directly or under a link (`/_me/.../LIVE/`),
 * is refused, since an origin that routes without regard to case would
 * serve it outside the protected location.
 */
export function spellingRule(apps: string[]): Rule | null {
  const names = apps.filter((a) => /[A-Za-z]/.test(a));
  if (names.length === 0) return null;
  const esc = (c: string) => (/[A-Za-z]/.test(c) ? '[' + c.toUpperCase() + c.toLowerCase() + ']' : c.replace(/[.+*?()[\]{}|^$\\]/g, '\\$&'));
  const any = names.map((a) => a.split('').map(esc).join('')).join('|');
  const exact = names.map((a) => a.replace(/[.+*?()[\]{}|^$\\]/g, '\\$&')).join('|');
  return { re: `^[^ ]* (?:/_me/[^/]*/[^/]*/[^/]*)?/(?!(?:${exact})(?:/|\\?| |$))(?:${any})(?:/|\\?| |$)`, ci: false, value: 'app-spelling' };
}

/** Methods that read (viewers use these; OPTIONS is a preflight, answered by the edge). */
export const READ_METHODS = 'GET|HEAD';

/**
 * The gate of the viewer-facing server (a function: only the renderer and the
 * unit tests use it, so njs bundles leave it out), as one nginx `map` over
 * "$request_method $request_uri" (tools/render.ts). "" lets the request in;
 * a REJECT_RULES reason refuses it (400); "preflight" is a CORS preflight
 * (204); "method" any other method (405). The target is judged first, by
 * REJECT_RULES in their order whatever the method, then the method. The
 * server asks this map only for requests that gateFastRequest (one regex
 * over the request line) does not pass, so its fast path is not here.
 */
/** The control endpoints that take a POST (njs/http.ts kick), exactly these paths, no query. */
export const CONTROL_POSTS = ['/media-edge/kick'];

export function gateRules(protectedApps?: string[], control?: boolean): Rule[] {
  const hostile = REJECT_RULES.filter((r) => r.re !== FAST_PATH).map((r) => {
    if (r.re[0] !== '^') throw new Error('reject rule ' + r.value + ' must be anchored');
    return { re: '^[^ ]* ' + r.re.slice(1), ci: r.ci, value: r.value };
  });
  const spelling = spellingRule(protectedApps || []);
  if (spelling) hostile.push(spelling);
  const posts: Rule[] = control ? CONTROL_POSTS.map((p) => ({ re: '^POST ' + p.replace(/[.]/g, '\\.') + '$', ci: false, value: '' })) : [];
  return hostile.concat(posts, [
    { re: '^OPTIONS ', ci: false, value: 'preflight' },
    { re: '^(' + READ_METHODS + ') ', ci: false, value: '' },
  ]);
}

/** What the gate says of a method nothing above matched. */
export const GATE_OTHER_METHOD = 'method';

/** The gate's verdict for a request line (see gateRules). */
export function gate(method: string, requestUri: string, protectedApps?: string[], control?: boolean): string {
  return firstMatch(gateRules(protectedApps, control), method + ' ' + requestUri, GATE_OTHER_METHOD);
}

/**
 * The gate's fast path over nginx's $request (the request line as sent,
 * "GET /live/a.ts?x HTTP/1.1"): the server tests it with one `if`, so an
 * ordinary read costs one regex and no map (a map lowercases and hashes its
 * whole source first); only a line it does not pass is judged by the map.
 * Whatever it passes, the gate passes too (unit tests).
 */
export function gateFastRequest(protectedApps?: string[]): string {
  // A read of a plain path no longer than MAX_REQUEST_URI. Anchored at both
  // ends: the target is the path, a query without spaces, then the version
  // (absent in HTTP/0.9), so no space in a target can hide a second path
  // from this test. The lookaheads are PCRE (nginx) and V8 (the unit tests);
  // the second leaves a protected application in another case to the map.
  const spelling = spellingRule(protectedApps || []);
  const notMisspelled = spelling ? '(?!' + spelling.re.slice('^[^ ]* '.length) + ')' : '';
  return '^(' + READ_METHODS + ') (?![^ ]{' + (MAX_REQUEST_URI + 1) + '})' + notMisspelled + FAST_SEGMENTS + '(?:\\?[^ ]*)?(?: HTTP/[0-9.]+)?$';
}

/**
 * File extensions of playlists/manifests and of segments (media, init, keys,
 * captions): the kind rules below and the server template's `location`s are
 * rendered from these, so the two cannot drift apart.
 */
export const PLAYLIST_EXTENSIONS = 'm3u8|mpd';
export const SEGMENT_EXTENSIONS = 'ts|aac|ac3|ec3|mp3|m4s|m4a|m4v|mp4|cmfv|cmfa|cmft|vtt|webvtt';

export type MediaKind = 'master' | 'media' | 'mpd' | 'init' | 'segment' | 'key' | 'other';

/**
 * What a (normalized) path is for; decides cache lifetime and Cache-Control.
 * Wowza names: playlist.m3u8 (or playlist_sfm4s.m3u8) is the multivariant
 * playlist, chunklist*.m3u8 the media playlists; DASH init chunks carry
 * `_cinit_`. The playlist producer refines this from the body.
 */
export const KIND_RULES: Rule[] = [
  { re: '/playlist(_[a-z0-9]+)?\\.m3u8$', ci: true, value: 'master' },
  { re: '\\.m3u8$', ci: true, value: 'media' },
  { re: '\\.mpd$', ci: true, value: 'mpd' },
  { re: '\\.key$', ci: true, value: 'key' },
  { re: '(_cinit_[^/]*|/init[^/]*)\\.(mp4|m4s|cmfv|cmfa)$', ci: true, value: 'init' },
  { re: '\\.(' + SEGMENT_EXTENSIONS + ')$', ci: true, value: 'segment' },
];

/**
 * The stream a path belongs to, the unit of origin choice: every playlist,
 * segment and key of one stream goes to the same origin. Wowza's layout is
 * `/{app}[/{instance}]/[{prefix}:]{stream}/{file}`, where the instance
 * `_definst_` may be omitted (the same stream either way) and a prefixed name
 * (`mp4:`, `smil:`, `ngrp:`...) may contain slashes (VOD folders).
 * nginx-rtmp's nested layout (`/{app}/{name}/index.m3u8`) is the same shape;
 * its flat one has rules of its own, last. Paths that fit none of these are
 * their own stream.
 */
export const STREAM_RULES: Rule[] = [
  // Three segments, the common /app/stream/file, first: the rules below need
  // four or more, but the prefixed one (`/app/mp4:x/file`), which gives the
  // same value. So nginx tries one regex for most requests, not five.
  { re: '^/([^/]+)/([^/]+)/[^/]+$', ci: false, value: '$1/$2' },
  // `_definst_` dropped only where what follows is one stream name (or a
  // prefixed one): `/live/_definst_/a/X/f` is stream `a/X` of the default
  // instance, not stream X of instance `a` (`/live/a/X/f`), so it keeps
  // `_definst_` in its name below, and a link for one never opens the other.
  { re: '^/([^/]+)/_definst_/([^/]+)/[^/]+$', ci: false, value: '$1/$2' },
  { re: '^/([^/]+)/_definst_/((mp4|mp3|smil|ngrp|amlst|id3):.+)/[^/]+$', ci: false, value: '$1/$2' },
  { re: '^/([^/]+)/((mp4|mp3|smil|ngrp|amlst|id3):.+)/[^/]+$', ci: false, value: '$1/$2' },
  { re: '^/([^/]+)/([^/]+)/((mp4|mp3|smil|ngrp|amlst|id3):.+)/[^/]+$', ci: false, value: '$1/$2/$3' },
  { re: '^/([^/]+)/([^/]+)/([^/]+)/[^/]+$', ci: false, value: '$1/$2/$3' },
  { re: '^/([^/]+)/_definst_/(.+)/[^/]+$', ci: false, value: '$1/_definst_/$2' },
  // nginx-rtmp's default flat layout (`hls_nested off`, `dash_nested off`):
  // `/{app}/{name}.m3u8`, `/{app}/{name}-{n}.ts`, `-{n}.key`; DASH
  // `/{app}/{name}.mpd`, `/{app}/{name}-init.m4v`, `/{app}/{name}-{t}.m4a`
  // (ngx_rtmp_hls_module.c, ngx_rtmp_dash_module.c). A playlist is its name;
  // a fragment is the name before its last `-{number|init|raw}`.
  { re: '^/([^/]+)/([^/]+)\\.(m3u8|mpd)$', ci: false, value: '$1/$2' },
  { re: '^/([^/]+)/([^/]+)-([0-9]+|init|raw)\\.(ts|m4v|m4a|key)$', ci: false, value: '$1/$2' },
];

/**
 * The path as the cache knows it: Wowza session ids taken out of file names,
 * so that every viewer's `chunklist_w{sid}_b{bps}.m3u8` and
 * `media_w{sid}_b{bps}_{n}.ts` share one cached object (shared/reference/
 * media.md: session apps give every viewer another sid; origin-mode servers
 * may put a per-server `w{id}` in names). Only Wowza's own name shapes are
 * touched, and only in the file name (the last segment). The query-string
 * form (`?wowzasessionid=`) never reaches the key: the key keeps only
 * allow-listed parameters.
 */
export const KEY_PATH_RULES: Rule[] = [
  { re: '^(.*/chunklist)_w[0-9]+((_[^/]*)?\\.m3u8)$', ci: false, value: '$1$2' },
  { re: '^(.*/media)_w[0-9]+(_[^/]*)$', ci: false, value: '$1$2' },
  { re: '^(.*/chunk_[^/]*)_w[0-9]+(_[^/]*)$', ci: false, value: '$1$2' },
  { re: '^(.*/key)_w[0-9]+((_[^/]*)?\\.key)$', ci: true, value: '$1$2' },
];

/**
 * What every KEY_PATH_RULES pattern needs in a path (case-insensitively): a
 * path without it is its own key, which nginx learns from this one short
 * regex instead of trying every rule (tools/render.ts, $media_edge_key_name).
 */
export const SESSION_ID_HINT = '_w[0-9]';

/** The cache's name for a path (see KEY_PATH_RULES). */
export function keyPath(path: string): string {
  return firstMatch(KEY_PATH_RULES, path, path);
}

/** The value of the first rule matching s (captures expanded), or `fallback`. */
export function firstMatch(rules: Rule[], s: string, fallback: string): string {
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i];
    const m = new RegExp(r.re, r.ci ? 'i' : '').exec(s);
    if (m) return r.value.replace(/\$([1-9])/g, (_all: string, n: string) => m[Number(n)] || '');
  }
  return fallback;
}

/** "" when the raw request target may proceed, else the reason it may not. */
export function rejectReason(requestUri: string): string {
  return firstMatch(REJECT_RULES, requestUri, '');
}

/** The stream identity of a normalized path (see STREAM_RULES). */
export function streamOf(path: string, variants?: string[]): string {
  return firstMatch(variants && variants.length ? streamRules(variants) : STREAM_RULES, path, path);
}

/**
 * nginx-rtmp's `hls_variant` (ngx_rtmp_hls_module.c): streams published as
 * NAME_low, NAME_hi... are the renditions of NAME, and each writes the
 * master `NAME.m3u8` next to them, listing `NAME_low.m3u8` (flat) or
 * `NAME_low/index.m3u8` (nested). With the origin's suffixes (setting
 * `stream_variants`: letters, digits, "_" and "-" only, so they need no
 * escaping), a rendition's playlist and fragments are stream NAME, as the
 * master is: one link opens them all, and they go to one origin.
 */
export function variantRules(variants: string[]): Rule[] {
  if (variants.length === 0) return [];
  const v = '(' + variants.join('|') + ')';
  return [
    { re: '^/([^/]+)/([^/]+)' + v + '\\.(m3u8|mpd)$', ci: false, value: '$1/$2' },
    { re: '^/([^/]+)/([^/]+)' + v + '-([0-9]+|init|raw)\\.(ts|m4v|m4a|key)$', ci: false, value: '$1/$2' },
    { re: '^/([^/]+)/([^/]+)' + v + '/[^/]+$', ci: false, value: '$1/$2' },
    // Wowza's default instance, named (STREAM_RULES drops it the same way).
    { re: '^/([^/]+)/_definst_/([^/]+)' + v + '/[^/]+$', ci: false, value: '$1/$2' },
  ];
}

/** STREAM_RULES with the variant rules first (they must win over the three-segment rule). */
export function streamRules(variants: string[]): Rule[] {
  return variantRules(variants).concat(STREAM_RULES);
}

export function classifyPath(path: string): MediaKind {
  return firstMatch(KIND_RULES, path, 'other') as MediaKind;
}
