/**
 * auth: cache hits with each token scheme (hmac, akamai, wowza,
 * secure_link) vs the same edge without auth.
 */
import { createHash } from 'node:crypto';
import EdgeAuth from 'akamai-edgeauth';
import { mintToken } from '../../njs/token.ts';
import { get } from '../support/http.ts';
import { WowzaOrigin } from '../support/wowza-origin.ts';
import { median, pct, ROUNDS, startBench, wrk, type Row } from './common.ts';

/**
 * Per scheme, on one edge where application `live` has no auth: the request
 * that brings the token (njs checks it; path mode answers 302 to the URL
 * under the link); then, once, the playlist reloads under the link (nginx
 * checks the link in C; the body is the cached one) and segments: the link
 * is the edge's own whatever the scheme. Query mode (each
 * viewer's copy rewritten by sub_filter) is measured once, for hmac.
 */
export async function authBench(rows: Row[]): Promise<void> {
  const origin = await new WowzaOrigin({ segmentSeconds: 2, window: 4, segmentBytes: 200 * 1024, sessions: false }).start();
  const secret = 'bench-secret-0123456789';
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const edge = await startBench({
    origins: [{ name: 'origin', http: origin.address }],
    playback_auth: {
      hm: { scheme: 'hmac', keys: { '1': secret } },
      hq: { scheme: 'hmac', keys: { '1': secret }, carry: 'query' },
      ak: { scheme: 'akamai', key_hex: ['0123456789abcdef0123456789abcdef'] },
      wz: { scheme: 'wowza', secret },
      sl: { scheme: 'secure_link', secret, expression: `$secure_link_expires$uri ${secret}` },
    },
  });
  const pl = (app: string) => `/${app}/bench/chunklist_b800000.m3u8`;
  const wzHash = createHash('sha256').update(`wz/bench?${[secret, `wowzatokenendtime=${exp}`].sort().join('&')}`).digest('base64').replace(/\+/g, '-').replace(/\//g, '_');
  const slMd5 = createHash('md5').update(`${exp}${pl('sl')} ${secret}`).digest('base64url');
  const hmac = (app: string) => `me_token=${(mintToken({ exp, path: `/${app}/bench/*`, kid: '1' }, secret) as { token: string }).token}`;
  const schemes: Array<[string, string, string]> = [
    ['hmac', 'hm', hmac('hm')],
    ['akamai', 'ak', `__token__=${new EdgeAuth({ key: '0123456789abcdef0123456789abcdef', endTime: exp }).generateACLToken('/ak/bench/*')}`],
    ['wowza', 'wz', `wowzatokenendtime=${exp}&wowzatokenhash=${wzHash}`],
    ['secure_link', 'sl', `md5=${slMd5}&expires=${exp}`],
  ];
  const rounds = Math.max(3, Math.ceil(ROUNDS / 2));
  const side = async (a: string, b: string): Promise<number[]> => {
    const x: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < rounds; i++) {
      x.push((await wrk(a)).rps);
      y.push((await wrk(b)).rps);
    }
    return [median(x), median(y)];
  };
  const lastUri = (body: Buffer) => body.toString().split('\n').filter((l) => l && !l.startsWith('#')).pop()!;
  const row = (label: string, [ours, base]: number[], target: number | null) =>
    rows.push([label, ours.toFixed(0), base.toFixed(0), pct(ours / base), target === null ? '' : `>= ${target * 100}%`, target === null ? '' : ours / base >= target ? 'ok' : 'MISSED']);
  try {
    const open = edge.url + pl('live');
    const openSeg = `${edge.url}/live/bench/${lastUri((await get(open)).body)}`;
    // Cached now, while the origin still has it (a stream's first playlist
    // is not prefetched, and the rows below outlast the live window).
    await get(openSeg);
    for (const [name, app, q] of schemes) {
      const entry = `${edge.url}${pl(app)}?${q}`;
      const first = await get(entry);
      if (first.status !== 302) throw new Error(`auth bench: ${name} playlist answered ${first.status}`);
      const under = new URL(first.headers.location as string, entry).toString();
      const list = await get(under);
      if (list.status !== 200) throw new Error(`auth bench: ${name} playlist under its link answered ${list.status}`);
      const seg = under.replace(/[^/]*$/, '') + lastUri(list.body);
      await get(seg); // cached while the origin has it (see openSeg)
      row(`${name}: request bringing the token (njs check, 302) (vs no auth)`, await side(entry, open), null);
      // Under the link every scheme is the same: nginx checks the edge's
      // own link in C, whatever token brought it. Measured once (hmac).
      if (name !== 'hmac') continue;
      row(`every scheme: cache-hit playlist reloads, link in the path (vs no auth)`, await side(under, open), 0.75);
      row(`every scheme: cache-hit segments, link in the path (vs no auth)`, await side(seg, openSeg), 0.9);
    }
    const q = await get(`${edge.url}${pl('hq')}?${hmac('hq')}`);
    // The playlist again, with the link its segment URIs carry.
    const qReload = `${edge.url}${pl('hq')}?${lastUri(q.body).split('?')[1].replace(/^me_run=[^&]*&/, '')}`;
    if ((await get(qReload)).status !== 200) throw new Error('auth bench: query-mode reload refused');
    row('hmac, query mode: cache-hit playlist reloads, link appended per viewer by sub_filter (vs no auth)', await side(qReload, open), 0.75);
  } finally {
    await edge.stop();
    await origin.stop();
  }
}
