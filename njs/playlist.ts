/**
 * Playlist and manifest inspection for the cache: what an HLS playlist or a
 * DASH MPD is, how long the edge may keep it, which child URIs it lists, and
 * the one rewrite the cached copy gets (the stream's run id on child URIs).
 *
 * Pure functions over strings and bytes, no nginx objects: vitest imports
 * them, test/njs runs them in the real njs CLI, njs/producer.ts
 * calls them on every playlist the edge fetches from an origin.
 *
 * Bad input is a value, never an exception: parseHls/parseMpd (and inspect,
 * in its `info`) return `{ kind: 'invalid', error }`, and the producer passes
 * such a body through unchanged with the short TTL. Every loop is bounded by
 * the input length.
 *
 * HLS: RFC 8216 (https://www.rfc-editor.org/rfc/rfc8216) and its 2nd edition
 * draft for LL-HLS (draft-pantos-hls-rfc8216bis: EXT-X-PART, PRELOAD-HINT,
 * SERVER-CONTROL, blocking reload). DASH: ISO/IEC 23009-1 (MPD@type,
 * MPD@minimumUpdatePeriod, MPD@availabilityStartTime).
 */

import { MARK_LINK, MARK_LINK_XML } from './auth';
import { streamOf } from './rules';
import { crc32 } from './ring';
import { utf8Decode, utf8Encode } from './utf8';

export type PlaylistKind = 'master' | 'live' | 'event' | 'vod' | 'mpd-static' | 'mpd-dynamic' | 'invalid';

export interface PlaylistInfo {
  kind: PlaylistKind;
  /** Why the body was not understood (kind 'invalid'). */
  error: string;
  /** EXT-X-TARGETDURATION, seconds (media playlists). */
  targetDuration: number;
  /** EXT-X-PART-INF PART-TARGET, seconds; 0 when the playlist has no parts. */
  partTarget: number;
  /** EXT-X-MEDIA-SEQUENCE (default 0). */
  mediaSequence: number;
  /** Media segment URIs in order (the last is the newest). */
  segments: string[];
  /** EXT-X-PART URIs after the last full segment: the parts of the segment in progress. */
  tailParts: string[];
  /** MPD@minimumUpdatePeriod in seconds, -1 when absent. */
  minimumUpdatePeriod: number;
  /** MPD@availabilityStartTime, "" when absent: a new value means a new run of the stream. */
  availabilityStartTime: string;
}

function empty(kind: PlaylistKind, error: string): PlaylistInfo {
  return {
    kind: kind,
    error: error,
    targetDuration: 0,
    partTarget: 0,
    mediaSequence: 0,
    segments: [],
    tailParts: [],
    minimumUpdatePeriod: -1,
    availabilityStartTime: '',
  };
}

export function invalid(error: string): PlaylistInfo {
  return empty('invalid', error);
}

/** An HTML page (an origin's error page sent with status 200), judged by its start. */
export function looksLikeHtml(text: string): boolean {
  return /^\s*<(!doctype\s+html|html|head|body)\b/i.test(text.slice(0, 512));
}

/** Value of attribute `name` in an HLS attribute list (RFC 8216 section 4.2), quoted or not. */
export function hlsAttr(list: string, name: string): string | null {
  const re = new RegExp('(?:^|,)' + name + '=("[^"\\r\\n]*"|[^,]*)');
  const m = re.exec(list);
  if (!m) return null;
  const v = m[1];
  return v.charAt(0) === '"' ? v.slice(1, v.length - 1) : v;
}

function decimal(s: string): number {
  return /^\d+(\.\d+)?$/.test(s) ? Number(s) : -1;
}

/**
 * Parse an HLS playlist (master or media). Tags the cache needs are read,
 * everything else is skipped; a media playlist needs EXT-X-TARGETDURATION.
 */
export function parseHls(text: string): PlaylistInfo {
  let body = text;
  if (body.charCodeAt(0) === 0xfeff) body = body.slice(1);
  if (looksLikeHtml(body)) return invalid('html-page');
  if (body.slice(0, 7) !== '#EXTM3U') return invalid('no-extm3u');
  // A string separator, then CR off each line: split with a regular
  // expression is quadratic on njs 0.7.9 (a 3000-segment playlist took 3.3 s).
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.charCodeAt(l.length - 1) === 13) lines[i] = l.slice(0, -1);
  }
  const info = empty('live', '');
  let master = false;
  let media = false;
  let endlist = false;
  let type = '';
  let target = -1;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    if (line.charAt(0) !== '#') {
      // A URI line: a segment in a media playlist, a variant in a master.
      if (!master) info.segments.push(line);
      info.tailParts = [];
      continue;
    }
    if (line.slice(0, 4) !== '#EXT') continue; // a comment
    const colon = line.indexOf(':');
    const tag = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1);
    if (tag === '#EXT-X-STREAM-INF' || tag === '#EXT-X-I-FRAME-STREAM-INF' || tag === '#EXT-X-MEDIA' || tag === '#EXT-X-SESSION-KEY') {
      master = true;
    } else if (tag === '#EXT-X-TARGETDURATION') {
      media = true;
      target = decimal(value);
      if (target < 0 || value.indexOf('.') >= 0) return invalid('bad-target-duration');
    } else if (tag === '#EXT-X-MEDIA-SEQUENCE') {
      media = true;
      const n = decimal(value);
      if (n < 0 || value.indexOf('.') >= 0) return invalid('bad-media-sequence');
      info.mediaSequence = n;
    } else if (tag === '#EXT-X-ENDLIST') {
      endlist = true;
    } else if (tag === '#EXT-X-PLAYLIST-TYPE') {
      type = value;
    } else if (tag === '#EXTINF') {
      media = true;
    } else if (tag === '#EXT-X-PART-INF') {
      const pt = decimal(hlsAttr(value, 'PART-TARGET') || '');
      if (pt <= 0) return invalid('bad-part-target');
      info.partTarget = pt;
    } else if (tag === '#EXT-X-PART') {
      const uri = hlsAttr(value, 'URI');
      if (uri !== null && uri !== '' && tag === '#EXT-X-PART') info.tailParts.push(uri);
    }
  }
  if (master && media) return invalid('master-and-media-tags');
  if (master) return empty('master', '');
  if (target < 0) return invalid('no-target-duration');
  info.targetDuration = target;
  info.kind = endlist || type === 'VOD' ? 'vod' : type === 'EVENT' ? 'event' : 'live';
  return info;
}

/** Seconds in an xs:duration such as PT2S, PT1M30.5S, P1DT2H (ISO 8601); -1 if malformed. */
export function isoDuration(s: string): number {
  const m = /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(s);
  if (!m || s === 'P' || s === 'PT' || s.slice(-1) === 'T') return -1;
  return Number(m[1] || 0) * 86400 + Number(m[2] || 0) * 3600 + Number(m[3] || 0) * 60 + Number(m[4] || 0);
}

function xmlAttr(tag: string, name: string): string | null {
  const m = new RegExp('\\s' + name + '\\s*=\\s*("([^"]*)"|\'([^\']*)\')').exec(tag);
  if (!m) return null;
  return m[2] !== undefined ? m[2] : m[3] !== undefined ? m[3] : '';
}

/** Parse a DASH MPD far enough for caching: its type and update period. */
export function parseMpd(text: string): PlaylistInfo {
  if (looksLikeHtml(text)) return invalid('html-page');
  const start = text.search(/<MPD[\s>]/);
  if (start < 0) return invalid('no-mpd-element');
  const end = text.indexOf('>', start);
  if (end < 0) return invalid('unterminated-mpd-element');
  const tag = text.slice(start, end);
  const type = xmlAttr(tag, 'type');
  const info = empty(type === 'dynamic' ? 'mpd-dynamic' : 'mpd-static', '');
  if (type !== null && type !== 'dynamic' && type !== 'static') return invalid('bad-mpd-type');
  const mup = xmlAttr(tag, 'minimumUpdatePeriod');
  if (mup !== null) {
    info.minimumUpdatePeriod = isoDuration(mup);
    if (info.minimumUpdatePeriod < 0) return invalid('bad-minimum-update-period');
  }
  info.availabilityStartTime = xmlAttr(tag, 'availabilityStartTime') || '';
  return info;
}

/** A body as text, and what it is. */
export interface Inspected {
  info: PlaylistInfo;
  /** The body decoded ("" when it was not decoded: too large or not UTF-8). */
  text: string;
}

/**
 * Inspect an origin's playlist body. `isMpd` comes from the request path
 * (the rule tables): a body is parsed as what the viewer asked for.
 * Playlists must be UTF-8 (RFC 8216 section 4.1); anything else is passed
 * through, not parsed.
 */
export function inspect(body: Uint8Array, isMpd: boolean, maxBytes: number): Inspected {
  if (body.length > maxBytes) return { info: invalid('too-large'), text: '' };
  const text = utf8Decode(body, 0, body.length, true);
  if (text === null) return { info: invalid('not-utf8'), text: '' };
  return { info: isMpd ? parseMpd(text) : parseHls(text), text: text };
}

/** How a URI inside a playlist relates to the edge. RFC 3986 section 4.2. */
export type UriForm = 'relative' | 'path-absolute' | 'absolute' | 'protocol-relative';

export function uriForm(uri: string): UriForm {
  if (uri.slice(0, 2) === '//') return 'protocol-relative';
  if (uri.charAt(0) === '/') return 'path-absolute';
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri)) return 'absolute';
  return 'relative';
}

/**
 * The edge path (and query) a playlist URI points to, resolved against the
 * playlist's own path (RFC 3986 section 5.2), or null when it points to
 * another host (absolute or protocol-relative URIs are not ours to fetch).
 * Dot segments are removed, so `../x.ts` cannot climb above the root.
 */
export function resolveOnEdge(base: string, uri: string): string | null {
  const form = uriForm(uri);
  if (form === 'absolute' || form === 'protocol-relative') return null;
  const q = uri.search(/[?#]/);
  const path = q < 0 ? uri : uri.slice(0, q);
  const rest = q < 0 ? '' : uri.slice(q).split('#')[0];
  const dir = base.split('?')[0];
  const joined = form === 'path-absolute' ? path : dir.slice(0, dir.lastIndexOf('/') + 1) + path;
  const parts = joined.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i];
    if (p === '..') out.pop();
    else if (p !== '.') out.push(p);
  }
  if (parts.length > 1 && (parts[parts.length - 1] === '.' || parts[parts.length - 1] === '..')) out.push('');
  return '/' + out.join('/') + rest;
}

/** Query parameter that carries the stream's run id on the child URIs of a cached playlist. */
export const RUN_PARAM = 'me_run';

/** `uri` with `name=value` appended to its query, unless it already has that parameter. */
export function withParam(uri: string, name: string, value: string, amp: string): string {
  const hash = uri.indexOf('#');
  const main = hash < 0 ? uri : uri.slice(0, hash);
  const frag = hash < 0 ? '' : uri.slice(hash);
  const q = main.indexOf('?');
  if (q >= 0 && new RegExp('(^|&|&amp;)' + name + '=').test(main.slice(q + 1))) return uri;
  return main + (q < 0 ? '?' : amp) + name + '=' + value + frag;
}

/** A URI this edge serves (relative or path-absolute), not one on another host. */
export function ours(uri: string): boolean {
  const f = uriForm(uri);
  return f === 'relative' || f === 'path-absolute';
}

/**
 * The playlist with every URI rewritten by `f`: URI lines (tag "") and the
 * URI="..." attribute of #EXT-X- tags (tag is the name after #EXT-X-, as
 * "MAP", "MEDIA", "RENDITION-REPORT"). Other bytes are copied unchanged,
 * CRLF line ends included.
 */
export function mapHlsUris(text: string, f: (uri: string, tag: string) => string): string {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const cr = raw.slice(-1) === '\r' ? '\r' : '';
    const line = cr ? raw.slice(0, raw.length - 1) : raw;
    const t = line.trim();
    if (t === '') continue;
    if (t.charAt(0) !== '#') {
      lines[i] = f(t, '') + cr;
      continue;
    }
    const tag = /^#EXT-X-([A-Z0-9-]+):/.exec(t);
    if (tag && t.indexOf('URI="') >= 0) {
      lines[i] = line.replace(/([:,])URI="([^"\r\n]*)"/, (all: string, lead: string, uri: string) =>
        uri !== '' ? lead + 'URI="' + f(uri, tag[1]) + '"' : all) + cr;
    }
  }
  return lines.join('\n');
}

/** The MPD with `f` applied to SegmentTemplate/SegmentURL media and initialization URLs. */
export function mapMpdUris(text: string, f: (uri: string) => string): string {
  return text.replace(/(<(?:SegmentTemplate|SegmentURL|Initialization)\b[^>]*>)/g, (tag: string) =>
    tag.replace(/(\s(?:media|initialization|sourceURL)\s*=\s*")([^"]*)(")/g, (all: string, a: string, uri: string, b: string) =>
      uri !== '' ? a + f(uri) + b : all));
}

/**
 * The media playlist with `run` added to every segment, part, preload-hint,
 * map and key URI on this edge, so that a restarted stream, whose segment
 * names start again at media_0.ts, never meets segments cached from its
 * previous run. URIs on other hosts are left alone (a parameter could break
 * their signatures). Other lines are copied byte for byte.
 */
export function tagHlsRun(text: string, run: string): string {
  return mapHlsUris(text, (uri, tag) =>
    (tag === '' || /^(PART|PRELOAD-HINT|MAP|KEY)$/.test(tag)) && ours(uri) ? withParam(uri, RUN_PARAM, run, '&') : uri);
}

/** The MPD with `run` added to SegmentTemplate/SegmentURL media and initialization URLs. */
export function tagMpdRun(text: string, run: string): string {
  return mapMpdUris(text, (uri) => (ours(uri) ? withParam(uri, RUN_PARAM, run, '&amp;') : uri));
}

/**
 * Playlists kept at most this long get an `Age` header. The producer stamps
 * them with the second of the minute it made them; the viewer-facing server
 * subtracts that from the clock's second in one nginx table lookup, exact up
 * to 59 s, and such a playlist is never older than twice this plus a second
 * (tools/render.ts ageTable, nginx/media-edge-http.conf). Longer-lived ones (VOD, static MPDs, long master
 * TTLs) get none: players use Age to place the live edge.
 */
export const AGE_MAX_TTL = 29;

/** The producer's stamp for `Age`: the second of the minute at epochMs, two digits. */
export function ageStamp(epochMs: number): string {
  const s = Math.floor(epochMs / 1000) % 60;
  return (s < 10 ? '0' : '') + s;
}

/** Cache lifetimes, whole seconds (nginx cache validity has one-second resolution). */
export interface CachePolicy {
  /** Bodies the edge cannot parse (and other 200s): the short default. */
  fallback: number;
  /** Upper bound for a live/event media playlist (also bounded by half its target duration). */
  liveMax: number;
  /** Multivariant (master) playlists. */
  master: number;
  /** EXT-X-ENDLIST / PLAYLIST-TYPE:VOD playlists and static MPDs. */
  vod: number;
  /** Upper bound for a dynamic MPD (also bounded by its minimumUpdatePeriod). */
  mpdMax: number;
  /** 404 and 410. */
  notFound: number;
  /** Responses to LL-HLS blocking reloads (_HLS_msn / _HLS_part). */
  blocking: number;
  /** Use the origin's own Cache-Control when it has one. */
  honorOrigin: boolean;
}

export interface Decision {
  /** Seconds the edge keeps the response; 0 = not stored. */
  ttl: number;
  /** Cache-Control for the cache in front and for viewers (max-age counts from the Age header). */
  cacheControl: string;
  /** Why, for the X-Media-Edge-TTL header. */
  reason: string;
}

/** max-age the origin asked for (s-maxage first, RFC 9111 section 5.2.2.10), 0 for no-store/no-cache/private, -1 for nothing. */
export function originMaxAge(cc: string): number {
  const v = cc.toLowerCase();
  if (/(^|[\s,])(no-store|no-cache|private)([\s,=]|$)/.test(v)) return 0;
  const s = /(^|[\s,])s-maxage\s*=\s*"?(\d+)/.exec(v);
  if (s) return Number(s[2]);
  const m = /(^|[\s,])max-age\s*=\s*"?(\d+)/.exec(v);
  return m ? Number(m[2]) : -1;
}

/**
 * Whole seconds to store a live playlist so that it is fresh for at most half
 * its target duration. nginx stores validity in whole seconds and keeps an
 * object until the end of the second its validity ends in (up to 1 s more),
 * so this is half the target duration minus one second. Targets of 2-3 s still
 * get 1 (fresh 1-2 s: nginx cannot hold an object for less); below 2 s the
 * playlist is not stored, only collapsed by the cache lock.
 */
export function liveBound(targetDuration: number): number {
  const half = targetDuration / 2;
  if (half < 1) return 0;
  return Math.max(1, Math.floor(half - 1));
}

/**
 * Cache-Control for a stored playlist. nginx reads stale-while-revalidate
 * (RFC 5861) as the bound of its stale serving while one background request
 * refreshes the copy; unlike `proxy_cache_use_stale updating` it is bounded,
 * so the server config leaves that off for playlists. A 404 gets none: the
 * next request after it expires must ask the origin, or a stream that came
 * back stays dark one request longer. Serving stale while origins fail is
 * the producer's (njs/producer.ts serveLastGood). No `public`: nothing here is
 * answered to an Authorization header (RFC 9111 section 3.5), and nginx
 * scans the whole value for seven directives on every cache hit, so each
 * character costs.
 */
function cc(ttl: number, revalidate: boolean, immutable: boolean): string {
  if (ttl <= 0) return 'no-store';
  return 'max-age=' + ttl + (revalidate ? ', stale-while-revalidate=' + ttl : '') + (immutable ? ', immutable' : '');
}

/**
 * How long the edge keeps a playlist response, from its status and content.
 * RFC 8216 section 6.2.2 / 6.3.4: a live playlist may change after half its
 * target duration, so that is its bound; ENDLIST/VOD never changes. 5xx is
 * never stored; 404 lives only seconds so a restarted stream comes back.
 */
export function decide(status: number, info: PlaylistInfo, blocking: boolean, originCacheControl: string, p: CachePolicy): Decision {
  if (status === 404 || status === 410) return { ttl: p.notFound, cacheControl: cc(p.notFound, false, false), reason: 'not-found' };
  // No Cache-Control on 5xx: nginx stores nothing without one (playlists have
  // no proxy_cache_valid), and the viewer-facing server's map gives every 5xx
  // playlist answer `no-store`, its own 502/504 included; a second one from
  // here would reach viewers as a duplicate header.
  if (status >= 500) return { ttl: 0, cacheControl: '', reason: 'status-' + status };
  if (status !== 200) return { ttl: 0, cacheControl: 'no-store', reason: 'status-' + status };
  let ttl = p.fallback;
  let reason = 'unparsed:' + info.error;
  let immutable = false;
  let bound = -1;
  if (info.kind === 'master') {
    ttl = p.master;
    reason = 'master';
  } else if (info.kind === 'vod' || info.kind === 'mpd-static') {
    ttl = p.vod;
    reason = info.kind === 'vod' ? 'vod' : 'static-mpd';
    immutable = info.kind === 'vod';
  } else if (info.kind === 'live' || info.kind === 'event') {
    bound = liveBound(info.targetDuration);
    if (blocking) {
      // The playlist as of one msn/part: that version never changes.
      ttl = Math.min(p.blocking, bound < 1 ? 1 : bound);
      reason = 'blocking-reload';
      immutable = true;
    } else {
      ttl = Math.min(p.liveMax, bound);
      // LL-HLS: the bare URL moves every part; hold it no longer than a second.
      if (info.partTarget > 0) ttl = Math.min(ttl, 1);
      reason = info.kind + ' target=' + info.targetDuration;
    }
  } else if (info.kind === 'mpd-dynamic') {
    // The HLS rule (liveBound): a manifest may change every
    // minimumUpdatePeriod, so it is fresh for at most half of that. Kept for
    // the whole period (and stale as long again while it refreshes), a
    // player got a manifest up to twice the period old: 3-6 s behind
    // nginx-rtmp against 1.7 s direct, and shaka-player stalled.
    bound = info.minimumUpdatePeriod >= 0 ? liveBound(info.minimumUpdatePeriod) : p.fallback;
    ttl = Math.min(p.mpdMax, bound);
    reason = 'dynamic-mpd mup=' + info.minimumUpdatePeriod;
  }
  if (p.honorOrigin && originCacheControl !== '') {
    const o = originMaxAge(originCacheControl);
    if (o >= 0) {
      ttl = bound >= 0 ? Math.min(o, bound) : o;
      reason += ' origin-cache-control';
    }
  }
  // No stale copies of a dynamic MPD: a player polls it at about its
  // minimumUpdatePeriod and computes the live edge from the clock, so a copy
  // one period old lacks the segment it asks for next (shaka-player stalled
  // through the edge with stale-while-revalidate, never direct).
  return { ttl: ttl, cacheControl: cc(ttl, info.kind !== 'mpd-dynamic', immutable), reason: reason };
}

/** What the producer remembers per media playlist between refreshes (state file). */
export interface RunState {
  /** Run id put on child URIs. */
  run: string;
  /** EXT-X-MEDIA-SEQUENCE last seen. */
  seq: number;
  /** Media sequence number of the newest segment last seen. */
  last: number;
  /** When it was last seen, ms. */
  at: number;
}

export interface RunStep {
  state: RunState;
  /** The stream started over since the state was saved. */
  restarted: boolean;
  /** Index in info.segments of the first segment not listed before. */
  firstNew: number;
}

/**
 * Next run state for a live media playlist. A new run starts when the media
 * sequence goes backwards (the origin restarted numbering: RFC 8216 section
 * 6.2.1 forbids that within one stream), or when the state is older than
 * `forgetMs` and the playlist lists numbers seen before (a stream that had
 * nobody watching and now shows old numbers again started over; one that
 * moved past everything seen keeps its run: the segments cached under it
 * are all numbered at most `last`, so none can be mistaken for a new one,
 * and a viewer coming back after a pause is no restart). Run ids are
 * time-based, base 36.
 */
export function nextRun(prev: RunState | null, info: PlaylistInfo, now: number, forgetMs: number): RunStep {
  const last = info.mediaSequence + info.segments.length - 1;
  const fresh = prev === null || info.mediaSequence < prev.seq || (now - prev.at > forgetMs && info.mediaSequence <= prev.last) || !/^[0-9a-z]{1,16}$/.test(prev.run);
  const run = fresh ? now.toString(36) : (prev as RunState).run;
  let firstNew = 0;
  if (!fresh) firstNew = Math.max(0, Math.min(info.segments.length, (prev as RunState).last - info.mediaSequence + 1));
  return { state: { run: run, seq: info.mediaSequence, last: last, at: now }, restarted: prev !== null && fresh, firstNew: firstNew };
}

/** A run id for a DASH stream: its availabilityStartTime, hashed to a short token. */
export function mpdRun(availabilityStartTime: string): string {
  return 'd' + crc32(utf8Encode(availabilityStartTime)).toString(36);
}

/**
 * The playlist with the playback-auth marker (njs/auth.ts MARK_LINK) on
 * every child URI on this edge of the playlist's own stream: variant
 * playlists, segments, parts, init segments, keys, rendition reports. A
 * child of another stream gets none (a link opens one stream): it is listed
 * in `foreign` and will be refused.
 */
export function markForAuth(text: string, isMpd: boolean, base: string, variants?: string[]): { text: string; foreign: string[] } {
  const own = streamOf(base.split('?')[0], variants);
  const foreign: string[] = [];
  const mark = (uri: string): string => {
    if (!ours(uri)) return uri;
    // DASH templates hold $Number$ and such; the name decides nothing here.
    const target = resolveOnEdge(base, uri.replace(/\$[A-Za-z]*(%0\d+d)?\$/g, '0'));
    if (target === null) return uri;
    if (streamOf(target.split('?')[0], variants) !== own) {
      foreign.push(uri);
      return uri;
    }
    const m = isMpd ? MARK_LINK_XML : MARK_LINK;
    const eq = m.indexOf('=');
    return withParam(uri, m.slice(0, eq), m.slice(eq + 1), isMpd ? '&amp;' : '&');
  };
  return { text: isMpd ? mapMpdUris(text, mark) : mapHlsUris(text, (uri) => mark(uri)), foreign: foreign };
}
