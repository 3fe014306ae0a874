/**
 * `media-edge install`: the drop-in into the nginx this machine runs, the way
 * operators install an nginx module. It renders into /etc/nginx/media-edge/
 * (or --dir), gives the state and cache directories to nginx's worker user
 * (read from that nginx), runs `nginx -t`, reloads nginx when it already
 * includes the snippets, and prints the include lines still to add, by
 * context. Run again it changes nothing unless the settings changed; a
 * failure at any step leaves the running nginx and its config as they were
 * (the previous files are put back before anything reloads).
 *
 * Never writes nginx's own files: the operator adds the include lines.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NGINX_BIN, run, testConfig } from './nginx.ts';
import { abs } from './paths.ts';
import { prepareState, render, secretFiles, workerOwner, writeRendered, type Rendered } from './render.ts';
import type { Settings } from './settings.ts';

/** What `nginx -V` says about the build: where its config and modules are, and its default user. */
export interface NginxBuild {
  confPath: string;
  modulesPath: string;
  /** The compiled-in worker user (`--user=`), nginx's own default "nobody" without one. */
  user: string;
}

export function parseNginxV(v: string): NginxBuild {
  const opt = (name: string) => new RegExp(`--${name}=(\\S+)`).exec(v)?.[1] ?? '';
  const prefix = opt('prefix') || '/usr/local/nginx';
  const confPath = opt('conf-path') || join(prefix, 'conf/nginx.conf');
  return { confPath, modulesPath: opt('modules-path') || join(prefix, 'modules'), user: opt('user') || 'nobody' };
}

/** nginx config text without comments (a `#` outside quotes starts one), for the scans below. */
function uncommented(conf: string): string {
  return conf.split('\n').map((l) => l.replace(/^((?:[^#"']|"[^"]*"|'[^']*')*)#.*$/, '$1')).join('\n');
}

/**
 * The main-context `user` directive ("www-data", "nginx nginx"), or null:
 * only directives outside every block count, as nginx reads them.
 */
export function mainUser(conf: string): string | null {
  let depth = 0;
  let found: string | null = null;
  for (const stmt of uncommented(conf).split(/([{};])/)) {
    if (stmt === '{') depth++;
    else if (stmt === '}') depth = Math.max(0, depth - 1);
    else if (stmt !== ';' && depth === 0) {
      const m = /^\s*user\s+(\S+(?:\s+\S+)?)\s*$/.exec(stmt);
      // One space between user and group, as the `user` setting has it.
      if (m) found = m[1].replace(/\s+/, ' ');
    }
  }
  return found;
}

export type Context = 'http' | 'server' | 'stream';
export const SNIPPETS: Record<Context, string> = { http: 'media-edge-http.conf', server: 'media-edge-server.conf', stream: 'media-edge-stream.conf' };

/** Which snippets of `dir` a config (nginx -T's dump: every included file) already includes. */
export function includedSnippets(dump: string, dir: string): Record<Context, boolean> {
  const text = uncommented(dump);
  // A directive starts a line or follows a `{`, `}` or `;`.
  const has = (file: string) => new RegExp(`(?:^|[{};])\\s*include\\s+["']?${join(dir, file).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}["']?\\s*;`, 'm').test(text);
  return { http: has(SNIPPETS.http), server: has(SNIPPETS.server), stream: has(SNIPPETS.stream) };
}

/**
 * The lines the operator adds to nginx.conf, by context, for what is not
 * there yet; "" when everything is. `withStream`: the settings have RTMP.
 */
export function includeInstructions(confPath: string, dir: string, s: Settings, have: Record<Context, boolean>, withStream: boolean, modulesLoaded: boolean): string {
  const out: string[] = [];
  const inc = (c: Context) => `include ${join(dir, SNIPPETS[c])};`;
  if (!modulesLoaded) {
    out.push('  at the top of the file (main context), the njs modules (Debian\'s libnginx-mod-* packages load them from /etc/nginx/modules-enabled/):',
      '      load_module modules/ngx_http_js_module.so;', ...(withStream ? ['      load_module modules/ngx_stream_js_module.so;'] : []));
  }
  if (!have.http) {
    out.push('  main context (top level, outside every block):', '      pcre_jit on;',
      '  inside http { }, before the other includes:', '      variables_hash_max_size 4096;', `      ${inc('http')}`);
  }
  if (!have.server) {
    out.push('  inside the server { } that serves viewers (a server of its own: the snippet sets add_header at server level), e.g.:',
      '      server {', `          listen ${s.listen_http};`, `          ${inc('server')}`, '      }');
  }
  if (withStream && !have.stream) out.push('  at top level (main context), for RTMP ingest:', '      stream {', `          ${inc('stream')}`, '      }');
  return out.length ? `Add to ${confPath}:\n${out.join('\n')}` : '';
}

/**
 * The file that marks a directory as rendered by `media-edge install`: only
 * such a directory (or none, or an empty one) is replaced, never an
 * operator's own (`--dir /etc/nginx/conf.d` would otherwise be swapped out).
 */
export const MARKER = '.media-edge-install';

/** Why `dir` may not be replaced, or "". */
export function notOurs(dir: string): string {
  if (!existsSync(dir)) return '';
  const names = readdirSync(dir);
  if (names.length === 0 || names.includes(MARKER)) return '';
  return `${dir} holds files media-edge install did not write (no ${MARKER}): choose an empty or new --dir`;
}

/** Whether `dir` holds exactly these files with this content. */
export function sameTree(files: Rendered, dir: string): boolean {
  if (!existsSync(dir)) return false;
  const have = readdirSync(dir).sort();
  const want = Object.keys(files).sort();
  if (have.join('\n') !== want.join('\n')) return false;
  return want.every((f) => readFileSync(join(dir, f), 'utf8') === files[f]);
}

export interface InstallOptions {
  settings: Settings;
  baseDir: string;
  /** Where the rendered files go: default /etc/nginx/media-edge. */
  dir: string;
  /** Whether the local nginx has njs >= 0.8.1 and QuickJS (tools/nginx.ts detect*). */
  njsShared: boolean;
  qjs: boolean;
  /** Reload nginx after a change (default true). */
  reload: boolean;
}

export interface InstallResult {
  code: number;
  lines: string[];
}

/**
 * How to tell the running system nginx to reload: systemd's unit where
 * systemd runs it, else nginx's own signal. Also `media-edge revoke`'s.
 */
export function reloadNginx(): { ok: boolean; output: string } {
  if (existsSync('/run/systemd/system') && run('systemctl', ['is-active', '--quiet', 'nginx']).ok) return run('systemctl', ['reload', 'nginx']);
  return run(NGINX_BIN, ['-s', 'reload']);
}

/** What an operator runs by hand to test and reload the system nginx. */
export const RELOAD_COMMAND = `${NGINX_BIN} -t && (systemctl reload nginx || ${NGINX_BIN} -s reload)`;

export function install(o: InstallOptions): InstallResult {
  const lines: string[] = [];
  const fail = (msg: string): InstallResult => ({ code: 1, lines: [...lines, msg] });
  if (process.getuid?.() !== 0) return fail('media-edge install: run it as root (it writes under /etc/nginx and gives the state directories to nginx\'s workers); `media-edge render` writes anywhere as any user');
  const v = run(NGINX_BIN, ['-V']);
  if (!v.ok) return fail(`cannot run ${NGINX_BIN} -V: ${v.output}`);
  const build = parseNginxV(v.output);
  const confText = existsSync(build.confPath) ? readFileSync(build.confPath, 'utf8') : '';
  // The workers' user is nginx's, whatever the settings say.
  const user = mainUser(confText) ?? build.user;
  if (o.settings.user && o.settings.user !== user) lines.push(`note: "user": "${o.settings.user}" in the settings; nginx's workers run as "${user}" (${build.confPath}), which is what the directories are given to`);
  const s: Settings = { ...o.settings, user, modules_dir: o.settings.modules_dir || build.modulesPath };
  let owner: { uid: number; gid: number } | null;
  try {
    owner = workerOwner(user);
  } catch (e) {
    return fail(`nginx's workers (${build.confPath}) ${(e as Error).message}`);
  }
  if (!owner) return fail(`no worker user to give the directories to (${user})`);
  const dir = resolve(o.dir);
  const placeholder = /"replace-with-[^"]*"/.exec(JSON.stringify([s.rtmp_auth, s.playback_auth]));
  if (placeholder) return fail(`the settings still hold the example's placeholder secret ${placeholder[0]}: put a long random secret of your own there (openssl rand -base64 32)`);
  // A run that died between its two renames left the previous files aside: put them back first.
  if (!existsSync(dir) && existsSync(`${dir}.old`)) renameSync(`${dir}.old`, dir);
  const refused = notOurs(dir);
  if (refused) return fail(refused);
  const files: Rendered = {
    ...render(s, { baseDir: o.baseDir, confDir: dir, njsShared: o.njsShared, qjs: o.qjs, moduleFiles: existsSync(build.modulesPath) ? readdirSync(build.modulesPath) : [] }),
    [MARKER]: '# Rendered by media-edge install from its settings; it replaces this directory whole.\n',
  };
  const withStream = 'media-edge-stream.conf' in files;

  // What the running config includes now (nginx -T: every file it reads).
  const dumpNow = run(NGINX_BIN, ['-T']);
  const have = includedSnippets(dumpNow.ok ? dumpNow.output : confText, dir);
  const included = have.http || have.server || have.stream;

  const unchanged = sameTree(files, dir);
  // The directories nginx needs, its workers' (also when unchanged: a
  // deleted cache directory comes back).
  const stateDir = abs(o.baseDir, s.state_dir);
  const cacheDir = abs(o.baseDir, s.cache_dir);
  if (!unchanged) {
    // Stage, swap in, test; on failure swap back: the old files are in place
    // again before anything could reload them.
    const next = `${dir}.new`;
    const prev = `${dir}.old`;
    rmSync(next, { recursive: true, force: true });
    rmSync(prev, { recursive: true, force: true });
    let warnings: string[];
    try {
      warnings = writeRendered(files, next, s, o.baseDir);
    } catch (e) {
      rmSync(next, { recursive: true, force: true });
      return fail(`cannot write ${next}: ${(e as Error).message}`);
    }
    for (const w of warnings) lines.push(`warning: ${w}`);
    const hadPrev = existsSync(dir);
    if (hadPrev) renameSync(dir, prev);
    renameSync(next, dir);
    // Test what nginx will load: its own config where it includes the
    // snippets, else the complete example next to them.
    const t = included ? run(NGINX_BIN, ['-t']) : testConfig(join(dir, 'nginx.conf'), stateDir, join(stateDir, 'logs', 'error.log'));
    if (!t.ok) {
      rmSync(dir, { recursive: true, force: true });
      if (hadPrev) renameSync(prev, dir);
      return fail(`nginx -t rejected the new configuration; ${hadPrev ? `${dir} is as it was` : `nothing was installed`} and nginx was not reloaded:\n${t.output}`);
    }
    rmSync(prev, { recursive: true, force: true });
    lines.push(`installed ${dir} (nginx -t: ok)`);
  } else {
    // Nothing new to render; what nginx needs besides the files is repaired.
    for (const w of prepareState(s, o.baseDir, secretFiles(files).map((f) => join(dir, f)))) lines.push(`warning: ${w}`);
    lines.push(`${dir}: unchanged`);
  }
  mkdirSync(cacheDir, { recursive: true });
  chownSync(cacheDir, owner.uid, owner.gid);
  chmodSync(cacheDir, 0o700);
  // writeRendered closed state_dir to all but root and the workers (render.ts restrictState).
  lines.push(`${stateDir} (runs/) and ${cacheDir}: nginx's workers' (${user})`);

  if (!unchanged && included && o.reload) {
    const pid = /^\s*pid\s+([^;\s]+)\s*;/m.exec(uncommented(dumpNow.output))?.[1] ?? (/--pid-path=(\S+)/.exec(v.output)?.[1] ?? '');
    if (pid && existsSync(pid)) {
      const r = reloadNginx();
      if (!r.ok) return fail(`nginx -t passed, but the reload failed: ${r.output}`);
      lines.push('nginx reloaded');
    } else {
      lines.push('nginx is not running: start it to use the edge');
    }
  }
  const modulesLoaded = /ngx_http_js_module/.test(dumpNow.output) || /load_module\s+\S*ngx_http_js_module/.test(confText);
  const todo = includeInstructions(build.confPath, dir, s, have, withStream, modulesLoaded);
  if (todo) lines.push(todo, `Then: ${RELOAD_COMMAND}. Run media-edge install again after every change to the settings.`);
  else lines.push(`${build.confPath} includes every snippet`);
  return { code: 0, lines };
}
