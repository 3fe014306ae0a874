/**
 * A crafted RTMP client for hostile tests: does the handshake as a server
 * expects (C0 C1, waits for S0 S1 S2, C2), then writes exactly the bytes it
 * is given, and reports what the far end answered and whether it hung up.
 */
import { connect as tcp, type Socket } from 'node:net';
import { connect as tls } from 'node:tls';
import { decodeAll } from '../../njs/amf0.ts';
import { feed, newReader } from '../../njs/rtmp.ts';
import { handshake } from './rtmp-stream.ts';

export interface Answer {
  /** onStatus codes and _result/_error names, in order. */
  said: string[];
  /** The far end closed the connection (not us, after `waitMs`). */
  closed: boolean;
  /** From the first crafted byte to the close (or to the give-up). */
  ms: number;
  sock: Socket;
}

export interface CraftOptions {
  /** Give up after this long without a close. */
  waitMs?: number;
  /** Resolve as soon as the answer contains this code (the connection stays open). */
  until?: string;
  tls?: { ca: Buffer };
}

export function craft(port: number, bytes: number[] | Buffer, opts: CraftOptions = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const said: string[] = [];
    let t0 = Date.now();
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ said, closed, ms: Date.now() - t0, sock });
    };
    const sock: Socket = opts.tls ? tls({ host: '127.0.0.1', port, ca: opts.tls.ca, servername: '127.0.0.1' }) : tcp(port, '127.0.0.1');
    sock.setNoDelay(true);
    const reader = newReader({ maxMessage: 1 << 20, maxChunkSize: 1 << 24, maxChunkStreams: 64 });
    const hs = handshake();
    let sent = false;
    sock.on(opts.tls ? 'secureConnect' : 'connect', () => sock.write(Buffer.from(hs.slice(0, 1537))));
    sock.on('data', (d: Buffer) => {
      const res = feed(reader, d);
      if (!sent && reader.handshakeLeft === 0) {
        sent = true;
        t0 = Date.now();
        sock.write(Buffer.concat([Buffer.from(hs.slice(1537)), Buffer.from(bytes)]));
      }
      for (const m of res.messages) {
        if (m.type !== 20) continue;
        const v = decodeAll(m.body) as any[];
        if (!Array.isArray(v)) continue;
        if (v[0] === 'onStatus' && v[3]?.code) said.push(String(v[3].code));
        else if (typeof v[0] === 'string') said.push(v[0]);
      }
      if (opts.until && said.includes(opts.until)) finish(false);
    });
    sock.on('error', () => finish(true));
    sock.on('close', () => finish(true));
    const timer = setTimeout(() => finish(false), opts.waitMs ?? 8000);
  });
}
