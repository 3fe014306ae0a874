/**
 * `npm start`: the edge with a demo origin and a live test stream, on loopback.
 *
 *   ffmpeg (test pattern) --RTMP--> edge :rtmp --> origin (nginx-rtmp, HLS)
 *   viewer --HTTP--> edge :http (cache) --> origin :http
 *
 * Everything lives in one state directory; Ctrl-C stops it all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { DEMO_REQUIREMENTS, ensureDeps } from './deps.ts';
import { detectNjsShared, detectQjs, startNginx, testConfig, waitHealthy, probe, type NginxProcess } from './nginx.ts';
import { findModulesDir, MODULE_DIRS, PACKAGE_ROOT } from './paths.ts';
import { render, writeRendered } from './render.ts';
import { fill } from './template.ts';
import { validate, type Settings } from './settings.ts';

/** A port that was free a moment ago on 127.0.0.1 (or the preferred one, if free). */
export function freePort(preferred = 0): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', (e) => (preferred ? freePort(0).then(res, rej) : rej(e)));
    srv.listen(preferred, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

export interface DemoOrigin {
  httpPort: number;
  rtmpPort: number;
  stateDir: string;
  nginx: NginxProcess;
}

/** Render and start the nginx-rtmp stand-in origin (also used by the e2e tests). */
export async function startDemoOrigin(stateDir: string, httpPort: number, rtmpPort: number, opts: { onPublish?: string } = {}): Promise<DemoOrigin> {
  for (const d of ['logs', 'tmp', 'hls', 'flat-hls', 'flat-dash']) mkdirSync(join(stateDir, d), { recursive: true });
  const modulesDir = findModulesDir() ?? MODULE_DIRS[0];
  const files = readdirSync(modulesDir);
  const conf = fill(readFileSync(join(PACKAGE_ROOT, 'nginx/examples/demo-origin.conf'), 'utf8'), {
    rtmp_module: files.includes('ngx_rtmp_module.so') ? `${modulesDir}/ngx_rtmp_module.so` : '',
    as_root: process.getuid?.() === 0 ? 'on' : '',
    state_dir: stateDir,
    listen_rtmp: `127.0.0.1:${rtmpPort}`,
    listen_http: `127.0.0.1:${httpPort}`,
    notify: opts.onPublish ?? '',
  }, 'demo-origin.conf');
  const confPath = join(stateDir, 'nginx.conf');
  writeFileSync(confPath, conf);
  const errorLog = join(stateDir, 'logs', 'error.log');
  const t = testConfig(confPath, stateDir, errorLog);
  if (!t.ok) throw new Error(`nginx rejected the demo origin config ${confPath}:\n${t.output}`);
  const nginx = startNginx(confPath, stateDir, errorLog);
  // The origin answers 404 on `/` once it is up.
  const deadline = Date.now() + 10000;
  while ((await probe(`http://127.0.0.1:${httpPort}/`)) !== 404) {
    if (Date.now() > deadline) throw new Error(`demo origin did not start; see ${errorLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { httpPort, rtmpPort, stateDir, nginx };
}

/** ffmpeg publishing a generated test pattern with a tone, in real time. */
export function publishTestPattern(rtmpUrl: string, opts: { seconds?: number; quiet?: boolean; size?: string } = {}): ChildProcess {
  const args = [
    '-hide_banner', '-loglevel', opts.quiet === false ? 'info' : 'error', '-nostdin', '-re',
    '-f', 'lavfi', '-i', `testsrc2=size=${opts.size ?? '640x360'}:rate=25`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
    ...(opts.seconds ? ['-t', String(opts.seconds)] : []),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '50', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '64k',
    '-f', 'flv', rtmpUrl,
  ];
  return spawn('ffmpeg', args, { stdio: ['ignore', 'inherit', 'pipe'] });
}

export interface DemoOptions {
  dir: string;
  httpPort: number;
  rtmpPort: number;
}

export async function runDemo(opts: DemoOptions): Promise<void> {
  ensureDeps(DEMO_REQUIREMENTS, (s) => console.log(s));
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const originDir = join(dir, 'origin');
  const edgeDir = join(dir, 'edge');
  const originHttp = await freePort(8088);
  const originRtmp = await freePort(1936);
  const edgeHttp = await freePort(opts.httpPort);
  const edgeRtmp = await freePort(opts.rtmpPort);

  const settingsInput: Partial<Settings> = {
    listen_http: `127.0.0.1:${edgeHttp}`,
    listen_rtmp: `127.0.0.1:${edgeRtmp}`,
    origins: [{ name: 'demo-origin', http: `127.0.0.1:${originHttp}`, rtmp: `127.0.0.1:${originRtmp}` }],
    state_dir: 'state',
    cache_dir: 'state/cache',
    ...(process.getuid?.() === 0 ? { user: 'root' } : {}),
  };
  const settingsPath = join(edgeDir, 'settings.json');
  mkdirSync(edgeDir, { recursive: true });
  writeFileSync(settingsPath, JSON.stringify(settingsInput, null, 2) + '\n');
  const v = validate(settingsInput);
  if (!v.ok) throw new Error(v.errors.join('\n'));
  const confDir = join(edgeDir, 'conf');
  writeRendered(render(v.value, { baseDir: edgeDir, confDir, njsShared: detectNjsShared(), qjs: detectQjs() }), confDir, v.value, edgeDir);
  const edgeConf = join(confDir, 'nginx.conf');
  const edgeErr = join(edgeDir, 'state', 'logs', 'error.log');
  const t = testConfig(edgeConf, join(edgeDir, 'state'), edgeErr);
  if (!t.ok) throw new Error(`nginx rejected the edge config ${edgeConf}:\n${t.output}`);

  const children: { stop(): Promise<void> }[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping...');
    for (const c of children.reverse()) await c.stop().catch(() => undefined);
    console.log(`stopped. State (config, cache, logs) kept in ${dir}`);
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    const origin = await startDemoOrigin(originDir, originHttp, originRtmp);
    children.push(origin.nginx);
    const edge = startNginx(edgeConf, join(edgeDir, 'state'), edgeErr);
    children.push(edge);
    await waitHealthy(`http://127.0.0.1:${edgeHttp}/health`, edge, edgeErr);

    const publishUrl = `rtmp://127.0.0.1:${edgeRtmp}/live/demo`;
    const startFfmpeg = (): void => {
      if (stopping) return;
      const ff = publishTestPattern(publishUrl);
      ff.stderr?.on('data', (d: Buffer) => process.stderr.write(`[ffmpeg] ${d}`));
      children.push({ stop: async () => void ff.kill('SIGINT') });
      ff.on('exit', (code) => {
        if (stopping) return;
        console.error(`ffmpeg exited (${code}); restarting the test stream in 2 s`);
        setTimeout(startFfmpeg, 2000);
      });
    };
    startFfmpeg();

    const play = `http://127.0.0.1:${edgeHttp}/live/demo/playlist.m3u8`;
    console.log(`
njs-media-edge demo is running (Ctrl-C stops everything).

  Playback (HLS via the edge):  ${play}
      try: ffplay ${play}
           curl -sI ${play} | grep -i x-cache-status
  Publish (RTMP via the edge):  rtmp://127.0.0.1:${edgeRtmp}/live/<stream>
      (the demo already publishes a test pattern as "demo")
  Edge health:                  http://127.0.0.1:${edgeHttp}/health
  Origin (nginx-rtmp, direct):  http://127.0.0.1:${originHttp}/live/demo/playlist.m3u8

  State directory: ${dir}
      edge config ${confDir}/, logs ${edgeDir}/state/logs/, cache ${edgeDir}/state/cache/
      origin ${originDir}/
`);
    const code = await edge.exited;
    if (!stopping) {
      console.error(`edge nginx exited (${code}); see ${edgeErr}`);
      await stopAll(1);
    }
  } catch (e) {
    console.error((e as Error).message);
    await stopAll(1);
  }
}
