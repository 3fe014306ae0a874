/**
 * Runs the pure njs modules on fixed inputs and prints the results as JSON.
 * The bundles test runs this once in Node and once in the real `njs` CLI
 * (built through the same syntax gate as the modules nginx loads): any
 * difference means the code relies on something njs lacks or does otherwise.
 */
import { classifyPath, rejectReason, streamOf } from '../../njs/rules';
import { ascii, buildRing, crc32, encodeRing, ringOrder, steeringKeys } from '../../njs/ring';
import { chooseOrigin, memoryUpdate, weightedOrder } from '../../njs/routing';
import { decodeAll, encodeAll } from '../../njs/amf0';
import { feed, newReader, writeMessage } from '../../njs/rtmp';
import { decide, inspect, isoDuration, markForAuth, mpdRun, nextRun, resolveOnEdge, tagHlsRun, tagMpdRun } from '../../njs/playlist';
import { checkViewer, linkSig, originArgs, parseRevocations, tokenParams, withoutLink, type AuthConfig } from '../../njs/auth';
import { utf8Decode } from '../../njs/utf8';
import { keyPath } from '../../njs/rules';
import { parseStreamName, signPublish, verifyLocal } from '../../njs/publish';
import { feedClient, newSession, resume, type Step } from '../../njs/rtmp-session';
import { sha256Hex } from '../../njs/sign';
import { candidateSlots, stateKey } from '../../njs/state';
import { consume, newState, prune, render } from '../../njs/metrics';
import { formatKick, kickFile, kickLeft, kickName, parseKickRequest } from '../../njs/kick';
import { backoffMs, consumeEvents, delivered, enqueue, heartbeatBody, newEventsState, startLine } from '../../njs/events';
import { mintToken, secureLinkMd5, verifyEdgeAuth, edgeAuthEscape, verifyToken, wowzaSecureTokenHash } from '../../njs/token';

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
  '/vod/_definst_/mp4:folder/a.mp4/playlist.m3u8',
  '/live/studio2/cam1/playlist.m3u8',
  '/live/cam1/key.KEY',
  'http://x/y',
  '',
];

function rtmpVectors(): unknown[] {
  const out: unknown[] = [];
  const hs = new Uint8Array(3073);
  hs[0] = 3;
  const body = encodeAll(['publish', 5, null, 'cam\u00e91?exp=1&sig=x', 'live', { nested: [1, true, null] }]);
  const big = new Uint8Array(300);
  for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
  const msgs = [
    writeMessage({ csid: 8, type: 20, streamId: 1, timestamp: 0x1234567, body: body }, 128),
    writeMessage({ csid: 400, type: 9, streamId: 1, timestamp: 7, body: big }, 128),
  ];
  const r = newReader();
  const parts: Uint8Array[] = [hs, msgs[0], msgs[1]];
  for (let p = 0; p < parts.length; p++) {
    // Byte by byte: the reader must not care how data arrives.
    for (let i = 0; i < parts[p].length; i += 7) {
      const res = feed(r, parts[p].subarray(i, Math.min(i + 7, parts[p].length)));
      for (let m = 0; m < res.messages.length; m++) {
        const msg = res.messages[m];
        out.push({ csid: msg.csid, type: msg.type, ts: msg.timestamp, len: msg.body.length, values: msg.type === 20 ? decodeAll(msg.body) : null });
      }
      if (res.error) out.push({ error: res.error });
    }
  }
  out.push(decodeAll(new Uint8Array([3, 0, 1, 97, 5])));
  return out.concat(sessionVectors(hs));
}

/** A whole session through the inspector, 7 bytes at a time: what it forwards, asks and refuses. */
function sessionVectors(hs: Uint8Array): unknown[] {
  const out: unknown[] = [];
  const m = (csid: number, type: number, sid: number, body: Uint8Array) => writeMessage({ csid: csid, type: type, streamId: sid, timestamp: 0, body: body }, 128);
  const amf3 = (body: Uint8Array) => {
    const b = new Uint8Array(body.length + 1);
    b.set(body, 1);
    return b;
  };
  const media = new Uint8Array(500);
  const streams: Uint8Array[][] = [
    [hs, m(3, 20, 0, encodeAll(['connect', 1, { app: 'Live/_definst_', tcUrl: 'rtmp://x/Live' }])), m(3, 20, 0, encodeAll(['createStream', 2, null])),
      m(8, 20, 1, encodeAll(['publish', 3, null, 'caf\u00e9?exp=1&sig=abc', 'live'])), m(6, 9, 1, media), m(3, 17, 1, amf3(encodeAll(['PUBLISH', 4, null, 'other', 'live'])))],
    [hs, m(3, 20, 0, encodeAll(['connect', 1, { app: 'live' }])), m(6, 9, 1, media)],
    [hs, m(3, 20, 0, encodeAll(['connect', 1, { app: 'live' }])), m(3, 20, 1, encodeAll(['publish\u0000x', 3, null, 'a', 'live']))],
  ];
  for (let k = 0; k < streams.length; k++) {
    const sess = newSession({ preauthBytes: 65536, liveHeldBytes: 1 << 20 });
    let sent = 0;
    let asks = 0;
    const take = (st: Step): void => {
      for (let i = 0; i < st.out.length; i++) sent += st.out[i].length;
      if (st.refuse) out.push({ refuse: st.refuse });
      if (st.ask) {
        out.push({ ask: st.ask });
        asks++;
        take(resume(sess, asks === 1, 'no'));
      }
    };
    for (let p = 0; p < streams[k].length; p++) {
      const b = streams[k][p];
      for (let i = 0; i < b.length && !sess.error; i += 7) take(feedClient(sess, b.subarray(i, Math.min(i + 7, b.length))));
    }
    out.push({ sent: sent, live: sess.live, app: sess.app });
  }
  return out;
}

function authVectors(): unknown[] {
  const exp = 1800000000;
  const sig = signPublish('first-secret-0123456789', 'live', 'cam1', exp);
  const hmac = { mode: 'hmac' as const, secrets: ['first-secret-0123456789', 'second-secret-0123456789'] };
  return [
    sig,
    sha256Hex('opensesame'),
    parseStreamName('cam1?exp=1&sig=a%20b&exp=2&c=%zz'),
    verifyLocal(hmac, 'live', parseStreamName('cam1?exp=' + exp + '&sig=' + sig), exp - 10, 30),
    verifyLocal(hmac, 'live', parseStreamName('cam1?exp=' + exp + '&sig=' + sig), exp + 100, 30),
    verifyLocal(hmac, 'live', parseStreamName('cam2?exp=' + exp + '&sig=' + sig), exp - 10, 30),
    verifyLocal({ mode: 'keys', keys: { 'live/k': sha256Hex('x') } }, 'live', parseStreamName('k?key=x'), 0, 0),
  ];
}

function playlistVectors(): unknown[] {
  const policy = { fallback: 1, liveMax: 5, master: 5, vod: 3600, mpdMax: 5, notFound: 1, blocking: 1, honorOrigin: true };
  const hls = '#EXTM3U\r\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:9\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:6,\nmedia_w1_b1_9.ts\n#EXT-X-PART:DURATION=1,URI="p.m4s"\n#EXTINF:6,\n//cdn/x.ts\n';
  const enc = [0x23, 0x45, 0x58, 0x54, 0x4d, 0x33, 0x55, 0x0a, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80];
  const bodies = [hls, hls + '#EXT-X-ENDLIST\n', '<!doctype html>', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n'];
  const out: unknown[] = [];
  for (let i = 0; i < bodies.length; i++) {
    const b = new Uint8Array(bodies[i].length);
    for (let k = 0; k < b.length; k++) b[k] = bodies[i].charCodeAt(k);
    const seen = inspect(b, false, 4096);
    out.push(seen, decide(200, seen.info, i === 0, 'max-age=2', policy));
  }
  const long = new Uint8Array(5000);
  for (let k = 0; k < long.length; k++) long[k] = 0x41 + (k % 26);
  out.push(utf8Decode(new Uint8Array(enc), 0, enc.length), utf8Decode(new Uint8Array([0x41, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0x42]), 0, 7), inspect(new Uint8Array([0xc0, 0x80]), false, 10), (utf8Decode(long, 0, long.length) as string).length);
  out.push(inspect(new Uint8Array([0x3c, 0x4d, 0x50, 0x44, 0x20, 0x74, 0x79, 0x70, 0x65, 0x3d, 0x22, 0x64, 0x79, 0x6e, 0x61, 0x6d, 0x69, 0x63, 0x22, 0x3e]), true, 100));
  out.push(tagHlsRun(hls, 'r1'), tagMpdRun('<SegmentTemplate media="c_$Number$.m4s?a" initialization="i.m4s"/>', mpdRun('2026')));
  out.push(isoDuration('PT1M2.5S'), resolveOnEdge('/a/b/c.m3u8', '../../../x.ts?q'), keyPath('/live/c/media_w12_b1_3.ts'));
  out.push(nextRun({ run: 'abc', seq: 10, last: 12, at: 0 }, inspect(new Uint8Array(0), false, 1).info, 5, 100));
  return out;
}

function tokenVectors(): unknown[] {
  const keys = { '1': 'first-secret', '2': 'second-secret' };
  const m = mintToken({ exp: 1800000600, st: 1799999000, path: '/live/cam1/*', ip: '203.0.113.7', kid: '1' }, keys['1']);
  const t = m.ok ? m.token : '';
  const c = { path: '/live/cam1/a.ts', nowS: 1800000000, skewS: 5, clientIp: '203.0.113.7', keys: keys };
  const cases = [t, t.replace('cam1', 'cam2'), t + '~', 'exp=1~path=/~kid=1~sig=' + 'A'.repeat(43), t.replace('exp=1', 'exp=0')];
  const out: unknown[] = [m];
  for (let i = 0; i < cases.length; i++) out.push(verifyToken(cases[i], c));
  out.push(verifyToken(t, { path: '/live/cam10/a.ts', nowS: 1800000000, skewS: 5, clientIp: '203.0.113.7', keys: keys }));
  // Minted by the akamai-edgeauth npm package (acl mode sha256 with ip; url mode md5).
  const ea = 'ip=203.0.113.7~exp=1800000300~acl=/vod/*!/live/cam1/*~hmac=3963beba15ddbb6849eab728cfab076ecc0ee86c5ef732cecd67db928de14cdd';
  const eaCtx = { path: '/live/cam1/a.ts', nowS: 1800000000, skewS: 5, clientIp: '203.0.113.7', keyHex: '52a152a152a152a152a152a152a1', algorithm: 'sha256' as const, mode: 'acl' as const };
  out.push(verifyEdgeAuth(ea, eaCtx), verifyEdgeAuth(ea.replace('cam1', 'cam2'), eaCtx));
  out.push(verifyEdgeAuth('exp=1800000300~hmac=5cad05e9e7338bc5515c7db9a522c949', { path: '/live/cam1/a.ts', nowS: 1800000000, skewS: 5, clientIp: '', keyHex: '52a152a152a152a152a152a152a1', algorithm: 'md5', mode: 'url' }));
  // Both kinds by default; escape early (minted by akamai-edgeauth, sha256, /live/cam1/a.ts).
  const anyCtx = { path: '/live/cam1/a.ts', nowS: 1800000000, skewS: 5, clientIp: '203.0.113.7', keyHex: '52a152a152a152a152a152a152a1', algorithm: 'sha256' as const, mode: 'any' as const };
  out.push(verifyEdgeAuth(ea, anyCtx), verifyEdgeAuth(ea, { path: '/live/cam1/a.ts', nowS: 1800000000, skewS: 5, clientIp: '203.0.113.7', keyHex: '52a152a152a152a152a152a152a1', algorithm: 'sha256', mode: 'url' }));
  out.push(verifyEdgeAuth('exp=1800000300~hmac=07a4a0e735c9f0e86e8a3574f069aa61958acf13718c6efceb5f19d39bf50c3e', anyCtx));
  out.push(verifyEdgeAuth('exp=1800000300~hmac=ba56ae1f21a1b33ba73b6827bae37f00eac5af0aab9d804201f9d4c6eb355854', { path: '/live/cam1/a.ts', nowS: 1800000000, skewS: 5, clientIp: '', keyHex: '52a152a152a152a152a152a152a1', algorithm: 'sha256', mode: 'any', escapeEarly: true }));
  out.push(edgeAuthEscape("/a b/~'*"));
  out.push(secureLinkMd5('2147483647/s/link127.0.0.1 secret'));
  out.push(wowzaSecureTokenHash('2020s-v/mp4:eeb162-1-20200331-18431.mp4', 'afakesecret', { wowzatokenendtime: '1595365679' }, 'wowzatoken', '172.18.0.1'));
  return out;
}

/** Playback auth as njs/viewer.ts runs it per request: every scheme, every step. */
function viewerVectors(): unknown[] {
  const base = { forward: false, link_secret: 'link-secret', skew_s: 5, link_ttl_s: 600, revoked_file: '' };
  const hmac: AuthConfig = { ...base, scheme: 'hmac', param: 'me_token', keys: { '1': 'first-secret' } };
  const m = mintToken({ exp: 1800000600, path: '/live/cam1/*', kid: '1' }, 'first-secret');
  const t = m.ok ? m.token : '';
  // No default parameters: njs 0.7 has none (shared/reference/njs.md).
  const q = (args: string, path?: string, cookie?: string) => ({ path: path || '/live/cam1/playlist.m3u8', args: args, cookie: cookie || '', clientIp: '203.0.113.7', nowS: 1800000000 });
  const out: unknown[] = [];
  out.push(checkViewer(hmac, q('me_token=' + t + '&x=1')));
  out.push(checkViewer(hmac, q('me_token=' + encodeURIComponent(t))));
  out.push(checkViewer(hmac, q('', '/live/cam1/playlist.m3u8', 'a=b; me_token=' + t)));
  out.push(checkViewer(hmac, q('me_token=' + t + '&me_token=' + t)), checkViewer(hmac, q('me_token=%zz')), checkViewer(hmac, q('')));
  out.push(checkViewer(hmac, q('me_token=' + t), parseRevocations('kid:1 revoked;').list));
  out.push(checkViewer(hmac, q('me_token=' + t), parseRevocations('token:' + t.slice(-43, -21) + ' revoked;').list));
  const ak: AuthConfig = { ...base, scheme: 'akamai', param: '__token__', key_hex: ['00', '52a152a152a152a152a152a152a1'], algorithm: 'sha256', mode: 'acl' };
  out.push(checkViewer(ak, q('__token__=ip=203.0.113.7~exp=1800000300~acl=/vod/*!/live/cam1/*~hmac=3963beba15ddbb6849eab728cfab076ecc0ee86c5ef732cecd67db928de14cdd')));
  const wz: AuthConfig = { ...base, scheme: 'wowza', param: 'wowzatoken', secret: 'afakesecret', ip: true };
  out.push(checkViewer(wz, { path: '/2020s-v/mp4:eeb162-1-20200331-18431.mp4/playlist.m3u8', args: 'wowzatokenendtime=1595365679&wowzatokenhash=YVNbN1yQoLZdB1iL0-dao8Bjn0emRwZuSPmTw738TtQ=', cookie: '', clientIp: '172.18.0.1', nowS: 1595365000 }));
  const sl: AuthConfig = { ...base, scheme: 'secure_link', param: 'md5', secret: 'secret', expression: '{secure_link_expires}{uri}{remote_addr} secret' };
  const md5 = secureLinkMd5('1800000300/live/cam1/playlist.m3u8203.0.113.7 secret');
  out.push(checkViewer(sl, q('md5=' + md5 + '&expires=1800000300')), checkViewer(sl, q('md5=' + md5 + '&expires=1800000301')));
  out.push(tokenParams(wz, 'wowzatokenhash=a%2Bb&wowzatokenendtime=1&other=2', ''), originArgs(wz, 'wowzatokenhash=x&_HLS_msn=3&flag&me_sig=y'), withoutLink('me_exp=1&me_tid=1.a&me_sig=s&_HLS_msn=4&x'));
  out.push(parseRevocations('# c\nkid:2 revoked;\ntoken:abc revoked;\nbad line\n'));
  out.push(linkSig(1800000600, '1.abcdefghijklmnopqrstuv', 'live/cam1', null, 'link-secret'), linkSig(1800000600, '1.abcdefghijklmnopqrstuv.ip', 'live/cam1', '203.0.113.7', 'link-secret'));
  out.push(markForAuth('#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\nmedia_1.ts?me_run=r\n#EXT-X-RENDITION-REPORT:URI="../cam1/b.m3u8"\n/live/other/x.ts\nhttps://cdn/x.ts\n', false, '/live/cam1/a.m3u8'));
  out.push(markForAuth('<SegmentTemplate media="c_$Number$.m4s?me_run=r" initialization="i.m4s"/>', true, '/live/cam1/manifest.mpd'));
  return out;
}

/** The router's weighted choice for 200 streams: njs's Math.imul and Math.log must agree with Node's. */
function weightedVectors(): string {
  const names = [crc32(ascii('o0')), crc32(ascii('o1')), crc32(ascii('edge-2'))];
  let out = '';
  for (let i = 0; i < 200; i++) out += weightedOrder(crc32(ascii('live/s' + i)), names, [1, 2, 3]).join('');
  return out;
}

/** The metrics log counted and rendered (njs/metrics.ts): the same totals and text in every njs as in Node. */
function metricsVectors(): unknown[] {
  const cfg = { windowMs: 30000, maxStreams: 2, maxViewers: 3, originNames: { '127.0.0.1:8088': 'wowza' } };
  const s = newState();
  const line = (src: string, at: string, kind: string, cache: string, status: string, bytes: string, stream: string, reject: string, denied: string, ua: string, us: string, ut: string, viewer: string) =>
    [src, at, kind, cache, status, bytes, stream, reject, denied, ua, us, ut, viewer, src === 'v' && kind === 'media' ? '0; stale-if-error age=2' : '-'].join('\t') + '\n';
  const text = line('v', '1800000000.123', 'segment', 'MISS', '200', '1000', 'live/a', '-', '-', '10.9.9.9:1, 127.0.0.1:8088', '502, 200', '0.001, 0.020', 'a:1.2.3.4 ua')
    + line('v', '1800000001.000', 'media', 'HIT', '200', '300', 'live/a', '-', '-', '-', '-', '-', 't:k.abc')
    + line('v', '1800000001.500', 'other', '-', '400', '0', '/x', 'dot-segment', '-', '-', '-', '-', 'a:1.2.3.4 ua')
    + line('v', '1800000002.000', 'segment', 'HIT', '200', '1000', 'live/b', '-', '-', '-', '-', '-', 'a:5.6.7.8 ua')
    + line('v', '1800000002.100', 'segment', 'HIT', '200', '1000', 'live/c', '-', '-', '-', '-', '-', 'a:9.9.9.9 ua')
    + line('v', '1800000002.200', 'segment', 'HIT', '200', '1000', 'live/d', '-', '-', '-', '-', '-', 'a:9.9.9.8 ua')
    + line('p', '1800000002.300', 'media', '-', '200', '300', 'live/a', '-', '-', '-', '-', '-', '-')
    + line('v', '1800000002.400', '-', 'HIT', '200', '700', '/live/_definst_/cam7/media_w3_b800000_9.ts', '-', '-', '-', '-', '-', 'a:9.9.9.7 ua')
    + 'not ours\n' + line('v', '1800000003', 'segment', 'HIT', '200', '5', 'live/a', '-', '-', '-', '-', '-', 'a:1.2.3.4 ua').slice(0, 20);
  const used = consume(s, text, cfg, (v: string) => v.slice(0, 6));
  const before = JSON.stringify(s);
  prune(s, 1800000031500, cfg);
  return [used, text.length, JSON.parse(before), s.viewerCount, render(s, { version: '1', nginx: '1', njs: '1', engine: 'njs', up: { wowza: 1 }, lagBytes: 3, publishers: { live: 2 } })];
}

export function run(): string {
  const out = [];
  for (let i = 0; i < URIS.length; i++) {
    const u = URIS[i];
    const path = u.split('?')[0];
    out.push({ u: u, reject: rejectReason(u), kind: classifyPath(path), stream: streamOf(path) });
  }
  const ring = { data: encodeRing(buildRing([{ address: '127.0.0.1:8088', weight: 1 }, { address: '10.0.0.2:1935', weight: 3 }, { address: 'unix:/tmp/o.sock', weight: 2 }])), servers: 3 };
  const orders = [];
  for (let i = 0; i < 20; i++) orders.push(ringOrder(ring, ascii('live/s' + i)));
  return JSON.stringify({
    rules: out,
    ring: { length: ring.data.length, head: ring.data.slice(0, 40), orders: orders, steer: steeringKeys(ring, ['a', 'b', 'c']) },
    routing: [chooseOrigin([2, 0, 1], 1, [false, true, false]), memoryUpdate([0, 1], '127.0.0.1:1, 127.0.0.1:2', '404, 200', ['127.0.0.1:1', '127.0.0.1:2']), weightedVectors()],
    rtmp: rtmpVectors(),
    auth: authVectors(),
    playlist: playlistVectors(),
    token: tokenVectors(),
    viewer: viewerVectors(),
    metrics: metricsVectors(),
    kick: kickVectors(),
    events: eventsVectors(),
    // Slots (njs/state.ts): numbers near 2^35, where an engine's integer
    // arithmetic would differ from a double's.
    state: [candidateSlots('ffffffffffffffff0123456789abcdef', 5000000), candidateSlots('00000001fffffffe0000000000000000', 10000), candidateSlots('0123456789abcdef0123456789abcdef', 5),
      stateKey('/live/cam1/chunklist.m3u8', '_HLS_msn=3&wowzasessionid=9&me_run=x&dvr&a=1')],
  });
}

/** Publish events (njs/events.ts): log lines to bodies, queues, backoff. */
function eventsVectors(): unknown[] {
  const st = newEventsState();
  const url = 'http://10.0.0.5:8000/e';
  const text = startLine(1700000000123, '7.1', 'live', 'cam\u00e91', '10.0.0.1', false, 'publish refused: bad signature', 'rtmp://e/live\tx\ny') +
    'e\t1700000060.500\t7.1\tlive/cam1\t10.0.0.1\t1234\t60.377\t200\tkicked\n' + 'e\t17000';
  const used = consumeEvents(st, text, [url], 'edge1', 1700000061000);
  enqueue(st, [url], heartbeatBody([{ id: '7.1', app: 'live', stream: 'cam1', since: 1700000000000, addr: '10.0.0.1' }], 'edge1', 1700000090000), 1700000090000, true);
  delivered(st, url, false, 'answered 500', 1700000091000);
  // Bodies parsed: njs 0.7.9 orders the keys of a large object its own way (JSON is the same).
  const q = st.urls[url].queue;
  const bodies: unknown[] = [];
  for (let i = 0; i < q.length; i++) bodies.push(JSON.parse(q[i].body));
  return [used, bodies, q.length, st.urls[url].failures, st.urls[url].next, backoffMs(1), backoffMs(7), backoffMs(40)];
}

/** Kick requests and files (njs/kick.ts): the bad forms too, whose messages njs must word as Node does. */
function kickVectors(): unknown[] {
  const json = 'application/json';
  const bodies: [string, string][] = [
    [json, '{"app":"live","stream":"Cam1","seconds":30}'],
    [json, '{"app":"live","stream":"x","seconds":"30"}'],
    [json, '{"app":"live","stream":"x\\u0000"}'],
    [json, '[1]'],
    [json, '{"app":"live","stream":"x","extra":1}'],
    ['application/x-www-form-urlencoded; charset=utf-8', 'app=live&stream=cam%3A1&seconds=0'],
    ['application/x-www-form-urlencoded', 'app=live&stream=%E0%A4%A'],
    ['text/plain', ''],
  ];
  const out: unknown[] = [];
  for (let i = 0; i < bodies.length; i++) {
    const p = parseKickRequest(bodies[i][0], bodies[i][1]);
    // JSON.parse's own message differs between engines: compare the verdict, not its words.
    out.push(p.ok ? p.kick : [p.status, p.error.indexOf('not JSON') === 0 ? 'not JSON' : p.error]);
  }
  const f = kickFile('Live', 'Cam:1');
  out.push(f, kickName(f), kickName('live%2F..'), kickName('nope'), kickLeft(formatKick(5000, 1000, '127.0.0.1'), 2000), kickLeft('{"until":"x"}', 0), kickLeft(null, 0));
  return out;
}
