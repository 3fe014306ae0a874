/**
 * A test origin that imitates Wowza Streaming Engine's URL behaviour (see
 * shared/reference/media.md), counts every request, and can be told to be
 * slow, to fail, to drop connections, to hang, to cut bodies short, to send
 * junk, or to flap (Fault, flap()).
 *
 *   /{app}[/_definst_]/{stream}/playlist.m3u8        ABR master (2 renditions)
 *   .../chunklist_w{sid}_b{bps}.m3u8                 session-app media playlist
 *   .../media_w{sid}_b{bps}_{n}.ts                   segment n
 *   .../chunklist_b{bps}.m3u8, media_b{bps}_{n}.ts   HTTP-origin mode (no sid)
 *   .../manifest.mpd                                 static DASH manifest
 *   app "vod": fixed playlists with EXT-X-ENDLIST
 *
 * Live streams advance one segment every `segmentSeconds` from the moment the
 * origin starts (or from `clock()` when a test drives time itself).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { sleep } from './http.ts';

export interface OriginOptions {
  /** Seconds per live segment (EXT-X-TARGETDURATION). */
  segmentSeconds?: number;
  /** Segments in the live window. */
  window?: number;
  /** Bytes per segment. */
  segmentBytes?: number;
  /** Session app (chunklist_w{sid}) or HTTP-origin mode (no sids). */
  sessions?: boolean;
  /** Milliseconds, now; tests may drive time. */
  clock?: () => number;
  /**
   * Serve real media: segment n is `{dir}/seg{n}.ts` (see makeRealSegments),
   * the same files on every origin, as on a cluster of Wowza servers.
   */
  mediaDir?: string;
  /**
   * Misbehave the way real origins do, for hostile tests: read paths
   * servlet-style (`;params` dropped from every segment, then each segment
   * decoded twice, overlong UTF-8 `%c0%ae` taken as a dot, dot segments
   * resolved), route applications without regard to case, gzip playlists
   * for clients that ask, honour Wowza's clip (`wowzaplayduration`) and
   * nDVR (`DVR`) parameters, and echo the query and the credentials it got
   * into playlists.
   */
  odd?: boolean;
  /** The renditions (bits/s) of every stream: the master's variants, the chunklists and segments that exist. */
  bitrates?: number[];
  /** Seconds per segment of the named streams (the others: `segmentSeconds`), to serve several targets at once. */
  durations?: Record<string, number>;
  /** Segments as large as their bitrate makes them (bps × seconds / 8) instead of `segmentBytes`. */
  sizeFromBitrate?: boolean;
}

export interface Fault {
  /** Requests whose path matches are affected. */
  match: RegExp;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Answer with this status instead. */
  status?: number;
  /** Close the connection without answering. */
  drop?: boolean;
  /** Take the request and never answer: the connection stays open (until the origin stops), as on a hung origin. */
  hang?: boolean;
  /** Send the headers with the whole body's Content-Length and this share (0-1) of the body, then close (FIN): a truncated body. */
  truncate?: number;
  /** Send the headers chunked (no Content-Length) and this share (0-1) of the body, then reset the connection (RST): closed mid-body. */
  closeMidBody?: number;
  /** Answer 200 with this many random bytes (as a playlist: its Content-Type) instead of the content. */
  garbage?: number;
}

export interface RequestRecord {
  method: string;
  url: string;
  time: number;
  headers: Record<string, string | string[] | undefined>;
}

export const BITRATES = [800000, 400000];

export class WowzaOrigin {
  readonly opts: Required<OriginOptions>;
  readonly requests: RequestRecord[] = [];
  faults: Fault[] = [];
  /** Fixed answers by path (playlists with hand-made content: LL-HLS, dynamic MPD, broken bodies). */
  bodies: Record<string, { body: string | Buffer; status?: number; type?: string; cacheControl?: string }> = {};
  /** Which run of the live streams this is; restart() starts the next (segment numbers from 0 again). */
  run = 1;
  /** When set, only streams whose name matches exist here (others 404), as on a Wowza origin that has not got the stream. */
  streams: RegExp | null = null;
  private server: Server | null = null;
  /** Responses cut short by a fault (truncate, closeMidBody), read by send(). */
  private cuts = new WeakMap<ServerResponse, Fault>();
  private t0: number;
  private sidCounter = 1000;
  port = 0;

  constructor(opts: OriginOptions = {}) {
    this.opts = {
      segmentSeconds: opts.segmentSeconds ?? 2,
      window: opts.window ?? 4,
      segmentBytes: opts.segmentBytes ?? 200 * 1024,
      sessions: opts.sessions ?? true,
      clock: opts.clock ?? Date.now,
      mediaDir: opts.mediaDir ?? '',
      odd: opts.odd ?? false,
      bitrates: opts.bitrates ?? BITRATES,
      durations: opts.durations ?? {},
      sizeFromBitrate: opts.sizeFromBitrate ?? false,
    };
    this.t0 = this.opts.clock();
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 30000;
    await new Promise<void>((res) => this.server!.listen(port, '127.0.0.1', () => res()));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((res) => this.server!.close(() => res()));
    this.server = null;
  }

  /** Requests whose path (without query) matches. */
  count(match: RegExp | string): number {
    const re = typeof match === 'string' ? new RegExp(`^${match.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : match;
    return this.requests.filter((r) => re.test(r.url.split('?')[0])).length;
  }

  /** Requests other than health probes (`GET /`, sent by the edge's js_periodic on njs >= 0.8.1). */
  viewerRequests(): number {
    return this.requests.filter((r) => r.url !== '/').length;
  }

  reset(): void {
    this.requests.length = 0;
    this.faults = [];
    this.streams = null;
    this.bodies = {};
  }

  /**
   * The encoder reconnected: live streams start over at media sequence 0
   * with new content under the same segment names, as Wowza does.
   */
  restart(): void {
    this.run++;
    this.t0 = this.opts.clock();
  }

  /**
   * Go down (connections closed, port refused) for `downMs`, come back for
   * `upMs`, again and again, until the returned function is called: it
   * resolves once the origin is up again, as a flapping origin that settles.
   */
  flap(downMs: number, upMs: number): () => Promise<void> {
    let flapping = true;
    const port = this.port;
    const loop = (async () => {
      while (flapping) {
        await this.stop();
        await sleep(downMs);
        await this.start(port);
        if (flapping) await sleep(upMs);
      }
    })();
    return async () => {
      flapping = false;
      await loop;
    };
  }

  get running(): boolean {
    return this.server !== null;
  }

  /** Seconds per segment (EXT-X-TARGETDURATION) of `stream`. */
  segmentSecondsOf(stream?: string): number {
    return (stream !== undefined ? this.opts.durations[stream] : undefined) ?? this.opts.segmentSeconds;
  }

  /** Newest segment number available in the live window (of `stream`, when streams have their own durations). */
  liveEdge(stream?: string): number {
    return Math.floor((this.opts.clock() - this.t0) / (this.segmentSecondsOf(stream) * 1000)) + this.opts.window - 1;
  }

  /**
   * When segment n of a live stream appeared in this origin's playlist (clock
   * ms): the first window is there from the start, then one a segment
   * duration. What a viewer's view is measured against (bench latency).
   */
  appearedAt(n: number, stream?: string): number {
    return this.t0 + Math.max(0, n - this.opts.window + 1) * this.segmentSecondsOf(stream) * 1000;
  }

  /** The bytes this origin serves for segment n of a live stream now (in its current run). */
  liveSegment(stream: string, bps: number, n: number): Buffer {
    const size = this.opts.sizeFromBitrate ? Math.round((bps * this.segmentSecondsOf(stream)) / 8) : this.opts.segmentBytes;
    return WowzaOrigin.segmentBody(this.run === 1 ? stream : `${stream}#run${this.run}`, bps, n, size);
  }

  /**
   * Deterministic segment bytes, so a test can tell which segment it got:
   * an AES-128-CTR keystream keyed by the segment's name (no block repeats,
   * so a misplaced byte range shows). Fast (a 4 MB segment of a realistic
   * 5 Mbit/s, 6 s rendition in milliseconds): this process also runs a
   * benchmark's simulated viewers, whose timings a slow origin would skew.
   */
  static segmentBody(stream: string, bps: number, n: number, size: number): Buffer {
    const key = createHash('sha256').update(`${stream}/${bps}/${n}`).digest().subarray(0, 16);
    const out = createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
    if (size > 0) out[0] = 0x47; // MPEG-TS sync byte
    return out;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    this.requests.push({ method: req.method ?? 'GET', url, time: Date.now(), headers: req.headers });
    const path = this.opts.odd ? WowzaOrigin.servletPath(url.split('?')[0]) : url.split('?')[0];
    if (this.opts.odd) this.oddRequest = req;
    const fault = this.faults.find((f) => f.match.test(path));
    if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
    if (fault?.drop) {
      req.socket.destroy();
      return;
    }
    if (fault?.hang) return;
    if (fault?.status) return this.send(res, fault.status, 'text/plain', `fault ${fault.status}\n`);
    if (fault?.garbage) return this.send(res, 200, 'application/vnd.apple.mpegurl', randomBytes(fault.garbage));
    if (fault?.truncate !== undefined || fault?.closeMidBody !== undefined) this.cuts.set(res, fault);
    const fixed = this.bodies[path];
    if (fixed) return this.send(res, fixed.status ?? 200, fixed.type ?? 'application/vnd.apple.mpegurl', fixed.body, fixed.cacheControl);
    this.route(path, url, res);
  }

  /** How a servlet container with lenient decoding reads a path (see `odd`). */
  static servletPath(raw: string): string {
    const decode = (x: string) => {
      try {
        return decodeURIComponent(x.replace(/%c0%ae/gi, '.'));
      } catch {
        return x;
      }
    };
    const out: string[] = [];
    for (const seg of raw.split('/').slice(1)) {
      const s = decode(decode(seg.split(';')[0]));
      if (s === '.') continue;
      if (s === '..') out.pop();
      else out.push(s);
    }
    if (out.length) out[0] = out[0].toLowerCase();
    return '/' + out.join('/');
  }

  private oddRequest: IncomingMessage | null = null;

  private send(res: ServerResponse, status: number, type: string, body: string | Buffer, cacheControl = 'no-cache'): void {
    const cut = this.cuts.get(res);
    if (cut) return WowzaOrigin.sendCut(res, status, type, Buffer.from(body), cut);
    const req = this.oddRequest;
    this.oddRequest = null;
    if (req && /mpegurl/.test(type) && status === 200) {
      // Echo what a careless origin puts into bodies: the query and the credentials.
      const q = (req.url ?? '').split('?')[1] ?? '';
      body = String(body) + `#X-ECHO:query=${q};cookie=${req.headers.cookie ?? ''};authorization=${req.headers.authorization ?? ''}\n`;
      if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
        const gz = gzipSync(body);
        res.writeHead(status, { 'Content-Type': type, 'Content-Length': gz.length, 'Content-Encoding': 'gzip', 'Cache-Control': cacheControl, Vary: 'Accept-Encoding' });
        res.end(gz);
        return;
      }
    }
    res.writeHead(status, {
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': cacheControl,
      'Access-Control-Allow-Origin': '*',
      Server: 'WowzaStreamingEngine/4.8.x (test origin)',
    });
    res.end(body);
  }

  /**
   * Part of an answer, then the connection goes: with the whole length
   * announced and a clean close (truncate), or chunked and reset
   * (closeMidBody), the two ways a body ends early on the wire.
   */
  private static sendCut(res: ServerResponse, status: number, type: string, body: Buffer, cut: Fault): void {
    const chunked = cut.truncate === undefined;
    const share = chunked ? cut.closeMidBody! : cut.truncate!;
    res.writeHead(status, { 'Content-Type': type, ...(chunked ? {} : { 'Content-Length': body.length }), 'Cache-Control': 'no-cache' });
    res.write(body.subarray(0, Math.floor(body.length * share)), () => (chunked ? res.socket?.resetAndDestroy() : res.socket?.destroy()));
  }

  private route(path: string, url: string, res: ServerResponse): void {
    // /{app}[/{instance}]/{stream}/{file}
    const m = /^\/([A-Za-z0-9_-]+)(?:\/(_definst_))?\/((?:(?:mp4|smil|ngrp|amlst):)?[A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(path);
    if (!m) return this.send(res, 404, 'text/plain', 'not found\n');
    const [, app, , stream, file] = m;
    if (this.streams && !this.streams.test(stream)) return this.send(res, 404, 'text/plain', 'stream not found\n');
    const vod = app === 'vod';
    const sidQuery = /[?&]wowzasessionid=(\d+)/.exec(url)?.[1];
    if (file === 'playlist.m3u8') return this.send(res, 200, 'application/vnd.apple.mpegurl', this.master(vod));
    if (file === 'manifest.mpd') return this.send(res, 200, 'application/dash+xml', this.mpd(stream), 'max-age=1');
    const cl = /^chunklist(?:_w(\d+))?_b(\d+)\.m3u8$/.exec(file);
    if (cl) {
      const bps = Number(cl[2]);
      if (!this.opts.bitrates.includes(bps)) return this.send(res, 404, 'text/plain', 'no such rendition\n');
      if (this.opts.odd && /[?&]wowzaplayduration=/i.test(url)) {
        // A clip: one segment and the end (what a poisoned key would serve everyone).
        return this.send(res, 200, 'application/vnd.apple.mpegurl', `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:2.000,\nmedia_b${bps}_0.ts\n#EXT-X-ENDLIST\n`);
      }
      if (this.opts.odd && /[?&]DVR(&|=|$)/i.test(url)) {
        return this.send(res, 200, 'application/vnd.apple.mpegurl', this.chunklist(vod, stream, bps, cl[1] ?? sidQuery).replace('#EXT-X-VERSION:3', '#EXT-X-VERSION:3\n#X-DVR-WINDOW'));
      }
      return this.send(res, 200, 'application/vnd.apple.mpegurl', this.chunklist(vod, stream, bps, cl[1] ?? sidQuery));
    }
    const seg = /^media(?:_w(\d+))?_b(\d+)_(\d+)\.ts$/.exec(file);
    if (seg) {
      const bps = Number(seg[2]);
      const n = Number(seg[3]);
      const edge = this.liveEdge(stream);
      const available = (vod ? n < 5 : n <= edge && n > edge - this.opts.window - 3)
        && (!this.opts.mediaDir || existsSync(join(this.opts.mediaDir, `seg${n}.ts`)));
      if (!this.opts.bitrates.includes(bps) || !available) return this.send(res, 404, 'text/plain', 'no such segment\n');
      const body = this.opts.mediaDir
        ? readFileSync(join(this.opts.mediaDir, `seg${n}.ts`))
        : this.liveSegment(stream, bps, n);
      return this.send(res, 200, 'video/MP2T', body);
    }
    return this.send(res, 404, 'text/plain', 'not found\n');
  }

  private newSid(): string {
    return String(this.sidCounter++);
  }

  private master(vod: boolean): string {
    const sid = this.opts.sessions ? this.newSid() : null;
    const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-INDEPENDENT-SEGMENTS'];
    for (const bps of this.opts.bitrates) {
      lines.push(`#EXT-X-STREAM-INF:BANDWIDTH=${bps},CODECS="avc1.42c01e,mp4a.40.2",RESOLUTION=${bps > 500000 ? '640x360' : '320x180'}`);
      lines.push(sid ? `chunklist_w${sid}_b${bps}.m3u8` : `chunklist_b${bps}.m3u8`);
    }
    void vod;
    return lines.join('\n') + '\n';
  }

  private chunklist(vod: boolean, stream: string, bps: number, sid: string | undefined): string {
    const d = this.segmentSecondsOf(stream);
    const edge = vod ? 4 : this.liveEdge(stream);
    const first = vod ? 0 : Math.max(0, edge - this.opts.window + 1);
    const lines = ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${d}`, `#EXT-X-MEDIA-SEQUENCE:${first}`];
    if (vod) lines.push('#EXT-X-PLAYLIST-TYPE:VOD');
    for (let n = first; n <= edge; n++) {
      lines.push(`#EXTINF:${d.toFixed(3)},`);
      lines.push(sid && this.opts.sessions ? `media_w${sid}_b${bps}_${n}.ts` : `media_b${bps}_${n}.ts`);
    }
    if (vod) lines.push('#EXT-X-ENDLIST');
    return lines.join('\n') + '\n';
  }

  private mpd(stream: string): string {
    return `<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT10S" minBufferTime="PT2S" profiles="urn:mpeg:dash:profile:isoff-live:2011">
  <Period id="0" start="PT0S">
    <AdaptationSet mimeType="video/mp4" segmentAlignment="true">
      <SegmentTemplate initialization="chunk_ctvideo_ridp0va0br800000_cinit_mpd.m4s" media="chunk_ctvideo_ridp0va0br800000_cn$Number$_mpd.m4s" startNumber="1" duration="2" timescale="1"/>
      <Representation id="p0va0" bandwidth="800000" codecs="avc1.42c01e" width="640" height="360"/>
    </AdaptationSet>
  </Period>
</MPD>
<!-- ${stream} -->
`;
  }
}

/**
 * Real H.264/AAC MPEG-TS segments of `seconds` each, numbered seg0.ts..., with
 * continuous timestamps, so that a real player can play an origin's live
 * window. Made once per directory with ffmpeg.
 */
export function makeRealSegments(dir: string, count: number, seconds = 1): void {
  if (existsSync(join(dir, `seg${count - 1}.ts`))) return;
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
    '-t', String(count * seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(25 * seconds), '-keyint_min', String(25 * seconds), '-sc_threshold', '0',
    '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '48k',
    '-f', 'hls', '-hls_time', String(seconds), '-hls_list_size', '0', '-hls_segment_filename', join(dir, 'seg%d.ts'), join(dir, 'index.m3u8'),
  ], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg could not make test segments: ${r.stderr}`);
}
