/**
 * Publish authorization (pure logic; Node and njs): who may publish which
 * stream, and what the origin is told. Errors and refusals are values.
 *
 * Stream keys arrive in the publish name, `{stream}?{query}` (what OBS and
 * ffmpeg send for `rtmp://edge/{app}/{stream}?{query}`). Three sources, per
 * application:
 *   hmac      `?exp={unix}&sig={base64url}` [&kid={n}]: sig is
 *             HMAC-SHA256(secret, "publish:{app}/{stream}:{exp}"); two
 *             secrets may be active so that rotation drops nobody.
 *   keys      `?key={secret}`: a file lists `{app}/{stream} {sha256 hex of key}`.
 *   callback  POST to an auth service with nginx-rtmp's on_publish form
 *             (call=publish&app=..&name=..&addr=..&tcurl=.. + the query):
 *             2xx allows, anything else or a timeout refuses.
 */
import { constantTimeEqual, hmacB64url, sha256Hex } from './sign';
import { encodeAll, type AmfObject } from './amf0';

export interface AppAuth {
  mode: 'hmac' | 'keys' | 'callback' | 'allow' | 'deny';
  /** Check `play` commands too (playback over RTMP), with the same mode. */
  play?: boolean;
  secrets?: string[];
  /** Key list contents (the renderer inlines the file). */
  keys?: { [stream: string]: string };
  url?: string;
  timeout_ms?: number;
}

export interface AuthConfig {
  apps: { [app: string]: AppAuth };
  skew_s: number;
  preauth_bytes: number;
  preauth_ms: number;
  reject_delay_ms: number;
  /** Cap of the doubling refusal delay (njs >= 0.8). */
  reject_delay_max_ms: number;
  /** A second publisher of a stream: "origin", "refuse" (njs >= 0.8) or "takeover". */
  duplicate: string;
  /** Per origin, the URL that drops a publisher ({app}, {stream} to fill): takeovers and kicks. */
  drop_urls: string[];
  /** "session": read the whole session; "decision": step aside after the first allowed publish or play. */
  inspect?: string;
}

export interface StreamName {
  stream: string;
  query: string;
  params: { [k: string]: string };
}

/** Split `cam1?exp=1&sig=x` into the stream and its parameters (first value wins). */
export function parseStreamName(raw: string): StreamName {
  const q = raw.indexOf('?');
  const stream = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? '' : raw.slice(q + 1);
  const params: { [k: string]: string } = {};
  const parts = query === '' ? [] : query.split('&');
  for (let i = 0; i < parts.length; i++) {
    const eq = parts[i].indexOf('=');
    const rawV = eq < 0 ? '' : parts[i].slice(eq + 1);
    const k = safeDecode(eq < 0 ? parts[i] : parts[i].slice(0, eq));
    // An undecodable value is kept raw: the checks then call it malformed.
    const dv = safeDecode(rawV);
    const v = dv === null ? rawV : dv;
    if (k !== null && !Object.prototype.hasOwnProperty.call(params, k)) {
      Object.defineProperty(params, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }
  return { stream: stream, query: query, params: params };
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch (e) {
    return null;
  }
}

/**
 * The rule for an application, and the name keys are signed with: the
 * configured name, matched without regard to case (an origin may route
 * `LIVE` to `live`: Wowza on a case-insensitive file system does), else
 * `"*"`, else deny.
 */
export function appRule(cfg: AuthConfig, app: string): { app: string; auth: AppAuth } {
  const own = Object.prototype.hasOwnProperty;
  if (own.call(cfg.apps, app)) return { app: app, auth: cfg.apps[app] };
  const lower = app.toLowerCase();
  const names = Object.keys(cfg.apps);
  for (let i = 0; i < names.length; i++) {
    if (names[i] !== '*' && names[i].toLowerCase() === lower) return { app: names[i], auth: cfg.apps[names[i]] };
  }
  return own.call(cfg.apps, '*') ? { app: app, auth: cfg.apps['*'] } : { app: app, auth: { mode: 'deny' } };
}

/** The hmac signature of a key; `kind` binds it to publishing or playing. */
export function signPublish(secret: string, app: string, stream: string, exp: number, kind?: 'publish' | 'play'): string {
  return hmacB64url(secret, (kind || 'publish') + ':' + app + '/' + stream + ':' + exp);
}

export type Verdict = { ok: true } | { ok: false; reason: string };

/** hmac and keys decisions (the callback is I/O and lives in the entry). */
export function verifyLocal(auth: AppAuth, app: string, name: StreamName, nowS: number, skewS: number, kind?: 'publish' | 'play'): Verdict {
  if (auth.mode === 'allow') return { ok: true };
  if (auth.mode === 'deny') return { ok: false, reason: 'application not allowed' };
  if (name.stream === '' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(name.stream)) return { ok: false, reason: 'bad stream name' };
  if (auth.mode === 'keys') {
    const key = name.params.key;
    if (!key) return { ok: false, reason: 'missing key' };
    const want = auth.keys ? auth.keys[app + '/' + name.stream] : undefined;
    if (want === undefined || !Object.prototype.hasOwnProperty.call(auth.keys, app + '/' + name.stream)) return { ok: false, reason: 'unknown stream' };
    return constantTimeEqual(sha256Hex(key), want) ? { ok: true } : { ok: false, reason: 'wrong key' };
  }
  if (auth.mode === 'hmac') {
    const exp = name.params.exp;
    const sig = name.params.sig;
    if (exp === undefined || sig === undefined) return { ok: false, reason: 'missing key' };
    if (!/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) return { ok: false, reason: 'malformed key' };
    if (Number(exp) + skewS < nowS) return { ok: false, reason: 'expired key' };
    const secrets = auth.secrets || [];
    const kid = name.params.kid;
    let match = false;
    for (let i = 0; i < secrets.length; i++) {
      if (kid !== undefined && kid !== String(i + 1)) continue;
      // Every candidate is checked, match or not: no early exit.
      if (constantTimeEqual(signPublish(secrets[i], app, name.stream, Number(exp), kind), sig)) match = true;
    }
    return match ? { ok: true } : { ok: false, reason: kid !== undefined && !/^[12]$/.test(kid) ? 'unknown key id' : 'bad signature' };
  }
  return { ok: false, reason: 'callback' };
}

/** nginx-rtmp's on_publish form body, plus the client's query, for existing auth services. */
export function callbackBody(app: string, name: StreamName, addr: string, tcUrl: string, flashVer: string, kind?: 'publish' | 'play'): string {
  const e = encodeURIComponent;
  let body = 'call=' + (kind || 'publish') + '&addr=' + e(addr) + '&clientid=0&app=' + e(app) + '&flashver=' + e(flashVer) +
    '&swfurl=&tcurl=' + e(tcUrl) + '&pageurl=&name=' + e(name.stream) + (kind === 'play' ? '' : '&type=live');
  if (name.query) body += '&' + name.query;
  return body;
}

/** An RTMP onStatus error for the client: what ffmpeg and OBS show to the user. */
export function statusError(code: string, description: string): Uint8Array {
  const info: AmfObject = { level: 'error', code: code, description: description };
  return encodeAll(['onStatus', 0, null, info]);
}

/**
 * Delay before answering a refused publisher: doubles with each recent
 * failure from the same address (`failures` counts this one), capped.
 */
export function failureDelay(failures: number, baseMs: number, maxMs: number): number {
  const n = Math.max(1, Math.min(failures, 16));
  return Math.min(maxMs, baseMs * Math.pow(2, n - 1));
}

/** Who publishes a stream now: owner id and the time of its last heartbeat. */
export interface Owner {
  id: string;
  beat: number;
}

export function parseOwner(v: string | undefined): Owner | null {
  if (!v) return null;
  const bar = v.lastIndexOf('|');
  if (bar <= 0) return null;
  const beat = Number(v.slice(bar + 1));
  return isFinite(beat) ? { id: v.slice(0, bar), beat: beat } : null;
}

export function formatOwner(o: Owner): string {
  return o.id + '|' + o.beat;
}

/** A takeover URL for one stream: {app} and {stream}, URI-encoded. */
export function takeoverUrl(template: string, app: string, stream: string): string {
  return template.split('{app}').join(encodeURIComponent(app)).split('{stream}').join(encodeURIComponent(stream));
}

/**
 * Whether a stream is live through this edge: it has an owner whose
 * heartbeat is at most `staleMs` old (heartbeats end with the session).
 */
export function isPublishing(owner: Owner | null, nowMs: number, staleMs: number): boolean {
  return owner !== null && nowMs - owner.beat <= staleMs;
}
