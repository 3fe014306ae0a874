/**
 * Entry for ngx_stream_js_module (RTMP ingest). Only what nginx calls.
 *
 * `filter` (js_filter) reads the client's side of every RTMP session for as
 * long as it lasts (./rtmp-session.ts says what it reads and why): every
 * publish and play, of any spelling and at any time, is decided here
 * (./publish.ts) before any byte after it reaches the origin, and keys are
 * cut out of stream names. A refused client gets an RTMP onStatus error and
 * the session is closed.
 *
 * Closing: njs ends a session cleanly only when one of its own callbacks
 * throws (from a timer it can send but not close, and a throw there leaks
 * the origin's socket). A refusal answered after a delay therefore sends the
 * origin a ping request (RTMP 1.0, 6.2 and 7.1.7): its ping response runs
 * the downstream callback, which closes the session, whatever the client's
 * RTMP library does with the error (librtmp ignores
 * NetStream.Publish.BadName and would wait).
 */
import fs from 'fs';
import {
  appRule,
  callbackBody,
  failureDelay,
  formatOwner,
  isPublishing,
  parseOwner,
  parseStreamName,
  statusError,
  takeoverUrl,
  verifyLocal,
  type AuthConfig,
  type Verdict,
} from './publish';
import { PUBLISHER_BEAT_MS } from './metrics-file';
import { kickFile, kickLeft } from './kick';
import { startLine } from './events';
import { writeMessage } from './rtmp';
import { atChunkBoundary, feedClient, feedOrigin, freeCsid, newFraming, newSession, originBoundary, resume, type Ask, type Refusal, type Step } from './rtmp-session';

/** js_set $media_edge_stream_njs: the njs version serving this session. */
function version(_s: NginxStreamRequest): string {
  return njs.version;
}

/**
 * The options argument is required here on purpose: njs 1.0's QuickJS
 * binding declares sendUpstream/sendDownstream with one argument but reads
 * the second, so a call with one argument reads past the arguments and
 * crashes the worker (SIGSEGV in JS_GetPropertyStr; checked on njs 1.0.2,
 * still so in njs's main branch: nginx/ngx_stream_js_module.c,
 * `JS_CFUNC_MAGIC_DEF("sendUpstream", 1, ...)` and `argv[1]` in
 * ngx_stream_qjs_ext_send).
 */
interface SendOptions {
  last?: boolean;
  flush?: boolean;
}
const NO_OPTIONS: SendOptions = {};

interface StreamSession extends NginxStreamRequest {
  sendUpstream(data: Buffer | Uint8Array | string, options: SendOptions): void;
  sendDownstream(data: Buffer | Uint8Array | string, options: SendOptions): void;
}

/**
 * State shared by all sessions, where njs has it (0.8.0+) and the config
 * declares it: who publishes which stream, and recent failures per address.
 */
function sharedDicts(): { pub: NgxSharedDict<string>; fail: NgxSharedDict<number> } | null {
  const shared = (ngx as unknown as { shared?: { [name: string]: NgxSharedDict<string | number> } }).shared;
  if (!shared || !shared.media_edge_rtmp_pub || !shared.media_edge_rtmp_fail) return null;
  return { pub: shared.media_edge_rtmp_pub as NgxSharedDict<string>, fail: shared.media_edge_rtmp_fail as NgxSharedDict<number> };
}

/** A publisher whose heartbeat is older than this is gone. */
const STALE_MS = 3000;
const BEAT_MS = 500;

function loadAuth(s: NginxStreamRequest): AuthConfig | null {
  try {
    return JSON.parse(fs.readFileSync(s.variables.media_edge_rtmp_auth_file || '', 'utf8') as string) as AuthConfig;
  } catch (e) {
    return null;
  }
}

/** Most client bytes held while a publish is decided on a live session (its media keeps coming). */
const LIVE_HELD_BYTES = 8 << 20;

function joinBytes(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let total = 0;
  for (let i = 0; i < parts.length; i++) total += parts[i].length;
  const out = new Uint8Array(total);
  let o = 0;
  for (let i = 0; i < parts.length; i++) {
    out.set(parts[i], o);
    o += parts[i].length;
  }
  return out;
}

/** A User Control Ping Request (RTMP 1.0, 7.1.7): every RTMP server answers it. */
const PING_REQUEST = writeMessage({ csid: 2, type: 4, streamId: 0, timestamp: 0, body: new Uint8Array([0, 6, 0, 0, 0, 0]) }, 128);

function decideCallback(url: string, body: string, timeoutMs: number): Promise<Verdict> {
  const call = ngx.fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: body }).then(
    (res): Verdict => (res.status >= 200 && res.status < 300 ? { ok: true } : { ok: false, reason: 'auth service answered ' + res.status }),
    (e: Error): Verdict => ({ ok: false, reason: 'auth service unreachable: ' + (e && e.message ? e.message : String(e)) }),
  );
  const timeout = new Promise<Verdict>((resolve) => setTimeout(() => resolve({ ok: false, reason: 'auth service timed out' }), timeoutMs));
  return Promise.race([call, timeout]);
}

function filter(session: NginxStreamRequest): void {
  const s = session as StreamSession;
  const cfg = loadAuth(s);
  const addr = s.remoteAddress;
  const sess = newSession({ preauthBytes: cfg ? cfg.preauth_bytes : 65536, liveHeldBytes: LIVE_HELD_BYTES });
  // The origin's side: followed for its chunk size and chunk boundaries only.
  const down = newFraming(false);
  // open | refused (answer after the delay) | answering (waits for an origin chunk boundary) | answered | closed | released
  let state = 'open';
  let answer: Uint8Array | null = null;
  // A publish was allowed in this session; the origin's side is followed no more.
  let published = false;
  let downOff = false;
  const dicts = sharedDicts();
  const myId = (s.variables.connection || '0') + '.' + Math.floor(Math.random() * 1e9);

  const record = (decision: string, stream: string, reason: string) => {
    s.variables.media_edge_rtmp_auth = decision;
    s.variables.media_edge_rtmp_stream = sess.app + '/' + stream;
    s.variables.media_edge_rtmp_reason = reason || '-';
    s.variables.media_edge_rtmp_id = myId;
    const line = 'media-edge rtmp: ' + decision + ' app=' + sess.app + ' stream=' + stream + ' client=' + addr + (reason ? ' reason="' + reason + '"' : '');
    ngx.log(decision.indexOf('allow') === 0 ? ngx.INFO : ngx.WARN, line);
  };

  /**
   * Publish events (njs/events.ts): a line per decided publish in the
   * events log; nginx adds the end. Only an append: a receiver that is down
   * or slow never touches the session. tcUrl of the last ask.
   */
  const eventsLog = s.variables.media_edge_events_log || '';
  let lastTcUrl = '';
  const publishEvent = (allowed: boolean, stream: string, reason: string) => {
    if (!eventsLog) return;
    try {
      fs.appendFileSync(eventsLog, startLine(Date.now(), myId, sess.app, stream, addr, allowed, reason, lastTcUrl));
    } catch (e) {
      ngx.log(ngx.ERR, 'media-edge rtmp: cannot append to ' + eventsLog + ': ' + String(e));
    }
  };

  const answerFor = (r: Refusal) =>
    sess.f.handshakeLeft === 0 && down.handshakeLeft === 0
      ? writeMessage({ csid: freeCsid(down), type: 20, streamId: r.streamId, timestamp: 0, body: statusError(r.code, r.reason) }, down.chunkSize)
      : new Uint8Array(0);

  /** End the session now; only from one of this session's callbacks (see the top). */
  const closeNow = (reason: string): never => {
    state = 'closed';
    throw new Error('media-edge rtmp: closing session: ' + reason);
  };

  /** Malformed input, inside a callback: answer where the origin's stream allows it, and close at once. */
  const refuseNow = (r: Refusal): never => {
    if (state === 'open') {
      stopTimer();
      record('deny', r.stream, r.reason);
      if (r.code === 'NetStream.Publish.BadName') publishEvent(false, r.stream, r.reason);
      if (atChunkBoundary(down) && !downOff) s.sendDownstream(answerFor(r), NO_OPTIONS);
    }
    return closeNow(r.reason);
  };

  /**
   * A refused publish or play (or a deadline): answer after the delay, which
   * slows down whoever guesses keys, then close (see the top).
   */
  const refuse = (r: Refusal) => {
    if (state !== 'open') return;
    record('deny', r.stream, r.reason);
    if (r.code === 'NetStream.Publish.BadName') publishEvent(false, r.stream, r.reason);
    let delay = cfg ? cfg.reject_delay_ms : 1000;
    if (dicts && cfg) {
      // Doubles with each recent failure from this address (njs >= 0.8).
      const n = dicts.fail.incr('fail:' + addr, 1, 0);
      delay = failureDelay(n, cfg.reject_delay_ms, cfg.reject_delay_max_ms);
    }
    endSession(r, delay);
  };

  /**
   * Nothing more of the client's reaches the origin; after `delay` the
   * client is told why, and the origin's answer to a ping closes (see the top).
   */
  const endSession = (r: Refusal, delay: number) => {
    if (state !== 'open') return;
    state = 'refused';
    stopTimer();
    setTimeout(() => {
      if (state !== 'refused') return;
      if (downOff) {
        // Nowhere to put an answer safely: the client's next byte closes.
        state = 'answered';
        return;
      }
      answer = answerFor(r);
      if (atChunkBoundary(down)) {
        state = 'answered';
        s.sendDownstream(answer, { last: true });
      } else {
        state = 'answering';
      }
      // The origin's ping response runs the downstream callback, which closes.
      s.sendUpstream(PING_REQUEST, NO_OPTIONS);
    }, delay);
  };

  const startedAt = Date.now();
  // Cleared once: njs 0.8.9 throws "failed to find timer" on a second clearTimeout.
  let timerOn = true;
  const stopTimer = () => {
    if (timerOn) clearTimeout(timer);
    timerOn = false;
  };
  const timer = setTimeout(() => {
    timerOn = false;
    refuse({ code: 'NetConnection.Connect.Rejected', reason: 'no publish within the time allowed', streamId: 0, stream: '-' });
  }, cfg ? cfg.preauth_ms : 10000);

  /** Admit an allowed publish: one publisher per stream where set, else take the stream over. */
  const admit = (app: string, stream: string): Verdict | Promise<Verdict> => {
    if (!cfg) return { ok: false, reason: 'publish auth configuration unreadable' };
    if (cfg.duplicate === 'takeover' && cfg.drop_urls.length) {
      // Ask every origin to drop the stream's current publisher (a no-op
      // where there is none); its edge session then ends by itself, and the
      // origin is free for this publish.
      const calls: Promise<string>[] = [];
      for (let i = 0; i < cfg.drop_urls.length; i++) {
        const url = takeoverUrl(cfg.drop_urls[i], app, stream);
        calls.push(ngx.fetch(url).then((r) => String(r.status), (e: Error) => 'failed: ' + (e && e.message ? e.message : String(e))));
      }
      return Promise.all(calls).then((results) => {
        ngx.log(ngx.INFO, 'media-edge rtmp: takeover app=' + app + ' stream=' + stream + ' origins answered ' + results.join(', '));
        return new Promise<Verdict>((res) => setTimeout(() => res({ ok: true }), 200));
      });
    }
    if (!dicts) return { ok: true };
    const key = 'pub:' + app + '/' + stream;
    const d = dicts.pub;
    const owner = parseOwner(d.get(key));
    if (cfg.duplicate === 'refuse' && owner !== null && owner.id !== myId && isPublishing(owner, Date.now(), STALE_MS)) return { ok: false, reason: 'stream already publishing' };
    d.set(key, formatOwner({ id: myId, beat: Date.now() }));
    // Heartbeat while the session lives (its timers end with it): the
    // stream counts as published through this edge until it stops.
    const beat = () => {
      const o = parseOwner(d.get(key));
      if (o === null || o.id === myId) d.set(key, formatOwner({ id: myId, beat: Date.now() }));
      setTimeout(beat, BEAT_MS);
    };
    setTimeout(beat, BEAT_MS);
    return { ok: true };
  };

  /**
   * Kicks (njs/kick.ts; POST /media-edge/kick): a kicked stream's publish is
   * refused while the kick holds, and a session that publishes it ends
   * within a second of the kick (below). Only while this filter reads the
   * session: after `rtmp_inspect "decision"` steps aside, the origins' drop
   * API ends it.
   */
  const kicksDir = s.variables.media_edge_kicks_dir || '';
  const kickedFor = (app: string, stream: string): number => {
    if (!kicksDir) return 0;
    let text: string | null = null;
    try {
      text = fs.readFileSync(kicksDir + '/' + kickFile(app, stream), 'utf8') as string;
    } catch (e) {
      text = null; // no kick
    }
    return kickLeft(text, Date.now());
  };

  /**
   * Once a publish is allowed, one timer a second (its timers end with the
   * session) does what a publishing session does by the clock:
   * - metrics: a file named by this session's id says which stream it
   *   publishes (its first publish), rewritten each time; GET /metrics
   *   counts the fresh ones (njs/metrics-file.ts). In a directory that is
   *   not ours: no count, nothing else lost;
   * - kicks, while this filter reads the session: each stream it publishes
   *   is looked up, and a kicked one ends the session.
   */
  const publishersDir = s.variables.media_edge_metrics_publishers || '';
  let announced = false;
  let announce = '';
  const watched: { app: string; stream: string; streamId: number }[] = [];
  let ticking = false;
  const writeAnnounce = () => {
    try {
      fs.writeFileSync(publishersDir + '/' + myId, announce);
    } catch (e) {
      announce = '';
    }
  };
  const everySecond = () => {
    if (announce) writeAnnounce();
    for (let i = 0; state === 'open' && i < watched.length; i++) {
      const w = watched[i];
      if (kickedFor(w.app, w.stream) > 0) {
        s.variables.media_edge_rtmp_end = 'kicked';
        ngx.log(ngx.WARN, 'media-edge rtmp: kicked app=' + w.app + ' stream=' + w.stream + ' client=' + addr);
        endSession({ code: 'NetConnection.Connect.Closed', reason: 'kicked by the operator', streamId: w.streamId, stream: w.stream }, 0);
      }
    }
    if (announce || (state === 'open' && watched.length)) setTimeout(everySecond, PUBLISHER_BEAT_MS);
    else ticking = false;
  };
  const onPublished = (app: string, stream: string, streamId: number) => {
    if (publishersDir && !announced) {
      announce = app + '\t' + stream + '\t' + Date.now() + '\t' + addr + '\n';
      writeAnnounce();
    }
    announced = true;
    if (kicksDir) watched.push({ app: app, stream: stream, streamId: streamId });
    if (!ticking && (announce || watched.length)) {
      ticking = true;
      setTimeout(everySecond, PUBLISHER_BEAT_MS);
    }
  };

  /** Decide one publish or play: the application's rule, then admission. */
  const decide = (ask: Ask): Verdict | Promise<Verdict> => {
    if (!cfg) return { ok: false, reason: 'publish auth configuration unreadable' };
    const rule = appRule(cfg, ask.app);
    const auth = rule.auth;
    const kind = ask.kind;
    const name = parseStreamName(ask.name);
    lastTcUrl = ask.tcUrl;
    if (kind === 'publish') {
      const left = kickedFor(sess.app, name.stream);
      if (left > 0) return { ok: false, reason: 'stream kicked: refused for ' + Math.ceil(left / 1000) + ' more seconds' };
    }
    // Playback without "play": true is not checked: it lasts as long as the viewer wants.
    if (kind === 'play' && !auth.play) return { ok: true };
    const done = (v: Verdict): Verdict | Promise<Verdict> => {
      if (!v.ok) return v;
      const admitted = kind === 'publish' ? admit(rule.app, name.stream) : v;
      const log = (a: Verdict) => {
        if (a.ok) record(kind === 'play' ? 'allow-play' : 'allow', name.stream, '');
        if (a.ok && kind === 'publish') {
          published = true;
          if (eventsLog) s.variables.media_edge_rtmp_published = sess.app + '/' + name.stream;
          publishEvent(true, name.stream, '');
          onPublished(sess.app, name.stream, ask.streamId);
        }
        return a;
      };
      return admitted instanceof Promise ? admitted.then(log) : log(admitted);
    };
    if (auth.mode === 'callback') {
      if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(name.stream)) return { ok: false, reason: 'bad stream name' };
      return decideCallback(auth.url || '', callbackBody(rule.app, name, addr, ask.tcUrl, ask.flashVer, kind), auth.timeout_ms || 3000).then(done);
    }
    return done(verifyLocal(auth, rule.app, name, Math.floor(Date.now() / 1000), cfg.skew_s, kind));
  };

  /**
   * Carry out a step of the session: forward, decide (synchronous verdicts
   * at once, in this callback), refuse. `flags` is set inside the upstream
   * callback, null after an asynchronous decision.
   */
  const apply = (first: Step, flags: NginxStreamCallbackFlags | null) => {
    let st = first;
    const out: Uint8Array[] = [];
    for (;;) {
      for (let i = 0; i < st.out.length; i++) out.push(st.out[i]);
      if (st.refuse || !st.ask) break;
      const v = decide(st.ask);
      if (v instanceof Promise) {
        v.then((r) => {
          if (state !== 'open') return;
          let next: Step;
          try {
            next = resume(sess, r.ok, r.ok ? '' : (r as { reason: string }).reason);
          } catch (e) {
            // An exception in a promise callback takes the nginx worker down
            // on njs 0.7.9: never let one out; refuse instead.
            next = { out: [], ask: null, refuse: { code: 'NetConnection.Connect.Rejected', reason: 'internal error: ' + String(e), streamId: 0, stream: '-' } };
          }
          try {
            apply(next, null);
          } catch (e) {
            ngx.log(ngx.ERR, 'media-edge rtmp: ' + String(e));
          }
        });
        break;
      }
      st = resume(sess, v.ok, v.ok ? '' : (v as { reason: string }).reason);
    }
    if (sess.live) stopTimer();
    if (out.length) {
      if (flags) s.send(joinBytes(out), flags);
      else s.sendUpstream(joinBytes(out), NO_OPTIONS);
    }
    if (sess.live && !st.refuse && !st.ask && cfg && cfg.inspect === 'decision') {
      // rtmp_inspect "decision": nginx relays the rest natively. The framing
      // was never changed, so stepping aside mid-chunk is safe; later
      // commands are the origin's to check.
      state = 'released';
      s.off('upstream');
      s.off('downstream');
    }
    if (sess.live && !published && !downOff && state === 'open' && !st.refuse && !st.ask) {
      // A play session: the media comes from the origin, and njs keeps a copy
      // of every byte a callback sees until the session ends (README, RTMP
      // publish auth, Memory). The client's side is all that needs reading.
      downOff = true;
      s.off('downstream');
    }
    if (st.refuse) {
      const r = st.refuse;
      // A decision is answered after the delay; malformed input at once (and
      // anything, once the origin's side is no longer followed).
      if ((r.code.indexOf('NetStream.') === 0 && !(downOff && flags)) || !flags) refuse(r);
      else refuseNow(r);
    }
  };

  s.on('downstream', (data: Buffer, flags: NginxStreamCallbackFlags) => {
    // Once the answer is out, any byte from the origin closes (one throw: on
    // njs 0.8.9 callbacks can run again during teardown).
    if (state === 'answered') return closeNow('refused earlier');
    if (state === 'closed') return;
    if (state === 'answering' && answer) {
      const b = originBoundary(down, data);
      if (b < 0) {
        s.send(data, flags);
        return;
      }
      state = 'answered';
      s.send(b > 0 ? joinBytes([data.subarray(0, b), answer]) : answer, flags);
      return closeNow('refused earlier');
    }
    feedOrigin(down, data);
    s.send(data, flags);
  });

  s.on('upstream', (data: Buffer, flags: NginxStreamCallbackFlags) => {
    if (state === 'answered' || state === 'answering') return closeNow('refused earlier');
    if (state !== 'open') return;
    if (!cfg) return refuseNow({ code: 'NetConnection.Connect.Rejected', reason: 'publish auth configuration unreadable', streamId: 0, stream: '-' });
    // A client trickling bytes never lets the timer's answer close it: check here too.
    if (!sess.live && Date.now() - startedAt > cfg.preauth_ms) return refuseNow({ code: 'NetConnection.Connect.Rejected', reason: 'no publish within the time allowed', streamId: 0, stream: '-' });
    apply(feedClient(sess, data), flags);
  });
}

export default { version, filter };
