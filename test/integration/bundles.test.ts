/**
 * A bundle that only works in Node can never pass: every njs bundle is loaded
 * by the real njs CLI, the pure modules are run inside njs and compared with
 * Node, and the example configuration passes `nginx -t` on every target.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JS build script without typings
import { buildNjs } from '../../tools/build.mjs';
import { NGINX_BIN } from '../../tools/nginx.ts';
import { PACKAGE_ROOT } from '../../tools/paths.ts';
import { render, writeRendered } from '../../tools/render.ts';
import { validate } from '../../tools/settings.ts';
import { run } from '../njs/vectors.ts';
import { imageModuleFiles, targets, type Target } from '../support/targets.ts';

const dist = join(PACKAGE_ROOT, 'dist');
const work = mkdtempSync(join(tmpdir(), 'media-edge-bundles-'));
chmodSync(work, 0o755);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Run a script in the njs CLI of a target (local, or inside its image). */
function njsRun(target: Target, dir: string, file: string): { ok: boolean; out: string } {
  // njs 1.0's CLI (the QuickJS-capable one) reads a file as a module only
  // with -m, which older CLIs refuse; -n picks the target's engine.
  const args = [...(target.qjs ? ['-m'] : []), ...(target.engine === 'qjs' ? ['-n', 'QuickJS'] : []), '-p', dir, file];
  const r = target.image
    ? spawnSync('docker', ['run', '--rm', '--network', 'host', '-v', `${dir}:${dir}:ro`, '-v', `${work}:${work}:ro`, target.image, 'njs', ...args], { encoding: 'utf8', timeout: 60000 })
    : spawnSync('njs', args, { encoding: 'utf8', timeout: 20000 });
  return { ok: r.status === 0 && !/Error/.test(r.stderr + r.stdout), out: (r.stdout + r.stderr).trim() };
}

const { targets: list } = targets();

describe('njs bundles', () => {
  const bundles = readdirSync(dist).filter((f) => /^media-edge-.*\.js$/.test(f));

  it('are built for both njs modules', () => {
    expect(bundles.sort()).toEqual(['media-edge-http.js', 'media-edge-space.js', 'media-edge-stream.js', 'media-edge-viewer.js']);
  });

  describe.each(list)('in the njs of $name', (target) => {
    it.each(bundles)('%s loads with a default export object', (b) => {
      const file = join(work, `load-${b}.mjs`);
      writeFileSync(file, `import m from '${b}';\nif (typeof m !== 'object') throw new Error('no default export object');\nconsole.log(Object.keys(m).join(','));\n`);
      const r = njsRun(target, dist, file);
      expect(r.out).not.toMatch(/Error/);
      expect(r.ok).toBe(true);
    });

    it('the pure modules give the same results as in Node', async () => {
      const out = join(work, 'vectors.js');
      if (!existsSync(out)) await buildNjs('test/njs/main.ts', out);
      const r = njsRun(target, work, out);
      expect(r.ok, r.out).toBe(true);
      expect(JSON.parse(r.out.split('\n').join(''))).toEqual(JSON.parse(run()));
    });
  });
});

describe('the njs syntax gate', () => {
  const cases: [string, string, RegExp][] = [
    ['class', 'export default class A {}', /class/i],
    ['destructuring', 'const { a } = { a: 1 }; export default { a };', /destructuring/i],
    ['for-of', 'let s = 0; for (const x of [1]) s += x; export default { s };', /for-of/i],
    ['default parameters', 'function f(a = 1) { return a; } export default { f };', /default/i],
    ['generators', 'function* g() { yield 1; } export default { g };', /generator/i],
    ['call spread', 'function f(...a: number[]) { return a; } export default { x: f(...[1, 2]) };', /spread/i],
    ['Map', 'export default { m: new Map() };', /Map/],
    ['Array.from', 'export default { a: Array.from([1]) };', /Array\.from/],
    ['await in a call argument', 'async function f(p: Promise<number>) { return String(await p); } export default { f };', /await/],
  ];
  it.each(cases)('refuses %s, naming the place', async (_name, src, why) => {
    const file = join(work, `gate-${_name.replace(/\W/g, '')}.ts`);
    writeFileSync(file, src);
    const err = await buildNjs(file, join(work, 'gate-out.js')).then(() => null, (e: Error) => e);
    expect(err, 'the build should have failed').not.toBeNull();
    expect(err!.message).toMatch(why);
    expect(err!.message).toMatch(/gate-[A-Za-z]+\.(ts|js):\d+/);
  });
});

describe('the example configuration passes nginx -t', () => {
  it.each(list)('on $name', (target) => {
    const dir = mkdtempSync(join(tmpdir(), 'media-edge-t-'));
    chmodSync(dir, 0o755);
    try {
      const v = validate({
        ...(JSON.parse(execFileSync('cat', [join(PACKAGE_ROOT, 'nginx/examples/edge.json')], { encoding: 'utf8' }))),
        state_dir: join(dir, 'state'),
        cache_dir: join(dir, 'cache'),
        njs_dir: dist,
        listen_http: '127.0.0.1:1', // nginx -t does not bind
        listen_rtmp: '127.0.0.1:2',
        user: 'root',
      });
      if (!v.ok) throw new Error(v.errors.join('\n'));
      const confDir = join(dir, 'conf');
      const moduleFiles = target.image ? imageModuleFiles(target.image) : undefined;
      writeRendered(render(v.value, { baseDir: dir, confDir, moduleFiles }), confDir, v.value, dir);
      const args = ['-t', '-p', join(dir, 'state'), '-e', join(dir, 'state/logs/error.log'), '-c', join(confDir, 'nginx.conf')];
      const r = target.image
        ? spawnSync('docker', ['run', '--rm', '--network', 'host', '-v', `${dir}:${dir}`, '-v', `${dist}:${dist}:ro`, target.image, 'nginx', ...args], { encoding: 'utf8' })
        : spawnSync(NGINX_BIN, args, { encoding: 'utf8' });
      expect(r.stderr).toContain('test is successful');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
