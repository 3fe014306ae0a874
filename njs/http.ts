/**
 * Entry for ngx_http_js_module. Only what nginx calls lives here; logic lives
 * in small modules with named exports.
 *
 * Per-request decisions that nginx can express (URL checks, classification,
 * cache keys, origin choice) are nginx maps and upstream directives rendered
 * from ./rules.ts; an njs handler costs a VM per request, so njs runs only
 * where nginx cannot: /health, /media-edge/status, the playlist producer,
 * and on njs >= 0.8.1 the router, which nginx consults on cache misses
 * only (the cache-full check of segment misses is njs/space.ts).
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
import { MAX_VIEWERS, render, type LogBytes, type MetricsConfig } from './metrics';
import { BACKGROUND_COUNT_MS, livePublishers, MAX_READ, readLog, scrape, take, type MetricsStore, type Scrape } from './metrics-file';
import { consumeEvents, delivered, enqueue, expire, heartbeatBody, keepUrls, readEventsState, type EventsConfig, type EventsState } from './events';
import { ascii, crc32 } from './ring';
import { chooseOrigin, memoryUpdate, retryOrigin, routeKey, weightedOrder } from './routing';
import { producePlaylist } from './producer';
import { askCacheSpace, type SpaceStore } from './cache-space';
import { formatKick, kickFile, kickName, kickTempFile, parseKick, parseKickRequest } from './kick';
import { takeoverUrl } from './publish';

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

/** Short, anonymous viewer ids in the metrics totals. */
function viewerHash(v: string): string {
  return (crypto.createHash('md5').update(v).digest('hex') as string).slice(0, 12);
}

/** Count what the metrics logs gained into the totals (njs/metrics-file.ts). */
function countMetrics(v: NginxHTTPRequest['variables'] | NginxPeriodicSession['variables'], cfg: OriginsConfig, readMs?: number): Scrape {
  const names: { [address: string]: string } = {};
  for (let i = 0; i < cfg.origins.length; i++) names[cfg.origins[i].http] = cfg.origins[i].name;
  const mcfg: MetricsConfig = { windowMs: Number(v.media_edge_metrics_window_ms) || 30000, maxStreams: Number(v.media_edge_metrics_max_streams) || 1000, maxViewers: MAX_VIEWERS, originNames: names, variants: v.media_edge_metrics_variants ? v.media_edge_metrics_variants.split(',') : [] };
  const logs = { http: v.media_edge_metrics_log || '', rtmp: v.media_edge_metrics_rtmp_log || '', publishers: v.media_edge_metrics_publishers || '' };
  return scrape(fs as unknown as MetricsStore, logs, v.media_edge_metrics_dir || '', mcfg, Date.now(), viewerHash, Buffer.alloc(65536),
    (b: LogBytes, start: number, end: number) => (b as unknown as Buffer).toString('utf8', start, end), readMs);
}

/**
 * js_periodic (njs >= 0.8.1), every second in one worker: count the logs
 * as they grow, so that a scrape only answers and the counting rate is not
 * bounded by the scrape interval (README, "Metrics").
 */
function count(s: NginxPeriodicSession): void {
  if (ngx.worker_id !== 0) return;
  backgroundCount(s.variables);
}

/** A count in the background (js_periodic, countIfDue): BACKGROUND_COUNT_MS of reading; problems go to the error log. */
function backgroundCount(v: NginxHTTPRequest['variables'] | NginxPeriodicSession['variables']): void {
  const cfg = loadConfig(v);
  if ('error' in cfg) return;
  const got = countMetrics(v, cfg, BACKGROUND_COUNT_MS);
  if (got.problem && got.problem.indexOf('another scrape') < 0) ngx.log(ngx.ERR, 'media-edge metrics: ' + got.problem);
}

/**
 * js_content for /metrics (Prometheus text format): the totals of the
 * metrics log (njs/metrics-file.ts), and each origin's probe now.
 */
async function metrics(r: NginxHTTPRequest): Promise<void> {
  const cfg = loadConfig(r.variables);
  if ('error' in cfg) {
    r.error('media-edge metrics: ' + cfg.error);
    r.return(500, '# ' + cfg.error + '\n');
    return;
  }
  const v = r.variables;
  const got = countMetrics(v, cfg);
  if (got.problem && got.problem.indexOf('another scrape') < 0) r.error('media-edge metrics: ' + got.problem);
  // njs < 0.8.1 has no js_periodic: the scrape sends the publish events; the
  // answer waits for no receiver. Started before this function's first
  // await: on njs 0.7.9 an exception caught after it reads every property
  // of the request ("r.requestBody is deprecated" in the log).
  if (v.media_edge_events_on_scrape) {
    sendEvents(v).then(
      (problem) => {
        if (problem) ngx.log(ngx.ERR, 'media-edge events: ' + problem);
      },
      (e: Error) => ngx.log(ngx.ERR, 'media-edge events: ' + String(e)),
    );
  }
  const probes = await probeAll(cfg, v.media_edge_probe_path || '/');
  const up: { [name: string]: number } = {};
  for (let i = 0; i < probes.length; i++) if (probes[i].state !== 'unknown') up[cfg.origins[i].name] = probes[i].state === 'up' ? 1 : 0;
  const rt = runtime(r);
  r.headersOut['Content-Type'] = 'text/plain; version=0.0.4; charset=utf-8';
  r.return(200, render(got.state, { version: v.media_edge_version || '', nginx: rt.nginx, njs: rt.njs, engine: rt.engine, up: up, lagBytes: got.lagBytes, publishers: got.publishers }));
}

/**
 * js_content of the producer (behind the viewer cache; see
 * media-edge-http.conf): njs/producer.ts, with njs's files and log.
 */
function produce(r: NginxHTTPRequest): Promise<void> {
  const counting = r.variables.media_edge_metrics_count_on_produce ? countingVariables(r.variables) : null;
  return producePlaylist(r, {
    fs: fs,
    warn: (m: string) => ngx.log(ngx.WARN, m),
    info: (m: string) => ngx.log(ngx.INFO, m),
    retry: (req, tried) => retryTarget(req.variables, tried),
    cacheFull: (req) => askCacheSpace(fs as unknown as SpaceStore, ngx, req.variables, Date.now()),
  }).then(() => {
    // In a timer of its own, after the answer: njs 0.7.9 logs "r.requestBody
    // is deprecated" for an exception caught after an await of the request's
    // handler, and the count catches some (a missing file, a held lock).
    if (counting) setTimeout(() => countIfDue(counting), 0);
  });
}

/**
 * The producer's second try at a playlist (njs/producer.ts Host.retry):
 * the stream's next primary origin not tried yet, as the key its internal
 * locations put in their path for upstream media_edge_origin_retry to
 * hash; null when every primary was tried or the config cannot be read.
 */
function retryTarget(v: { readonly [name: string]: string | undefined }, tried: string[]): { key: string; origin: string; address: string } | null {
  const cfg = loadConfig(v as NginxHTTPRequest['variables']);
  if ('error' in cfg) return null;
  const addresses: string[] = [];
  for (let i = 0; i < cfg.primaries.length; i++) addresses.push(cfg.origins[cfg.primaries[i]].http);
  // Origins the probes have down (njs shared state): not asked.
  const d = dict();
  const s = retryOrigin(cfg.ring, addresses, cfg.steer, d ? probedDown(d, cfg) : [], v.media_edge_stream || '', tried);
  if (s < 0) return null;
  return { key: cfg.steer[s], origin: cfg.origins[cfg.primaries[s]].name, address: addresses[s] };
}

/** What a count reads of the variables, copied while the request is at hand. */
const COUNTING_VARIABLES = ['media_edge_origins_file', 'media_edge_metrics_window_ms', 'media_edge_metrics_max_streams', 'media_edge_metrics_variants',
  'media_edge_metrics_log', 'media_edge_metrics_rtmp_log', 'media_edge_metrics_publishers', 'media_edge_metrics_dir'];

function countingVariables(v: NginxHTTPRequest['variables']): NginxHTTPRequest['variables'] {
  const out: { [name: string]: string | undefined } = {};
  for (let i = 0; i < COUNTING_VARIABLES.length; i++) out[COUNTING_VARIABLES[i]] = v[COUNTING_VARIABLES[i]];
  return out as NginxHTTPRequest['variables'];
}

/**
 * Productions count when the totals are this old, ms: about every second,
 * less what a count takes (the totals are written when it ends).
 */
const PRODUCER_COUNT_MS = 1000 - 2 * BACKGROUND_COUNT_MS;

/**
 * Without js_periodic (njs < 0.8.1, or njs_shared_state off:
 * $media_edge_metrics_count_on_produce), a playlist production counts the
 * metrics log when the totals are PRODUCER_COUNT_MS old, so that counting
 * keeps up with the log wherever playlists are watched, not only at each
 * scrape (README, "Metrics").
 */
function countIfDue(v: NginxHTTPRequest['variables']): void {
  try {
    if (Date.now() - fs.statSync((v.media_edge_metrics_dir || '') + '/totals.json').mtimeMs < PRODUCER_COUNT_MS) return;
  } catch (e) {
    // no totals yet: this is the first count
  }
  backgroundCount(v);
}

/**
 * Publish events (njs/events.ts): read what the events log gained, queue it
 * per URL with the heartbeat when due, save, then send each URL's queue in
 * order until a failure, which waits its backoff. Under a lock (one sender
 * at a time, whichever worker), and bounded in time by the tick: the state
 * is saved before any send, so a sender killed mid-send sends again (at
 * least once; receivers deduplicate on `id`). Answers a problem or "".
 */
async function sendEvents(v: NginxHTTPRequest['variables'] | NginxPeriodicSession['variables']): Promise<string> {
  const started = Date.now();
  let cfg: EventsConfig;
  try {
    cfg = JSON.parse(fs.readFileSync(v.media_edge_events_config || '', 'utf8') as string) as EventsConfig;
  } catch (e) {
    return 'cannot read ' + v.media_edge_events_config + ': ' + String(e);
  }
  const dir = v.media_edge_events_dir || '';
  const file = dir + '/state.json';
  const lock = dir + '/lock';
  const store = fs as unknown as MetricsStore;
  if (!take(store, lock, started)) return '';
  const edge = v.hostname || '';
  let state: EventsState;
  const save = () => {
    fs.writeFileSync(file + '.tmp', JSON.stringify(state));
    fs.renameSync(file + '.tmp', file);
  };
  try {
    try {
      state = readEventsState(fs.readFileSync(file, 'utf8') as string);
    } catch (e) {
      state = readEventsState('');
    }
    keepUrls(state, cfg.urls);
    const dropped = state.dropped;
    const got = readLog(store, v.media_edge_events_log || '', state.offset, state.ino, MAX_READ, Buffer.alloc(65536),
      (b: Uint8Array, n: number) => consumeEvents(state, (b as Buffer).toString('utf8', 0, n), cfg.urls, edge, started));
    state.offset = got.at;
    state.ino = got.ino;
    if (started - state.beatAt >= cfg.heartbeat_ms) {
      const live = livePublishers(store, v.media_edge_events_publishers || '', started, []);
      enqueue(state, cfg.urls, heartbeatBody(live, edge, started), started, true);
      state.beatAt = started;
    }
    expire(state, started);
    if (state.dropped > dropped) ngx.log(ngx.ERR, 'media-edge events: dropped ' + (state.dropped - dropped) + ' events (older than a day, or more than the queue holds)');
    save();
    // No try may still run when the next tick begins (js_periodic would kill it).
    const deadline = started + cfg.interval_ms - 200;
    await Promise.all(cfg.urls.map((url) => drain(state, url, cfg, deadline)));
    save();
    return '';
  } catch (e) {
    return String(e);
  } finally {
    try {
      fs.unlinkSync(lock);
    } catch (e) {
      // already gone
    }
  }
}

/** Send `url`'s queue, oldest first, until it is empty, a try fails, or the time is up. */
async function drain(state: EventsState, url: string, cfg: EventsConfig, deadline: number): Promise<void> {
  const u = state.urls[url];
  for (;;) {
    const now = Date.now();
    if (!u || !u.queue.length || now < u.next || now + cfg.timeout_ms > deadline) return;
    const body = u.queue[0].body;
    const result = await postEvent(url, body, cfg);
    delivered(state, url, result === '', result, Date.now());
    if (result !== '') {
      ngx.log(ngx.WARN, 'media-edge events: ' + url + ': ' + result + '; retried in ' + Math.round((u.next - Date.now()) / 1000) + ' s (' + u.queue.length + ' waiting)');
      return;
    }
  }
}

/** POST one event, signed; "" when the receiver took it (2xx), else why not. */
function postEvent(url: string, body: string, cfg: EventsConfig): Promise<string> {
  const sig = crypto.createHmac('sha256', cfg.secret).update(body).digest('hex') as string;
  const action = (/"action":"([a-z_]+)"/.exec(body) || ['', 'event'])[1];
  const call = ngx.fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Media-Edge-Signature': 'sha256=' + sig, 'X-Media-Edge-Event': action },
    body: body,
  }).then(
    (res) => (res.status >= 200 && res.status < 300 ? '' : 'answered ' + res.status),
    (e: Error) => 'unreachable: ' + (e && e.message ? e.message : String(e)),
  );
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('no answer within ' + cfg.timeout_ms + ' ms'), cfg.timeout_ms));
  return Promise.race([call, timeout]);
}

/** js_periodic (njs >= 0.8.1): the events sender, in one worker. */
async function events(s: NginxPeriodicSession): Promise<void> {
  if (ngx.worker_id !== 0) return;
  const problem = await sendEvents(s.variables);
  if (problem) ngx.log(ngx.ERR, 'media-edge events: ' + problem);
}

function answerJson(r: NginxHTTPRequest, status: number, body: unknown): void {
  r.headersOut['Content-Type'] = 'application/json';
  r.headersOut['Cache-Control'] = 'no-store';
  r.return(status, JSON.stringify(body) + '\n');
}

/** The kicks that hold now; expired files are removed on the way. */
function listKicks(dir: string, nowMs: number): { app: string; stream: string; until: string; seconds_left: number; by: string }[] {
  const out: { app: string; stream: string; until: string; seconds_left: number; by: string }[] = [];
  const files = fs.readdirSync(dir) as string[];
  for (let i = 0; i < files.length; i++) {
    const name = kickName(files[i]);
    if (!name) continue;
    let k = null;
    try {
      k = parseKick(fs.readFileSync(dir + '/' + files[i], 'utf8') as string);
    } catch (e) {
      continue; // lifted meanwhile
    }
    if (k && k.until <= nowMs) {
      try {
        fs.unlinkSync(dir + '/' + files[i]);
      } catch (e) {
        // another worker was first
      }
      continue;
    }
    if (k) out.push({ app: name.app, stream: name.stream, until: new Date(k.until).toISOString(), seconds_left: Math.ceil((k.until - nowMs) / 1000), by: k.by });
  }
  return out;
}

/**
 * js_content for /media-edge/kick (README, "Kicking a publisher"). POST
 * drops a stream's publisher and keeps it out for `seconds`: the edge's own
 * session of it ends within a second (njs/stream.ts watches the kick file),
 * each origin's drop API (rtmp_takeover_url) drops it where it publishes
 * through another edge, and every publish of it is refused until the kick
 * ends. GET lists the kicks that hold. Bad input: a 4xx with the reason,
 * and nothing changed.
 */
async function kick(r: NginxHTTPRequest): Promise<void> {
  const dir = r.variables.media_edge_kicks_dir || '';
  const now = Date.now();
  if (r.method === 'GET' || r.method === 'HEAD') {
    let list;
    try {
      list = listKicks(dir, now);
    } catch (e) {
      r.error('media-edge kick: cannot read ' + dir + ': ' + String(e));
      answerJson(r, 500, { error: 'cannot read the kicks directory ' + dir });
      return;
    }
    answerJson(r, 200, { kicks: list });
    return;
  }
  if (r.method !== 'POST') {
    r.headersOut['Allow'] = 'GET, POST';
    answerJson(r, 405, { error: 'GET lists the kicks, POST kicks (or lifts one with "seconds": 0)' });
    return;
  }
  const body = r.requestText;
  if (typeof body !== 'string') {
    answerJson(r, 400, { error: 'a body is required: {"app": ..., "stream": ..., "seconds": ...}' });
    return;
  }
  const p = parseKickRequest(r.headersIn['Content-Type'] || '', body);
  if (!p.ok) {
    answerJson(r, p.status, { error: p.error });
    return;
  }
  const k = p.kick;
  const file = dir + '/' + kickFile(k.app, k.stream);
  try {
    if (k.seconds === 0) {
      try {
        fs.unlinkSync(file);
      } catch (e) {
        if (String(e).indexOf('ENOENT') < 0) throw e;
      }
    } else {
      // Written whole, then renamed: a publish decided meanwhile reads the old kick or the new one.
      const tmp = dir + '/' + kickTempFile(kickFile(k.app, k.stream), r.variables.request_id || String(now));
      fs.writeFileSync(tmp, formatKick(now + k.seconds * 1000, now, r.remoteAddress));
      fs.renameSync(tmp, file);
    }
  } catch (e) {
    r.error('media-edge kick: cannot write ' + file + ': ' + String(e));
    answerJson(r, 500, { error: 'cannot write the kick to ' + dir + ' (the state directory must be the workers\' own; media-edge install sets it)' });
    return;
  }
  if (k.seconds === 0) {
    ngx.log(ngx.WARN, 'media-edge kick: lifted app=' + k.app + ' stream=' + k.stream + ' by=' + r.remoteAddress);
    answerJson(r, 200, { app: k.app, stream: k.stream, lifted: true });
    return;
  }
  ngx.log(ngx.WARN, 'media-edge kick: app=' + k.app + ' stream=' + k.stream + ' seconds=' + k.seconds + ' by=' + r.remoteAddress);
  // The origins' drop API, where one is set: a publisher of this stream
  // through another edge, or straight to the origin, goes too.
  const urls = loadDropUrls(r.variables.media_edge_rtmp_auth_file || '');
  const origins = await Promise.all(
    urls.map((u) => {
      const url = takeoverUrl(u, k.app, k.stream);
      return ngx.fetch(url).then(
        (res) => ({ url: url, status: res.status }),
        (e: Error) => ({ url: url, error: e && e.message ? e.message : String(e) }),
      );
    }),
  );
  answerJson(r, 200, { app: k.app, stream: k.stream, seconds: k.seconds, until: new Date(now + k.seconds * 1000).toISOString(), origins: origins });
}

/** The origins' drop URLs from the publish-auth file the stream module reads. */
function loadDropUrls(file: string): string[] {
  try {
    const cfg = JSON.parse(fs.readFileSync(file, 'utf8') as string) as { drop_urls?: string[] };
    return cfg.drop_urls || [];
  } catch (e) {
    return [];
  }
}

export default { health, status, metrics, count, route, remember, probe, produce, kick, events };
