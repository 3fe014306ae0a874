/**
 * Entry for ngx_http_js_module. Only what nginx calls lives here; logic lives
 * in small modules with named exports.
 *
 * Per-request decisions that nginx can express (URL checks, classification,
 * cache keys, origin choice) are nginx maps and upstream directives rendered
 * from ./rules.ts; an njs handler costs a VM per request, so njs runs only
 * where nginx cannot: /health, /media-edge/status, and on njs >= 0.8.1 the
 * router, which nginx consults on cache misses only.
 *
 * njs 0.7.9 accepts only `export default`; tools/build.mjs rewrites esbuild's
 * `export { x as default }` for it.
 */
import crypto from 'crypto';
import fs from 'fs';
import {
  parseOriginsConfig,
  probeFromError,
  probeFromResponse,
  probeUrl,
  statusReport,
  type OriginsConfig,
  type Probe,
  type Runtime,
  type SharedView,
} from './origins';
import { ascii, crc32 } from './ring';
import { chooseOrigin, memoryUpdate, routeKey, weightedOrder } from './routing';
import { classifyPath, keyPath } from './rules';
import { withoutLink } from './auth';
import { candidateSlots, chooseSlot, formatSlot, ownsCopy, stateKey, type SlotRead, type SlotState } from './state';
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

/** The origins file the renderer wrote next to the config (too big for a js_var). */
function loadConfig(v: NginxHTTPRequest['variables'] | NginxPeriodicSession['variables']): OriginsConfig | { error: string } {
  const path = v.media_edge_origins_file || '';
  let text = '';
  try {
    text = fs.readFileSync(path, 'utf8') as string;
  } catch (e) {
    return { error: 'cannot read ' + path };
  }
  return parseOriginsConfig(text);
}

/** The shared dictionary, where njs has one (0.8.0+) and the config declares it. */
function dict(): NgxSharedDict<string> | null {
  const shared = (ngx as unknown as { shared?: { [name: string]: NgxSharedDict<string> } }).shared;
  return shared && shared.media_edge_state ? shared.media_edge_state : null;
}

function probedDown(d: NgxSharedDict<string>, cfg: OriginsConfig): boolean[] {
  const down: boolean[] = [];
  for (let i = 0; i < cfg.primaries.length; i++) down.push(d.get('down:' + cfg.primaries[i]) !== undefined);
  return down;
}

/** js_content for /health: proves the module is loaded and says which engine. */
function health(r: NginxHTTPRequest): void {
  const rt = runtime(r);
  const body = {
    status: 'ok',
    nginx: rt.nginx,
    njs: rt.njs,
    engine: rt.engine,
  };
  r.headersOut['Content-Type'] = 'application/json';
  r.return(200, JSON.stringify(body) + '\n');
}

function runtime(r: NginxHTTPRequest): Runtime {
  return { nginx: r.variables.nginx_version || '', njs: njs.version, engine: engineName() };
}

function engineName(): string {
  // `njs.engine` exists from 0.8.6 ("njs" or "QuickJS"); older is always njs.
  const e = (njs as unknown as { engine?: string }).engine;
  return typeof e === 'string' ? e : 'njs';
}

/**
 * js_set $media_edge_route: the key of `hash ... consistent`, evaluated by
 * nginx only when a request goes to an origin (never on a cache hit).
 */
function route(r: NginxHTTPRequest): string {
  const stream = r.variables.media_edge_stream || '';
  const d = dict();
  if (!d) return stream;
  const cfg = loadConfig(r.variables);
  if ('error' in cfg) return stream;
  const order = preference(cfg, r.rawVariables.media_edge_stream || []);
  const at = d.get('at:' + stream);
  const choice = chooseOrigin(order, at === undefined ? null : Number(at), probedDown(d, cfg));
  return routeKey(stream, choice, cfg.steer);
}

/** The primaries in the order this stream prefers them (weightedOrder). */
function preference(cfg: OriginsConfig, stream: Buffer | Uint8Array | number[]): number[] {
  const names: number[] = [];
  const weights: number[] = [];
  for (let i = 0; i < cfg.primaries.length; i++) {
    const o = cfg.origins[cfg.primaries[i]];
    names.push(crc32(ascii(o.name)));
    weights.push(o.weight);
  }
  return weightedOrder(crc32(stream as unknown as number[]), names, weights);
}

/**
 * js_set $media_edge_remember, evaluated in the log phase of requests that
 * found their stream only after a 404 (see the access_log that uses it):
 * remembers the origin that had it. Returns the line for origin-memory.log.
 */
function remember(r: NginxHTTPRequest): string {
  const d = dict();
  const stream = r.variables.media_edge_stream || '';
  if (!d) return '';
  const cfg = loadConfig(r.variables);
  if ('error' in cfg) return stream + ' error: ' + cfg.error;
  const order = preference(cfg, r.rawVariables.media_edge_stream || []);
  const primaries: string[] = [];
  for (let i = 0; i < cfg.primaries.length; i++) primaries.push(cfg.origins[cfg.primaries[i]].http);
  const u = memoryUpdate(order, r.variables.upstream_addr || '', r.variables.upstream_status || '', primaries);
  if (u === null) return stream + ' unchanged';
  if ('forget' in u) {
    d.delete('at:' + stream);
    return stream + ' on its own origin ' + cfg.origins[cfg.primaries[order[0]]].name;
  }
  d.set('at:' + stream, String(u.set));
  return stream + ' remembered on ' + cfg.origins[cfg.primaries[u.set]].name;
}

/** Probe one origin now; never rejects (a failure is a value). */
function probeOne(address: string, path: string): Promise<Probe> {
  const url = probeUrl(address, path);
  if (url === null) return Promise.resolve({ state: 'unknown', status: null, error: 'unix socket: not probed', ms: 0 } as Probe);
  const t0 = Date.now();
  return ngx.fetch(url).then(
    (res) => probeFromResponse(res.status, Date.now() - t0),
    (e: Error) => probeFromError(String(e && e.message ? e.message : e), Date.now() - t0),
  );
}

function probeAll(cfg: OriginsConfig, path: string): Promise<Probe[]> {
  const pending: Promise<Probe>[] = [];
  for (let i = 0; i < cfg.origins.length; i++) pending.push(probeOne(cfg.origins[i].http, path));
  return Promise.all(pending);
}

/** js_periodic (njs >= 0.8.1): probe every origin, record the ones that are down. */
async function probe(s: NginxPeriodicSession): Promise<void> {
  // One worker probes for all: the dictionary is shared.
  if (ngx.worker_id !== 0) return;
  const d = dict();
  if (!d) return;
  const cfg = loadConfig(s.variables);
  if ('error' in cfg) {
    ngx.log(ngx.ERR, 'media-edge probe: ' + cfg.error);
    return;
  }
  const results = await probeAll(cfg, s.variables.media_edge_probe_path || '/');
  for (let i = 0; i < results.length; i++) {
    const was = d.get('down:' + i) !== undefined;
    if (results[i].state === 'down') {
      d.set('down:' + i, results[i].error || 'down');
      if (!was) ngx.log(ngx.WARN, 'media-edge: origin ' + cfg.origins[i].name + ' failed its probe: ' + results[i].error);
    } else if (results[i].state === 'up') {
      d.delete('down:' + i);
      if (was) ngx.log(ngx.WARN, 'media-edge: origin ' + cfg.origins[i].name + ' is back');
    }
  }
}

/** js_content for /media-edge/status: origins, weights, and their state now. */
async function status(r: NginxHTTPRequest): Promise<void> {
  const cfg = loadConfig(r.variables);
  if ('error' in cfg) {
    r.error('media-edge status: ' + cfg.error);
    r.return(500, JSON.stringify({ error: cfg.error }) + '\n');
    return;
  }
  const probes = await probeAll(cfg, r.variables.media_edge_probe_path || '/');
  const d = dict();
  let shared: SharedView | null = null;
  if (d) {
    const down: boolean[] = [];
    for (let i = 0; i < cfg.origins.length; i++) down.push(d.get('down:' + i) !== undefined);
    const keys = d.keys(100000);
    let remembered = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i].indexOf('at:') === 0) remembered++;
    shared = { probedDown: down, rememberedStreams: remembered };
  }
  r.headersOut['Content-Type'] = 'application/json';
  r.return(200, JSON.stringify(statusReport(cfg, probes, Date.now(), shared, runtime(r))) + '\n');
}

/** The producer's settings (tools/render.ts cachePolicy). */
interface ProducerPolicy extends CachePolicy {
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

function producerPolicy(text: string): ProducerPolicy | null {
  try {
    const p = JSON.parse(text) as ProducerPolicy;
    return typeof p.fallback === 'number' && typeof p.maxBytes === 'number' ? p : null;
  } catch (e) {
    return null;
  }
}

/**
 * Where the producer keeps what it knows of one playlist between requests:
 * a slot of `<runs_dir>` (njs/state.ts has the layout and the bound).
 * Files, because njs 0.7.9 has no shared dictionary; the producer runs only
 * on playlist misses (a few times per target duration per rendition), and
 * the cache lock lets one request per playlist at a time in here.
 */

/**
 * Write a file whole or not at all (rename is atomic), so readers never see
 * half of one. "" when written, else why not: a failure is a value (the
 * producer writes after it waited for the origin; see Disk).
 */
function writeAtomic(file: string, data: string): Promise<string> {
  const tmp = file + '.' + process.pid + '.tmp';
  return fs.promises.writeFile(tmp, data).then(() => fs.promises.rename(tmp, file)).then(
    () => '',
    (e: Error) => String(e),
  );
}

/** State files not written for this long belong to playlists nobody asks for any more. */
const STATE_FORGET_MS = 3600000;

/** A slot whose playlist was not produced for this long may go to another playlist. */
const SLOT_EVICT_MS = 60000;

/** A playlist that only keeps a last good copy (MPD, VOD) refreshes its run file this often, so that its slot stays its own. */
const SLOT_REFRESH_MS = SLOT_EVICT_MS / 4;

/**
 * Remove forgotten state files (and temporary files of writes that never
 * finished), so that <runs_dir> holds what is in use. Not what bounds it
 * (the slots do): disk hygiene, run by one production in `state_sweep_every`
 * (no timers on njs 0.7.9), at most SWEEP_MAX files each time, so no request
 * pays much.
 */
const SWEEP_MAX = 1000;

function sweepState(r: NginxHTTPRequest, now: number): void {
  const dir = r.variables.media_edge_runs_dir || '';
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir) as string[];
  } catch (e) {
    return;
  }
  let removed = 0;
  for (let i = 0; i < names.length && removed < SWEEP_MAX; i++) {
    const file = dir + '/' + names[i];
    try {
      if (now - fs.statSync(file).mtimeMs > STATE_FORGET_MS) {
        fs.unlinkSync(file);
        removed++;
      }
    } catch (e) {
      // Removed by another worker meanwhile.
    }
  }
  if (removed > 0) ngx.log(ngx.INFO, 'media-edge producer: removed ' + removed + ' state files from ' + dir);
}

/**
 * What the producer reads from disk before it waits for the origin: njs
 * 0.7.9 logs "r.requestBody is deprecated" (and responseBody) once per
 * worker when an exception is thrown, even caught, in an async function
 * after an await (checked: a caught fs.statSync of a missing file after
 * `await r.subrequest()` logs it, the same before the await does not), and
 * a missing file is how these checks say "none". So they run first.
 */
interface Disk {
  /** Whose state it is: the playlist's key path and the parameters that make it another playlist (njs/state.ts stateKey). */
  key: string;
  /** `<runs_dir>/<slot>` without extension, or "" when no slot is free for it. */
  base: string;
  /** Its run file, when the slot already was its own. */
  own: SlotState | null;
}

function readDisk(r: NginxHTTPRequest, uri: string, args: string, maxFiles: number): Disk {
  const dir = r.variables.media_edge_runs_dir || '';
  const key = stateKey(keyPath(uri), args);
  const slots = candidateSlots(crypto.createHash('md5').update(key).digest('hex') as string, Math.max(1, Math.floor(maxFiles / 2)));
  const reads: SlotRead[] = [];
  for (let i = 0; i < slots.length; i++) {
    let text: string | null = null;
    try {
      text = fs.readFileSync(dir + '/' + slots[i] + '.run', 'utf8') as string;
    } catch (e) {
      text = null;
    }
    reads.push({ slot: slots[i], text: text });
    // Its own slot ends the search: usually the first read.
    if (text !== null && text.indexOf(JSON.stringify(key)) >= 0) break;
  }
  const c = chooseSlot(key, reads, Date.now(), SLOT_EVICT_MS);
  return { key: key, base: c.slot < 0 ? '' : dir + '/' + c.slot, own: c.own };
}

/** No slot for a playlist: logged as often as sweeps run, so a flood of names does not flood the log. */
function noSlot(r: NginxHTTPRequest, uri: string, p: ProducerPolicy): void {
  if (Math.random() * p.sweepEvery < 1) {
    r.warn('media-edge producer: ' + uri + ': no state slot free in ' + (r.variables.media_edge_runs_dir || '') + ' (state_max_files ' + p.maxFiles + '): this stream gets no run tag, last good copy or prefetch while the slots are in use');
  }
}

/** The run of a live media playlist (see nextRun); null when it cannot be saved. */
async function runStep(r: NginxHTTPRequest, disk: Disk, uri: string, info: PlaylistInfo): Promise<{ run: string; firstNew: number; known: boolean } | null> {
  // No slot: no run tag, and a flood of names cannot fill the disk.
  if (disk.base === '') return null;
  const file = disk.base + '.run';
  const prev = disk.own ? disk.own.run : null;
  const now = Date.now();
  const forget = Math.max(30000, 3000 * info.targetDuration * Math.max(1, info.segments.length));
  const step = nextRun(prev, info, now, forget);
  if (step.restarted) ngx.log(ngx.WARN, 'media-edge: ' + uri + ': stream restarted (media sequence ' + info.mediaSequence + '), new run ' + step.state.run);
  if (prev === null || step.state.run !== prev.run || step.state.last !== prev.last || now - prev.at > SLOT_REFRESH_MS) {
    const failed = await writeAtomic(file, formatSlot(disk.key, now, step.state));
    if (failed) {
      r.error('media-edge producer: cannot save run state ' + file + ': ' + failed + '; segments of ' + uri + ' are not tagged with a run');
      return null;
    }
  }
  // Known: produced before (a viewer came back after its lifetime), not a
  // name seen once.
  return { run: step.state.run, firstNew: step.firstNew, known: prev !== null };
}

/** Hold the slot of a playlist that keeps no run (MPD, VOD): false when it has none. */
async function holdSlot(r: NginxHTTPRequest, disk: Disk): Promise<boolean> {
  if (disk.base === '') return false;
  const now = Date.now();
  if (disk.own !== null && now - disk.own.at <= SLOT_REFRESH_MS) return true;
  const failed = await writeAtomic(disk.base + '.run', formatSlot(disk.key, now, disk.own ? disk.own.run : null));
  if (failed) r.error('media-edge producer: cannot save state ' + disk.base + '.run: ' + failed);
  return failed === '';
}

/**
 * Warm the cache with what a fresh playlist newly lists: the parts of the
 * segment in progress, then the newest segments, at most `limit`. Detached
 * subrequests: the playlist answer does not wait for them; they go through
 * the producer's segment location, which is the viewer cache with its keys
 * and its lock, so a viewer asking at the same time shares the one fetch.
 */
function prefetch(r: NginxHTTPRequest, uri: string, info: PlaylistInfo, firstNew: number, run: string, limit: number): void {
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
    r.subrequest(path, { args: q < 0 ? '' : target.slice(q + 1), detached: true });
  }
}

/**
 * The last good answer for a playlist, kept so that it can be served for
 * `playlist_stale_grace` after it expires while origins fail, and not a
 * second longer. (nginx's own stale-if-error did not serve a stored playlist
 * after a failed refresh on nginx 1.22, and proxy_cache_use_stale has no
 * time bound; this one is exact and the same on every version.)
 */
async function keepLastGood(r: NginxHTTPRequest, disk: Disk, uri: string, text: string, type: string, ttl: number): Promise<void> {
  const failed = await writeAtomic(disk.base + '.last', JSON.stringify({ key: disk.key, at: Date.now(), ttl: ttl, type: type, body: text }));
  if (failed) r.error('media-edge producer: cannot keep the last good copy of ' + uri + ': ' + failed);
}

/** After the origin failed (so after an await: a promise, never a throw, for a missing copy; see Disk). */
async function serveLastGood(r: NginxHTTPRequest, disk: Disk, uri: string, p: ProducerPolicy): Promise<boolean> {
  if (p.grace <= 0 || disk.base === '') return false;
  const text = await fs.promises.readFile(disk.base + '.last', 'utf8').then((t) => String(t), () => '');
  let last: { key?: unknown; at: number; ttl: number; type: string; body: string } | null = null;
  try {
    last = text ? JSON.parse(text) : null;
  } catch (e) {
    return false;
  }
  // The slot may have held another playlist before: never its copy.
  if (!last || !ownsCopy(disk.key, last) || typeof last.body !== 'string' || typeof last.at !== 'number') return false;
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

function contentType(kind: string, origin: string | undefined): string {
  if (origin) return origin;
  return kind === 'mpd' ? 'application/dash+xml' : 'application/vnd.apple.mpegurl';
}

/**
 * js_content of the producer (behind the viewer cache; see
 * media-edge-http.conf): read the playlist from the origin, decide how long
 * the cache keeps it from what it says, tag a live stream's child URIs with
 * its run, start prefetches, answer. A body that does not parse goes through
 * unchanged with the short TTL and an error-log line; never a 500.
 */
async function produce(r: NginxHTTPRequest): Promise<void> {
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
  if (Math.random() * p.sweepEvery < 1) sweepState(r, Date.now());
  const disk = readDisk(r, uri, args, p.maxFiles);
  // A failure as a value, not a throw after an await (see Disk).
  let failure = '';
  const answer = await r.subrequest('/_media_edge_origin' + uri, { args: args }).then(
    (x) => x,
    (e: Error) => {
      failure = String(e);
      return null;
    },
  );
  if (answer === null) {
    r.error('media-edge producer: ' + uri + ': origin subrequest failed: ' + failure);
    const served = await serveLastGood(r, disk, uri, p);
    if (served) return;
    r.headersOut['Cache-Control'] = 'no-store';
    r.return(502);
    return;
  }
  const reply: NginxHTTPRequest = answer;
  const status = reply.status || 502;
  const buf = reply.responseBuffer;
  const bytes: Uint8Array = buf ? (buf as unknown as Uint8Array) : new Uint8Array(0);
  let out: string | Uint8Array = bytes;
  let info = invalid('status ' + status);
  // A last good copy is kept where the playlist has a slot (runStep returns
  // null without one).
  let known = true;
  if (status === 200) {
    const seen = inspect(bytes, kind === 'mpd', p.maxBytes);
    info = seen.info;
    if (info.kind === 'invalid') {
      r.error('media-edge producer: ' + uri + ': origin playlist not understood (' + info.error + ', ' + bytes.length + ' bytes); passed through unchanged, cached ' + p.fallback + 's');
    } else if (info.kind === 'live' || info.kind === 'event') {
      const step = await runStep(r, disk, uri, info);
      known = step !== null;
      out = step ? tagHlsRun(seen.text, step.run) : seen.text;
      // Only for a stream produced before: a flood of names nobody watches
      // costs the origin one request each, not one plus prefetch_limit.
      if (p.prefetch > 0 && step && step.known) prefetch(r, uri, info, step.firstNew, step.run, p.prefetch);
    } else if (info.kind === 'mpd-dynamic' && info.availabilityStartTime !== '') {
      out = tagMpdRun(seen.text, mpdRun(info.availabilityStartTime));
      known = await holdSlot(r, disk);
    } else {
      out = seen.text;
      known = await holdSlot(r, disk);
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
    const served = await serveLastGood(r, disk, uri, p);
    if (served) return;
  } else if (typeof out === 'string' && d.ttl > 0 && p.grace > 0 && !blocking && known) {
    // Only in the playlist's own slot (state_max_files bounds them).
    await keepLastGood(r, disk, uri, out, type, d.ttl);
  }
  r.headersOut['Content-Type'] = type;
  // The viewer-facing server derives `Age` from it (ageTable in tools/render.ts, media-edge-http.conf).
  // First of the headers njs adds: nginx finds it by reading the stored
  // headers in order, on every cache hit.
  if (d.ttl > 0 && d.ttl <= AGE_MAX_TTL) r.headersOut['X-Media-Edge-Produced'] = ageStamp(Date.now());
  if (d.cacheControl !== '') r.headersOut['Cache-Control'] = d.cacheControl;
  r.headersOut['X-Media-Edge-TTL'] = d.ttl + '; ' + d.reason;
  // Which origin answered, for expose_origin (the viewer-facing server only
  // sees the producer as its upstream). Only then: every header stored with
  // a playlist is parsed again on every cache hit.
  if (p.expose) {
    r.headersOut['X-Media-Edge-Upstream'] = String(reply.variables.upstream_addr || '');
    r.headersOut['X-Media-Edge-Upstream-Status'] = String(reply.variables.upstream_status || '');
  }
  try {
    r.return(status, out as unknown as string);
  } catch (e) {
    // The viewer-facing server gave up on this answer (its viewer left); the
    // next request produces again.
    r.warn('media-edge producer: ' + uri + ': answer not sent: ' + String(e));
  }
}

export default { health, status, route, remember, probe, produce };
