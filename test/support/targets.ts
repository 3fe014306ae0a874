/**
 * Where an edge under test runs: the local nginx, or nginx in a container
 * built from docker/ (Debian 12: nginx 1.22 + njs 0.7.9; Debian 13: nginx
 * 1.26 + njs 0.8.9; Debian sid: nginx 1.30 + njs 1.0, once per engine). The
 * same integration tests run against every target.
 *
 * MEDIA_EDGE_TARGETS picks targets, comma-separated: "local", "containers"
 * (all of CONTAINER_TARGETS) or a target's name (default: local,containers).
 * MEDIA_EDGE_REQUIRE_DOCKER=1 (set by .ci/run) turns a missing Docker or
 * image into a failure instead of a skip.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { detectNjsShared, detectQjs } from '../../tools/nginx.ts';

export interface Target {
  name: string;
  /** Docker image, or null for the local nginx. */
  image: string | null;
  /** njs >= 0.8.1 (shared dictionaries, js_periodic): the router is rendered. */
  njsShared: boolean;
  /** The njs has QuickJS (`js_engine qjs`). */
  qjs: boolean;
  /** The engine this target runs the edge with (setting njs_engine). */
  engine: 'njs' | 'qjs';
}

export const CONTAINER_TARGETS: Target[] = [
  { name: 'debian12-nginx1.22-njs0.7.9', image: 'media-edge:bookworm', njsShared: false, qjs: false, engine: 'njs' },
  { name: 'debian13-nginx1.26-njs0.8.9', image: 'media-edge:trixie', njsShared: true, qjs: false, engine: 'njs' },
  // njs 1.0 twice: its own engine (deprecated, still the default there) and QuickJS.
  { name: 'sid-njs', image: 'media-edge:sid', njsShared: true, qjs: true, engine: 'njs' },
  { name: 'sid-qjs', image: 'media-edge:sid', njsShared: true, qjs: true, engine: 'qjs' },
];

/** The nginx on this machine, with QuickJS where its njs has it. */
export function localTarget(): Target {
  const qjs = detectQjs();
  return { name: 'local', image: null, njsShared: detectNjsShared(), qjs, engine: qjs ? 'qjs' : 'njs' };
}

let cached: { targets: Target[]; skipped: string | null } | null = null;

export function dockerProblem(): string | null {
  const info = spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 10000 });
  if (info.error || info.status !== 0) return 'Docker engine is not running (start it with docker/start-dockerd.sh)';
  for (const t of CONTAINER_TARGETS) {
    const r = spawnSync('docker', ['image', 'inspect', t.image!], { stdio: 'ignore' });
    if (r.status !== 0) return `image ${t.image} is missing (build it with npm run images)`;
  }
  return null;
}

export function targets(): { targets: Target[]; skipped: string | null } {
  if (cached) return cached;
  const wanted = (process.env.MEDIA_EDGE_TARGETS ?? 'local,containers').split(',');
  const list: Target[] = [];
  let skipped: string | null = null;
  if (wanted.includes('local')) list.push(localTarget());
  const named = CONTAINER_TARGETS.filter((t) => wanted.includes(t.name));
  if (wanted.includes('containers') || named.length) {
    const problem = dockerProblem();
    if (problem && process.env.MEDIA_EDGE_REQUIRE_DOCKER === '1') throw new Error(`containerized suite required: ${problem}`);
    if (problem) skipped = problem;
    else list.push(...(wanted.includes('containers') ? CONTAINER_TARGETS : named));
  }
  cached = { targets: list, skipped };
  return cached;
}

const moduleCache = new Map<string, string[]>();

/** The nginx module files present in an image (for load_module lines). */
export function imageModuleFiles(image: string): string[] {
  let files = moduleCache.get(image);
  if (!files) {
    const out = execFileSync('docker', ['run', '--rm', '--network', 'host', image, 'ls', '/usr/lib/nginx/modules'], { encoding: 'utf8' });
    files = out.split('\n').filter(Boolean);
    moduleCache.set(image, files);
  }
  return files;
}
