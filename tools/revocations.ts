/**
 * The revocation file's text, as `media-edge revoke` changes it: add a
 * line, remove it, list what is revoked, and which token id a token or a
 * viewer's URL has. Pure: text in, text (or an error) out; tools/revoke.ts
 * does the file and nginx. The file's syntax and the token id are njs's
 * (njs/auth.ts parseRevocations, tokenId): what is written here is what
 * the check reads.
 */
import { parseRevocations, REVOKED_ID, REVOKED_LINE, tokenId, tokenParams, type AppAuth } from '../njs/auth.ts';
import { tokenParam } from './render.ts';
import type { PlaybackAppAuth } from './settings.ts';

/** A revoked token (by its id) or key (by its key id). */
export interface Revocation {
  kind: 'token' | 'kid';
  id: string;
}

export type Edit = { ok: true; text: string; changed: boolean } | { ok: false; error: string };

/** `token:<id>` or `kid:<key id>`: the map key nginx matches. */
export const keyOf = (r: Revocation): string => `${r.kind}:${r.id}`;

const ID = new RegExp(`^${REVOKED_ID}$`);

/** Why `r` cannot be a line of the file, or null. */
export function idProblem(r: Revocation): string | null {
  if (ID.test(r.id)) return null;
  const what = r.kind === 'kid' ? '--kid' : '--token-id';
  // A link's me_tid is "<key id>.<token id>[.ip]": the likeliest paste.
  const hint = r.kind === 'token' && r.id.includes('.') ? ' (a link\'s me_tid is <key id>.<token id>[.ip]: give the part after the first ".", or the URL as --token)' : '';
  return `${what} ${JSON.stringify(r.id)}: an id is 1 to 64 letters, digits, "_", "=" or "-"${hint}`;
}

/** The file's problems, each naming its line, or null. */
function fileProblem(text: string): string | null {
  const errors = parseRevocations(text).errors;
  return errors.length ? `${errors.join('; ')} (fix or remove ${errors.length > 1 ? 'those lines' : 'that line'} first)` : null;
}

/** Is `line` the line of `r`? */
function isLineOf(line: string, r: Revocation): boolean {
  const m = REVOKED_LINE.exec(line.trim());
  return m !== null && m[1] === r.kind && m[2] === r.id;
}

/** `text` with `r` revoked: one line appended, everything else as it was; unchanged when it is revoked already. */
export function addRevocation(text: string, r: Revocation): Edit {
  const bad = idProblem(r) ?? fileProblem(text);
  if (bad) return { ok: false, error: bad };
  const { list } = parseRevocations(text);
  if ((r.kind === 'kid' ? list.kids : list.tokens)[r.id]) return { ok: true, text, changed: false };
  // The file's own line ending, and a last line that has none ended first.
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const sep = text === '' || text.endsWith('\n') ? '' : eol;
  return { ok: true, text: `${text}${sep}${keyOf(r)} revoked;${eol}`, changed: true };
}

/** `text` without `r`'s lines (every one: a hand-edited file may have it twice), the others exactly as they were. */
export function removeRevocation(text: string, r: Revocation): Edit {
  const bad = idProblem(r) ?? fileProblem(text);
  if (bad) return { ok: false, error: bad };
  const lines = text.split('\n');
  const kept = lines.filter((l) => !isLineOf(l, r));
  return kept.length === lines.length ? { ok: true, text, changed: false } : { ok: true, text: kept.join('\n'), changed: true };
}

/** What the file revokes, keys first, as `kid:<id>` and `token:<id>`. */
export function listRevocations(text: string): { ok: true; keys: string[] } | { ok: false; error: string } {
  const bad = fileProblem(text);
  if (bad) return { ok: false, error: bad };
  const { list } = parseRevocations(text);
  return { ok: true, keys: [...Object.keys(list.kids).map((id) => `kid:${id}`), ...Object.keys(list.tokens).map((id) => `token:${id}`)] };
}

/**
 * The token id of what an operator has at hand: a whole hmac or Akamai
 * token (the signature is its last field), or a viewer's URL, of any
 * scheme: read as the edge reads it (tokenParams, with the application's
 * scheme and parameter from the settings), or the id in a link the URL
 * carries (`/_me/<exp>/<tid>/<sig>/...` or `me_tid=`, as in access logs).
 */
export function idFromToken(input: string, apps: Record<string, PlaybackAppAuth>): { ok: true; id: string; from: string } | { ok: false; error: string } {
  const s = input.trim();
  const fail = (why: string) => ({ ok: false as const, error: `--token: ${why}` });
  if (/^(https?:\/\/|\/)/i.test(s)) {
    let url: URL;
    try {
      url = new URL(s, 'http://edge');
    } catch {
      return fail('not a URL');
    }
    const link = /^\/_me\/[0-9]{1,12}\/([^/]+)\/[^/]+\//.exec(url.pathname)?.[1] ?? url.searchParams.get('me_tid');
    if (link !== null) {
      // "<key id>.<token id>[.ip]" (njs/auth.ts checkViewer).
      const id = link.split('.')[1];
      return id ? { ok: true, id, from: `the link's me_tid ${link}` } : fail(`the link's me_tid "${link}" has no token id`);
    }
    const app = url.pathname.split('/')[1];
    const auth = Object.prototype.hasOwnProperty.call(apps, app) ? apps[app] : undefined;
    if (!auth) return fail(`playback_auth has no application "${app}" (the URL's first path segment): its URLs carry no token`);
    const a: AppAuth = { scheme: auth.scheme, param: tokenParam(auth), link_secret: '' };
    const p = tokenParams(a, url.search.slice(1), '', url.pathname);
    if (p === 'malformed') return fail(`the URL's token is malformed (a parameter given twice, or bad percent-encoding), as the edge would refuse it`);
    const id = tokenId(a, p);
    return id ? { ok: true, id, from: `the ${auth.scheme} token of application "${app}"` } : fail(`the URL carries no ${auth.scheme} token (parameter ${a.param}${auth.scheme === 'wowza' ? 'hash' : ''}) and no link`);
  }
  let raw = s;
  if (s.includes('%')) {
    try {
      raw = decodeURIComponent(s);
    } catch {
      return fail('bad percent-encoding');
    }
  }
  const scheme = raw.includes('~sig=') ? 'hmac' : raw.includes('~hmac=') ? 'akamai' : null;
  if (!scheme) return fail('neither an hmac token (...~sig=...) nor an Akamai token (...~hmac=...) nor a URL (Wowza and secure_link tokens are read from the viewer\'s URL); or give --token-id');
  return { ok: true, id: tokenId({ scheme, param: 't', link_secret: '' }, { t: raw }), from: `the ${scheme} token` };
}

/** Which applications' keys the key id `kid` names (revoking it refuses every token they signed with it). */
export function keyUsers(kid: string, apps: Record<string, PlaybackAppAuth>): string[] {
  const out: string[] = [];
  for (const [app, a] of Object.entries(apps)) {
    if (a.scheme === 'hmac' && a.keys && Object.prototype.hasOwnProperty.call(a.keys, kid)) out.push(`${app} (hmac key "${kid}")`);
    // njs/auth.ts: Akamai keys are 1 (encryption) and 2 (transition); the others have one secret, key 1.
    else if (a.scheme === 'akamai' && /^[1-9][0-9]?$/.test(kid) && Number(kid) <= (a.key_hex ?? []).length) out.push(`${app} (akamai ${kid === '1' ? 'encryption' : 'transition'} key)`);
    else if ((a.scheme === 'wowza' || a.scheme === 'secure_link') && kid === '1') out.push(`${app} (${a.scheme}: its only secret)`);
  }
  return out;
}
