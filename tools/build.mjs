// Bundles the njs entries (dist/media-edge-http.js, dist/media-edge-viewer.js, dist/media-edge-space.js, dist/media-edge-stream.js)
// and the media-edge command (dist/cli.mjs): what is shipped. `--bench` bundles
// the benchmark (dist/bench.mjs) instead, for `npm run bench`: test code stays
// out of the production build.
//
// For the njs bundles esbuild doubles as a syntax gate: every feature the njs
// engine rejects is marked unsupported, so esbuild lowers what it can and fails
// the build, naming file and line, on the rest. What esbuild cannot see (call
// spread, missing built-ins) is caught by BANNED below, and every bundle is
// then loaded by the real njs CLI and real nginx in the tests.
import * as esbuild from 'esbuild';
import { copyFileSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
mkdirSync(dist, { recursive: true });

const NJS_UNSUPPORTED = [
  'class', 'destructuring', 'for-of', 'generator', 'async-generator', 'for-await',
  'default-argument', 'array-spread', 'object-rest-spread', 'optional-catch-binding',
  'optional-chain', 'logical-assignment', 'new-target', 'bigint', 'nested-rest-binding',
];

// Patterns in a finished njs bundle that njs 0.7.9 cannot run. Each says why.
const BANNED = [
  [/\.\.\.[A-Za-z_$[(]/, 'spread/rest syntax (njs rejects call spread)'],
  [/\bnew (Weak)?(Map|Set)\b/, 'Map/Set/WeakMap (missing in njs)'],
  [/\b(Proxy|Reflect)\./, 'Proxy/Reflect (missing in njs)'],
  [/\bArray\.from\b/, 'Array.from (missing in njs 0.7.9)'],
  [/\.replaceAll\(/, 'String.prototype.replaceAll (missing in njs 0.7.9)'],
  [/\bObject\.fromEntries\b/, 'Object.fromEntries (missing in njs 0.7.9)'],
  [/\.flat(Map)?\(/, 'Array.prototype.flat/flatMap (missing in njs 0.7.9)'],
  [/\(\s*await\b/, '`await` as a call argument (SyntaxError before njs 0.9.7): hoist it'],
  [/,\s*await\b/, '`await` as a call argument (SyntaxError before njs 0.9.7): hoist it'],
];

export const NJS_ENTRIES = { 'media-edge-http': 'njs/http.ts', 'media-edge-viewer': 'njs/viewer.ts', 'media-edge-space': 'njs/space.ts', 'media-edge-stream': 'njs/stream.ts' };

/** Bundle one njs entry to outfile; throws (with file:line) on what njs cannot run. */
export async function buildNjs(entry, outfile) {
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    target: 'es2017', // keeps native async/await; lower targets emit generators
    supported: Object.fromEntries(NJS_UNSUPPORTED.map((f) => [f, false])),
    external: ['crypto', 'fs', 'querystring', 'buffer', 'xml', 'zlib'],
    legalComments: 'none',
    logLevel: 'silent',
  });
  let code = readFileSync(outfile, 'utf8');
  // njs < 0.7.12 rejects `export { x as default }`; esbuild emits exactly that.
  code = code.replace(/export\s*\{\s*([A-Za-z_$][\w$]*)\s+as\s+default\s*\};?/, 'export default $1;');
  const problems = [];
  code.split('\n').forEach((line, i) => {
    for (const [re, why] of BANNED) if (re.test(line)) problems.push(`${outfile}:${i + 1}: ${why}\n    ${line.trim()}`);
  });
  if (problems.length) throw new Error(`njs bundle uses what njs cannot run:\n${problems.join('\n')}`);
  writeFileSync(outfile, code);
}

async function buildNode(name, entry) {
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: [entry],
    outfile: join(dist, `${name}.mjs`),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    if (process.argv.includes('--bench')) {
      await buildNode('bench', 'test/bench/main.ts');
    } else {
      for (const [name, entry] of Object.entries(NJS_ENTRIES)) await buildNjs(entry, join(dist, `${name}.js`));
      await buildNode('cli', 'tools/cli.ts');
      // The status page (GET /media-edge/) is served from beside the bundles.
      copyFileSync(join(root, 'www', 'status.html'), join(dist, 'media-edge-status.html'));
    }
  } catch (err) {
    console.error(err.message); // esbuild names file:line:column
    process.exit(1);
  }
}
