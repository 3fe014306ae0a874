/**
 * Operations (issue 20) through the real edge to a real nginx-rtmp origin on
 * every target: a kick that sticks (POST /media-edge/kick drops a live
 * publisher, a real ffmpeg, and refuses its reconnects with an RTMP error
 * until the kick ends; the origins' drop API is called; reloads keep it),
 * every bad request to the endpoint answered with a 4xx that changes
 * nothing; publish events (start, end, heartbeat), signed, to a receiver
 * that is slow, then failing, through a reload: no publish waits, nothing
 * is lost, order is kept.
 */
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signPublish } from '../../njs/publish.ts';
import { useDemoOrigin } from '../support/demo-origin.ts';
import { get, sleep } from '../support/http.ts';
import { craft } from '../support/rtmp-client.ts';
import { amf, handshake, message, publishSession } from '../support/rtmp-stream.ts';
import { targets } from '../support/targets.ts';
import { useEdge } from '../support/use-edge.ts';

const { targets: list } = targets();
const S1 = 'operations-secret-0123456789';
const now = () => Math.floor(Date.now() / 1000);
const key = (stream: string) => {
  const exp = now() + 600;
  return `${stream}?exp=${exp}&sig=${signPublish(S1, 'live', stream, exp)}`;
};
/** A publishing client's bytes after the handshake (craft does the handshake). */
const publishing = (name: string) => publishSession('live', name).slice(handshake().length);
const connected = () => [...message(3, 20, 0, amf('connect', 1, { app: 'live', flashVer: 'FMLE/3.0', tcUrl: 'rtmp://127.0.0.1/live' })), ...message(3, 20, 0, amf('createStream', 2, null))];
/** The kicked stream asked for as nginx-rtmp would also read it: an AMF3 command spelled otherwise, or a second publish after an allowed one. */
const hostileReconnects = (kicked: string, other: string) => ({
  amf3: [...connected(), ...message(3, 17, 1, [0, ...amf('Publish', 5, null, kicked, 'live')])],
  second: [...connected(), ...message(8, 20, 1, amf('publish', 3, null, other, 'live')), ...message(3, 20, 0, amf('createStream', 4, null)), ...message(8, 20, 2, amf('publish', 5, null, kicked, 'live'))],
});

/** An HTTP peer that records every request (the origins' drop API here). */
async function recorder() {
  const calls: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[] = [];
  const srv: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      calls.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.writeHead(200).end('1');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  return { port, calls, close: () => new Promise((r) => srv.close(r)) };
}

describe.each(list)('operations on $name', (target) => {
  let api: Awaited<ReturnType<typeof recorder>>;

  beforeAll(async () => {
    api = await recorder();
  });
  afterAll(async () => {
    await api?.close();
  });
  const demo = useDemoOrigin('ops');
  // The drop API is a recorder, not nginx-rtmp's: the edge's own session
  // must end by itself, and the call must name the stream.
  const h = useEdge(target, () => ({
    origins: [demo.entry('o')],
    rtmp_auth: { live: { mode: 'hmac', secrets: [S1] } },
    rtmp_reject_delay: '100ms',
    // Five refusals inside the kick's time: the doubling stops at this.
    rtmp_reject_delay_max: '200ms',
    rtmp_takeover_url: `http://127.0.0.1:${api.port}/control/drop/publisher?app={app}&name={stream}`,
  }));
  const kickUrl = () => `${h.edge.url}/media-edge/kick`;
  const kick = async (body: unknown) => {
    const r = await get(kickUrl(), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, json: JSON.parse(r.body.toString()) };
  };
  const kicks = async () => JSON.parse((await get(kickUrl())).body.toString()).kicks as { app: string; stream: string; seconds_left: number }[];

  it('kicks a live publisher (ffmpeg): its session ends, its reconnects are refused with an RTMP error until the kick ends', async () => {
    const ff = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25', '-t', '60',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-f', 'flv', `rtmp://127.0.0.1:${h.edge.rtmpPort}/live/${key('kick1')}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    ff.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((r) => ff.on('exit', (code) => r(code)));
    try {
      // Publishing: nginx-rtmp executed the publish (its own log says so at info).
      const executed = () => readFileSync(join(demo.dir, 'origin/logs/error.log'), 'utf8').split("publish: name='kick1'").length - 1;
      const allowed = () => executed() > 0;
      for (let i = 0; i < 100 && !allowed(); i++) await sleep(100);
      expect(allowed()).toBe(true);
      await sleep(500);
      const t0 = Date.now();
      const k = await kick({ app: 'live', stream: 'kick1', seconds: 4 });
      expect(k.status).toBe(200);
      expect(k.json).toMatchObject({ app: 'live', stream: 'kick1', seconds: 4, origins: [{ status: 200 }] });
      expect(api.calls.map((c) => c.url)).toContain('/control/drop/publisher?app=live&name=kick1');
      // The edge ends its own session of the stream (the drop API here is a recorder).
      const code = await Promise.race([exited, sleep(8000).then(() => 'still running')]);
      expect(code).not.toBe('still running');
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(code).not.toBe(0);
      // The encoder's reconnect, in any spelling the origin might read as the same stream: refused, told why.
      for (const name of [key('kick1'), key('KICK1'), 'kick1']) {
        const a = await craft(h.edge.rtmpPort, publishing(name), { until: 'NetStream.Publish.Start', waitMs: 5000 });
        a.sock.destroy();
        expect(a.said, name).toContain('NetStream.Publish.BadName');
        expect(a.said, name).not.toContain('NetStream.Publish.Start');
        expect(a.closed, name).toBe(true);
      }
      const hostile = hostileReconnects(key('kick1'), key('free2'));
      const amf3 = await craft(h.edge.rtmpPort, hostile.amf3, { waitMs: 5000 });
      expect([amf3.said, amf3.closed]).toEqual([expect.arrayContaining(['NetStream.Publish.BadName']), true]);
      expect(amf3.said).not.toContain('NetStream.Publish.Start');
      const second = await craft(h.edge.rtmpPort, hostile.second, { waitMs: 5000 });
      expect(second.said.filter((c) => c.startsWith('NetStream.Publish.'))).toEqual(['NetStream.Publish.Start', 'NetStream.Publish.BadName']);
      expect(second.closed).toBe(true);
      expect(h.edge.errorLog()).toMatch(/deny app=live stream=kick1 client=\S+ reason="publish refused: stream kicked: refused for \d+ more seconds"/);
      expect(executed()).toBe(1); // the origin executed none of them
      // Other streams are not touched.
      const other = await craft(h.edge.rtmpPort, publishing(key('free1')), { until: 'NetStream.Publish.Start' });
      other.sock.destroy();
      expect(other.said).toContain('NetStream.Publish.Start');
      expect((await kicks()).map((x) => x.stream)).toEqual(['kick1']);
      // Once the kick ends, the stream publishes again.
      await sleep(Math.max(0, t0 + 4500 - Date.now()));
      const back = await craft(h.edge.rtmpPort, publishing(key('kick1')), { until: 'NetStream.Publish.Start' });
      back.sock.destroy();
      expect(back.said).toContain('NetStream.Publish.Start');
      expect(executed()).toBe(2);
      expect(await kicks()).toEqual([]);
    } finally {
      ff.kill('SIGKILL');
    }
    expect(log).not.toBe('');
  }, 60_000);

  it('keeps a kick through a reload, and lifts it with "seconds": 0', async () => {
    expect((await kick({ app: 'live', stream: 'kick2', seconds: 600 })).status).toBe(200);
    await h.edge.reload();
    const refused = await craft(h.edge.rtmpPort, publishing(key('kick2')), { until: 'NetStream.Publish.Start', waitMs: 5000 });
    refused.sock.destroy();
    expect(refused.said).toContain('NetStream.Publish.BadName');
    expect((await kicks())[0]).toMatchObject({ app: 'live', stream: 'kick2' });
    expect((await kicks())[0].seconds_left).toBeGreaterThan(590);
    // A form works as JSON does (what `curl -d` sends).
    const lift = await get(kickUrl(), { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'app=live&stream=kick2&seconds=0' });
    expect([lift.status, JSON.parse(lift.body.toString())]).toEqual([200, { app: 'live', stream: 'kick2', lifted: true }]);
    const ok = await craft(h.edge.rtmpPort, publishing(key('kick2')), { until: 'NetStream.Publish.Start' });
    ok.sock.destroy();
    expect(ok.said).toContain('NetStream.Publish.Start');
  }, 30_000);

  it('answers every bad kick request with a clear 4xx and changes nothing', async () => {
    expect((await kick({ app: 'live', stream: 'keep', seconds: 300 })).status).toBe(200);
    const before = await kicks();
    const kicksDir = join(h.edge.dir, 'state', 'kicks');
    const files = readdirSync(kicksDir).sort();
    const json = 'application/json';
    const cases: [string, string, string, number, RegExp][] = [
      ['POST', json, '{"app": "live", "stream": ', 400, /not JSON/],
      ['POST', json, '["live", "x"]', 400, /JSON object/],
      ['POST', json, '{"stream": "x"}', 400, /^app: required/],
      ['POST', json, '{"app": "live"}', 400, /^stream: required/],
      ['POST', json, '{"app": "live", "stream": "../x"}', 400, /^stream:/],
      ['POST', json, '{"app": "live", "stream": "a b"}', 400, /^stream:/],
      ['POST', json, '{"app": "live", "stream": "x\\u0000y"}', 400, /^stream:/],
      ['POST', json, '{"app": "live", "stream": "keep?key=1"}', 400, /^stream:/],
      ['POST', json, `{"app": "live", "stream": "${'x'.repeat(129)}"}`, 400, /^stream:/],
      ['POST', json, '{"app": "li/ve", "stream": "x"}', 400, /^app:/],
      ['POST', json, '{"app": "live", "stream": "x", "seconds": -1}', 400, /^seconds:/],
      ['POST', json, '{"app": "live", "stream": "x", "seconds": 1.5}', 400, /^seconds:/],
      ['POST', json, '{"app": "live", "stream": "x", "seconds": "ten"}', 400, /^seconds:/],
      ['POST', json, '{"app": "live", "stream": "x", "seconds": 99999999}', 400, /^seconds:/],
      ['POST', json, '{"app": "live", "stream": "x", "secnds": 10}', 400, /^secnds: unknown field/],
      ['POST', 'application/x-www-form-urlencoded', 'app=live&stream=x&stream=y', 400, /^stream: given twice/],
      ['POST', 'application/x-www-form-urlencoded', 'app=live&stream=%E0%A4%A', 400, /URL-encoded/],
      ['POST', 'text/plain', '{"app": "live", "stream": "x"}', 415, /Content-Type/],
      ['POST', json, '', 400, /not JSON|body is required/],
    ];
    for (const [method, type, body, status, error] of cases) {
      const r = await get(kickUrl(), { method, headers: { 'Content-Type': type }, body });
      expect([r.status, body], `${method} ${type} ${body}`).toEqual([status, body]);
      expect(JSON.parse(r.body.toString()).error, `${method} ${body}`).toMatch(error);
    }
    // Other methods, other spellings of the path, a query: the gate's 405 before anything runs.
    for (const [method, path] of [['PUT', '/media-edge/kick'], ['DELETE', '/media-edge/kick'], ['POST', '/MEDIA-EDGE/kick'], ['POST', '/media-edge/kick?x=1'], ['POST', '/media-edge//kick'], ['POST', '/media-edge/%6bick']]) {
      const r = await get(`${h.edge.url}${path}`, { method, headers: { 'Content-Type': json }, body: '{"app": "live", "stream": "x"}' });
      expect([method, path, r.status]).toEqual([method, path, /%|\/\//.test(path) ? 400 : 405]);
    }
    // Too big a body: nginx refuses it before njs reads it.
    const big = await get(kickUrl(), { method: 'POST', headers: { 'Content-Type': json }, body: JSON.stringify({ app: 'live', stream: 'x', pad: 'x'.repeat(8192) }) });
    expect(big.status).toBe(413);
    // Not from control_allow: 403, even with a good body.
    const outsider = await get(kickUrl(), { method: 'POST', headers: { 'Content-Type': json }, body: '{"app": "live", "stream": "x"}', localAddress: '127.0.0.2' });
    expect(outsider.status).toBe(403);
    expect(await kicks()).toEqual(before);
    expect(readdirSync(kicksDir).sort()).toEqual(files);
    expect((await kick({ app: 'live', stream: 'keep', seconds: 0 })).status).toBe(200);
  });
});

/**
 * An events receiver: checks each signature, records the events, and
 * answers as `mode` says: "ok" (204), "fail" (500) or "slow" (past the
 * edge's events_timeout).
 */
async function receiver(secret: string) {
  const events: Record<string, any>[] = [];
  const bad: string[] = [];
  let tries = 0;
  const state = { mode: 'ok' as 'ok' | 'fail' | 'slow' };
  const srv: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      tries++;
      const sig = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
      if (req.headers['x-media-edge-signature'] !== sig || req.headers['content-type'] !== 'application/json') bad.push(`${String(req.headers['x-media-edge-signature'])} ${body}`);
      if (state.mode === 'fail') return void res.writeHead(500).end();
      if (state.mode === 'slow') return void setTimeout(() => res.writeHead(204).end(), 2500);
      events.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/events`;
  return { url, events, bad, state, tries: () => tries, close: () => new Promise((r) => srv.close(r)) };
}

describe.each(list)('publish events on $name', (target) => {
  const SECRET = 'events-secret-0123456789';
  let rx: Awaited<ReturnType<typeof receiver>>;
  let scraping: ReturnType<typeof setInterval> | undefined;

  beforeAll(async () => {
    rx = await receiver(SECRET);
  });
  afterAll(async () => {
    if (scraping) clearInterval(scraping);
    await rx?.close();
  });
  const demo = useDemoOrigin('events');
  const h = useEdge(target, () => ({
    origins: [demo.entry('o')],
    rtmp_auth: { live: { mode: 'hmac', secrets: [S1] } },
    rtmp_reject_delay: '100ms',
    events_urls: [rx.url],
    events_secret: SECRET,
    events_heartbeat: '2s',
    events_timeout: '1s',
  }));
  beforeAll(() => {
    // njs < 0.8.1 has no js_periodic: the events leave with each /metrics
    // scrape, so this plays Prometheus (README, "Publish events").
    if (!target.njsShared) scraping = setInterval(() => void get(`${h.edge.url}/metrics`).catch(() => undefined), 1000);
  });
  const waitFor = async <T>(what: string, find: () => T | undefined, ms = 20000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = find();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`no ${what} within ${ms} ms; got ${JSON.stringify(rx.events)}`);
      await sleep(200);
    }
  };
  const eventOf = (action: string, stream: string) => () => rx.events.find((e) => e.action === action && e.stream === stream);

  it('sends signed start (allowed, refused), end and heartbeat events with nginx-rtmp and SRS field names', async () => {
    const a = await craft(h.edge.rtmpPort, publishing(key('ev1')), { until: 'NetStream.Publish.Start' });
    expect(a.said).toContain('NetStream.Publish.Start');
    const refused = await craft(h.edge.rtmpPort, publishing('ev2?exp=1&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'));
    expect(refused.said).toContain('NetStream.Publish.BadName');
    // A heartbeat lists the live publisher.
    const beat = await waitFor('heartbeat listing ev1', () => rx.events.find((e) => e.action === 'heartbeat' && e.publishers.some((p: any) => p.stream === 'ev1')));
    expect(beat).toMatchObject({ call: 'heartbeat', edge: expect.any(String), publishers: [{ app: 'live', name: 'ev1', stream: 'ev1', ip: '127.0.0.1', addr: '127.0.0.1', duration_s: expect.any(Number) }] });
    a.sock.destroy();
    const start = await waitFor('start of ev1', eventOf('on_publish', 'ev1'));
    expect(start).toMatchObject({ call: 'publish', app: 'live', name: 'ev1', stream: 'ev1', allowed: true, addr: '127.0.0.1', ip: '127.0.0.1', tcurl: 'rtmp://127.0.0.1/live' });
    expect(start.client_id).toBe(start.clientid);
    expect(Date.parse(start.time)).toBeGreaterThan(Date.now() - 60000);
    const denied = await waitFor('refusal of ev2', eventOf('on_publish', 'ev2'));
    expect(denied).toMatchObject({ allowed: false, reason: expect.stringMatching(/expired|signature/) });
    const end = await waitFor('end of ev1', eventOf('on_unpublish', 'ev1'));
    expect(end).toMatchObject({ call: 'publish_done', app: 'live', stream: 'ev1', client_id: start.client_id, reason: 'closed', bytes_in: expect.any(Number) });
    expect(end.bytes_in).toBeGreaterThan(1000);
    expect(end.duration_s).toBeGreaterThan(0);
    expect(rx.events.indexOf(start)).toBeLessThan(rx.events.indexOf(end));
    // A kicked publisher's end says so.
    const k = await craft(h.edge.rtmpPort, publishing(key('ev4')), { until: 'NetStream.Publish.Start' });
    const kicked = await get(`${h.edge.url}/media-edge/kick`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"app":"live","stream":"ev4","seconds":1}' });
    expect(kicked.status).toBe(200);
    expect((await waitFor('end of ev4', eventOf('on_unpublish', 'ev4'))).reason).toBe('kicked');
    k.sock.destroy();
    expect(rx.bad).toEqual([]);
  }, 60_000);

  it('a receiver that is slow, then failing, delays no publish; events are retried in order and survive a reload', async () => {
    rx.state.mode = 'slow';
    const t0 = Date.now();
    const a = await craft(h.edge.rtmpPort, publishing(key('ev5')), { until: 'NetStream.Publish.Start' });
    expect(a.said).toContain('NetStream.Publish.Start');
    expect(Date.now() - t0).toBeLessThan(1000); // the receiver's 2.5 s never reach the publish
    await sleep(1500);
    a.sock.destroy();
    rx.state.mode = 'fail';
    const tries = rx.tries();
    await waitFor('a failed try', () => (rx.tries() > tries ? true : undefined));
    await h.edge.reload();
    expect(eventOf('on_unpublish', 'ev5')()).toBeUndefined();
    rx.state.mode = 'ok';
    const end = await waitFor('end of ev5 after the receiver is back', eventOf('on_unpublish', 'ev5'), 30000);
    const start = eventOf('on_publish', 'ev5')()!;
    expect(start).toMatchObject({ allowed: true });
    expect(rx.events.indexOf(start)).toBeLessThan(rx.events.indexOf(end));
    // Each event once (a receiver may still deduplicate on id: delivery is at least once).
    expect(rx.events.filter((e) => e.id === end.id).length).toBe(1);
    expect(rx.bad).toEqual([]);
    expect(h.edge.errorLog()).toMatch(/media-edge events: http:\/\/127\.0\.0\.1:\d+\/events: (answered 500|no answer within 1000 ms); retried in \d+ s/);
  }, 60_000);

  it('drops an event older than a day, unsent, and the error log says how many', async () => {
    // A queue as a receiver down for two days leaves it, written while the
    // sender's lock is ours (it skips a tick rather than overwrite it).
    const dir = join(h.edge.dir, 'state', 'events');
    const lock = join(dir, 'lock');
    // The sender has a state with this URL's queue (run alone, this may be
    // the suite's first case).
    await waitFor('a heartbeat', () => rx.events.find((e) => e.action === 'heartbeat'));
    for (const end = Date.now() + 10000; ; await sleep(50)) {
      try {
        writeFileSync(lock, String(Date.now()), { flag: 'wx' });
        break;
      } catch (e) {
        if (Date.now() > end) throw e;
      }
    }
    try {
      const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
      const old = Date.now() - 2 * 24 * 3600 * 1000;
      const body = JSON.stringify({ id: 'too-old', action: 'on_publish', call: 'publish', app: 'live', stream: 'old', time: new Date(old).toISOString() });
      state.urls[rx.url].queue.unshift({ body, at: old });
      writeFileSync(join(dir, 'state.json.test'), JSON.stringify(state));
      renameSync(join(dir, 'state.json.test'), join(dir, 'state.json'));
    } finally {
      unlinkSync(lock);
    }
    // The next heartbeat (2 s) queues behind it and drops it.
    const t0 = Date.now();
    for (; !/media-edge events: dropped 1 events \(older than a day/.test(h.edge.errorLog()); await sleep(200)) {
      if (Date.now() - t0 > 15000) throw new Error('no "dropped" line in the error log within 15 s');
    }
    const after = rx.events.length;
    await waitFor('a heartbeat after the drop', () => rx.events.slice(after).find((e) => e.action === 'heartbeat'));
    expect(rx.events.filter((e) => e.id === 'too-old')).toEqual([]);
    expect(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).dropped).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
