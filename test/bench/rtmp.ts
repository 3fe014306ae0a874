/**
 * rtmp: publishers through the publish-auth filter (hmac keys) vs a plain
 * stream proxy: media throughput of one session at 4096- and 65536-byte
 * chunks (target >= 95%; the filter reads every chunk header of the whole
 * session), on the local nginx and on njs 1.0's QuickJS (the sid image,
 * where `njs_engine: "auto"` runs the filter; njs's own engine copies every
 * byte a callback sees into fresh memory, and on it page faults, not the
 * filter's code, set the speed); beside it an njs filter that only forwards
 * (the floor of any whole-session filter), and nginx CPU per GB for all
 * three; worker memory while one session carries 400 MB, nginx CPU for
 * 20 publishers at 6 Mbit/s, time from connect to the publish decision
 * (p99 < 5 ms; on the local nginx and on QuickJS), and 100 publishers
 * connecting at once (all accepted, none
 * slower than 1 s).
 */
import { spawnSync } from 'node:child_process';
import { createServer as createTcpServer, connect as tcpConnect, type Socket } from 'node:net';
import { signPublish } from '../../njs/publish.ts';
import { sleep } from '../support/http.ts';
import { amf, handshake, message, setChunkSize } from '../support/rtmp-stream.ts';
import { CONTAINER_TARGETS } from '../support/targets.ts';
import { freePort } from '../../tools/demo.ts';
import { defaults } from '../../tools/settings.ts';
import { median, pct, percentile, ROUNDS, startBench, type Row, type Running } from './common.ts';

/** An origin that takes RTMP bytes and counts them (answers nothing). */
export async function rtmpSink(): Promise<{ port: number; received: () => number; close: () => Promise<void> }> {
  let n = 0;
  const socks: Socket[] = [];
  const srv = createTcpServer((sock) => {
    socks.push(sock);
    sock.on('data', (d) => (n += d.length));
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return { port: (srv.address() as { port: number }).port, received: () => n, close: () => new Promise((r) => { socks.forEach((x) => x.destroy()); srv.close(() => r()); }) };
}

export const SECRET = 'bench-secret-0123456789';
/** Media one session carries in the memory rows. */
export const MEMORY_SESSION_BYTES = 400 * 1024 * 1024;
/** What one throughput session carries. */
const SESSION_BYTES = 256 * 1024 * 1024;

/** Handshake, connect, createStream and publish with a valid key, as one write. */
function publishPreamble(port: number, stream: string): Buffer {
  const exp = Math.floor(Date.now() / 1000) + 600;
  const name = `${stream}?exp=${exp}&sig=${signPublish(SECRET, 'live', stream, exp)}`;
  return Buffer.from([
    ...handshake(),
    ...message(3, 20, 0, amf('connect', 1, { app: 'live', tcUrl: `rtmp://127.0.0.1:${port}/live` })),
    ...message(3, 20, 0, amf('createStream', 2, null)),
    ...message(8, 20, 1, amf('publish', 3, null, name, 'live')),
  ]);
}

/** Connect, publish, and resolve when the origin has the whole preamble: the decision time. */
export function timePublish(port: number, sink: { received: () => number }, stream: string): Promise<{ ms: number; sock: Socket }> {
  const pre = publishPreamble(port, stream);
  return new Promise((res, rej) => {
    const before = sink.received();
    const t0 = performance.now();
    const sock = tcpConnect(port, '127.0.0.1', () => sock.write(pre));
    sock.on('error', rej);
    const poll = () => {
      // The stripped name is shorter by the key, so wait for "most" of it.
      if (sink.received() - before >= pre.length - 120) return res({ ms: performance.now() - t0, sock });
      if (performance.now() - t0 > 5000) return rej(new Error('publish not forwarded within 5 s'));
      setImmediate(poll);
    };
    poll();
  });
}

/**
 * One publish session carrying `total` bytes of video messages at
 * `chunkSize`; MB/s from the first media byte until the origin has them all.
 * `during` runs while the session is still open (memory is read there).
 */
export async function mediaSession(port: number, sink: { received: () => number }, chunkSize: number, total: number, during?: () => void): Promise<{ mbps: number }> {
  const frame = Buffer.from(message(6, 9, 1, Array.from({ length: 60000 }, (_, i) => i & 0xff), chunkSize));
  const { sock } = await timePublish(port, sink, 'tp');
  sock.write(Buffer.from(setChunkSize(chunkSize)));
  const before = sink.received();
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    if (!sock.write(frame)) await new Promise((r) => sock.once('drain', r));
    sent += frame.length;
  }
  while (sink.received() - before < sent) await sleep(1);
  const mbps = (sent / (1024 * 1024)) / ((performance.now() - t0) / 1000);
  during?.();
  sock.destroy();
  return { mbps };
}

export async function rtmpBench(rows: Row[]): Promise<void> {
  const sink = await rtmpSink();
  // All publishers come from one address here: lift the per-address limit.
  const base = { origins: [{ name: 'sink', http: '127.0.0.1:9', rtmp: `127.0.0.1:${sink.port}` }], rtmp_max_connections_per_address: 1000 };
  // Beside the filter, in the same nginx: a stream server whose njs filter
  // only forwards (test/bench/nginx/forward.js), with the edge's read size:
  // the floor of any whole-session njs filter.
  const forward = async () => ({ forward: [{ port: await freePort(), upstream: `127.0.0.1:${sink.port}`, bufferSize: String(defaults().rtmp_buffer_size) }] });
  const authBaselines = await forward();
  const auth = await startBench({ ...base, rtmp_auth: { live: { mode: 'hmac', secrets: [SECRET] } } }, authBaselines);
  const plain = await startBench(base);
  const authPort = auth.rtmpPort;
  const plainPort = plain.rtmpPort;
  try {
    // Media throughput after publish: 256 MB of video messages per session,
    // chunked as encoders chunk them (ffmpeg and OBS set 4096; some 64 KB):
    // the filter reads every chunk header for as long as the session lasts.
    // Three in turn: the filter, the forward-only filter, the plain proxy.
    // Wall-clock MB/s swings by a third between runs on a shared machine;
    // nginx's CPU seconds per GB carried (master and workers, /proc) is the
    // steadier figure of what each costs.
    const throughput = async (edge: Running, port: number, chunkSize: number) => {
      const c0 = edge.cpu();
      const { mbps } = await mediaSession(port, sink, chunkSize, SESSION_BYTES);
      return { mbps, cpuPerGb: (edge.cpu() - c0) / (SESSION_BYTES / 2 ** 30) };
    };
    // Connect to decision, one publisher at a time.
    const connectToPublish = async (authAt: number, plainAt: number, where: string) => {
      const la: number[] = [];
      const lp: number[] = [];
      for (let i = 0; i < 200; i++) {
        const a = await timePublish(authAt, sink, `lat${i}`);
        a.sock.destroy();
        la.push(a.ms);
        const p = await timePublish(plainAt, sink, `lat${i}`);
        p.sock.destroy();
        lp.push(p.ms);
      }
      const [pa, pp] = [percentile(la, 0.99), percentile(lp, 0.99)];
      rows.push([`RTMP connect to publish forwarded, p99 ms${where} (hmac vs plain)`, pa.toFixed(2), pp.toFixed(2), '', '< 5 ms', pa < 5 ? 'ok' : 'MISSED']);
    };
    const sideBySide = async (authEdge: Running, forwardAt: number, plainEdge: Running, where: string) => {
      for (const size of [4096, 65536]) {
        const ta: number[] = [];
        const tf: number[] = [];
        const tp: number[] = [];
        const ca: number[] = [];
        const cf: number[] = [];
        const cp: number[] = [];
        for (let i = 0; i < Math.max(ROUNDS, 5); i++) {
          const a = await throughput(authEdge, authEdge.rtmpPort, size);
          const f = await throughput(authEdge, forwardAt, size);
          const p = await throughput(plainEdge, plainEdge.rtmpPort, size);
          ta.push(a.mbps);
          tf.push(f.mbps);
          tp.push(p.mbps);
          ca.push(a.cpuPerGb);
          cf.push(f.cpuPerGb);
          cp.push(p.cpuPerGb);
        }
        const [a, f, p] = [median(ta), median(tf), median(tp)];
        const chunks = `${size}-byte chunks${where}`;
        rows.push([`RTMP media MB/s after publish, ${chunks} (auth filter vs plain proxy)`, a.toFixed(0), p.toFixed(0), pct(a / p), '>= 95%', a / p >= 0.95 ? 'ok' : 'MISSED']);
        rows.push([`RTMP media MB/s after publish, ${chunks} (an njs filter that only forwards each read vs plain proxy: the most any whole-session filter can reach)`, f.toFixed(0), p.toFixed(0), pct(f / p), 'measured', '']);
        const [xa, xf, xp] = [median(ca), median(cf), median(cp)];
        rows.push([`RTMP nginx CPU s per GB carried, ${chunks} (auth filter vs plain proxy)`, xa.toFixed(2), xp.toFixed(2), pct(xa / xp), 'measured', '']);
        rows.push([`RTMP nginx CPU s per GB carried, ${chunks} (the filter that only forwards vs plain proxy)`, xf.toFixed(2), xp.toFixed(2), pct(xf / xp), 'measured', '']);
      }
    };
    await sideBySide(auth, authBaselines.forward[0].port, plain, '');
    const qjs = CONTAINER_TARGETS.find((t) => t.name === 'sid-qjs')!;
    if (spawnSync('docker', ['image', 'inspect', qjs.image!], { stdio: 'ignore' }).status === 0) {
      const qBaselines = await forward();
      const qa = await startBench({ ...base, rtmp_auth: { live: { mode: 'hmac', secrets: [SECRET] } } }, qBaselines, qjs);
      const qp = await startBench(base, {}, qjs);
      try {
        await sideBySide(qa, qBaselines.forward[0].port, qp, ', njs 1.0 QuickJS');
        await connectToPublish(qa.rtmpPort, qp.rtmpPort, ', njs 1.0 QuickJS');
      } finally {
        await qa.stop();
        await qp.stop();
      }
    } else {
      rows.push([`RTMP media MB/s on QuickJS: ${qjs.image} missing (npm run images)`, '', '', '', '', 'SKIPPED']);
    }

    // Memory: njs's own engine copies every buffer a stream callback gets
    // into the session's pool, freed only when the session ends
    // (ngx_stream_js_run_event); a plain proxy holds its buffers only.
    const grow = async (edge: Running, port: number): Promise<number> => {
      const r0 = edge.workersRss();
      let r1 = r0;
      await mediaSession(port, sink, 4096, MEMORY_SESSION_BYTES, () => (r1 = edge.workersRss()));
      return (r1 - r0) / (1024 * 1024);
    };
    const ga = await grow(auth, authPort);
    const gp = await grow(plain, plainPort);
    rows.push([`RTMP worker memory growth, MB, while one session carries ${MEMORY_SESSION_BYTES >> 20} MB (auth filter vs plain)`, ga.toFixed(0), gp.toFixed(0), '', 'flat', ga < 50 ? 'ok' : 'MISSED']);

    // What the whole-session inspection costs at real rates: 20 publishers
    // at 6 Mbit/s (a 60 KB frame every 80 ms, 4096-byte chunks) for 10 s;
    // nginx's CPU (master and workers) as a share of one core.
    const atRate = async (edge: Running, port: number): Promise<number> => {
      const frame = Buffer.from(message(6, 9, 1, Array.from({ length: 60000 }, (_, i) => i & 0xff), 4096));
      const pubs = await Promise.all(Array.from({ length: 20 }, (_, i) => timePublish(port, sink, `rate${i}`)));
      pubs.forEach((p) => p.sock.write(Buffer.from(setChunkSize(4096))));
      const c0 = edge.cpu();
      const t0 = performance.now();
      for (let tick = 0; tick < 125; tick++) {
        pubs.forEach((p) => p.sock.write(frame));
        await sleep(Math.max(0, t0 + (tick + 1) * 80 - performance.now()));
      }
      const share = (edge.cpu() - c0) / ((performance.now() - t0) / 1000);
      pubs.forEach((p) => p.sock.destroy());
      return share;
    };
    const ca = await atRate(auth, authPort);
    const cp = await atRate(plain, plainPort);
    rows.push(['RTMP 20 publishers at 6 Mbit/s: nginx CPU, % of one core (auth filter vs plain)', (ca * 100).toFixed(1), (cp * 100).toFixed(1), '', 'measured', '']);

    await connectToPublish(authPort, plainPort, '');

    // 100 publishers at once.
    const burst = await Promise.all(Array.from({ length: 100 }, (_, i) => timePublish(authPort, sink, `burst${i}`)));
    burst.forEach((b) => b.sock.destroy());
    const slowest = Math.max(...burst.map((b) => b.ms));
    rows.push(['RTMP 100 publishers at once: accepted, slowest ms', `${burst.length}, ${slowest.toFixed(0)}`, '', '', '100, < 1000', burst.length === 100 && slowest < 1000 ? 'ok' : 'MISSED']);
  } finally {
    await auth.stop();
    await plain.stop();
    await sink.close();
  }
}
