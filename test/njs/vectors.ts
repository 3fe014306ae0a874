/**
 * Runs the pure njs modules on fixed inputs and prints the results as JSON.
 * The bundles test runs this once in Node and once in the real `njs` CLI
 * (built through the same syntax gate as the modules nginx loads): any
 * difference means the code relies on something njs lacks or does otherwise.
 */
import { classifyPath, rejectReason } from '../../njs/rules';

export const URIS = [
  '/live/_definst_/cam1/playlist.m3u8',
  '/live/cam1/chunklist_w1234_b800000.m3u8?wowzasessionid=1234',
  '/live/%2e%2e/etc/passwd',
  '/live/.%2E/x',
  '/live/a%00.ts',
  '/live/a%0D%0A.ts',
  '/live/a%2fb.ts',
  '/live/a\\b.ts',
  '/live//a.ts',
  '/live/%zz.ts',
  '/live/a%4',
  '/live/caf%C3%A9/media_1.ts',
  '/live/cam1/chunk_ctvideo_ridp0va0br994339_cinit_w1146251977_mpd.m4s',
  '/live/cam1/playlist_sfm4s.m3u8',
  '/live/cam1/key.KEY',
  'http://x/y',
  '',
];

export function run(): string {
  const out = [];
  for (let i = 0; i < URIS.length; i++) {
    const u = URIS[i];
    out.push({ u: u, reject: rejectReason(u), kind: classifyPath(u.split('?')[0]) });
  }
  return JSON.stringify(out);
}
