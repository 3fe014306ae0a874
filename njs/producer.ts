/**
 * The playlist producer (behind the viewer cache; see media-edge-http.conf):
 * read the playlist from the origin, decide how long the cache keeps it
 * from what it says, tag a live stream's child URIs with its run, start
 * prefetches, keep a last good copy and serve it within
 * `playlist_stale_grace` while origins fail, answer.
 *
 * njs/http.ts `produce` calls it with nginx's request; the unit tests with a
 * fake one. Its state lives in `<runs_dir>` (njs/runs.ts). Failures inside
 * are values; the answer's status is decided here, at the edge, and never
 * is a 500.
 */
import { withoutLink } from './auth';
import {
  AGE_MAX_TTL,
  ageStamp,
  decide,
  inspect,
  invalid,
  markForAuth,
  mpdRun,
  nextRun,
  resolveOnEdge,
  RUN_PARAM,
  tagHlsRun,
  tagMpdRun,
  withParam,
  type CachePolicy,
  type PlaylistInfo,
} from './playlist';
import { attempts } from './routing';
import { classifyPath, keyPath } from './rules';
import { keepLastGood, readDisk, readLastGood, saveRun, SLOT_REFRESH_MS, sweepRuns, type Disk, type Store } from './runs';
import { stateKey } from './state';

/** The origin's answer to the producer's subrequest: what it uses of it. */
export interface OriginReply {
  readonly status: number;
  readonly responseBuffer?: Uint8Array;
  readonly headersOut: { readonly [name: string]: string | string[] | undefined };
  readonly variables: { readonly [name: string]: string | undefined };
}

/** What the producer uses of nginx's request (NginxHTTPRequest), so that a test can pass a fake. */
export interface ProducerRequest {
  readonly uri: string;
  readonly variables: { readonly [name: string]: string | undefined };
  readonly headersIn: { readonly [name: string]: string | undefined };
  readonly headersOut: { [name: string]: string | string[] | undefined };
  error(message: string): void;
  warn(message: string): void;
  return(status: number, body?: string | Uint8Array): void;
  subrequest(uri: string, options: { args: string; detached: true }): void;
  subrequest(uri: string, options: { args: string }): Promise<OriginReply>;
}

/** What the producer needs of njs besides the request: the files, and nginx's log without a request's context. */
export interface Host {
  fs: Store;
  /** ngx.log(ngx.WARN, ...) */
  warn(message: string): void;
  /** ngx.log(ngx.INFO, ...) */
  info(message: string): void;
  /**
   * Where to ask again after an answer that nginx took as a success but
   * the producer cannot use: the key that sends a request through upstream
   * media_edge_origin_retry to the next origin not in `tried` (addresses as
   * $upstream_addr lists them) first, that origin's name and address; null
   * when there is none (njs/http.ts retryTarget).
   */
  retry?(r: ProducerRequest, tried: string[]): { key: string; origin: string; address: string } | null;
  /**
   * True while the cache's disk is full (njs/cache-space.ts, njs/http.ts
   * cacheSpace): the answer goes out marked X-Media-Edge-No-Cache, which
   * the viewer-facing location does not store (`proxy_no_cache`), and a
   * fresh last good copy is answered without asking the origin.
   */
  cacheFull?(r: ProducerRequest): boolean;
}

/**
 * The most second tries of one production at other origins: one bad
 * origin of several costs a playlist one more try (more origin requests
 * where the next origins answer 404 and nginx walks on), and a failure
 * everywhere not more than two. Only for a playlist produced before: a
 * name nobody publishes, answered with an error page, costs one request.
 */
export const PLAYLIST_RETRIES = 2;

/** An origin's answer as the producer reads it: its body, the parse of a 200, whether it was cut short, and why it cannot be used ("" when it can). */
function judge(reply: OriginReply, mpd: boolean, maxBytes: number): { bytes: Uint8Array; seen: { info: PlaylistInfo; text: string } | null; cut: boolean; why: string } {
  const bytes: Uint8Array = reply.responseBuffer ? reply.responseBuffer : new Uint8Array(0);
  const seen = reply.status === 200 ? inspect(bytes, mpd, maxBytes) : null;
  const declared = reply.headersOut['Content-Length'];
  return { bytes: bytes, seen: seen, cut: cutShort(reply.status, bytes.length, declared), why: unusable(reply.status, bytes.length, declared, seen) };
}

/** A 200 with fewer bytes than its Content-Length: the origin closed mid-body. */
function cutShort(status: number, length: number, declared: string | string[] | undefined): boolean {
  return status === 200 && declared !== undefined && Number(declared) > length;
}

/**
 * Why an origin's answer cannot be used though nginx took it as a success
 * ("" when it can): a body shorter than its Content-Length (the origin
 * closed mid-body: nginx cannot try another origin once the headers are in,
 * and ends the subrequest as if it were whole, `npm run bench`, faults), or
 * a playlist that does not parse (junk, an error page sent with 200, a
 * chunked body cut short). A playlist grown too large is the stream's, not
 * the origin's.
 */
export function unusable(status: number, length: number, declared: string | string[] | undefined, seen: { info: PlaylistInfo } | null): string {
  if (status !== 200) return '';
  if (cutShort(status, length, declared)) return 'origin body cut short (' + length + ' of ' + declared + ' bytes)';
  if (seen && seen.info.kind === 'invalid' && seen.info.error !== 'too-large') return 'origin playlist not understood (' + seen.info.error + ', ' + length + ' bytes)';
  return '';
}

/** The producer's settings (tools/render.ts cachePolicy). */
export interface ProducerPolicy extends CachePolicy {
  /** playlist_max_bytes */
  maxBytes: number;
  /** prefetch_limit */
  prefetch: number;
  /** playlist_stale_grace, seconds: how long past expiry the last good copy is served while origins fail. */
  grace: number;
  /** state_sweep_every: one production in this many sweeps forgotten state files. */
  sweepEvery: number;
  /** state_max_files: the most files in <runs_dir>, two per slot (njs/state.ts). */
  maxFiles: number;
  /** expose_origin: name the origin that answered (X-Media-Edge-Upstream[-Status]). */
  expose: boolean;
  /** stream_variants: nginx-rtmp hls_variant suffixes (njs/rules.ts variantRules). */
  variants: string[];
}

/** $media_edge_cache_policy, or null when it is missing or not the renderer's JSON. */
export function producerPolicy(text: string): ProducerPolicy | null {
  try {
    const p = JSON.parse(text) as ProducerPolicy;
    return typeof p.fallback === 'number' && typeof p.maxBytes === 'number' ? p : null;
  } catch (e) {
    return null;
  }
}

/** No slot for a playlist: logged as often as sweeps run, so a flood of names does not flood the log. */
function noSlot(r: ProducerRequest, uri: string, p: ProducerPolicy): void {
  if (Math.random() * p.sweepEvery < 1) {
    r.warn('media-edge producer: ' + uri + ': no state slot free in ' + (r.variables.media_edge_runs_dir || '') + ' (state_max_files ' + p.maxFiles + '): this stream gets no run tag, last good copy, prefetch or second try while the slots are in use');
  }
}

/** The run of a live media playlist (see nextRun); null when it cannot be saved. */
async function runStep(r: ProducerRequest, host: Host, disk: Disk, uri: string, info: PlaylistInfo): Promise<{ run: string; firstNew: number; known: boolean } | null> {
  // No slot: no run tag, and a flood of names cannot fill the disk.
  if (disk.base === '') return null;
  const prev = disk.own ? disk.own.run : null;
  const now = Date.now();
  const forget = Math.max(30000, 3000 * info.targetDuration * Math.max(1, info.segments.length));
  const step = nextRun(prev, info, now, forget);
  if (step.restarted) host.warn('media-edge: ' + uri + ': stream restarted (media sequence ' + info.mediaSequence + '), new run ' + step.state.run);
  if (prev === null || step.state.run !== prev.run || step.state.last !== prev.last || now - prev.at > SLOT_REFRESH_MS) {
    const failed = await saveRun(host.fs, disk, now, step.state);
    if (failed) {
      r.error('media-edge producer: cannot save run state ' + disk.base + '.run: ' + failed + '; segments of ' + uri + ' are not tagged with a run');
      return null;
    }
  }
  // Known: produced before (a viewer came back after its lifetime), not a
  // name seen once.
  return { run: step.state.run, firstNew: step.firstNew, known: prev !== null };
}

/** Hold the slot of a playlist that keeps no run (MPD, VOD): false when it has none. */
async function holdSlot(r: ProducerRequest, host: Host, disk: Disk): Promise<boolean> {
  if (disk.base === '') return false;
  const now = Date.now();
  if (disk.own !== null && now - disk.own.at <= SLOT_REFRESH_MS) return true;
  const failed = await saveRun(host.fs, disk, now, disk.own ? disk.own.run : null);
  if (failed) r.error('media-edge producer: cannot save state ' + disk.base + '.run: ' + failed);
  return failed === '';
}

/**
 * Warm the cache with what a fresh playlist newly lists: the parts of the
 * segment in progress, then the newest segments, at most `limit`. Detached
 * subrequests: the playlist answer does not wait for them; they go through
 * the producer's segment location, which is the viewer cache with its keys
 * and its lock, so a viewer asking at the same time shares the one fetch.
 * `via`: the key of the origin a second try got the playlist from ("" for
 * the stream's own).
 */
function prefetch(r: ProducerRequest, uri: string, info: PlaylistInfo, firstNew: number, run: string, limit: number, via: string): void {
  const wanted: string[] = [];
  for (let i = info.tailParts.length - 1; i >= 0 && wanted.length < limit; i--) wanted.push(info.tailParts[i]);
  for (let i = info.segments.length - 1; i >= firstNew && wanted.length < limit; i--) wanted.push(info.segments[i]);
  for (let i = 0; i < wanted.length; i++) {
    const target = resolveOnEdge(uri, run ? withParam(wanted[i], RUN_PARAM, run, '&') : wanted[i]);
    if (target === null) continue;
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const kind = classifyPath(path);
    if (kind !== 'segment' && kind !== 'init' && kind !== 'key') continue;
    // After a second try, from the origin that answered (upstream
    // media_edge_origin_retry): the one that failed would cut them too,
    // and its segments may not be the answer's.
    r.subrequest(via ? '/_media_edge_prefetch_retry/' + via + path : path, { args: q < 0 ? '' : target.slice(q + 1), detached: true });
  }
}

/**
 * Serve the last good answer after the origin failed, for
 * `playlist_stale_grace` after it expires and not a second longer. (nginx's
 * own stale-if-error did not serve a stored playlist after a failed refresh
 * on nginx 1.22, and proxy_cache_use_stale has no time bound; this one is
 * exact and the same on every version.) False when there is none to serve.
 */
async function serveLastGood(r: ProducerRequest, host: Host, disk: Disk, uri: string, p: ProducerPolicy): Promise<boolean> {
  if (p.grace <= 0 || disk.base === '') return false;
  const last = await readLastGood(host.fs, disk);
  if (last === null) return false;
  const age = Date.now() - last.at;
  if (age > (last.ttl + p.grace) * 1000) return false;
  r.warn('media-edge producer: ' + uri + ': origins failing; served the copy from ' + Math.floor(age / 1000) + 's ago (playlist_stale_grace)');
  r.headersOut['Content-Type'] = last.type;
  // Its Age is exact only below 60 s (ageTable, media-edge-http.conf); served now, so its age is known.
  if (last.ttl <= AGE_MAX_TTL && age < 59000) r.headersOut['X-Media-Edge-Produced'] = ageStamp(last.at);
  // Not stored again: each request during the outage checks the grace anew.
  r.headersOut['Cache-Control'] = 'no-store';
  r.headersOut['X-Media-Edge-TTL'] = '0; stale-if-error age=' + Math.floor(age / 1000);
  try {
    r.return(200, last.body);
  } catch (e) {
    r.warn('media-edge producer: ' + uri + ': answer not sent: ' + String(e));
  }
  return true;
}

/**
 * The cache's disk is full, so nothing the producer answers is stored and
 * every viewer request comes here: the last good copy while it is fresh
 * (younger than the TTL the cache would have kept it for; what a cache hit
 * would have served, with the same Cache-Control and Age), so that the
 * origin is asked once per TTL as with a cache, not once per viewer. False
 * when there is none.
 */
async function serveFresh(r: ProducerRequest, host: Host, disk: Disk, uri: string): Promise<boolean> {
  const last = await readLastGood(host.fs, disk);
  if (last === null || typeof last.cc !== 'string') return false;
  const age = Date.now() - last.at;
  if (age < 0 || age >= last.ttl * 1000) return false;
  r.headersOut['Content-Type'] = last.type;
  if (last.ttl <= AGE_MAX_TTL) r.headersOut['X-Media-Edge-Produced'] = ageStamp(last.at);
  if (last.cc !== '') r.headersOut['Cache-Control'] = last.cc;
  r.headersOut['X-Media-Edge-TTL'] = last.ttl + '; cache-full copy age=' + Math.floor(age / 1000);
  r.headersOut['X-Media-Edge-No-Cache'] = 'full';
  try {
    r.return(200, last.body);
  } catch (e) {
    r.warn('media-edge producer: ' + uri + ': answer not sent: ' + String(e));
  }
  return true;
}

/** No usable answer from the origin: the last good copy (serveLastGood), else 502, not stored. */
async function lastGoodOr502(r: ProducerRequest, host: Host, disk: Disk, uri: string, p: ProducerPolicy): Promise<void> {
  const served = await serveLastGood(r, host, disk, uri, p);
  if (served) return;
  r.headersOut['Cache-Control'] = 'no-store';
  r.return(502);
}

function contentType(kind: string, origin: string | undefined): string {
  if (origin) return origin;
  return kind === 'mpd' ? 'application/dash+xml' : 'application/vnd.apple.mpegurl';
}

/**
 * Produce the answer to one playlist request. A body that does not parse
 * goes through unchanged with the short TTL and an error-log line.
 */
export async function producePlaylist(r: ProducerRequest, host: Host): Promise<void> {
  const p = producerPolicy(r.variables.media_edge_cache_policy || '');
  const uri = r.uri;
  const kind = classifyPath(uri);
  if (p === null) {
    r.error('media-edge producer: $media_edge_cache_policy is missing or not JSON');
    r.headersOut['Cache-Control'] = 'no-store';
    r.return(502);
    return;
  }
  if (kind !== 'master' && kind !== 'media' && kind !== 'mpd') {
    r.headersOut['Cache-Control'] = 'no-store';
    r.return(404);
    return;
  }
  // Protected applications (media-edge-auth.conf) ask for markers; their
  // viewers' links are theirs, not the origin's.
  const marked = r.headersIn['X-Media-Edge-Mark'] === 'query';
  const args = marked ? withoutLink(r.variables.args || '') : r.variables.args || '';
  const blocking = /(^|&)_HLS_(msn|part)=/i.test(args);
  // An LL-HLS delta update (EXT-X-SKIP) shares the playlist's slot
  // (stateKey), but is no answer to a request without _HLS_skip: never kept
  // as the last good copy, which any request for the playlist may get.
  const delta = /(^|&)_HLS_skip=/i.test(args);
  const dir = r.variables.media_edge_runs_dir || '';
  if (Math.random() * p.sweepEvery < 1) {
    const removed = sweepRuns(host.fs, dir, Date.now());
    if (removed > 0) host.info('media-edge producer: removed ' + removed + ' state files from ' + dir);
  }
  const disk = readDisk(host.fs, dir, stateKey(keyPath(uri), args), p.maxFiles, Date.now());
  // Asked before the first await, like the disk (see Disk).
  const full = host.cacheFull ? host.cacheFull(r) : false;
  if (full && !blocking && disk.base !== '') {
    const served = await serveFresh(r, host, disk, uri);
    if (served) return;
  }
  // A failure as a value, not a throw after an await (see Disk).
  let failure = '';
  // Two origin locations (media-edge-http.conf): a blocking reload waits at
  // the origin by design; any other fetch from an origin that hangs is
  // given up after playlist_read_timeout, in time to try the next origin.
  const answer = await r.subrequest((blocking ? '/_media_edge_origin_blocking' : '/_media_edge_origin') + uri, { args: args }).then(
    (x) => x,
    (e: Error) => {
      failure = String(e);
      return null;
    },
  );
  if (answer === null) {
    r.error('media-edge producer: ' + uri + ': origin subrequest failed: ' + failure);
    await lastGoodOr502(r, host, disk, uri, p);
    return;
  }
  let reply = answer;
  let judged = judge(reply, kind === 'mpd', p.maxBytes);
  // Another origin, while there is one to ask (not for a blocking reload,
  // which waits at the origin by design).
  const tried = attempts(String(reply.variables.upstream_addr || ''));
  // The origin of a second try that answered: its segments are prefetched from it.
  let via = '';
  for (let t = 0; t < PLAYLIST_RETRIES && judged.why !== '' && !blocking && disk.own !== null && host.retry; t++) {
    const next = host.retry(r, tried);
    if (next === null) break;
    r.warn('media-edge producer: ' + uri + ': ' + judged.why + ' from ' + (tried[tried.length - 1] || 'the origin') + '; asking ' + next.origin);
    const again = await r.subrequest('/_media_edge_origin_retry/' + next.key + uri, { args: args }).then(
      (x) => x,
      () => null,
    );
    if (again === null) break;
    const more = attempts(String(again.variables.upstream_addr || ''));
    for (let i = 0; i < more.length; i++) tried.push(more[i]);
    // Only a whole, readable 200 replaces the first answer: an error status
    // or another bad body from the retry is no better than what came first.
    const second = judge(again, kind === 'mpd', p.maxBytes);
    if (again.status !== 200 || second.why !== '') continue;
    reply = again;
    judged = second;
    // Prefetch from it only where it answered itself (nginx may have walked on).
    via = more[more.length - 1] === next.address ? next.key : '';
  }
  const status = reply.status || 502;
  const bytes = judged.bytes;
  const seen = judged.seen;
  // Cut short: neither parsed, cached nor kept (half a playlist ends in
  // half a URI, and would replace the last good copy).
  if (judged.cut) {
    r.error('media-edge producer: ' + uri + ': ' + judged.why);
    await lastGoodOr502(r, host, disk, uri, p);
    return;
  }
  let out: string | Uint8Array = bytes;
  let info = invalid('status ' + status);
  // A last good copy is kept where the playlist has a slot (runStep returns
  // null without one).
  let known = true;
  if (status === 200 && seen) {
    info = seen.info;
    if (info.kind === 'invalid') {
      // Where a good copy was made seconds ago, a body it cannot read is the
      // origin failing (junk, an error page sent with 200, a chunked body
      // cut short, which nginx passes on as whole): that copy within the
      // grace, as for a 5xx. A playlist grown too large is not a failure.
      let served = false;
      if (info.error !== 'too-large') served = await serveLastGood(r, host, disk, uri, p);
      r.error('media-edge producer: ' + uri + ': origin playlist not understood (' + info.error + ', ' + bytes.length + ' bytes' + (tried.length > 1 ? ', from each of ' + tried.join(', ') : '') + '); ' + (served ? 'served its last good copy' : 'passed through unchanged, cached ' + p.fallback + 's'));
      if (served) return;
    } else if (info.kind === 'live' || info.kind === 'event') {
      const step = await runStep(r, host, disk, uri, info);
      known = step !== null;
      out = step ? tagHlsRun(seen.text, step.run) : seen.text;
      // Only for a stream produced before: a flood of names nobody watches
      // costs the origin one request each, not one plus prefetch_limit.
      // Not while the cache is full: a prefetch would fetch a segment only to drop it.
      if (p.prefetch > 0 && step && step.known && !full) prefetch(r, uri, info, step.firstNew, step.run, p.prefetch, via);
    } else if (info.kind === 'mpd-dynamic' && info.availabilityStartTime !== '') {
      out = tagMpdRun(seen.text, mpdRun(info.availabilityStartTime));
      known = await holdSlot(r, host, disk);
    } else {
      out = seen.text;
      known = await holdSlot(r, host, disk);
    }
    if (disk.base === '') noSlot(r, uri, p);
    // Query-mode playback auth (set by the protected location): markers
    // that sub_filter replaces per viewer (njs/auth.ts markChildren).
    if (info.kind !== 'invalid' && marked) {
      const m = markForAuth(typeof out === 'string' ? out : seen.text, kind === 'mpd', uri, p.variants || []);
      if (m.foreign.length > 0) r.warn('media-edge producer: ' + uri + ': ' + m.foreign.length + ' segment URIs of another stream get no link (first: ' + m.foreign[0] + ')');
      out = m.text;
    }
  }
  const d = decide(status, info, blocking, String(reply.headersOut['Cache-Control'] || ''), p);
  const type = contentType(kind, reply.headersOut['Content-Type'] as string | undefined);
  if (status >= 500) {
    const served = await serveLastGood(r, host, disk, uri, p);
    if (served) return;
  } else if (typeof out === 'string' && d.ttl > 0 && p.grace > 0 && !blocking && !delta && known) {
    // The last good answer (see serveLastGood), only in the playlist's own
    // slot (state_max_files bounds them).
    const failed = await keepLastGood(host.fs, disk, Date.now(), d.ttl, d.cacheControl, type, out);
    if (failed) r.error('media-edge producer: cannot keep the last good copy of ' + uri + ': ' + failed);
  }
  r.headersOut['Content-Type'] = type;
  // The viewer-facing server derives `Age` from it (ageTable in tools/render.ts, media-edge-http.conf).
  // First of the headers njs adds: nginx finds it by reading the stored
  // headers in order, on every cache hit.
  if (d.ttl > 0 && d.ttl <= AGE_MAX_TTL) r.headersOut['X-Media-Edge-Produced'] = ageStamp(Date.now());
  if (d.cacheControl !== '') r.headersOut['Cache-Control'] = d.cacheControl;
  r.headersOut['X-Media-Edge-TTL'] = d.ttl + '; ' + d.reason;
  if (full) r.headersOut['X-Media-Edge-No-Cache'] = 'full';
  // Which origin answered, for expose_origin (the viewer-facing server only
  // sees the producer as its upstream). Only then: every header stored with
  // a playlist is parsed again on every cache hit.
  if (p.expose) {
    r.headersOut['X-Media-Edge-Upstream'] = String(reply.variables.upstream_addr || '');
    r.headersOut['X-Media-Edge-Upstream-Status'] = String(reply.variables.upstream_status || '');
  }
  try {
    r.return(status, out);
  } catch (e) {
    // The viewer-facing server gave up on this answer (its viewer left); the
    // next request produces again.
    r.warn('media-edge producer: ' + uri + ': answer not sent: ' + String(e));
  }
}
