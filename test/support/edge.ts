/**
 * Starts an edge under test: renders the real templates from settings (the
 * same path `media-edge render` takes), runs nginx on the chosen target with
 * free loopback ports, and gives the test the logs.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { freePort } from '../../tools/demo.ts';
import { startNginx, waitHealthy, type NginxProcess } from '../../tools/nginx.ts';
import { PACKAGE_ROOT } from '../../tools/paths.ts';
import { render, writeRendered } from '../../tools/render.ts';
import { validate, type Settings } from '../../tools/settings.ts';
import { imageModuleFiles, type Target } from './targets.ts';

export interface Edge {
  target: Target;
  url: string;
  httpPort: number;
  rtmpPort: number;
  dir: string;
  confDir: string;
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
 * Start an edge; a start that fails is tried again with fresh ports (a port
 * that was free when picked can be taken by a parallel test before nginx
 * binds it). The error of the last attempt carries every attempt's log.
 */
/**
 * `prepare` writes files into the edge's directory before nginx starts (a
 * test certificate): containers see only that directory and dist/.
 */
export async function startEdge(target: Target, overrides: Partial<Settings>, prepare?: (dir: string) => void): Promise<Edge> {
  const failures: string[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startEdgeOnce(target, overrides, prepare);
    } catch (e) {
      failures.push(`attempt ${attempt}: ${(e as Error).message}`);
      if (/invalid|unknown|not allowed|no such/i.test((e as Error).message) && !/Address already in use/.test((e as Error).message)) break;
    }
  }
  throw new Error(failures.join('\n'));
}

async function startEdgeOnce(target: Target, overrides: Partial<Settings>, prepare?: (dir: string) => void): Promise<Edge> {
  const dir = mkdtempSync(join(tmpdir(), 'media-edge-test-'));
  chmodSync(dir, 0o755);
  prepare?.(dir);
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
  writeRendered(render(v.value, { baseDir: dir, confDir, moduleFiles, njsShared: target.njsShared, qjs: target.qjs }), confDir, v.value, dir);
  const stateDir = join(dir, 'state');
  const errorLog = join(stateDir, 'logs', 'error.log');
  const conf = join(confDir, 'nginx.conf');
  const url = `http://127.0.0.1:${httpPort}`;

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
  return {
    target,
    url,
    httpPort,
    rtmpPort,
    dir,
    confDir,
    errorLog: () => read(errorLog),
    accessLog: () => read(join(stateDir, 'logs', 'access.log')),
    badLogLines(expected = []) {
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
      return read(errorLog)
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
    },
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

/** Prints the nginx logs of a failed test (call from afterEach with the test's state). */
export function dumpLogs(edge: Edge | undefined): string {
  if (!edge) return '';
  return `--- ${edge.target.name} error.log ---\n${edge.errorLog().slice(-6000)}\n--- access.log ---\n${edge.accessLog().slice(-4000)}`;
}
