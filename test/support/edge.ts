/**
 * Starts an edge under test: renders the real templates from settings (the
 * same path `media-edge render` takes), runs nginx on the chosen target with
 * free loopback ports, and gives the test the logs. The benchmark runs its
 * edges through here too; test/support/use-edge.ts is the vitest fixture.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { freePort } from '../../tools/demo.ts';
import { startNginx, waitHealthy, type NginxProcess } from '../../tools/nginx.ts';
import { PACKAGE_ROOT } from '../../tools/paths.ts';
import { render, writeRendered } from '../../tools/render.ts';
import { fill, type Lists } from '../../tools/template.ts';
import { validate, type Settings } from '../../tools/settings.ts';
import { imageModuleFiles, type Target } from './targets.ts';

// No registry is reachable: the reaper image cannot be pulled, and without a
// bridge network testcontainers must be told the host (shared/reference/containers.md).
// Here, not in vitest.config.ts: the benchmark starts containers too. Read
// when the first container starts, after this module has run.
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';

export interface Edge {
  target: Target;
  url: string;
  httpPort: number;
  rtmpPort: number;
  dir: string;
  confDir: string;
  /** The pid of nginx's master as this machine sees it (also in a container): its workers are its children. */
  masterPid(): number;
  errorLog(): string;
  accessLog(): string;
  /** Error-log lines at [alert]/[crit]/[emerg], and njs exceptions not matching `expected`. */
  badLogLines(expected?: RegExp[]): string[];
  /** `nginx -s reload`: new workers with the config and included files as they are now. */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

// "already running": js_periodic killed a probe still going (its findings
// lost). "is deprecated": njs 0.7.9's warning, which the producer must not
// provoke (njs/runs.ts, Disk).
const BAD = /\[(alert|crit|emerg)\]|js exception|SyntaxError|ReferenceError|TypeError|already running, killing previous instance|is deprecated/;

/**
 * Config around the edge's own, for a benchmark's baselines in the same
 * nginx: the edge's nginx.conf is rendered a second time with its includes
 * pointing at <dir>/wrap, where each template of `templates` (a directory,
 * one file for each include of nginx/nginx.conf) is filled with `vars`,
 * `lists` and `edge_conf_dir` (the edge's rendered files, which it includes).
 */
export interface Wrap {
  templates: string;
  values(dir: string): { vars: Record<string, string>; lists?: Lists };
}

export interface EdgeOptions {
  /**
   * Writes files into the edge's directory before nginx starts (a test
   * certificate): containers see only that directory and dist/.
   */
  prepare?: (dir: string) => void;
  wrap?: Wrap;
}

/** An edge rendered and written, not started. */
export interface RenderedEdge {
  target: Target;
  dir: string;
  confDir: string;
  /** The nginx.conf to run, the prefix (state directory) and the error log, as nginx's -c, -p and -e. */
  conf: string;
  stateDir: string;
  errorLog: string;
  url: string;
  httpPort: number;
  rtmpPort: number;
}

/**
 * Start an edge; a start that fails is tried again with fresh ports (a port
 * that was free when picked can be taken by a parallel test before nginx
 * binds it). The error of the last attempt carries every attempt's log.
 */
export async function startEdge(target: Target, overrides: Partial<Settings>, opts: EdgeOptions = {}): Promise<Edge> {
  const failures: string[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await run(await renderEdge(target, overrides, opts));
    } catch (e) {
      failures.push(`attempt ${attempt}: ${(e as Error).message}`);
      if (/invalid|unknown|not allowed|no such/i.test((e as Error).message) && !/Address already in use/.test((e as Error).message)) break;
    }
  }
  throw new Error(failures.join('\n'));
}

/** Render an edge into a new directory with free loopback ports, as startEdge runs it (the benchmark runs it under valgrind). */
export async function renderEdge(target: Target, overrides: Partial<Settings>, opts: EdgeOptions = {}): Promise<RenderedEdge> {
  const dir = mkdtempSync(join(tmpdir(), 'media-edge-test-'));
  chmodSync(dir, 0o755);
  opts.prepare?.(dir);
  const httpPort = await freePort();
  const rtmpPort = await freePort();
  const input: Partial<Settings> = {
    listen_http: `127.0.0.1:${httpPort}`,
    listen_rtmp: `127.0.0.1:${rtmpPort}`,
    state_dir: 'state',
    cache_dir: 'state/cache',
    worker_processes: '2',
    ...(process.getuid?.() === 0 || target.image ? { user: 'root' } : {}),
    njs_engine: target.engine,
    ...overrides,
  };
  const v = validate(input);
  if (!v.ok) throw new Error(v.errors.join('\n'));
  const confDir = join(dir, 'conf');
  const moduleFiles = target.image ? imageModuleFiles(target.image) : undefined;
  const ctx = { baseDir: dir, confDir, moduleFiles, njsShared: target.njsShared, qjs: target.qjs };
  writeRendered(render(v.value, ctx), confDir, v.value, dir);
  let conf = join(confDir, 'nginx.conf');
  if (opts.wrap) {
    const wrapDir = join(dir, 'wrap');
    mkdirSync(wrapDir);
    const { vars, lists } = opts.wrap.values(dir);
    for (const name of readdirSync(opts.wrap.templates)) {
      writeFileSync(join(wrapDir, name), fill(readFileSync(join(opts.wrap.templates, name), 'utf8'), { ...vars, edge_conf_dir: confDir }, name, lists));
    }
    conf = join(wrapDir, 'nginx.conf');
    writeFileSync(conf, render(v.value, { ...ctx, confDir: wrapDir })['nginx.conf']);
  }
  const stateDir = join(dir, 'state');
  return { target, dir, confDir, conf, stateDir, errorLog: join(stateDir, 'logs', 'error.log'), url: `http://127.0.0.1:${httpPort}`, httpPort, rtmpPort };
}

/**
 * The error-log lines no run may have: [alert]/[crit]/[emerg] and njs
 * exceptions, less those matching `expected`.
 */
export function badLines(log: string, expected: RegExp[] = []): string[] {
  // The RTMP filter closes refused sessions by throwing (the only clean
  // way in njs); those exceptions carry the reason and are expected.
  // njs 0.8.9 follows any exception thrown in a stream callback with its
  // own "TypeError: Cannot convert object to primitive value" for the
  // same session, QuickJS with "TypeError: not a TypedArray" (and logs
  // ours as "js call exception" with stack lines): expected only after
  // one of ours.
  const ours = /\*(\d+) js (?:call )?exception: Error: media-edge rtmp: closing session/;
  const echo = /\*(\d+) js exception: TypeError: (?:Cannot convert object to primitive value|not a TypedArray)/;
  const closed = new Set<string>();
  return log
    .split('\n')
    .filter((l) => {
      const o = ours.exec(l);
      if (o) {
        closed.add(o[1]);
        return false;
      }
      const e = echo.exec(l);
      if (e && closed.has(e[1])) return false;
      return BAD.test(l) && !expected.some((x) => x.test(l));
    });
}

async function run(r: RenderedEdge): Promise<Edge> {
  const { target, dir, conf, stateDir, errorLog, url } = r;
  let local: NginxProcess | null = null;
  let container: StartedTestContainer | null = null;
  if (target.image) {
    const dist = join(PACKAGE_ROOT, 'dist');
    container = await new GenericContainer(target.image)
      .withNetworkMode('host')
      .withBindMounts([
        { source: dir, target: dir, mode: 'rw' },
        { source: dist, target: dist, mode: 'ro' },
      ])
      .withCommand(['nginx', '-p', stateDir, '-e', errorLog, '-c', conf, '-g', 'daemon off;'])
      .withWaitStrategy(Wait.forSuccessfulCommand(`curl -fsS ${url}/health`))
      .withStartupTimeout(30000)
      .start()
      .catch((e: Error) => {
        const log = existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '';
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`${target.name}: nginx container did not start: ${e.message}\n${log}`);
      });
  } else {
    local = startNginx(conf, stateDir, errorLog);
    await waitHealthy(`${url}/health`, local, errorLog).catch(async (e: Error) => {
      await local!.stop();
      rmSync(dir, { recursive: true, force: true });
      throw e;
    });
  }

  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  let master = local?.proc.pid;
  return {
    target,
    url,
    httpPort: r.httpPort,
    rtmpPort: r.rtmpPort,
    dir,
    confDir: r.confDir,
    masterPid() {
      master ??= Number(execFileSync('docker', ['inspect', '-f', '{{.State.Pid}}', container!.getId()], { encoding: 'utf8' }).trim());
      return master;
    },
    errorLog: () => read(errorLog),
    accessLog: () => read(join(stateDir, 'logs', 'access.log')),
    badLogLines: (expected = []) => badLines(read(errorLog), expected),
    async reload() {
      // SIGHUP, then wait until every process of the old generation is gone:
      // until then an old worker may still take a new connection.
      const script = (pid: number) => `old=$(cat /proc/${pid}/task/${pid}/children); kill -HUP ${pid}; ` +
        'for i in $(seq 150); do left=0; for p in $old; do [ -d /proc/$p ] && left=1; done; [ $left = 0 ] && exit 0; sleep 0.1; done; exit 1';
      // Not spawnSync: test origins live in this process and must keep answering.
      if (local) await new Promise((r) => execFile('sh', ['-c', script(local!.proc.pid!)], () => r(null)));
      if (container) await container.exec(['sh', '-c', script(1)]);
    },
    async stop() {
      if (local) await local.stop();
      if (container) await container.stop({ timeout: 5 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The nginx logs of a failed test. */
export function dumpLogs(edge: Edge | undefined): string {
  if (!edge) return '';
  return `--- ${edge.target.name} error.log ---\n${edge.errorLog().slice(-6000)}\n--- access.log ---\n${edge.accessLog().slice(-4000)}`;
}
