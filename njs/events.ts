/**
 * Publish events (issue 20; README, "Publish events"): publish started
 * (allowed or refused, with the reason), publish ended (duration, bytes in,
 * why), and a heartbeat listing the live publishers, POSTed as JSON to the
 * `events_urls`, signed. Pure logic; Node and njs. njs/http.ts sends.
 *
 * Where they come from: the publish-auth filter appends an `s` line to the
 * RTMP events log when it decides a publish (njs/stream.ts), and nginx
 * appends an `e` line when a session that published ends (stream
 * access_log, in C: written when nginx ends the session, a kick included;
 * a worker killed outright writes none, and the heartbeat then tells). The sender reads the log from where it
 * stopped, as the metrics read theirs (njs/metrics-file.ts readLog), so a
 * receiver that is down or slow never touches a publish: the filter only
 * appends a line.
 *
 * Delivery: at least once, in order, per URL. Each URL has its own queue in
 * the state file; a failure (not 2xx, timeout, refused) stops that URL's
 * queue and retries it after a backoff that doubles from 1 s to 5 min;
 * events older than EVENT_MAX_AGE_MS or beyond MAX_QUEUE are dropped (and
 * counted in the state, logged). Each event has an `id` a receiver can
 * deduplicate on; the heartbeat lets it reconcile what it missed.
 *
 * Field names follow nginx-rtmp's on_publish/on_publish_done (`call`,
 * `app`, `name`, `addr`, `clientid`, `tcurl`) and SRS's HTTP callbacks
 * (`action`: on_publish/on_unpublish, `client_id`, `ip`, `stream`), so a
 * receiver written for either finds its fields
 * (https://github.com/arut/nginx-rtmp-module/wiki/Directives#on_publish,
 * https://ossrs.io/lts/en-us/docs/v5/doc/http-callback).
 */

/** One decided publish, or one ended session, as the log has it. */
export interface LoggedEvent {
  kind: 'start' | 'end';
  /** Milliseconds since the epoch. */
  at: number;
  /** The session's id (the filter's $media_edge_rtmp_id). */
  client: string;
  app: string;
  stream: string;
  addr: string;
  /** start: allowed or refused. */
  allowed: boolean;
  /** start: why refused; end: why it ended. */
  reason: string;
  /** start: the tcUrl the client sent. */
  tcUrl: string;
  /** end: bytes from the client, the session's length, nginx's $status. */
  bytesIn: number;
  seconds: number;
  status: number;
}

/** The sender's state, kept in `<state_dir>/events/state.json`. */
export interface EventsState {
  offset: number;
  ino: number;
  /** When the last heartbeat was queued (ms). */
  beatAt: number;
  urls: { [url: string]: UrlQueue };
  /** Events dropped since the state began (too old, or the queue full). */
  dropped: number;
}

export interface UrlQueue {
  /** Bodies to send, oldest first, with when each was made (ms); `beat`: a heartbeat. */
  queue: { body: string; at: number; beat?: boolean }[];
  /** Failures in a row; the next try is not before `next` (ms). */
  failures: number;
  next: number;
  lastProblem: string;
}

/** What the renderer writes for the sender (events.json, beside the config; mode 0640: it holds the secret). */
export interface EventsConfig {
  urls: string[];
  secret: string;
  heartbeat_ms: number;
  timeout_ms: number;
  /** The sender's tick (js_periodic interval). */
  interval_ms: number;
}

export const MAX_QUEUE = 10000;
export const EVENT_MAX_AGE_MS = 24 * 3600 * 1000;
export const BACKOFF_MAX_MS = 5 * 60 * 1000;

export function newEventsState(): EventsState {
  return { offset: 0, ino: 0, beatAt: 0, urls: {}, dropped: 0 };
}

export function readEventsState(text: string): EventsState {
  const s = newEventsState();
  if (!text) return s;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return s;
  }
  if (!v || typeof v !== 'object') return s;
  const o = v as EventsState;
  if (typeof o.offset === 'number') s.offset = o.offset;
  if (typeof o.ino === 'number') s.ino = o.ino;
  if (typeof o.beatAt === 'number') s.beatAt = o.beatAt;
  if (typeof o.dropped === 'number') s.dropped = o.dropped;
  if (o.urls && typeof o.urls === 'object') s.urls = o.urls;
  return s;
}

/** Delay before the next try after `failures` failures in a row. */
export function backoffMs(failures: number): number {
  return Math.min(BACKOFF_MAX_MS, 1000 * Math.pow(2, Math.max(0, Math.min(failures, 20) - 1)));
}

/** The start line the filter appends (tabs and newlines cannot be in its fields: names are checked before, reasons are ours). */
export function startLine(atMs: number, client: string, app: string, stream: string, addr: string, allowed: boolean, reason: string, tcUrl: string): string {
  return ['s', String(atMs), clean(client), clean(app), clean(stream), clean(addr), allowed ? 'allow' : 'deny', clean(reason), clean(tcUrl)].join('\t') + '\n';
}

function clean(v: string): string {
  // What a client sent (its tcUrl) may hold anything: keep it on one field.
  return v.replace(/[\t\r\n\\]/g, function (c) {
    return c === '\t' ? '\\t' : c === '\r' ? '\\r' : c === '\n' ? '\\n' : '\\\\';
  });
}

/**
 * One line of the events log, or null for one that is not ours. `e` lines
 * are nginx's log_format media_edge_events (media-edge-stream.conf):
 * e, $msec, id, app/stream, $remote_addr, $bytes_received, $session_time,
 * $status, $media_edge_rtmp_end.
 */
export function parseEventLine(line: string): LoggedEvent | null {
  const f = line.split('\t');
  if (f[0] === 's' && f.length === 9) {
    const at = Number(f[1]);
    if (!isFinite(at)) return null;
    return { kind: 'start', at: at, client: f[2], app: f[3], stream: f[4], addr: f[5], allowed: f[6] === 'allow', reason: f[7], tcUrl: f[8], bytesIn: 0, seconds: 0, status: 0 };
  }
  if (f[0] === 'e' && f.length === 9) {
    const at = Math.round(Number(f[1]) * 1000);
    const slash = f[3].indexOf('/');
    if (!isFinite(at) || slash < 0) return null;
    const status = Number(f[7]);
    return {
      kind: 'end',
      at: at,
      client: f[2],
      app: f[3].slice(0, slash),
      stream: f[3].slice(slash + 1),
      addr: f[4],
      allowed: true,
      reason: endReason(f[8], status),
      tcUrl: '',
      bytesIn: Number(f[5]) || 0,
      seconds: Number(f[6]) || 0,
      status: status,
    };
  }
  return null;
}

/**
 * Why a session ended: what the filter knew (kicked), else nginx's $status
 * for the session (https://nginx.org/en/docs/stream/ngx_stream_core_module.html#var_status).
 */
export function endReason(filterSaid: string, status: number): string {
  if (filterSaid && filterSaid !== '-') return filterSaid;
  if (status === 200) return 'closed';
  if (status === 502) return 'origin unreachable';
  if (status === 500) return 'error';
  return 'status ' + status;
}

/**
 * The JSON body of one event; `edge` names this edge ($hostname). (njs
 * 0.7.9 writes the keys of an object this large in an order of its own:
 * the same JSON, another text; the signature is over the text sent.)
 */
export function eventBody(e: LoggedEvent, edge: string): string {
  const id = e.client + (e.kind === 'start' ? ':start:' : ':end:') + e.app + '/' + e.stream;
  const time = new Date(e.at).toISOString();
  const ts = Math.floor(e.at / 1000);
  if (e.kind === 'start') {
    return JSON.stringify({
      id: id, action: 'on_publish', call: 'publish', time: time, timestamp: ts, edge: edge,
      app: e.app, name: e.stream, stream: e.stream, addr: e.addr, ip: e.addr, clientid: e.client, client_id: e.client,
      allowed: e.allowed, reason: e.allowed ? '' : e.reason, tcurl: e.tcUrl,
    });
  }
  return JSON.stringify({
    id: id, action: 'on_unpublish', call: 'publish_done', time: time, timestamp: ts, edge: edge,
    app: e.app, name: e.stream, stream: e.stream, addr: e.addr, ip: e.addr, clientid: e.client, client_id: e.client,
    duration_s: e.seconds, bytes_in: e.bytesIn, reason: e.reason,
  });
}

/** The heartbeat: every live publisher of this edge, so a receiver can reconcile what it missed. */
export function heartbeatBody(live: { id: string; app: string; stream: string; since: number; addr: string }[], edge: string, nowMs: number): string {
  const list: { [k: string]: unknown }[] = [];
  for (let i = 0; i < live.length; i++) {
    const p = live[i];
    list.push({ app: p.app, name: p.stream, stream: p.stream, clientid: p.id, client_id: p.id, addr: p.addr, ip: p.addr, since: p.since ? new Date(p.since).toISOString() : '', duration_s: p.since ? Math.max(0, Math.round((nowMs - p.since) / 1000)) : 0 });
  }
  return JSON.stringify({ id: 'heartbeat:' + edge + ':' + nowMs, action: 'heartbeat', call: 'heartbeat', time: new Date(nowMs).toISOString(), timestamp: Math.floor(nowMs / 1000), edge: edge, publishers: list });
}

/**
 * Queue `body` for every URL, dropping what is too old or too many (the
 * oldest first); answers how many were dropped. A heartbeat replaces one
 * still waiting: only the newest says what is live.
 */
export function enqueue(state: EventsState, urls: string[], body: string, nowMs: number, beat?: boolean): number {
  let dropped = 0;
  for (let i = 0; i < urls.length; i++) {
    const u = urls[i];
    if (!Object.prototype.hasOwnProperty.call(state.urls, u)) state.urls[u] = { queue: [], failures: 0, next: 0, lastProblem: '' };
    let q = state.urls[u].queue;
    if (beat) {
      q = q.filter((x) => !x.beat);
      state.urls[u].queue = q;
    }
    q.push(beat ? { body: body, at: nowMs, beat: true } : { body: body, at: nowMs });
    while (q.length > MAX_QUEUE) {
      q.shift();
      dropped++;
    }
  }
  state.dropped += dropped;
  return dropped + expire(state, nowMs);
}

/**
 * Drop, from the head of every queue, what is older than EVENT_MAX_AGE_MS;
 * answers how many. The sender runs it every tick before sending, not only
 * when something is queued: else a tick with nothing new would still send
 * what is past its age.
 */
export function expire(state: EventsState, nowMs: number): number {
  let dropped = 0;
  const urls = Object.keys(state.urls);
  for (let i = 0; i < urls.length; i++) {
    const q = state.urls[urls[i]].queue;
    while (q.length && nowMs - q[0].at > EVENT_MAX_AGE_MS) {
      q.shift();
      dropped++;
    }
  }
  state.dropped += dropped;
  return dropped;
}

/** Forget URLs no longer configured (their queues go with them). */
export function keepUrls(state: EventsState, urls: string[]): void {
  const have = Object.keys(state.urls);
  for (let i = 0; i < have.length; i++) if (urls.indexOf(have[i]) < 0) delete state.urls[have[i]];
}

/** After a try of the head of `url`'s queue. */
export function delivered(state: EventsState, url: string, ok: boolean, error: string, nowMs: number): void {
  const u = state.urls[url];
  if (!u) return;
  if (ok) {
    u.queue.shift();
    u.failures = 0;
    u.next = 0;
    u.lastProblem = '';
    return;
  }
  u.failures++;
  u.next = nowMs + backoffMs(u.failures);
  u.lastProblem = error;
}

/** Turn what the log gained into queued bodies; answers how much of `text` was used (whole lines). */
export function consumeEvents(state: EventsState, text: string, urls: string[], edge: string, nowMs: number): number {
  let used = 0;
  for (;;) {
    const nl = text.indexOf('\n', used);
    if (nl < 0) break;
    const e = parseEventLine(text.slice(used, nl));
    used = nl + 1;
    if (e) enqueue(state, urls, eventBody(e, edge), nowMs);
  }
  return used;
}
