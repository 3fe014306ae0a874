/**
 * Prometheus metrics from the edge's metrics log (pure logic; Node and njs).
 *
 * Why a log: counting in njs on every request costs a VM per request (a
 * js_set on the cache-hit path cost a third of its rate, README "How it
 * works"), while nginx writes a buffered log line in C for next to nothing.
 * So every viewer request, and every production of the playlist producer,
 * writes one tab-separated line (log_format media_edge_metrics in
 * nginx/media-edge-http.conf), and `GET /metrics` reads the lines written
 * since the last scrape, adds them to the totals kept in a state file, and
 * answers. The log is one file that every worker appends to and that a
 * reload keeps, and the totals are a file, so counts are right across
 * workers and reloads on every njs, 0.7.9 included.
 *
 * Exposition format: https://prometheus.io/docs/instrumenting/exposition_formats/
 * Naming: https://prometheus.io/docs/practices/naming/
 */

import { classifyPath, streamOf } from './rules';

/** One line of the metrics log (field order of log_format media_edge_metrics). */
export interface Entry {
  /** "v": the viewer-facing server; "p": the playlist producer (its origin requests). */
  source: string;
  /** Milliseconds since the epoch ($msec). */
  at: number;
  kind: string;
  cache: string;
  status: number;
  bytes: number;
  stream: string;
  /** The gate's reason for a 400 (X-Media-Edge-Reject), or "". */
  reject: string;
  /** Why a protected request was refused (X-Media-Edge-Token), or "". */
  denied: string;
  upstreamAddr: string;
  upstreamStatus: string;
  upstreamTime: string;
  /** Who the viewer is: "t:<link token id>" or "a:<address> <user agent>". */
  viewer: string;
  /** The producer's X-Media-Edge-TTL on a playlist it answered this request with ("" otherwise). */
  verdict: string;
  /** The stream's key in the totals, where classify found it. */
  key?: string;
}

export const FIELDS = 14;

/** One RTMP session, as the stream server logs it at its end (log_format media_edge_metrics_rtmp). */
export interface SessionEntry {
  at: number;
  /** The last decision: allow, allow-play, deny; "" when there was none (an unchecked play, no command). */
  decision: string;
  /** app/stream of that decision. */
  stream: string;
  reason: string;
  received: number;
  /** The filter's id of the session (its publisher file). */
  id: string;
}

export const SESSION_FIELDS = 8;

/** An RTMP session line ("r\t..."); null when it is not one. */
export function parseSessionLine(line: string): SessionEntry | null {
  const f = line.split('\t');
  if (f.length !== SESSION_FIELDS || f[0] !== 'r') return null;
  const at = Math.round(parseFloat(f[1]) * 1000);
  if (!(at > 0)) return null;
  const dash = (s: string) => (s === '-' ? '' : s);
  const received = parseInt(f[5], 10);
  return { at: at, decision: dash(f[2]), stream: dash(f[3]), reason: dash(f[4]), received: received >= 0 ? received : 0, id: dash(f[7]) };
}

const ISO_TIME = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)([+-])(\d\d):(\d\d)$/;

/**
 * A line's time, ms since the epoch: `$time_iso8601` ("2026-12-03T13:40:05+00:00",
 * what log_format media_edge_metrics writes: whole seconds, so that a
 * request repeated within a second writes the same line, which consume
 * counts once with its number) or `$msec` ("1764769205.123", what it wrote
 * before; a log kept across an upgrade still counts). NaN for anything
 * else. By hand: njs 0.7.9's Date.parse answers NaN for an offset.
 */
export function logTime(t: string): number {
  const m = ISO_TIME.exec(t);
  if (!m) return /^\d+\.\d+$/.test(t) ? Math.round(parseFloat(t) * 1000) : NaN;
  const utc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  const offset = (Number(m[8]) * 60 + Number(m[9])) * 60000;
  return m[7] === '-' ? utc + offset : utc - offset;
}

/** A line as nginx wrote it ("-" for an empty variable); null when it is not one of ours. */
export function parseLine(line: string): Entry | null {
  const f = line.split('\t');
  if (f.length !== FIELDS || (f[0] !== 'v' && f[0] !== 'p')) return null;
  const at = logTime(f[1]);
  const status = parseInt(f[4], 10);
  if (!(at > 0) || !(status >= 100 && status < 1000)) return null;
  const bytes = parseInt(f[5], 10);
  // Inline, not a helper: this runs for every line of every count (njs
  // interprets; a closure per line was a tenth of the count's time).
  return {
    source: f[0],
    at: at,
    kind: f[2] === '-' || f[2] === '' ? 'other' : f[2],
    cache: f[3] === '-' || f[3] === '' ? 'NONE' : f[3],
    status: status,
    bytes: bytes >= 0 ? bytes : 0,
    stream: f[6] === '-' ? '' : f[6],
    reject: f[7] === '-' ? '' : f[7],
    denied: f[8] === '-' ? '' : f[8],
    upstreamAddr: f[9] === '-' ? '' : f[9],
    upstreamStatus: f[10] === '-' ? '' : f[10],
    upstreamTime: f[11] === '-' ? '' : f[11],
    viewer: f[12] === '-' ? '' : f[12],
    verdict: f[13] === '-' ? '' : f[13],
  };
}

/** Upper bounds of the origin response-time histogram, seconds. */
export const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface OriginStats {
  requests: number;
  failures: { [cause: string]: number };
  buckets: number[];
  sum: number;
  count: number;
}

interface StreamStats {
  bytes: number;
  /** When anything of it was last served, ms. */
  last: number;
  /** Viewer id (hashed) -> when last seen, ms. */
  viewers: { [id: string]: number };
}

export interface MetricsState {
  /** Bytes of the log already counted, and which file that was (inode: a rotated log is another file). */
  offset: number;
  ino: number;
  rtmpIno: number;
  /** Salt of the viewer ids, made once per state: ids cannot be recomputed from an address. */
  salt: string;
  /** "kind\tcache\tcode class" -> requests. */
  requests: { [key: string]: number };
  /** kind -> bytes sent. */
  bytes: { [kind: string]: number };
  /** "check\treason" -> refusals (check: gate or token). */
  refusals: { [key: string]: number };
  /** Origin name -> its requests. */
  origins: { [name: string]: OriginStats };
  /** "app\tstream" -> bytes and viewers. */
  streams: { [key: string]: StreamStats };
  streamCount: number;
  viewerCount: number;
  /** code class -> productions of the playlist producer. */
  productions: { [code: string]: number };
  /** Productions that served the last good copy (the origin failed), and origin bodies not understood. */
  staleServed: number;
  unparsed: number;
  /** Lines counted, and lines that were not ours (never counted). */
  lines: number;
  unreadable: number;
  /** Viewer ids not tracked because max viewers were (counted, not stored). */
  untrackedViewers: number;
  /** Bytes of the RTMP sessions log already counted. */
  rtmpOffset: number;
  /** "result\treason" -> RTMP decisions (result allow, allow-play or deny; reason of a deny). */
  decisions: { [key: string]: number };
  /** "app\tstream" -> bytes received from publishers, at their sessions' end. */
  received: { [key: string]: number };
  receivedCount: number;
  /** Sessions that ended. */
  sessions: number;
}

export function newState(): MetricsState {
  return { offset: 0, ino: 0, rtmpIno: 0, salt: '', requests: {}, bytes: {}, refusals: {}, origins: {}, streams: {}, streamCount: 0, viewerCount: 0, productions: {}, staleServed: 0, unparsed: 0, lines: 0, unreadable: 0, untrackedViewers: 0, rtmpOffset: 0, decisions: {}, received: {}, receivedCount: 0, sessions: 0 };
}

/** A state file's contents; a fresh state when it is missing or not ours (never an exception). */
export function readState(text: string): MetricsState {
  try {
    const s = JSON.parse(text) as MetricsState;
    if (s && typeof s.offset === 'number' && typeof s.rtmpOffset === 'number' && typeof s.ino === 'number' && typeof s.salt === 'string' && s.requests && s.streams && s.origins && s.decisions) return s;
  } catch (e) {
    // A torn or foreign file: start again (counters reset; Prometheus reads that as a restart).
  }
  return newState();
}

export interface MetricsConfig {
  /** Viewers are the distinct ids seen within this many ms. */
  windowMs: number;
  /** Streams with their own labels; the rest are counted as app "_other". */
  maxStreams: number;
  /** Viewer ids kept at once over all streams (each costs the state file ~30 bytes). */
  maxViewers: number;
  /** stream_variants (njs/rules.ts streamOf), for the paths of viewer lines. */
  variants?: string[];
  /** Origin address as nginx logs it -> origin name. */
  originNames: { [address: string]: string };
}

/** Streams that have viewers: what viewers fetch. */
const VIEWED_KINDS: { [kind: string]: boolean } = { master: true, media: true, mpd: true, init: true, segment: true, part: true, key: true };

export const OTHER = '_other';

/** Viewer ids kept at once over all streams (about 30 bytes each in the totals file). */
export const MAX_VIEWERS = 100000;

function bump(o: { [k: string]: number }, k: string, n: number): void {
  o[k] = (o[k] || 0) + n;
}

/** Most label sets a reason-labelled family keeps; the rest count as reason "other". */
export const MAX_REASONS = 64;

/**
 * A reason as a label: numbers a client chose ("chunk size 70000 not
 * accepted") become N, so that reasons form a small set; past MAX_REASONS
 * distinct ones, "other".
 */
function bumpReason(o: { [k: string]: number }, prefix: string, reason: string, n: number): void {
  let k = prefix + '\t' + reason.replace(/[0-9]+/g, 'N').slice(0, 120);
  if (o[k] === undefined && Object.keys(o).length >= MAX_REASONS) k = prefix + '\tother';
  bump(o, k, n);
}

function codeClass(status: number): string {
  return Math.floor(status / 100) + 'xx';
}

/** app and stream of $media_edge_stream ("live/cam1", "vod/_definst_/x"): the first segment, then the rest. */
export function splitStream(s: string): { app: string; stream: string } {
  const t = s.charAt(0) === '/' ? s.slice(1) : s;
  const i = t.indexOf('/');
  return i < 0 ? { app: t, stream: '' } : { app: t.slice(0, i), stream: t.slice(i + 1) };
}

/** Why an origin attempt failed, from its $upstream_status; "" when it did not. */
export function failureCause(status: string): string {
  if (status === '502') return 'error';
  if (status === '504') return 'timeout';
  if (/^5\d\d$/.test(status)) return 'http_5xx';
  return '';
}

function originStats(s: MetricsState, name: string): OriginStats {
  let o = s.origins[name];
  if (!o) {
    o = { requests: 0, failures: {}, buckets: [], sum: 0, count: 0 };
    for (let i = 0; i < BUCKETS.length; i++) o.buckets.push(0);
    s.origins[name] = o;
  }
  return o;
}

/**
 * The origin attempts of one request: $upstream_addr, $upstream_status and
 * $upstream_response_time list each attempt, ", " between attempts of one
 * upstream group and " : " where a request moved to another (error_page to
 * the backup group).
 */
function countOrigins(s: MetricsState, e: Entry, cfg: MetricsConfig, n: number): void {
  if (!e.upstreamAddr) return;
  const addrs = e.upstreamAddr.split(/, | : /);
  const statuses = e.upstreamStatus.split(/, | : /);
  const times = e.upstreamTime.split(/, | : /);
  for (let i = 0; i < addrs.length; i++) {
    const name = cfg.originNames[addrs[i]];
    if (!name) continue; // the producer's socket, or an address that is no origin
    const o = originStats(s, name);
    o.requests += n;
    const cause = failureCause(statuses[i] || '');
    if (cause) bump(o.failures, cause, n);
    const t = parseFloat(times[i] || '');
    if (t >= 0) {
      o.sum += t * n;
      o.count += n;
      for (let b = 0; b < BUCKETS.length; b++) if (t <= BUCKETS[b]) o.buckets[b] += n;
    }
  }
}

/**
 * A viewer line carries its path instead of kind and stream (log_format
 * media_edge_metrics): classify it as nginx's maps do, from the same rule
 * table. Segments repeat for every viewer: `seen` keeps one answer per path
 * for a scrape.
 */
function classify(e: Entry, cfg: MetricsConfig, seen: Seen): void {
  if (e.kind !== 'other' || e.source !== 'v' || e.stream.charAt(0) !== '/') return;
  let c = seen[e.stream];
  if (!c) {
    const stream = streamOf(e.stream, cfg.variants);
    c = { kind: classifyPath(e.stream), stream: stream, key: streamKey(stream) };
    seen[e.stream] = c;
  }
  e.kind = c.kind;
  e.stream = c.stream;
  e.key = c.key;
}

/** One answer per path for a count (classify). */
export type Seen = { [path: string]: { kind: string; stream: string; key: string } };

/** A stream's key in the totals: app, tab, stream. */
function streamKey(stream: string): string {
  const p = splitStream(stream);
  return p.app + '\t' + p.stream;
}

/**
 * Add a line to the totals, `times` times (1 when not given: consume
 * counts a repeated line once, with its number). `hash` makes a viewer id
 * short and anonymous.
 */
export function apply(s: MetricsState, e: Entry, cfg: MetricsConfig, hash: (s: string) => string, seen?: Seen, times?: number): void {
  const n = times === undefined ? 1 : times;
  s.lines += n;
  classify(e, cfg, seen || {});
  countOrigins(s, e, cfg, n);
  if (e.source === 'p') {
    // The producer logs its subrequests too (log_subrequest): those are its
    // origin reads (counted above); its own request is the production.
    // Playlists only: the prefetches it logs are segments.
    if (!e.upstreamAddr && (e.kind === 'master' || e.kind === 'media' || e.kind === 'mpd')) bump(s.productions, codeClass(e.status), n);
    return;
  }
  bump(s.requests, e.kind + '\t' + e.cache + '\t' + codeClass(e.status), n);
  bump(s.bytes, e.kind, e.bytes * n);
  if (e.reject) bumpReason(s.refusals, 'gate', e.reject, n);
  if (e.denied) bumpReason(s.refusals, 'token', e.denied, n);
  // X-Media-Edge-TTL of a playlist the producer answered (njs/producer.ts):
  // "0; stale-if-error age=N" for its last good copy, "<ttl>; unparsed:<why>"
  // for an origin body it did not understand.
  if (e.verdict.indexOf('stale-if-error') >= 0) s.staleServed += n;
  else if (e.verdict.indexOf('unparsed:') >= 0) s.unparsed += n;
  // Viewing is what the cache or the origin served: not a refusal, not a
  // preflight (204: answered by the edge alone, for any name).
  if (!VIEWED_KINDS[e.kind] || e.status >= 400 || e.status === 204 || !e.stream) return;
  let key = e.key || streamKey(e.stream);
  let st = s.streams[key];
  if (!st) {
    if (s.streamCount >= cfg.maxStreams) {
      // A flood of names folds into one label per scrape, never into memory.
      key = OTHER + '\t' + OTHER;
      st = s.streams[key];
    }
    if (!st) {
      st = { bytes: 0, last: 0, viewers: {} };
      s.streams[key] = st;
      if (key !== OTHER + '\t' + OTHER) s.streamCount++;
    }
  }
  st.bytes += e.bytes * n;
  if (e.at > st.last) st.last = e.at;
  if (!e.viewer) return;
  const id = hash(e.viewer);
  if (st.viewers[id] === undefined) {
    if (s.viewerCount >= cfg.maxViewers) {
      s.untrackedViewers += n;
      return;
    }
    s.viewerCount++;
  }
  if (!(st.viewers[id] >= e.at)) st.viewers[id] = e.at;
}

/** Add one ended RTMP session; answers its id when it had published (its publisher file can go). */
export function applySession(s: MetricsState, e: SessionEntry, cfg: MetricsConfig): string {
  s.lines++;
  s.sessions++;
  if (e.decision === 'deny') bumpReason(s.decisions, 'deny', e.reason || 'unknown', 1);
  else if (e.decision) bump(s.decisions, e.decision + '\t', 1);
  if (e.decision === 'allow' && e.stream) {
    const p = splitStream(e.stream);
    let key = p.app + '\t' + p.stream;
    if (s.received[key] === undefined) {
      if (s.receivedCount >= cfg.maxStreams) key = OTHER + '\t' + OTHER;
      else s.receivedCount++;
    }
    bump(s.received, key, e.received);
    return e.id;
  }
  return '';
}

/** A stream nothing was served of for this long is forgotten: its labels go, its slot frees. */
export const STREAM_FORGET_MS = 600000;

/** Forget viewers not seen within the window, and streams not served for STREAM_FORGET_MS. */
export function prune(s: MetricsState, now: number, cfg: MetricsConfig): void {
  const keys = Object.keys(s.streams);
  for (let i = 0; i < keys.length; i++) {
    const st = s.streams[keys[i]];
    const v = st.viewers;
    const ids = Object.keys(v);
    for (let j = 0; j < ids.length; j++) {
      if (v[ids[j]] < now - cfg.windowMs) {
        delete v[ids[j]];
        s.viewerCount--;
      }
    }
    if (st.last < now - STREAM_FORGET_MS && Object.keys(v).length === 0) {
      delete s.streams[keys[i]];
      if (keys[i] !== OTHER + '\t' + OTHER) s.streamCount--;
    }
  }
}

/** Viewers of a stream now. */
export function viewersOf(st: StreamStats): number {
  return Object.keys(st.viewers).length;
}

/** A label value as the exposition format writes it: backslash, quote and newline escaped. */
export function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(names: string[], values: string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < names.length; i++) parts.push(names[i] + '="' + labelValue(values[i]) + '"');
  return parts.length ? '{' + parts.join(',') + '}' : '';
}

/** What the scrape learned besides the log: the build and each origin's probe. */
export interface Live {
  version: string;
  nginx: string;
  njs: string;
  engine: string;
  /** Origin name -> 1 (answered its probe), 0 (did not), absent (not probed: a unix socket). */
  up: { [name: string]: number };
  /** Bytes of the log not read yet (more than one scrape reads at once). */
  lagBytes: number;
  /** Application -> publishing sessions now (their publisher files). */
  publishers: { [app: string]: number };
}

/** The exposition text. Every family has HELP and TYPE, even without samples, so dashboards see it. */
export function render(s: MetricsState, live: Live): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string) => {
    out.push('# HELP ' + name + ' ' + help, '# TYPE ' + name + ' ' + type);
  };
  const sample = (name: string, names: string[], values: string[], v: number) => {
    out.push(name + labels(names, values) + ' ' + String(v));
  };
  const each = (o: { [k: string]: number }, name: string, names: string[]) => {
    const keys = Object.keys(o).sort();
    for (let i = 0; i < keys.length; i++) sample(name, names, keys[i].split('\t'), o[keys[i]]);
  };

  family('media_edge_build_info', 'gauge', 'The edge build and the nginx and njs it runs on (always 1).');
  sample('media_edge_build_info', ['version', 'nginx', 'njs', 'engine'], [live.version, live.nginx, live.njs, live.engine], 1);

  family('media_edge_requests_total', 'counter', 'Viewer requests by kind, cache status and status class.');
  each(s.requests, 'media_edge_requests_total', ['kind', 'cache', 'code']);
  family('media_edge_sent_bytes_total', 'counter', 'Body bytes sent to viewers by kind.');
  each(s.bytes, 'media_edge_sent_bytes_total', ['kind']);
  family('media_edge_refusals_total', 'counter', 'Requests refused by the gate (400) or by playback auth (403), by reason.');
  each(s.refusals, 'media_edge_refusals_total', ['check', 'reason']);

  family('media_edge_origin_up', 'gauge', 'Whether the origin answered its probe during this scrape (1) or not (0).');
  const ups = Object.keys(live.up).sort();
  for (let i = 0; i < ups.length; i++) sample('media_edge_origin_up', ['origin'], [ups[i]], live.up[ups[i]]);
  const names = Object.keys(s.origins).sort();
  family('media_edge_origin_requests_total', 'counter', 'Attempts at each origin (segments, keys, and the producer\'s playlist reads), failover attempts included.');
  for (let i = 0; i < names.length; i++) sample('media_edge_origin_requests_total', ['origin'], [names[i]], s.origins[names[i]].requests);
  family('media_edge_origin_failures_total', 'counter', 'Failed attempts by cause: error (connect, reset: 502), timeout (504), http_5xx (the origin answered 5xx).');
  for (let i = 0; i < names.length; i++) {
    const f = s.origins[names[i]].failures;
    const causes = Object.keys(f).sort();
    for (let j = 0; j < causes.length; j++) sample('media_edge_origin_failures_total', ['origin', 'cause'], [names[i], causes[j]], f[causes[j]]);
  }
  family('media_edge_origin_response_seconds', 'histogram', 'Time to each origin\'s whole response ($upstream_response_time).');
  for (let i = 0; i < names.length; i++) {
    const o = s.origins[names[i]];
    for (let b = 0; b < BUCKETS.length; b++) sample('media_edge_origin_response_seconds_bucket', ['origin', 'le'], [names[i], String(BUCKETS[b])], o.buckets[b]);
    sample('media_edge_origin_response_seconds_bucket', ['origin', 'le'], [names[i], '+Inf'], o.count);
    sample('media_edge_origin_response_seconds_sum', ['origin'], [names[i]], Math.round(o.sum * 1000) / 1000);
    sample('media_edge_origin_response_seconds_count', ['origin'], [names[i]], o.count);
  }

  const streams = Object.keys(s.streams).sort();
  family('media_edge_stream_viewers', 'gauge', 'Distinct viewers of a stream within metrics_viewer_window (link token id, else address and user agent).');
  for (let i = 0; i < streams.length; i++) sample('media_edge_stream_viewers', ['app', 'stream'], streams[i].split('\t'), viewersOf(s.streams[streams[i]]));
  family('media_edge_stream_sent_bytes_total', 'counter', 'Body bytes sent to viewers of a stream (playlists, segments, keys).');
  for (let i = 0; i < streams.length; i++) sample('media_edge_stream_sent_bytes_total', ['app', 'stream'], streams[i].split('\t'), s.streams[streams[i]].bytes);

  family('media_edge_rtmp_publishers', 'gauge', 'RTMP sessions publishing through the edge now, by application (publish auth on).');
  const apps = Object.keys(live.publishers).sort();
  for (let i = 0; i < apps.length; i++) sample('media_edge_rtmp_publishers', ['app'], [apps[i]], live.publishers[apps[i]]);
  family('media_edge_rtmp_decisions_total', 'counter', 'RTMP decisions of ended sessions (the last of each): allow (publish), allow-play, deny with its reason.');
  each(s.decisions, 'media_edge_rtmp_decisions_total', ['result', 'reason']);
  family('media_edge_rtmp_received_bytes_total', 'counter', 'Bytes received from publishers of a stream, added when their session ends.');
  each(s.received, 'media_edge_rtmp_received_bytes_total', ['app', 'stream']);
  family('media_edge_rtmp_sessions_total', 'counter', 'RTMP sessions that ended.');
  sample('media_edge_rtmp_sessions_total', [], [], s.sessions);

  family('media_edge_playlist_productions_total', 'counter', 'Playlists the producer made (cache misses and refreshes), by status class.');
  each(s.productions, 'media_edge_playlist_productions_total', ['code']);
  family('media_edge_playlist_stale_served_total', 'counter', 'Viewer responses that were the producer\'s last good copy, the origin failing (playlist_stale_grace).');
  sample('media_edge_playlist_stale_served_total', [], [], s.staleServed);
  family('media_edge_playlist_unparsed_total', 'counter', 'Viewer responses with an origin playlist the producer did not understand (passed through, cached playlist_ttl).');
  sample('media_edge_playlist_unparsed_total', [], [], s.unparsed);

  family('media_edge_metrics_log_lines_total', 'counter', 'Metrics log lines counted.');
  sample('media_edge_metrics_log_lines_total', [], [], s.lines);
  family('media_edge_metrics_unreadable_lines_total', 'counter', 'Metrics log lines that were not the edge\'s format (never counted).');
  sample('media_edge_metrics_unreadable_lines_total', [], [], s.unreadable);
  family('media_edge_metrics_untracked_viewers_total', 'counter', 'Viewer ids not tracked because the viewer bound was reached.');
  sample('media_edge_metrics_untracked_viewers_total', [], [], s.untrackedViewers);
  family('media_edge_metrics_lag_bytes', 'gauge', 'Bytes of the metrics log not counted yet (each scrape reads a bounded amount).');
  sample('media_edge_metrics_lag_bytes', [], [], live.lagBytes);
  return out.join('\n') + '\n';
}

/**
 * Lines alike, counted once with their number: a client asking for one
 * thing again within the second writes the same line (the time is whole
 * seconds). Parsing a line costs njs 0.7.9 about 7 us; a repeat costs a
 * lookup, and a run of repeats (one client's flood) a compare in place:
 * 2 MB of one line took 3 ms as bytes, where decoding them took 8-15 and
 * splitting the text into lines 15 more (npm run bench, metrics). Every
 * count is a sum or a latest time, so the totals are the same.
 */
interface Alike {
  /** Line (without its newline) -> how many times. */
  times: { [line: string]: number };
  /** Each line once, in the order first seen (which streams get labels first). */
  first: string[];
}

function addLine(g: Alike, line: string, n: number): void {
  const k = g.times[line];
  if (k === undefined) {
    g.times[line] = n;
    g.first.push(line);
  } else g.times[line] = k + n;
}

function countAlike(s: MetricsState, g: Alike, cfg: MetricsConfig, hash: (s: string) => string, ended?: string[]): void {
  const seen: Seen = {};
  for (let i = 0; i < g.first.length; i++) {
    const l = g.first[i];
    const n = g.times[l];
    if (l.charAt(0) === 'r') {
      const r = parseSessionLine(l);
      if (r) {
        // A session's line is its own (its id); repeated, it is the same session each time.
        for (let j = 0; j < n; j++) {
          const id = applySession(s, r, cfg);
          if (id && ended) ended.push(id);
        }
        continue;
      }
    }
    const e = parseLine(l);
    if (e) apply(s, e, cfg, hash, seen, n);
    else if (l !== '') s.unreadable += n;
  }
}

/**
 * Count the complete lines of `text` (the log from the state's offset, as
 * text: the tests and the njs vectors); returns how many characters were
 * consumed (up to the last newline, so that a line nginx is still writing
 * is read next time). consumeBytes over its bytes: the log is ASCII, so
 * characters are bytes.
 */
export function consume(s: MetricsState, text: string, cfg: MetricsConfig, hash: (s: string) => string, ended?: string[]): number {
  const b = Buffer.from(text) as unknown as LogBytes;
  return consumeBytes(s, b, b.length, (x: LogBytes, start: number, end: number) => (x as unknown as Buffer).toString('utf8', start, end), cfg, hash, ended);
}

/** The log's bytes as a count reads them: njs's Buffer and Node's alike. */
export interface LogBytes extends Uint8Array {
  compare(target: Uint8Array, targetStart: number, targetEnd: number, sourceStart: number, sourceEnd: number): number;
}

/**
 * consume over the first `n` bytes of a read buffer, decoding only one
 * line of each run of alike lines (`text` decodes bytes start..end); the
 * log is ASCII (nginx escapes other bytes as \xHH). Returns the bytes used.
 */
export function consumeBytes(s: MetricsState, b: LogBytes, n: number, text: (b: LogBytes, start: number, end: number) => string, cfg: MetricsConfig, hash: (s: string) => string, ended?: string[]): number {
  const end = n > 0 ? b.lastIndexOf(10, n - 1) : -1;
  if (end < 0) return 0;
  const g: Alike = { times: Object.create(null), first: [] };
  let at = 0;
  let lastAt = 0;
  let lastLen = 0;
  let last = '';
  let run = 0;
  while (at <= end) {
    if (run > 0 && at + lastLen <= end + 1 && b.compare(b, lastAt, lastAt + lastLen, at, at + lastLen) === 0) {
      run++;
      at += lastLen;
      continue;
    }
    if (run > 1) addLine(g, last, run - 1);
    const nl = b.indexOf(10, at);
    last = text(b, at, nl);
    addLine(g, last, 1);
    lastAt = at;
    lastLen = nl + 1 - at;
    run = 1;
    at = nl + 1;
  }
  if (run > 1) addLine(g, last, run - 1);
  countAlike(s, g, cfg, hash, ended);
  return end + 1;
}
