/** Small HTTP helpers for tests and benchmarks: exact bytes, no client magic. */
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

export interface Resp {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  ms: number;
}

/** GET (or opts.method, with opts.body); localAddress picks the client address (any of 127/8 reaches loopback). */
export function get(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number; localAddress?: string } = {}): Promise<Resp> {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false, timeout: opts.timeoutMs ?? 20000, localAddress: opts.localAddress }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks), ms: performance.now() - t0 }));
      r.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', rej);
    req.end(opts.body);
  });
}

/**
 * Send a request line exactly as given (hostile targets that clients would
 * normalize) and return the status code nginx answers with.
 */
export function rawStatus(port: number, requestLine: string): Promise<{ status: number; head: string }> {
  return new Promise((res, rej) => {
    const sock = connect(port, '127.0.0.1');
    let buf = '';
    sock.setTimeout(5000, () => sock.destroy(new Error('raw request timed out')));
    sock.on('connect', () => sock.write(`${requestLine}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    sock.on('data', (d) => (buf += d.toString('latin1')));
    sock.on('end', () => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf);
      if (!m) return rej(new Error(`no HTTP status in ${JSON.stringify(buf.slice(0, 200))}`));
      res({ status: Number(m[1]), head: buf.split('\r\n\r\n')[0] });
    });
    sock.on('error', rej);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
