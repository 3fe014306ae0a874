/**
 * Request checks and classification for the HTTP edge (pure logic).
 *
 * nginx normalizes `$uri` (it decodes %XX and merges `.`/`..` segments), so a
 * hostile URL can look harmless by the time a location matches it, while
 * `proxy_pass` without a URI part forwards the *raw* request line to the
 * origin. We therefore judge the raw `$request_uri`, the bytes the origin
 * would see. Errors are returned as values; the entry turns them into 400.
 *
 * RFC 3986 section 3.3 (path), 2.1 (percent-encoding), 5.2.4 (dot segments).
 */

/** What a request is for; decides cache lifetime and (later) the producer. */
export type MediaKind =
  | 'master' // HLS multivariant playlist (Wowza: playlist.m3u8)
  | 'media' // HLS media playlist (Wowza: chunklist*.m3u8, others *.m3u8)
  | 'mpd' // DASH manifest
  | 'init' // init segment (DASH cinit, fMP4 init)
  | 'segment' // media segment or LL-HLS part
  | 'key' // encryption key
  | 'other';

export interface Rejection {
  /** Short machine-readable reason, sent as X-Media-Edge-Reject. */
  reason: string;
}

/** Longest raw request target we accept; Wowza URLs are far shorter. */
export const MAX_REQUEST_URI = 4096;

const HEX = /^[0-9A-Fa-f]{2}$/;

/**
 * Check a raw request target (`$request_uri`). Returns a Rejection, or null
 * when the path is acceptable. Only the path is judged; the query string is
 * the cache-key builder's business.
 */
export function checkRequestUri(raw: string): Rejection | null {
  // nginx's own parser refused the request line (it does so for %00 and bad
  // escapes, among others); $request_uri is then empty.
  if (raw === '') return { reason: 'malformed-request' };
  if (raw.length > MAX_REQUEST_URI) return { reason: 'uri-too-long' };
  // Absolute-form targets (GET http://host/x) and `*` are for proxies, not us.
  if (raw.charAt(0) !== '/') return { reason: 'not-origin-form' };
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const segments = path.split('/');
  // segments[0] is the empty string before the leading slash.
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i];
    // `//` is an empty segment: path-scope checks (tokens) must see one
    // canonical spelling of every path, so refuse rather than guess.
    if (seg === '' && i < segments.length - 1) return { reason: 'empty-segment' };
    const decoded = decodeSegment(seg);
    if (decoded === null) return { reason: 'bad-percent-encoding' };
    if (decoded.indexOf('\u0000') >= 0) return { reason: 'nul-byte' };
    if (/[\u0001-\u001f\u007f]/.test(decoded)) return { reason: 'control-char' };
    // An encoded slash or backslash hides a segment boundary from us but not
    // from every origin.
    if (decoded.indexOf('/') >= 0 || decoded.indexOf('\\') >= 0) return { reason: 'encoded-separator' };
    if (decoded === '.' || decoded === '..') return { reason: 'dot-segment' };
  }
  return null;
}

/**
 * Percent-decode one path segment into a string of byte values (latin1), or
 * null when an escape is malformed. Byte strings are enough for the checks
 * above and never throw on invalid UTF-8, unlike decodeURIComponent.
 */
export function decodeSegment(seg: string): string | null {
  if (seg.indexOf('%') < 0) return seg;
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charAt(i);
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = seg.substr(i + 1, 2);
    if (!HEX.test(hex)) return null;
    out += String.fromCharCode(parseInt(hex, 16));
    i += 2;
  }
  return out;
}

const SEGMENT_EXT = /\.(ts|aac|ac3|ec3|mp3|m4s|m4a|m4v|mp4|cmfv|cmfa|cmft|vtt|webvtt)$/i;

/** Classify by path alone (the playlist body refines this in the producer). */
export function classifyPath(path: string): MediaKind {
  const slash = path.lastIndexOf('/');
  const name = path.slice(slash + 1).toLowerCase();
  if (/\.m3u8$/.test(name)) {
    // Wowza names the multivariant playlist playlist.m3u8 (or
    // playlist_sfm4s.m3u8 for CMAF) and media playlists chunklist*.m3u8.
    return /^playlist(_[a-z0-9]+)?\.m3u8$/.test(name) ? 'master' : 'media';
  }
  if (/\.mpd$/.test(name)) return 'mpd';
  if (/\.key$/.test(name)) return 'key';
  if (SEGMENT_EXT.test(name)) {
    // DASH init chunks carry `_cinit_`; fMP4 HLS inits are init*.mp4/m4s.
    return /_cinit_|^init[^/]*\.(mp4|m4s|cmfv|cmfa)$/.test(name) ? 'init' : 'segment';
  }
  return 'other';
}

/**
 * The cache key for a request: path plus the raw query. Kept in one place so
 * that later rules (session-id normalization, query allow-lists) change it
 * here and nowhere else.
 */
export function cacheKey(requestUri: string): string {
  return requestUri;
}
