/**
 * The drop-in as an operator does it, on the stock nginx of Debian 12, 13
 * and sid (media-edge-stock:<suite>: Debian's nginx, njs modules and nodejs,
 * nothing of ours): install the Debian package with apt, edit
 * /etc/media-edge/edge.json, run `media-edge install`, add the include lines
 * it prints to the stock nginx.conf, start nginx, publish with ffmpeg
 * through it to an nginx-rtmp origin and play the HLS back with ffmpeg;
 * run install again (nothing changes), change the origins (re-rendered,
 * reloaded), make a change nginx refuses (nothing changes, nginx keeps
 * serving), and purge the package (nginx keeps working).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { freePort, publishTestPattern, startDemoOrigin, type DemoOrigin } from '../../tools/demo.ts';
import { PACKAGE_ROOT } from '../../tools/paths.ts';
import { get, sleep } from '../support/http.ts';
import { targets } from '../support/targets.ts';

const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const DEB = `njs-media-edge_${VERSION}_all.deb`;

// One run per Debian suite of the chosen container targets (sid once).
const suites = [...new Set(targets().targets.filter((t) => t.image).map((t) => t.image!.split(':')[1]))];

/**
 * nginx.conf with the lines `media-edge install` printed, put where it says:
 * "main context" lines at the top, "at top level" blocks at the end, "inside
 * http" lines and the viewers' server right after `http {`.
 */
export function addPrintedLines(conf: string, printed: string): string {
  const top: string[] = [];
  const end: string[] = [];
  const http: string[] = [];
  let into: string[] | null = null;
  for (const line of printed.split('\n')) {
    const head = /^ {2}(\S.*):$/.exec(line);
    if (head) {
      into = /^main context/.test(head[1]) ? top : /^at top level/.test(head[1]) ? end : /^inside (http|the server)/.test(head[1]) ? http : null;
      continue;
    }
    if (into && /^ {6}/.test(line)) into.push(line.slice(6));
    else if (!/^ {6}/.test(line)) into = null;
  }
  const lines = conf.split('\n');
  const at = lines.findIndex((l) => /^\s*http\s*\{/.test(l));
  if (at < 0) throw new Error('no http block in nginx.conf');
  lines.splice(at + 1, 0, ...http.map((l) => `\t${l}`));
  return [...top, ...lines, ...end, ''].join('\n');
}

if (!suites.length) describe.skip(`the Debian package on stock nginx: ${targets().skipped ?? 'no container target chosen'}`, () => { it('needs Docker', () => {}); });

describe.each(suites)('the Debian package on stock nginx (%s)', (suite) => {
  let dir: string;
  let origin: DemoOrigin;
  let c: StartedTestContainer;
  let ffmpeg: ChildProcess | null = null;
  let httpPort: number;
  let rtmpPort: number;
  let sitePort: number;
  const transcript: string[] = [];

  /** A shell command in the container, as root; its output and exit code, kept for a failure's report. */
  async function sh(cmd: string): Promise<{ code: number; out: string }> {
    const r = await c.exec(['sh', '-c', cmd]);
    transcript.push(`$ ${cmd}\n${r.output}[exit ${r.exitCode}]`);
    return { code: r.exitCode, out: r.output };
  }
  const settings = (origins: object[], extra: object = {}) => JSON.stringify({
    listen_http: `127.0.0.1:${httpPort}`,
    listen_rtmp: `127.0.0.1:${rtmpPort}`,
    origins,
    state_dir: '/var/lib/media-edge',
    cache_dir: '/var/cache/media-edge',
    ...extra,
  });
  const writeSettings = (text: string) => c.copyContentToContainer([{ content: text, target: '/etc/media-edge/edge.json' }]);
  const tree = () => sh('cd /etc/nginx/media-edge && find . -type f | sort | xargs sha256sum');
  const masterPid = async () => (await sh('cat /run/nginx.pid')).out.trim();
  const report = () => onTestFailed(() => console.error(`--- ${suite} transcript ---\n${transcript.slice(-12).join('\n').slice(-8000)}`));

  beforeAll(async () => {
    const deb = join(PACKAGE_ROOT, 'dist', DEB);
    if (!existsSync(deb)) throw new Error(`${deb} missing: packaging/build-deb.sh (run by npm test before the tests)`);
    dir = mkdtempSync(join(tmpdir(), 'media-edge-package-'));
    chmodSync(dir, 0o755);
    origin = await startDemoOrigin(join(dir, 'origin'), await freePort(), await freePort());
    [httpPort, rtmpPort, sitePort] = [await freePort(), await freePort(), await freePort()];
    c = await new GenericContainer(`media-edge-stock:${suite}`)
      .withNetworkMode('host')
      .withBindMounts([{ source: join(PACKAGE_ROOT, 'dist'), target: '/deb', mode: 'ro' }])
      .withCommand(['sleep', 'infinity'])
      .withWaitStrategy(Wait.forSuccessfulCommand('true'))
      .start();
    // The stock default site stays, on a port of the test's (not the host's 80).
    await sh(`sed -i -e 's/listen 80 default_server;/listen 127.0.0.1:${sitePort} default_server;/' -e '/listen \\[::\\]:80 default_server;/d' /etc/nginx/sites-enabled/default`);
  });
  afterAll(async () => {
    ffmpeg?.kill('SIGKILL');
    await c?.stop({ timeout: 5 });
    await origin?.nginx.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs with apt, changing no file of nginx\'s', async () => {
    report();
    const before = await sh('find /etc/nginx /usr/share/nginx -type f | sort | xargs sha256sum');
    const r = await sh(`DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends /deb/${DEB}`);
    expect(r.code, r.out).toBe(0);
    expect((await sh('find /etc/nginx /usr/share/nginx -type f | sort | xargs sha256sum')).out).toBe(before.out);
    expect((await sh('media-edge --help')).out).toContain('media-edge install');
    expect((await sh('test -s /etc/media-edge/edge.json && test -s /usr/share/media-edge/dist/media-edge-http.js && echo ok')).out.trim()).toBe('ok');
    // The settings will hold secrets.
    expect((await sh('stat -c "%U %a" /etc/media-edge/edge.json')).out.trim()).toBe('root 640');
  });

  let printed = '';
  it('media-edge install renders, gives the directories to the workers, and prints the include lines', async () => {
    report();
    // The shipped example still holds its placeholder secret: refused, nothing written.
    const placeholder = await sh('media-edge install');
    expect(placeholder.code).toBe(1);
    expect(placeholder.out).toContain('placeholder secret');
    expect((await sh('test -e /etc/nginx/media-edge && echo there; true')).out).toBe('');
    await writeSettings(settings([{ name: 'origin', http: `127.0.0.1:${origin.httpPort}`, rtmp: `127.0.0.1:${origin.rtmpPort}` }], { rtmp_auth: { live: { mode: 'allow' } } }));
    // A directory of the operator's is never replaced.
    const foreign = await sh('media-edge install --dir /etc/nginx/sites-available');
    expect(foreign.code).toBe(1);
    expect(foreign.out).toContain('holds files media-edge install did not write');
    expect((await sh('ls /etc/nginx/sites-available')).out.trim()).toBe('default');
    const r = await sh('media-edge install');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('installed /etc/nginx/media-edge (nginx -t: ok)');
    printed = r.out;
    expect(printed).toContain('include /etc/nginx/media-edge/media-edge-http.conf;');
    expect(printed).toContain('include /etc/nginx/media-edge/media-edge-server.conf;');
    expect(printed).toContain('include /etc/nginx/media-edge/media-edge-stream.conf;');
    // Debian's stock nginx runs its workers as www-data.
    expect((await sh('stat -c "%U %a" /var/lib/media-edge/runs /var/cache/media-edge')).out.trim()).toBe('www-data 700\nwww-data 700');
    expect((await sh('stat -c "%U:%G %a" /var/lib/media-edge')).out.trim()).toBe('root:www-data 750');
    expect((await sh('stat -c "%U %a" /var/lib/media-edge/metrics')).out.trim()).toBe('www-data 700');
    // The publish-auth file: the workers read it, nobody else.
    expect((await sh('stat -c "%U:%G %a" /etc/nginx/media-edge/media-edge-rtmp-auth.json')).out.trim()).toBe('root:www-data 640');
  });

  it('with the printed lines in the stock nginx.conf, nginx serves a stream ffmpeg publishes through it', async () => {
    report();
    const conf = (await sh('cat /etc/nginx/nginx.conf')).out;
    await c.copyContentToContainer([{ content: addPrintedLines(conf, printed), target: '/etc/nginx/nginx.conf' }]);
    const t = await sh('nginx -t');
    expect(t.code, t.out).toBe(0);
    expect((await sh('nginx')).code).toBe(0);
    // Everything is in place now: install says so, and changes nothing but
    // what nginx needs besides the files (a directory removed comes back).
    await sh('rm -rf /var/lib/media-edge/metrics');
    const again = await sh('media-edge install');
    expect((await sh('stat -c "%U %a" /var/lib/media-edge/metrics')).out.trim()).toBe('www-data 700');
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('/etc/nginx/media-edge: unchanged');
    expect(again.out).toContain('includes every snippet');
    expect(again.out).not.toContain('reloaded');

    ffmpeg = publishTestPattern(`rtmp://127.0.0.1:${rtmpPort}/live/pkg`, { size: '320x240', seconds: 60 });
    const playlist = `http://127.0.0.1:${httpPort}/live/pkg/playlist.m3u8`;
    let text = '';
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      const r = await get(playlist).catch(() => null);
      text = r ? r.body.toString() : '';
      if (r && r.status === 200 && (text.match(/\.ts/g) ?? []).length >= 3) break;
      await sleep(500);
    }
    expect(text).toMatch(/#EXTM3U/);
    const play = spawnSync('ffmpeg', ['-v', 'error', '-nostdin', '-i', playlist, '-t', '4', '-f', 'null', '-'], { encoding: 'utf8', timeout: 60000 });
    expect(play.status, play.stderr).toBe(0);
    const seg = text.split('\n').filter((l) => /\.ts(\?|$)/.test(l)).pop()!;
    const r1 = await get(`http://127.0.0.1:${httpPort}/live/pkg/${seg}`);
    expect(r1.status).toBe(200);
    expect(r1.headers['x-cache-status']).toBeDefined();
    // The stock site still serves.
    expect((await get(`http://127.0.0.1:${sitePort}/`)).status).toBe(200);
  }, 120000);

  it('after an origin change it renders again and reloads; a change nginx refuses leaves everything as it was', async () => {
    report();
    const pid = await masterPid();
    await writeSettings(settings([
      { name: 'origin', http: `127.0.0.1:${origin.httpPort}`, rtmp: `127.0.0.1:${origin.rtmpPort}`, weight: 2 },
      { name: 'spare', http: `127.0.0.1:${origin.httpPort}`, backup: true },
    ], { rtmp_auth: { live: { mode: 'allow' } } }));
    const r = await sh('media-edge install');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('nginx reloaded');
    expect((await sh('cat /etc/nginx/media-edge/media-edge-origins.json')).out).toContain('"spare"');
    expect(await masterPid()).toBe(pid);
    await sleep(1000);
    expect((await get(`http://127.0.0.1:${httpPort}/health`)).status).toBe(200);

    const files = await tree();
    await writeSettings(settings([{ name: 'origin', http: `127.0.0.1:${origin.httpPort}`, rtmp: `127.0.0.1:${origin.rtmpPort}` }], { njs_dir: '/nonexistent', rtmp_auth: { live: { mode: 'allow' } } }));
    const bad = await sh('media-edge install');
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('nginx -t rejected the new configuration; /etc/nginx/media-edge is as it was and nginx was not reloaded');
    expect((await tree()).out).toBe(files.out);
    expect((await sh('ls -d /etc/nginx/media-edge.new /etc/nginx/media-edge.old 2>&1')).out).toContain('No such file');
    expect((await sh('nginx -t')).code).toBe(0);
    expect(await masterPid()).toBe(pid);
    expect((await get(`http://127.0.0.1:${httpPort}/health`)).status).toBe(200);
  }, 60000);

  it('apt-get purge leaves nginx working, with the include lines still in its config and after they are gone', async () => {
    report();
    ffmpeg?.kill('SIGKILL');
    const r = await sh('DEBIAN_FRONTEND=noninteractive apt-get purge -y njs-media-edge');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('nginx still includes /etc/nginx/media-edge');
    expect((await sh('nginx -t')).code).toBe(0);
    expect((await sh('for p in /usr/share/media-edge /usr/bin/media-edge /etc/media-edge /var/lib/media-edge /var/cache/media-edge; do [ -e $p ] && echo "$p is still there"; done; true')).out).toBe('');
    await sleep(1000);
    expect((await get(`http://127.0.0.1:${sitePort}/`)).status).toBe(200);
    // The operator takes the lines out, as told: nginx is as it was before.
    const conf = (await sh('cat /etc/nginx/nginx.conf')).out;
    const clean = conf.split('\n').filter((l) => !/media-edge|pcre_jit|variables_hash_max_size/.test(l)).join('\n');
    await c.copyContentToContainer([{ content: clean, target: '/etc/nginx/nginx.conf' }]);
    await sh('rm -rf /etc/nginx/media-edge /etc/nginx/media-edge.removed');
    const t = await sh('nginx -t && nginx -s reload');
    expect(t.code, t.out).toBe(0);
    await sleep(1000);
    expect((await get(`http://127.0.0.1:${sitePort}/`)).status).toBe(200);
  }, 60000);
});
