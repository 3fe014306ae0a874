/**
 * What the edge needs from the system, and how to get it. `npm start` and
 * `npm test` call ensureDeps(): where something is missing they say exactly
 * what to install, and on Debian/Ubuntu as root they install it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MODULE_DIRS } from './paths.ts';

export interface Requirement {
  what: string;
  /** Debian/Ubuntu package that provides it. */
  pkg: string;
  present: () => boolean;
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function gstElement(name: string): boolean {
  return spawnSync('gst-inspect-1.0', [name], { stdio: 'ignore' }).status === 0;
}

function module(file: string): boolean {
  return MODULE_DIRS.some((d) => existsSync(join(d, file)));
}

export const EDGE_REQUIREMENTS: Requirement[] = [
  { what: 'nginx', pkg: 'nginx', present: () => onPath('nginx') || existsSync('/usr/sbin/nginx') },
  { what: 'njs http module (ngx_http_js_module.so)', pkg: 'libnginx-mod-http-js', present: () => module('ngx_http_js_module.so') },
  { what: 'njs stream module (ngx_stream_js_module.so)', pkg: 'libnginx-mod-stream-js', present: () => module('ngx_stream_js_module.so') },
];

/** The demo and end-to-end tests also need the stand-in origin, a real encoder and a real player. */
export const DEMO_REQUIREMENTS: Requirement[] = [
  ...EDGE_REQUIREMENTS,
  { what: 'nginx-rtmp module (ngx_rtmp_module.so), the demo origin', pkg: 'libnginx-mod-rtmp', present: () => module('ngx_rtmp_module.so') },
  { what: 'ffmpeg and ffprobe', pkg: 'ffmpeg', present: () => onPath('ffmpeg') && onPath('ffprobe') },
  { what: 'njs command-line interpreter', pkg: 'njs', present: () => onPath('njs') },
  { what: 'Chromium, for the hls.js player test', pkg: 'chromium', present: () => existsSync(CHROMIUM) },
];

/** `npm test` also plays peers nobody here wrote against the edge. */
export const TEST_REQUIREMENTS: Requirement[] = [
  ...DEMO_REQUIREMENTS,
  // librtmp peers for the hostile-client tests: they ignore RTMP errors, so the edge must hang up.
  { what: 'rtmpdump (librtmp)', pkg: 'rtmpdump', present: () => onPath('rtmpdump') },
  { what: 'GStreamer gst-launch-1.0', pkg: 'gstreamer1.0-tools', present: () => onPath('gst-launch-1.0') },
  { what: 'GStreamer rtmpsink (librtmp)', pkg: 'gstreamer1.0-plugins-bad', present: () => gstElement('rtmpsink') },
  { what: 'GStreamer avenc_flv', pkg: 'gstreamer1.0-libav', present: () => gstElement('avenc_flv') },
  // A real Prometheus scrapes /metrics; promtool checks the exposition text.
  { what: 'Prometheus and promtool', pkg: 'prometheus', present: () => onPath('prometheus') && onPath('promtool') },
];

/**
 * `npm run bench` (test/bench/): the edge, the load generator, callgrind for
 * the instruction counts (the `cpu` row) and Varnish, the second baseline
 * (the cost, capacity and latency rows). Not in TEST_REQUIREMENTS: the
 * tests and CI do not run the benchmark. The engines rows need a container
 * image (`npm run images`), not a package.
 */
export const BENCH_REQUIREMENTS: Requirement[] = [
  ...EDGE_REQUIREMENTS,
  { what: 'wrk', pkg: 'wrk', present: () => onPath('wrk') },
  { what: 'valgrind (callgrind)', pkg: 'valgrind', present: () => onPath('valgrind') },
  { what: 'Varnish (varnishd)', pkg: 'varnish', present: () => onPath('varnishd') || existsSync('/usr/sbin/varnishd') },
];

/** Debian's Chromium, which playwright-core drives in the player test. */
export const CHROMIUM = '/usr/bin/chromium';

export function missing(reqs: Requirement[]): Requirement[] {
  return reqs.filter((r) => !r.present());
}

export function installHint(miss: Requirement[]): string {
  const pkgs = [...new Set(miss.map((r) => r.pkg))].join(' ');
  return `Missing: ${miss.map((r) => r.what).join('; ')}.\nInstall with: sudo apt-get install -y ${pkgs}`;
}

/**
 * Make sure reqs are present. As root on a system with apt-get (and unless
 * MEDIA_EDGE_NO_INSTALL is set) install what is missing; otherwise throw with
 * the exact command to run.
 */
export function ensureDeps(reqs: Requirement[], log: (s: string) => void = console.error): void {
  const miss = missing(reqs);
  if (miss.length === 0) return;
  const canInstall = process.getuid?.() === 0 && onPath('apt-get') && !process.env.MEDIA_EDGE_NO_INSTALL;
  if (!canInstall) throw new Error(installHint(miss));
  const pkgs = [...new Set(miss.map((r) => r.pkg))];
  log(`Installing ${pkgs.join(' ')} with apt-get...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env });
  const still = missing(reqs);
  if (still.length) throw new Error(installHint(still));
}
