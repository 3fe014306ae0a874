import { readFileSync } from 'node:fs';
import { get } from '../support/http.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';
import { median, startBench, wrk } from './common.ts';
const origin = await new WowzaOrigin({ segmentSeconds: 2, window: 4, segmentBytes: 200 * 1024, sessions: false }).start();
const on = await startBench({ origins: [{ name: 'origin', http: origin.address }], playlist_ttl: '1s', metrics: true }, { logs: true });
const off = await startBench({ origins: [{ name: 'origin', http: origin.address }], playlist_ttl: '1s', metrics: false }, { logs: true });
const pl = '/live/bench/chunklist_b800000.m3u8';
for (const e of [on, off]) await get(e.url + pl);
const a: number[] = [], b: number[] = [];
for (let i = 0; i < Number(process.env.R ?? 6); i++) {
  const c0 = on.cpu();
  a.push((await wrk(on.url + pl)).rps);
  const c1 = on.cpu();
  const d0 = off.cpu();
  b.push((await wrk(off.url + pl)).rps);
  const d1 = off.cpu();
  console.log(`on ${a[i].toFixed(0)} (${((c1 - c0) / 3 * 100).toFixed(0)}% cpu) off ${b[i].toFixed(0)} (${((d1 - d0) / 3 * 100).toFixed(0)}% cpu) ratio ${(a[i] / b[i] * 100).toFixed(1)}`);
}
console.log('median ratio', (median(a) / median(b) * 100).toFixed(1));
const log = on.errorLog().split('\n').filter((l) => l.includes('XCOUNT'));
console.log(log.slice(-12).map((l) => l.replace(/.*XCOUNT/, '')).join('\n'), log.length);
await on.stop(); await off.stop(); await origin.stop();
