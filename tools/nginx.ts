/**
 * Running a local nginx in the foreground, for the demo, the tests and the
 * benchmarks (one way to do it). nginx runs with `-p` (prefix) and `-e`
 * (error log) so that nothing outside its state directory is touched.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findModulesDir } from './paths.ts';
import { request } from 'node:http';

export interface NginxProcess {
  readonly proc: ChildProcess;
  /** Graceful stop (SIGQUIT), then SIGKILL after a bound. */
  stop(): Promise<void>;
  readonly exited: Promise<number | null>;
}

export const NGINX_BIN = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';

/** How every nginx here is named: prefix, error log and config (what `-s` also needs to find the pid file). */
export function confArgs(conf: string, prefix: string, errorLog: string): string[] {
  return ['-p', prefix, '-e', errorLog, '-c', conf];
}

/** Run a command to its end: whether it exited 0, and what it printed (or why it could not start). */
export function run(cmd: string, args: string[]): { ok: boolean; output: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() || (r.error ? r.error.message : '') };
}

/** A word as a POSIX shell reads it back (for commands printed to run by hand). */
export function shellWord(w: string): string {
  return /^[A-Za-z0-9_./=:@%+-]+$/.test(w) ? w : `'${w.split("'").join("'\\''")}'`;
}

/** `nginx -t`: returns nginx's own output and whether it accepted the config. */
export function testConfig(conf: string, prefix: string, errorLog: string): { ok: boolean; output: string } {
  return run(NGINX_BIN, ['-t', '-q', ...confArgs(conf, prefix, errorLog)]);
}

/** `nginx -s reload` to the nginx that runs this config (started by startNginx or as its README says). */
export function reloadConfig(conf: string, prefix: string, errorLog: string): { ok: boolean; output: string } {
  return run(NGINX_BIN, [...confArgs(conf, prefix, errorLog), '-s', 'reload']);
}

/** The shell command that tests and reloads that nginx, for an operator to run. */
export function reloadConfigCommand(conf: string, prefix: string, errorLog: string): string {
  const args = confArgs(conf, prefix, errorLog).map(shellWord).join(' ');
  return `${NGINX_BIN} ${args} -t && ${NGINX_BIN} ${args} -s reload`;
}

export function startNginx(conf: string, prefix: string, errorLog: string): NginxProcess {
  const proc = spawn(NGINX_BIN, [...confArgs(conf, prefix, errorLog), '-g', 'daemon off;'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  return {
    proc,
    exited,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGQUIT');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** GET a URL once; resolves with the status, or 0 when nothing answered. */
export function probe(url: string, timeoutMs = 1000): Promise<number> {
  return new Promise((res) => {
    const req = request(url, { timeout: timeoutMs }, (resp) => {
      resp.resume();
      resp.on('end', () => res(resp.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => res(0));
    req.end();
  });
}

/**
 * Wait until `url` answers 200, or fail with the error log when nginx exits
 * first or the deadline passes.
 */
export async function waitHealthy(url: string, nginx: NginxProcess | null, errorLog: string, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitedCode: number | null | undefined;
  nginx?.exited.then((c) => (exitedCode = c));
  while (Date.now() < deadline) {
    if (exitedCode !== undefined) break;
    if ((await probe(url)) === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  const log = existsSync(errorLog) ? readFileSync(errorLog, 'utf8').split('\n').slice(-30).join('\n') : '(no error log)';
  throw new Error(`nginx did not become healthy at ${url}${exitedCode !== undefined ? ` (exited with ${exitedCode})` : ''}\n${log}`);
}

const acceptCache = new Map<string, boolean>();

/**
 * Whether the local nginx's njs http module accepts `snippet` in an http
 * block: asks nginx itself with `nginx -t` on a tiny config (the module's own
 * word, not a guess from its version).
 */
function njsAccepts(snippet: string): boolean {
  const known = acceptCache.get(snippet);
  if (known !== undefined) return known;
  const modules = findModulesDir();
  const dir = mkdtempSync(join(tmpdir(), 'media-edge-detect-'));
  try {
    writeFileSync(join(dir, 'm.js'), 'function f() {}\nexport default { f };\n');
    writeFileSync(
      join(dir, 'nginx.conf'),
      `${modules ? `load_module ${modules}/ngx_http_js_module.so;` : ''}
pid ${dir}/nginx.pid;
events {}
http {
    js_import m from ${dir}/m.js;
${snippet}
}
`,
    );
    const ok = testConfig(join(dir, 'nginx.conf'), dir, join(dir, 'error.log')).ok;
    acceptCache.set(snippet, ok);
    return ok;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether the local nginx's njs has shared dictionaries and js_periodic (njs >= 0.8.1). */
export function detectNjsShared(): boolean {
  return njsAccepts('    js_shared_dict_zone zone=detect:64k;\n    server { listen 127.0.0.1:1; location @p { js_periodic m.f interval=1s; } }');
}

/** Whether the local nginx's njs has the QuickJS engine (`js_engine qjs`: njs >= 0.8.6 built with QuickJS). */
export function detectQjs(): boolean {
  return njsAccepts('    js_engine qjs;');
}
