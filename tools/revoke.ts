/**
 * `media-edge revoke` and `unrevoke`: change the revocation file
 * (`playback_revoked_file`) and have nginx read it, in one step. njs reads
 * the file on every token check, so a token is refused (or let in again)
 * as soon as the file is renamed into place; nginx reads it into the maps
 * that check links only when it (re)loads, so the command runs `nginx -t`
 * and reloads (graceful: no viewer is dropped). When `nginx -t` refuses,
 * the previous file is put back and nothing reloads.
 *
 * Exit codes, as the rest of the command: 0 done (also when there was
 * nothing to do), 1 a step failed (write, nginx -t, reload), 2 the input
 * was refused before anything changed.
 */
import { chmodSync, chownSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { RELOAD_COMMAND, reloadNginx } from './install.ts';
import { NGINX_BIN, reloadConfig, reloadConfigCommand, run, testConfig } from './nginx.ts';
import { abs } from './paths.ts';
import { REVOKED_FILE_HEADER } from './render.ts';
import { addRevocation, idFromToken, idProblem, keyOf, keyUsers, listRevocations, removeRevocation, type Revocation } from './revocations.ts';
import type { Settings } from './settings.ts';

export interface RevokeOptions {
  action: 'revoke' | 'unrevoke';
  list: boolean;
  /** The settings file (for messages; `load` reads it). */
  settingsFile: string;
  tokenId?: string;
  kid?: string;
  /** A whole token or a viewer's URL (revocations.ts idFromToken). */
  token?: string;
  /** The nginx.conf of an edge run as `media-edge render`'s README says (nginx -c CONF -p <state_dir>); else the system nginx. */
  nginxConf?: string;
  reload: boolean;
}

/** What to print (stdout when code is 0, else stderr), and the exit code. */
export interface RevokeResult {
  code: number;
  lines: string[];
}

/**
 * Write `text` to `path` so that a reader sees the old file or the new one,
 * never a part: a temporary file beside it, synced, then renamed over it,
 * with the old file's mode and owner (`like`). An error message, or null.
 */
export function writeAtomically(path: string, text: string, like: Stats | null): string | null {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = openSync(tmp, 'wx', like ? 0o600 : 0o666);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (like) {
      const now = statSync(tmp);
      if (now.uid !== like.uid || now.gid !== like.gid) chownSync(tmp, like.uid, like.gid);
      chmodSync(tmp, like.mode & 0o7777);
    }
    renameSync(tmp, path);
    return null;
  } catch (e) {
    rmSync(tmp, { force: true });
    return `cannot write ${path}: ${(e as Error).message}`;
  }
}

/** Restore `path` to `before` (null: there was no file). An error message, or null. */
function putBack(path: string, before: string | null, like: Stats | null): string | null {
  if (before !== null) return writeAtomically(path, before, like);
  try {
    unlinkSync(path);
    return null;
  } catch (e) {
    return `cannot remove ${path}: ${(e as Error).message}`;
  }
}

type Target = { list: true } | { revocation: Revocation } | { token: string } | { error: string };

/** What to revoke: the exactly-one-of check and the ids' syntax, before anything is read. */
function target(o: RevokeOptions): Target {
  const given = [o.tokenId !== undefined, o.kid !== undefined, o.token !== undefined].filter(Boolean).length;
  if (o.list) return given ? { error: '--list takes no --token-id, --kid or --token' } : { list: true };
  if (given !== 1) return { error: `give exactly one of --token-id ID, --kid KID or --token TOKEN|URL (got ${given === 0 ? 'none' : 'more than one'})` };
  if (o.token !== undefined) return { token: o.token };
  const r: Revocation = o.kid !== undefined ? { kind: 'kid', id: o.kid } : { kind: 'token', id: o.tokenId as string };
  const bad = idProblem(r);
  return bad ? { error: bad } : { revocation: r };
}

export function revokeCommand(o: RevokeOptions, load: () => { settings: Settings; baseDir: string }): RevokeResult {
  const usage = (msg: string): RevokeResult => ({ code: 2, lines: [`media-edge ${o.action}: ${msg}; nothing was changed`] });
  const t = target(o);
  if ('error' in t) return usage(t.error);
  if (o.nginxConf !== undefined && !existsSync(o.nginxConf)) return usage(`--nginx-conf ${o.nginxConf}: no such file`);
  const { settings, baseDir } = load();
  if (!settings.playback_revoked_file) {
    return usage(`${o.settingsFile} sets no playback_revoked_file: set it (e.g. "playback_revoked_file": "revoked.txt"), run media-edge install (or render) so that nginx includes it, then revoke`);
  }
  const file = abs(baseDir, settings.playback_revoked_file);
  if (!o.list && Object.keys(settings.playback_auth).length === 0) return usage(`${o.settingsFile} has no playback_auth: no application checks tokens, so nothing reads ${file}`);

  // The file as it is: the rename replaces the file a symlink points to, not the link.
  const path = existsSync(file) ? realpathSync(file) : file;
  let before: string | null = null;
  let stat: Stats | null = null;
  if (existsSync(path)) {
    try {
      stat = statSync(path);
      before = readFileSync(path, 'utf8');
    } catch (e) {
      return usage(`cannot read ${path}: ${(e as Error).message}`);
    }
  }
  if ('list' in t) {
    const l = listRevocations(before ?? '');
    if (!l.ok) return usage(`${path}: ${l.error}`);
    return { code: 0, lines: l.keys.length ? l.keys : [`${path}: nothing is revoked`] };
  }

  let r: Revocation;
  let from = '';
  if ('token' in t) {
    const d = idFromToken(t.token, settings.playback_auth);
    if (!d.ok) return usage(d.error);
    r = { kind: 'token', id: d.id };
    if (idProblem(r)) return usage(`--token: its token id ${JSON.stringify(d.id)} (from ${d.from}) is not one the edge makes: is the token complete?`);
    from = ` (from ${d.from})`;
  } else {
    r = t.revocation;
  }
  const edit = o.action === 'revoke' ? addRevocation(before ?? REVOKED_FILE_HEADER, r) : removeRevocation(before ?? '', r);
  if (!edit.ok) return usage(`${path}: ${edit.error}`);
  const key = keyOf(r);
  const users = r.kind === 'kid' ? keyUsers(r.id, settings.playback_auth) : [];
  const keyNote = r.kind !== 'kid' ? [] : [users.length ? `key id ${r.id} is a key of: ${users.join(', ')}` : `note: no application in playback_auth has a key with id "${r.id}"`];
  if (!edit.changed) {
    return { code: 0, lines: [o.action === 'revoke' ? `${key}${from}: already revoked in ${path}; nothing changed` : `${key}${from}: not revoked in ${path}; nothing changed`] };
  }

  const wrote = writeAtomically(path, edit.text, stat);
  if (wrote) return { code: 1, lines: [wrote] };
  const done = `${o.action === 'revoke' ? 'revoked' : 'unrevoked'} ${key}${from} in ${path}`;
  const stateDir = abs(baseDir, settings.state_dir);
  const errorLog = join(stateDir, 'logs', 'error.log');
  const command = o.nginxConf !== undefined ? reloadConfigCommand(o.nginxConf, stateDir, errorLog) : RELOAD_COMMAND;
  const links = r.kind === 'kid' ? 'the links of its tokens' : 'its links';
  const effect = `${links} ${o.action === 'revoke' ? 'are refused' : 'play again'}`;
  if (!o.reload) {
    return { code: 0, lines: [done, ...keyNote, `not reloaded (--no-reload): token checks read the file at once; ${effect} once nginx reloads: ${command}`] };
  }

  const tested = o.nginxConf !== undefined ? testConfig(o.nginxConf, stateDir, errorLog) : run(NGINX_BIN, ['-t']);
  if (!tested.ok) {
    // Put back what nginx accepted before: the running nginx and the file agree again.
    const undo = putBack(path, before, stat);
    const state = undo ? `and putting the previous file back failed (${undo}): fix ${path} by hand` : `${path} is as it was`;
    return { code: 1, lines: [`nginx -t rejected the configuration with the change; ${state}, and nginx was not reloaded:`, tested.output] };
  }
  const reloaded = o.nginxConf !== undefined ? reloadConfig(o.nginxConf, stateDir, errorLog) : reloadNginx();
  if (!reloaded.ok) {
    return { code: 1, lines: [done, ...keyNote, `nginx -t passed, but the reload failed: ${reloaded.output}`, `token checks read the file at once; ${effect} once nginx reloads: ${command}`] };
  }
  return { code: 0, lines: [done, ...keyNote, `nginx -t: ok; nginx reloaded: ${effect} from their next request`] };
}
