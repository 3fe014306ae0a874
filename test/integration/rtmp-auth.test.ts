/**
 * Publish auth with real ffmpeg through the real edge to nginx-rtmp: valid
 * keys publish under the clean stream name; wrong, expired, tampered and
 * missing keys are refused with an RTMP error ffmpeg prints, and nothing of
 * theirs reaches the origin; the callback mode speaks nginx-rtmp's on_publish.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signPublish } from '../../njs/publish.ts';
import { sha256Hex } from '../../njs/sign.ts';
import { freePort, startDemoOrigin, type DemoOrigin } from '../../tools/demo.ts';
import { get, sleep } from '../support/http.ts';
import { targets } from '../support/targets.ts';
import { useEdge } from '../support/use-edge.ts';
import { amf, handshake, message, publishSession } from '../support/rtmp-stream.ts';
import { feed, newReader } from '../../njs/rtmp.ts';
import { decodeAll } from '../../njs/amf0.ts';

/**
 * A raw RTMP publisher: handshake, connect, createStream, publish, with the
 * bytes after the handshake written `step` at a time (1: trickled), then
 * the onStatus code the far end answered with.
 */
function rawPublish(port: number, name: string, step: number): Promise<string> {
  return rawPublisher(port, name, step).then((p) => {
    p.sock.destroy();
    return p.code;
  });
}

/** Like rawPublish, but the connection stays open: `closed` resolves when the far end closes it. */
function rawPublisher(port: number, name: string, step: number): Promise<{ code: string; sock: Socket; closed: Promise<void> }> {
  return new Promise((resolveP) => {
    let closedResolve: () => void = () => undefined;
    const closed = new Promise<void>((r) => (closedResolve = r));
    let answered = false;
    const resolve = (code: string) => {
      if (answered) return;
      answered = true;
      resolveP({ code, sock, closed });
    };
    const sock = connect(port, '127.0.0.1');
    sock.setNoDelay(true); // one byte, one segment
    const reader = newReader({ maxMessage: 1 << 20, maxChunkSize: 1 << 24, maxChunkStreams: 64 });
    let phase = 0;
    const done = (code: string) => resolve(code);
    const timer = setTimeout(() => done('timeout'), 15000);
    const hs = handshake();
    sock.on('connect', () => sock.write(Buffer.from(hs.slice(0, 1537))));
    sock.on('data', async (d) => {
      const res = feed(reader, d);
      if (phase === 0 && reader.handshakeLeft === 0) {
        phase = 1;
        sock.write(Buffer.from(hs.slice(1537)));
        // Chunk size 128: the publish (long name) spans several chunks.
        const body = [
          ...message(3, 20, 0, amf('connect', 1, { app: 'live', flashVer: 'FMLE/3.0', tcUrl: `rtmp://127.0.0.1:${port}/live`, type: 'nonprivate' })),
          ...message(3, 20, 0, amf('createStream', 2, null)),
          ...message(8, 20, 1, amf('publish', 3, null, name, 'live')),
        ];
        for (let i = 0; i < body.length; i += step) {
          sock.write(Buffer.from(body.slice(i, i + step)));
          if (step < 16) await new Promise((r) => setImmediate(r));
        }
      }
      for (const m of res.messages) {
        if (m.type !== 20) continue;
        const v = decodeAll(m.body) as any[];
        if (v[0] === 'onStatus' && v[3]?.code) {
          clearTimeout(timer);
          done(String(v[3].code));
        }
      }
      if (res.error) done('parse error: ' + res.error);
    });
    sock.on('error', () => done('socket error'));
    sock.on('close', () => {
      closedResolve();
      done('closed');
    });
  });
}

const { targets: list } = targets();
const S1 = 'first-secret-0123456789';
const S2 = 'second-secret-0123456789';

/** A small HTTP service: records what it is asked, answers per `decide`. */
async function service(decide: (form: URLSearchParams) => Promise<number> | number) {
  const calls: URLSearchParams[] = [];
  const srv: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', async () => {
      const form = new URLSearchParams(body);
      calls.push(form);
      res.writeHead(await decide(form)).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(srv.address() as { port: number }).port}/on_publish`, calls, close: () => new Promise((r) => srv.close(r)) };
}

/** ffmpeg publishes a few seconds of test pattern; resolves with its exit code and log. */
function publish(url: string, seconds: number): Promise<{ code: number | null; log: string }> {
  return new Promise((res) => {
    const ff = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25', '-t', String(seconds),
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-f', 'flv', url], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    ff.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const kill = setTimeout(() => ff.kill('SIGKILL'), (seconds + 20) * 1000);
    ff.on('exit', (code) => {
      clearTimeout(kill);
      res({ code, log });
    });
  });
}

describe.each(list)('RTMP publish auth on $name', (target) => {
  let dir: string;
  let origin: DemoOrigin;
  let recorder: Awaited<ReturnType<typeof service>>;
  let authsvc: Awaited<ReturnType<typeof service>>;
  const now = () => Math.floor(Date.now() / 1000);
  const key = (secret: string, stream: string, exp: number, kid = '1') => `${stream}?exp=${exp}&sig=${signPublish(secret, 'live', stream, exp)}&kid=${kid}`;
  const originHas = async (stream: string) => (await get(`http://127.0.0.1:${origin.httpPort}/live/${stream}/playlist.m3u8`)).status === 200;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'media-edge-auth-'));
    chmodSync(dir, 0o755);
    recorder = await service(() => 200);
    authsvc = await service(async (f) => {
      const name = f.get('name');
      if (name === 'slow') await sleep(3000);
      return name === 'good' || name === 'slow' ? 200 : name === 'boom' ? 500 : 403;
    });
    origin = await startDemoOrigin(join(dir, 'origin'), await freePort(), await freePort(), { onPublish: recorder.url });
    writeFileSync(join(dir, 'keys.txt'), `# app/stream sha256(key)\nlive/keyed ${sha256Hex('opensesame')}\n`);
  });
  afterAll(async () => {
    await origin?.nginx.stop();
    await recorder?.close();
    await authsvc?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const base = () => ({ origins: [{ name: 'o', http: `127.0.0.1:${origin.httpPort}`, rtmp: `127.0.0.1:${origin.rtmpPort}` }], rtmp_reject_delay: '100ms' });
  const hmac = useEdge(target, () => ({ ...base(), rtmp_auth: { live: { mode: 'hmac', secrets: [S1, S2], play: true } }, rtmp_reject_delay_max: '400ms' }));
  const refuseDup = useEdge(target, () => ({ ...base(), rtmp_auth: { live: { mode: 'hmac', secrets: [S1] } }, rtmp_duplicate_publish: 'refuse' }));
  const takeover = useEdge(target, () => ({
    ...base(),
    rtmp_auth: { live: { mode: 'hmac', secrets: [S1] } },
    rtmp_duplicate_publish: 'takeover',
    rtmp_takeover_url: `http://{origin_host}:${origin.httpPort}/control/drop/publisher?app={app}&name={stream}`,
  }));
  const slow = useEdge(target, () => ({ ...base(), rtmp_auth: { live: { mode: 'hmac', secrets: [S1] } }, rtmp_reject_delay: '200ms', rtmp_reject_delay_max: '5s', rtmp_preauth_timeout: '2s', rtmp_idle_timeout: '3s', rtmp_max_connections_per_address: 5 }));
  const keyed = useEdge(target, () => ({ ...base(), rtmp_auth: { live: { mode: 'keys', key_file: join(dir, 'keys.txt') } } }));
  const callback = useEdge(target, () => ({ ...base(), rtmp_auth: { live: { mode: 'callback', url: authsvc.url, timeout: '1s' } } }));

  it('publishes with a valid key: the origin sees the clean name and no key', async () => {
    const r = await publish(`rtmp://127.0.0.1:${hmac.edge.rtmpPort}/live/${key(S1, 'good1', now() + 600)}`, 5);
    expect(r.log).toBe('');
    expect(r.code).toBe(0);
    const seen = recorder.calls.filter((c) => c.get('name') === 'good1');
    expect(seen.length).toBe(1);
    expect(seen[0].get('sig')).toBeNull(); // nginx-rtmp passes the publish query on: there is none
    expect(seen[0].get('exp')).toBeNull();
    expect(await originHas('good1')).toBe(true);
    // nginx writes a stream session's log line when the session ends, which
    // under load can be a moment after the publisher exits.
    let log = '';
    for (let i = 0; i < 50 && !log.includes('stream=live/good1'); i++) {
      if (i) await sleep(100);
      log = readFileSync(join(hmac.edge.dir, 'state/logs/rtmp-access.log'), 'utf8');
    }
    expect(log).toContain('auth=allow stream=live/good1');
    expect(log + hmac.edge.errorLog()).not.toContain('sig=');
  });

  it('checks RTMP playback with play keys when play auth is on', async () => {
    const pub = publish(`rtmp://127.0.0.1:${hmac.edge.rtmpPort}/live/${key(S1, 'watched', now() + 600)}`, 12);
    await sleep(2500);
    const play = (name: string) => new Promise<{ code: number | null; log: string }>((res) => {
      // A short probe: the test stream has no audio for ffmpeg to wait for.
      const ff = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-analyzeduration', '1000000', '-i', `rtmp://127.0.0.1:${hmac.edge.rtmpPort}/live/${name}`, '-t', '1', '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      ff.stderr.on('data', (d: Buffer) => (log += d.toString()));
      const kill = setTimeout(() => ff.kill('SIGKILL'), 20000);
      ff.on('exit', (code) => { clearTimeout(kill); res({ code, log }); });
    });
    const exp = now() + 600;
    const ok = await play(`watched?exp=${exp}&sig=${signPublish(S1, 'live', 'watched', exp, 'play')}`);
    expect(ok.log).toBe('');
    expect(ok.code).toBe(0);
    const missing = await play('watched');
    expect(missing.code).not.toBe(0);
    expect(missing.log).toContain('play refused: missing key');
    // A publish key does not let anyone play.
    const wrongKind = await play(key(S1, 'watched', exp));
    expect(wrongKind.log).toContain('play refused: bad signature');
    await pub;
  });

  it('accepts keys signed with the second secret (rotation)', async () => {
    const r = await publish(`rtmp://127.0.0.1:${hmac.edge.rtmpPort}/live/${key(S2, 'rotated', now() + 600, '2')}`, 2);
    expect(r.code).toBe(0);
  });

  const refusals: [string, (n: number) => string, string][] = [
    ['a wrong signature', (n) => key('not-the-secret-at-all', 'bad1', n + 600), 'bad signature'],
    ['an expired key', (n) => key(S1, 'bad2', n - 3600), 'expired key'],
    ['a key for another stream', (n) => key(S1, 'other', n + 600).replace('other?', 'bad3?'), 'bad signature'],
    ['a missing key', () => 'bad4', 'missing key'],
    ['a malformed key', () => 'bad5?exp=soon&sig=%%%', 'malformed key'],
    ['an unknown key id', (n) => key(S1, 'bad6', n + 600, '7'), 'unknown key id'],
  ];
  it.each(refusals)('refuses %s with an RTMP error, and the origin never hears of it', async (_what, make, reason) => {
    const url = `rtmp://127.0.0.1:${hmac.edge.rtmpPort}/live/${make(now())}`;
    const t0 = Date.now();
    const r = await publish(url, 3);
    expect(r.code).not.toBe(0);
    expect(r.log).toContain(reason);
    expect(Date.now() - t0).toBeLessThan(10000);
    const stream = url.split('/').pop()!.split('?')[0];
    expect(recorder.calls.some((c) => c.get('name') === stream)).toBe(false);
    expect(hmac.edge.errorLog()).toContain(`media-edge rtmp: deny app=live stream=${stream}`);
  });

  it('survives garbage on the port, and a valid publisher still works after it', async () => {
    const junk = [
      Buffer.from('GET / HTTP/1.1\r\n\r\n'),
      Buffer.alloc(5000, 0xff),
      Buffer.from(publishSession('live', 'x', 128).slice(0, 3073 + 40)).fill(0x41, 3073),
      Buffer.from([3]),
    ];
    await Promise.all(junk.map((j) => new Promise<void>((res) => {
      const sock = connect(hmac.edge.rtmpPort, '127.0.0.1', () => sock.end(j));
      sock.on('error', () => res());
      sock.on('close', () => res());
      sock.resume();
      setTimeout(() => { sock.destroy(); res(); }, 3000);
    })));
    const r = await publish(`rtmp://127.0.0.1:${hmac.edge.rtmpPort}/live/${key(S1, 'after', now() + 600)}`, 2);
    expect(r.code).toBe(0);
  });

  it('decides correctly when every byte arrives on its own and publish spans several chunks', async () => {
    const long = key(S1, 'trickle', now() + 600) + '&pad=' + 'p'.repeat(150);
    expect(await rawPublish(hmac.edge.rtmpPort, long, 1)).toBe('NetStream.Publish.Start');
    expect(recorder.calls.some((c) => c.get('name') === 'trickle' && c.get('sig') === null)).toBe(true);
    expect(await rawPublish(hmac.edge.rtmpPort, 'trickle2?exp=1&sig=' + 'A'.repeat(43) + '&pad=' + 'p'.repeat(150), 1)).toBe('NetStream.Publish.BadName');
    expect(await rawPublish(hmac.edge.rtmpPort, key(S1, 'chunky', now() + 600), 5)).toBe('NetStream.Publish.Start');
  });

  it('leaves a second publisher of a live stream to the origin by default', async () => {
    const a = await rawPublisher(hmac.edge.rtmpPort, key(S1, 'dup', now() + 600), 4096);
    expect(a.code).toBe('NetStream.Publish.Start');
    try {
      // nginx-rtmp refuses: already publishing.
      expect(await rawPublish(hmac.edge.rtmpPort, key(S1, 'dup', now() + 600), 4096)).not.toBe('NetStream.Publish.Start');
    } finally {
      a.sock.destroy();
    }
  });

  it('lets a second publisher take a live stream over: the origin drops the first, whose session ends', async () => {
    const a = await rawPublisher(takeover.edge.rtmpPort, key(S1, 'dup3', now() + 600), 4096);
    expect(a.code).toBe('NetStream.Publish.Start');
    const b = await rawPublisher(takeover.edge.rtmpPort, key(S1, 'dup3', now() + 600), 4096);
    try {
      expect(b.code).toBe('NetStream.Publish.Start');
      await a.closed; // the first publisher's connection is gone
      expect(b.sock.destroyed).toBe(false);
    } finally {
      a.sock.destroy();
      b.sock.destroy();
    }
  });

  it(target.njsShared
    ? 'refuses a second publisher of a live stream at the edge when set to, and accepts one after the first has gone'
    : 'without njs >= 0.8, "refuse" leaves a second publisher to the origin, which refuses it too', async () => {
    const a = await rawPublisher(refuseDup.edge.rtmpPort, key(S1, 'dup2', now() + 600), 4096);
    expect(a.code).toBe('NetStream.Publish.Start');
    try {
      const b = await publish(`rtmp://127.0.0.1:${refuseDup.edge.rtmpPort}/live/${key(S1, 'dup2', now() + 600)}`, 2);
      expect(b.code).not.toBe(0);
      if (target.njsShared) expect(b.log).toContain('stream already publishing');
    } finally {
      a.sock.destroy();
    }
    await sleep(4000); // the first session has ended: its heartbeat is stale
    expect(await rawPublish(refuseDup.edge.rtmpPort, key(S1, 'dup2', now() + 600), 4096)).toBe('NetStream.Publish.Start');
  });

  it(target.njsShared
    ? 'slows down repeated failures from one address (the delay doubles)'
    : 'without njs >= 0.8, every refusal waits the same delay', async () => {
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      const t0 = Date.now();
      expect(await rawPublish(slow.edge.rtmpPort, `nope${i}`, 4096)).toBe('NetStream.Publish.BadName');
      times.push(Date.now() - t0);
    }
    if (target.njsShared) expect(times[3]).toBeGreaterThan(times[0] + 800); // 200 -> 1600 ms
    else expect(times[3]).toBeLessThan(times[0] + 800);
  });

  it('closes a session that does not publish in time, or sends too much before publishing', async () => {
    // Handshake and connect, then nothing: refused at rtmp_preauth_timeout (2 s
    // here) and, staying silent, closed by rtmp_idle_timeout (3 s).
    const t0 = Date.now();
    const idle = await new Promise<string>((resolve) => {
      const sock = connect(slow.edge.rtmpPort, '127.0.0.1');
      sock.on('connect', () => sock.write(Buffer.from([...handshake(), ...message(3, 20, 0, amf('connect', 1, { app: 'live' }))])));
      sock.resume();
      sock.on('close', () => resolve('closed'));
      sock.on('error', () => resolve('closed'));
      setTimeout(() => { sock.destroy(); resolve('still open'); }, 15000);
    });
    expect(idle).toBe('closed');
    expect(Date.now() - t0).toBeGreaterThan(1500);
    expect(slow.edge.errorLog()).toContain('reason="no publish within the time allowed"');
    // 70 KB of commands that never publish (rtmp_preauth_bytes is 64 KB).
    const flood = await new Promise<string>((resolve) => {
      const sock = connect(slow.edge.rtmpPort, '127.0.0.1');
      const junk: number[] = [...handshake()];
      for (let i = 0; i < 400; i++) junk.push(...message(3, 20, 0, amf('_checkbw', i, null, 'x'.repeat(150))));
      sock.on('connect', () => sock.write(Buffer.from(junk)));
      sock.resume();
      sock.on('close', () => resolve('closed'));
      sock.on('error', () => resolve('closed'));
      setTimeout(() => { sock.destroy(); resolve('still open'); }, 15000);
    });
    expect(flood).toBe('closed');
    expect(slow.edge.errorLog()).toContain('reason="too much data before publish"');
  });

  it('bounds the connections one address may hold open at once', async () => {
    // The previous test's refused sessions hold their slots until their
    // delayed answers (up to 3.2 s here on njs >= 0.8, doubling) are due.
    await sleep(3500);
    const socks: Socket[] = [];
    const states = await Promise.all(Array.from({ length: 7 }, () => new Promise<string>((resolve) => {
      const sock = connect(slow.edge.rtmpPort, '127.0.0.1', () => sock.write(Buffer.from([3])));
      socks.push(sock);
      sock.on('close', () => resolve('closed'));
      sock.on('error', () => resolve('closed'));
      setTimeout(() => resolve('open'), 1000);
    })));
    socks.forEach((x) => x.destroy());
    expect(states.filter((x) => x === 'open').length).toBe(5);
    expect(slow.edge.errorLog()).toContain('limiting connections by zone "media_edge_rtmp_conn"');
  });

  it('checks keys from a hashed key list', async () => {
    expect((await publish(`rtmp://127.0.0.1:${keyed.edge.rtmpPort}/live/keyed?key=opensesame`, 2)).code).toBe(0);
    const wrong = await publish(`rtmp://127.0.0.1:${keyed.edge.rtmpPort}/live/keyed?key=guess`, 2);
    expect(wrong.code).not.toBe(0);
    expect(wrong.log).toContain('wrong key');
    const unknown = await publish(`rtmp://127.0.0.1:${keyed.edge.rtmpPort}/live/stranger?key=opensesame`, 2);
    expect(unknown.log).toContain('unknown stream');
  });

  it("asks an auth service in nginx-rtmp's on_publish form: 2xx allows, 4xx/5xx/timeout refuse", async () => {
    const ok = await publish(`rtmp://127.0.0.1:${callback.edge.rtmpPort}/live/good?token=abc`, 2);
    expect(ok.code).toBe(0);
    const call = authsvc.calls.find((c) => c.get('name') === 'good')!;
    expect(call.get('call')).toBe('publish');
    expect(call.get('app')).toBe('live');
    expect(call.get('addr')).toBe('127.0.0.1');
    expect(call.get('token')).toBe('abc'); // the client's query, as nginx-rtmp sends it
    for (const [name, reason] of [['bad', 'answered 403'], ['boom', 'answered 500'], ['slow', 'timed out']]) {
      const r = await publish(`rtmp://127.0.0.1:${callback.edge.rtmpPort}/live/${name}`, 2);
      expect(r.code, name).not.toBe(0);
      expect(r.log).toContain(reason);
    }
  });
});
