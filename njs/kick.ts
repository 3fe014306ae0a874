/**
 * Kicks (issue 20): an operator drops a publisher and keeps the stream out
 * for a while, so that the encoder's auto-reconnect is refused at the edge
 * (a kick that does not stick is the common complaint:
 * https://github.com/arut/nginx-rtmp-module/issues/559). Pure logic; Node
 * and njs.
 *
 * State: one file per kicked stream in `<state_dir>/kicks/`, named by
 * kickFile(), holding formatKick()'s line. Files, not a shared dictionary:
 * every njs has them (0.7.9 included), every worker and the stream module
 * read them, and a reload or restart keeps them. One file per stream, so two
 * kicks at once never overwrite each other's streams.
 *
 * Names compare without case: nginx-rtmp compares application names
 * case-sensitively, but an origin that does not (Wowza on a case-insensitive
 * file system, say) would let `CAM1` back in after `cam1` was kicked. The
 * strict reading refuses both.
 */

/** Longest kick: 30 days. */
export const KICK_MAX_S = 30 * 24 * 3600;
/** A kick without `seconds`. */
export const KICK_DEFAULT_S = 600;

/** What a name may be: what the publish checks accept (njs/publish.ts), and the application's own characters. */
const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

export interface KickRequest {
  app: string;
  stream: string;
  /** 0 lifts a kick. */
  seconds: number;
}

export type KickParse = { ok: true; kick: KickRequest } | { ok: false; status: number; error: string };

/** The file of a stream's kick, inside the kicks directory. */
export function kickFile(app: string, stream: string): string {
  return encodeURIComponent(app.toLowerCase() + '/' + stream.toLowerCase());
}

/**
 * A name for the file a kick is written to before it is renamed into
 * place: `~` is in no kick file's name (kickFile), so kickName skips it.
 */
export function kickTempFile(file: string, unique: string): string {
  return '~' + unique.replace(/[^A-Za-z0-9]/g, '') + '~' + file;
}

/** The stream a kick file names, or null for a file that is not one. */
export function kickName(file: string): { app: string; stream: string } | null {
  let name: string;
  try {
    name = decodeURIComponent(file);
  } catch (e) {
    return null;
  }
  const slash = name.indexOf('/');
  if (slash < 0) return null;
  const app = name.slice(0, slash);
  const stream = name.slice(slash + 1);
  return NAME.test(app) && NAME.test(stream) && kickFile(app, stream) === file ? { app: app, stream: stream } : null;
}

/** The file's line: until (ms since the epoch), when it was set (ms), who set it. */
export function formatKick(untilMs: number, sinceMs: number, by: string): string {
  return JSON.stringify({ until: untilMs, since: sinceMs, by: by }) + '\n';
}

/** A kick file's contents; null where it is not one (a kick that cannot be read kicks nobody, and says so in the list). */
export function parseKick(text: string): { until: number; since: number; by: string } | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const o = v as { until?: unknown; since?: unknown; by?: unknown };
  if (typeof o.until !== 'number' || typeof o.since !== 'number' || !isFinite(o.until) || !isFinite(o.since)) return null;
  return { until: o.until, since: o.since, by: typeof o.by === 'string' ? o.by : '' };
}

/** Milliseconds a kick still holds at `nowMs` (0: none). */
export function kickLeft(text: string | null, nowMs: number): number {
  if (text === null) return 0;
  const k = parseKick(text);
  return k && k.until > nowMs ? k.until - nowMs : 0;
}

function fail(status: number, error: string): KickParse {
  return { ok: false, status: status, error: error };
}

/**
 * A kick request's body: JSON (`Content-Type: application/json`) or a form
 * (`application/x-www-form-urlencoded`, what `curl -d` sends), with `app`,
 * `stream` and optionally `seconds` (default KICK_DEFAULT_S; 0 lifts the
 * kick). Anything else is refused whole: unknown fields included, so that a
 * misspelt `secnds` is not silently the default.
 */
export function parseKickRequest(contentType: string, body: string): KickParse {
  const type = contentType.split(';')[0].trim().toLowerCase();
  const fields: { [k: string]: unknown } = {};
  if (type === 'application/json') {
    let v: unknown;
    try {
      v = JSON.parse(body);
    } catch (e) {
      return fail(400, 'the body is not JSON: ' + String(e));
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) return fail(400, 'the body must be a JSON object: {"app": ..., "stream": ..., "seconds": ...}');
    const keys = Object.keys(v as object);
    for (let i = 0; i < keys.length; i++) fields[keys[i]] = (v as { [k: string]: unknown })[keys[i]];
  } else if (type === 'application/x-www-form-urlencoded') {
    const parts = body === '' ? [] : body.split('&');
    for (let i = 0; i < parts.length; i++) {
      const eq = parts[i].indexOf('=');
      let k: string;
      let val: string;
      try {
        k = decodeURIComponent((eq < 0 ? parts[i] : parts[i].slice(0, eq)).replace(/\+/g, ' '));
        val = decodeURIComponent((eq < 0 ? '' : parts[i].slice(eq + 1)).replace(/\+/g, ' '));
      } catch (e) {
        return fail(400, 'the form is not URL-encoded');
      }
      if (Object.prototype.hasOwnProperty.call(fields, k)) return fail(400, k + ': given twice');
      fields[k] = val;
    }
  } else {
    return fail(415, 'Content-Type must be application/json or application/x-www-form-urlencoded');
  }
  const known = ['app', 'stream', 'seconds'];
  const names = Object.keys(fields);
  for (let i = 0; i < names.length; i++) {
    if (known.indexOf(names[i]) < 0) return fail(400, names[i] + ': unknown field (known: app, stream, seconds)');
  }
  const app = fields.app;
  const stream = fields.stream;
  if (typeof app !== 'string' || !NAME.test(app)) return fail(400, 'app: required, 1-128 letters, digits, "_", ".", ":", "-"');
  if (typeof stream !== 'string' || !NAME.test(stream)) return fail(400, 'stream: required, 1-128 letters, digits, "_", ".", ":", "-" (the name without its key)');
  let seconds = KICK_DEFAULT_S;
  if (fields.seconds !== undefined) {
    const raw = fields.seconds;
    // A number in JSON; digits in a form, where everything is text.
    const n = typeof raw === 'number' && type === 'application/json' ? raw : typeof raw === 'string' && type !== 'application/json' && /^[0-9]{1,8}$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= 0 && n <= KICK_MAX_S && Math.floor(n) === n)) return fail(400, 'seconds: a whole number from 0 (lift the kick) to ' + KICK_MAX_S);
    seconds = n;
  }
  return { ok: true, kick: { app: app, stream: stream, seconds: seconds } };
}
