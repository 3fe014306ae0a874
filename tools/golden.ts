/**
 * Golden files: every example settings file (nginx/examples/*.json)
 * rendered, for each njs the edge supports, into a checked-in tree under
 * test/golden/<example>/<njs>/, so that a change to the configuration shows
 * up to reviewers as a diff of nginx files, and a change meant to move
 * directives (issue 17: out of tools/render.ts into nginx/*.conf) is shown
 * to change none. test/unit/golden.test.ts compares; `npm run golden`
 * rewrites the tree after a deliberate change.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from './paths.ts';
import { render } from './render.ts';
import { validate } from './settings.ts';

export const GOLDEN_DIR = join(PACKAGE_ROOT, 'test', 'golden');
const EXAMPLES_DIR = join(PACKAGE_ROOT, 'nginx', 'examples');

/**
 * What the renderer learns from the machine, fixed: where the files go and
 * relative paths resolve (as if installed under /etc/media-edge), the
 * modules (Debian's directory and files), and the njs.
 */
const PLACE = { baseDir: '/etc/media-edge', confDir: '/etc/media-edge/conf' };
const MODULES_DIR = '/usr/lib/nginx/modules';
const MODULE_FILES = ['ngx_http_js_module.so', 'ngx_stream_js_module.so', 'ngx_stream_module.so', 'ngx_rtmp_module.so'];
export const GOLDEN_NJS: Record<string, { njsShared: boolean; qjs: boolean }> = {
  'njs-0.7': { njsShared: false, qjs: false },
  'njs-0.8': { njsShared: true, qjs: false },
  'njs-1.0-qjs': { njsShared: true, qjs: true },
};

/** Every golden file, by its path under GOLDEN_DIR, as the renderer makes it today. */
export function goldenTree(): Map<string, string> {
  const out = new Map<string, string>();
  for (const file of readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.json')).sort()) {
    const json = JSON.parse(readFileSync(join(EXAMPLES_DIR, file), 'utf8')) as Record<string, unknown>;
    const v = validate({ modules_dir: MODULES_DIR, ...json });
    if (!v.ok) throw new Error(`nginx/examples/${file}: ${v.errors.join('; ')}`);
    for (const [njs, caps] of Object.entries(GOLDEN_NJS)) {
      const files = render(v.value, { ...PLACE, moduleFiles: MODULE_FILES, ...caps });
      for (const [name, text] of Object.entries(files)) out.set(`${file.replace(/\.json$/, '')}/${njs}/${name}`, text);
    }
  }
  return out;
}

/** The checked-in tree, by path under GOLDEN_DIR. */
export function goldenOnDisk(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const e of readdirSync(join(GOLDEN_DIR, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else out.set(p, readFileSync(join(GOLDEN_DIR, p), 'utf8'));
    }
  };
  if (existsSync(GOLDEN_DIR)) walk('');
  return out;
}

/** Paths that differ between the renderer and the checked-in tree (added, removed or changed). */
export function goldenDiff(): string[] {
  const want = goldenTree();
  const have = goldenOnDisk();
  const paths = [...new Set([...want.keys(), ...have.keys()])].sort();
  return paths.filter((p) => want.get(p) !== have.get(p)).map((p) => `${!have.has(p) ? 'new' : !want.has(p) ? 'gone' : 'changed'}: test/golden/${p}`);
}

/** Rewrite the checked-in tree from the renderer. */
export function writeGolden(): number {
  const tree = goldenTree();
  rmSync(GOLDEN_DIR, { recursive: true, force: true });
  for (const [p, text] of tree) {
    const file = join(GOLDEN_DIR, p);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
  }
  return tree.size;
}
