/**
 * Entry for ngx_stream_js_module (RTMP ingest). Only what nginx calls.
 *
 * `filter` (js_filter) reads the client's side of an RTMP session until its
 * `publish` command, decides whether the publisher may publish (./publish.ts),
 * forwards the session with the key stripped from every stream name, and
 * then leaves the session to nginx's native relay (s.off). Nothing of the
 * `publish` command reaches the origin before the decision; a refused
 * publisher gets an RTMP onStatus error and the connection closes.
 *
 * Client bytes are held only between message boundaries (a few hundred
 * bytes of commands), and never more than preauth_bytes.
 */
import fs from 'fs';
import { decodeAll, type AmfObject } from './amf0';
import {
  appName,
  authFor,
  callbackBody,
  failureDelay,
  formatOwner,
  isPublishing,
  NAME_COMMANDS,
  parseOwner,
  parseStreamName,
  statusError,
  stripNameQuery,
  takeoverUrl,
  verifyLocal,
  type AuthConfig,
  type Verdict,
} from './publish';
import { atBoundary, chunkSizeOf, feed, newReader, writeMessage, type RtmpMessage } from './rtmp';

/** js_set $media_edge_stream_njs: the njs version serving this session. */
function version(_s: NginxStreamRequest): string {
  return njs.version;
}

interface StreamSession extends NginxStreamRequest {
  sendUpstream(data: Buffer | Uint8Array | string, options?: { last?: boolean; flush?: boolean }): void;
  sendDownstream(data: Buffer | Uint8Array | string, options?: { last?: boolean; flush?: boolean }): void;
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

function joinBytes(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (let i = 0; i < parts.length; i++) {
    out.set(parts[i], o);
    o += parts[i].length;
  }
  return out;
}

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
  const limits = { maxMessage: cfg ? cfg.preauth_bytes : 65536, maxChunkSize: 65536, maxChunkStreams: 16 };
  const up = newReader(limits);
  // The origin's side is trusted more; we only follow its chunk size.
  const down = newReader({ maxMessage: 1 << 24, maxChunkSize: 1 << 24, maxChunkStreams: 64 });
  let held: Uint8Array[] = [];
  let heldLen = 0;
  // The chunk size the origin believes in: what the forwarded bytes set.
  let originChunkSize = 128;
  let batch: RtmpMessage[] = [];
  let state = 'reading'; // reading | deciding | done | refused (answer pending) | answered | closed
  let app = '';
  let tcUrl = '';
  let flashVer = '';
  const dicts = sharedDicts();
  const myId = (s.variables.connection || '0') + '.' + Math.floor(Math.random() * 1e9);

  const record = (decision: string, stream: string, reason: string) => {
    s.variables.media_edge_rtmp_auth = decision;
    s.variables.media_edge_rtmp_stream = app + '/' + stream;
    const line = 'media-edge rtmp: ' + decision + ' app=' + app + ' stream=' + stream + ' client=' + addr + (reason ? ' reason="' + reason + '"' : '');
    ngx.log(decision.indexOf('allow') === 0 ? ngx.INFO : ngx.WARN, line);
  };

  const answerFor = (code: string, reason: string, streamId: number) =>
    up.handshakeLeft === 0 && down.handshakeLeft === 0
      ? writeMessage({ csid: 5, type: 20, streamId: streamId, timestamp: 0, body: statusError(code, reason) }, down.chunkSize)
      : new Uint8Array(0);

  /**
   * End the session now. Only a throw inside one of this session's own
   * callbacks closes it cleanly (from a timer, njs can send but not close,
   * and a throw there leaks the origin-side socket): so this is called from
   * callbacks only, and nginx logs the exception as the reason.
   */
  const closeNow = (reason: string): never => {
    state = 'closed';
    throw new Error('media-edge rtmp: closing session: ' + reason);
  };

  /** Refused while handling client bytes: answer and close at once. */
  const refuseNow = (code: string, reason: string, streamId: number, stream: string): never => {
    if (state !== 'refused' && state !== 'answered' && state !== 'closed') {
      clearTimeout(timer);
      record('deny', stream, reason);
      s.sendDownstream(answerFor(code, reason, streamId));
    }
    return closeNow(reason);
  };

  /**
   * Refused outside a callback (a decision, a deadline): answer after the
   * delay; a well-behaved client then hangs up, and any further byte from
   * either side closes the session (see closeNow). A client that stays
   * silent is closed by nginx's proxy_timeout (rtmp_idle_timeout).
   */
  const refuse = (code: string, reason: string, streamId: number, stream: string) => {
    if (state === 'done' || state === 'refused' || state === 'answered' || state === 'closed') return;
    state = 'refused';
    clearTimeout(timer);
    record('deny', stream, reason);
    let delay = cfg ? cfg.reject_delay_ms : 1000;
    if (dicts && cfg) {
      // Doubles with each recent failure from this address (njs >= 0.8).
      const n = dicts.fail.incr('fail:' + addr, 1, 0);
      delay = failureDelay(n, cfg.reject_delay_ms, cfg.reject_delay_max_ms);
    }
    // Slow down whoever is guessing keys, then answer and close.
    setTimeout(() => {
      state = 'answered';
      s.sendDownstream(answerFor(code, reason, streamId), { last: true });
    }, delay);
  };

  const startedAt = Date.now();

  const timer = setTimeout(() => refuse('NetConnection.Connect.Rejected', 'no publish within the time allowed', 0, '-'), cfg ? cfg.preauth_ms : 10000);

  const release = () => {
    state = 'done';
    clearTimeout(timer);
    s.off('upstream');
    s.off('downstream');
  };

  s.on('downstream', (data: Buffer, flags: NginxStreamCallbackFlags) => {
    // Refused: nothing more passes; once the answer is out, any byte closes
    // (one throw: on njs 0.8.9 callbacks can run again during teardown).
    if (state === 'answered') return closeNow('refused earlier');
    if (state === 'refused' || state === 'closed') return;
    if (!down.error) feed(down, data);
    s.send(data, flags);
  });

  s.on('upstream', (data: Buffer, flags: NginxStreamCallbackFlags) => {
    if (state === 'done') return;
    if (state === 'answered') return closeNow('refused earlier');
    if (state === 'refused' || state === 'closed') return;
    if (!cfg) return refuseNow('NetConnection.Connect.Rejected', 'publish auth configuration unreadable', 0, '-');
    // A client trickling bytes never lets the timer's answer close it: check here too.
    if (state === 'reading' && Date.now() - startedAt > cfg.preauth_ms) return refuseNow('NetConnection.Connect.Rejected', 'no publish within the time allowed', 0, '-');
    const handshakeLeft = up.handshakeLeft;
    const res = feed(up, data);
    if (res.error) return refuseNow('NetConnection.Connect.Rejected', 'malformed RTMP: ' + res.error, 0, '-');
    // The handshake is not ours to judge: pass it on at once.
    // (subarray, not slice: see copyBytes in ./rtmp.ts.)
    const n = Math.min(handshakeLeft, data.length);
    if (n > 0) s.send(data.subarray(0, n), flags);
    if (n < data.length) {
      held.push(data.subarray(n));
      heldLen += data.length - n;
    }
    for (let i = 0; i < res.messages.length; i++) batch.push(res.messages[i]);
    if (heldLen > cfg.preauth_bytes) return refuseNow('NetConnection.Connect.Rejected', 'too much data before publish', 0, '-');
    if (state === 'deciding' || heldLen === 0 || !atBoundary(up)) return;

    // A batch of complete messages: strip keys from names, find publish.
    let out = joinBytes(held, heldLen);
    const bodies: (Uint8Array | null)[] = [];
    let rewritten = false;
    // The command to decide on: publish, or play where playback auth is on.
    let decisive: RtmpMessage | null = null;
    let decisiveName = '';
    let kind: 'publish' | 'play' = 'publish';
    for (let i = 0; i < batch.length; i++) {
      const m = batch[i];
      bodies.push(null);
      if (m.type !== 20) continue;
      const values = decodeAll(m.body);
      if (!Array.isArray(values)) return refuseNow('NetConnection.Connect.Rejected', 'malformed command: ' + (values as { error: string }).error, m.streamId, '-');
      const cmd = values[0];
      if (cmd === 'connect' && values[2] && typeof values[2] === 'object') {
        const o = values[2] as AmfObject;
        app = appName(typeof o.app === 'string' ? o.app : '');
        tcUrl = typeof o.tcUrl === 'string' ? o.tcUrl : '';
        flashVer = typeof o.flashVer === 'string' ? o.flashVer : '';
      }
      if (typeof cmd === 'string' && NAME_COMMANDS.indexOf(cmd) >= 0 && typeof values[3] === 'string') {
        const clean = stripNameQuery(m.body);
        if (clean) {
          bodies[i] = clean;
          rewritten = true;
        }
        if (cmd === 'publish' || (cmd === 'play' && authFor(cfg, app).play)) {
          decisive = m;
          decisiveName = values[3] as string;
          kind = cmd === 'play' ? 'play' : 'publish';
        }
      }
    }
    if (rewritten) {
      // Re-emit the batch as whole messages with full headers: the
      // rewritten ones declare their new length, and the chunk size follows
      // the Set Chunk Size messages in order, as the origin will see them.
      const parts: Uint8Array[] = [];
      let total = 0;
      let size = originChunkSize;
      for (let i = 0; i < batch.length; i++) {
        const m = batch[i];
        const w = writeMessage({ csid: m.csid, type: m.type, streamId: m.streamId, timestamp: m.timestamp, body: bodies[i] || m.body }, size);
        parts.push(w);
        total += w.length;
        if (m.type === 1 && chunkSizeOf(m.body) > 0) size = chunkSizeOf(m.body);
      }
      out = joinBytes(parts, total);
    }
    originChunkSize = up.chunkSize;
    held = [];
    heldLen = 0;
    batch = [];
    if (!decisive) {
      s.send(out, flags);
      return;
    }
    state = 'deciding';
    const streamId = decisive.streamId;
    const name = parseStreamName(decisiveName);
    const auth = authFor(cfg, app);
    const nowS = Math.floor(Date.now() / 1000);
    let verdict: Promise<Verdict>;
    if (auth.mode === 'callback') {
      verdict = /^[A-Za-z0-9_.:-]{1,128}$/.test(name.stream)
        ? decideCallback(auth.url || '', callbackBody(app, name, addr, tcUrl, flashVer, kind), auth.timeout_ms || 3000)
        : Promise.resolve({ ok: false, reason: 'bad stream name' } as Verdict);
    } else {
      verdict = Promise.resolve(verifyLocal(auth, app, name, nowS, cfg.skew_s, kind));
    }
    verdict.then((v) => {
      if (state !== 'deciding') return;
      if (!v.ok) {
        if (kind === 'play') refuse('NetStream.Play.Failed', 'play refused: ' + v.reason, streamId, name.stream);
        else refuse('NetStream.Publish.BadName', 'publish refused: ' + v.reason, streamId, name.stream);
        return;
      }
      const forward = () => {
        record(kind === 'play' ? 'allow-play' : 'allow', name.stream, '');
        // What arrived while we decided follows the command, unchanged.
        const after = joinBytes(held, heldLen);
        s.sendUpstream(out);
        if (after.length) s.sendUpstream(after);
        held = [];
        heldLen = 0;
        release();
      };
      if (kind === 'play') {
        forward();
        return;
      }
      if (cfg.duplicate === 'takeover' && cfg.takeover_urls.length) {
        // Ask every origin to drop the stream's current publisher (a no-op
        // where there is none); its edge session then ends by itself, and the
        // origin is free for this publish.
        const calls: Promise<string>[] = [];
        for (let i = 0; i < cfg.takeover_urls.length; i++) {
          const url = takeoverUrl(cfg.takeover_urls[i], app, name.stream);
          calls.push(ngx.fetch(url).then((r) => String(r.status), (e: Error) => 'failed: ' + (e && e.message ? e.message : String(e))));
        }
        Promise.all(calls).then((results) => {
          ngx.log(ngx.INFO, 'media-edge rtmp: takeover app=' + app + ' stream=' + name.stream + ' origins answered ' + results.join(', '));
          setTimeout(forward, 200);
        });
        return;
      }
      if (!dicts) {
        forward();
        return;
      }
      const key = 'pub:' + app + '/' + name.stream;
      const d = dicts.pub;
      if (cfg.duplicate === 'refuse' && isPublishing(parseOwner(d.get(key)), Date.now(), STALE_MS)) {
        refuse('NetStream.Publish.BadName', 'publish refused: stream already publishing', streamId, name.stream);
        return;
      }
      d.set(key, formatOwner({ id: myId, beat: Date.now() }));
      forward();
      // Heartbeat while the session lives (its timers end with it): the
      // stream counts as published through this edge until it stops.
      const beat = () => {
        const o = parseOwner(d.get(key));
        if (o === null || o.id === myId) d.set(key, formatOwner({ id: myId, beat: Date.now() }));
        setTimeout(beat, BEAT_MS);
      };
      setTimeout(beat, BEAT_MS);
    });
  });
}

export default { version, filter };
