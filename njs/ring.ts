/**
 * A replica of nginx's consistent hash (`hash ... consistent`, ketama), so
 * that njs can tell which origin nginx will pick for a key, and which key
 * makes nginx pick a given origin. Pure logic; runs in Node and njs.
 *
 * nginx (src/http/modules/ngx_http_upstream_hash_module.c): every server gets
 * 160 x weight points; point j is crc32(HOST "\0" PORT PREV_HASH), where
 * PREV_HASH is point j-1 as 4 little-endian bytes (0 for the first), and
 * HOST/PORT are the server address as written, split at the last ':'. Points
 * are sorted (duplicates dropped); a key goes to the first point whose hash is
 * >= crc32(key), wrapping around; on failure nginx walks on to the next point.
 */

let TABLE: number[] | null = null;

function crcTable(): number[] {
  if (TABLE) return TABLE;
  const t: number[] = [];
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t.push(c >>> 0);
  }
  TABLE = t;
  return t;
}

export const CRC32_INIT = 0xffffffff;

export interface Bytes {
  readonly length: number;
  readonly [i: number]: number;
}

export function crc32Update(crc: number, bytes: Bytes): number {
  const t = crcTable();
  for (let i = 0; i < bytes.length; i++) crc = t[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return crc >>> 0;
}

export function crc32(bytes: Bytes): number {
  return (crc32Update(CRC32_INIT, bytes) ^ 0xffffffff) >>> 0;
}

/** Bytes of an ASCII string (server addresses and our own keys are ASCII). */
export function ascii(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i) & 0xff);
  return out;
}

export interface RingPoint {
  hash: number;
  /** Index of the server in the upstream, in configuration order. */
  server: number;
}

/** The sorted ring nginx builds for these servers ("host:port", weight). */
export function buildRing(servers: { address: string; weight: number }[]): RingPoint[] {
  const points: RingPoint[] = [];
  for (let s = 0; s < servers.length; s++) {
    const a = servers[s].address;
    let host = a;
    let port = '';
    if (a.slice(0, 5).toLowerCase() === 'unix:') host = a.slice(5);
    else {
      const c = a.lastIndexOf(':');
      if (c >= 0) {
        host = a.slice(0, c);
        port = a.slice(c + 1);
      }
    }
    let base = crc32Update(CRC32_INIT, ascii(host));
    base = crc32Update(base, [0]);
    base = crc32Update(base, ascii(port));
    let prev = 0;
    for (let j = 0; j < servers[s].weight * 160; j++) {
      const h = (crc32Update(base, [prev & 0xff, (prev >>> 8) & 0xff, (prev >>> 16) & 0xff, (prev >>> 24) & 0xff]) ^ 0xffffffff) >>> 0;
      points.push({ hash: h, server: s });
      prev = h;
    }
  }
  points.sort((x, y) => x.hash - y.hash);
  const out: RingPoint[] = [];
  for (let i = 0; i < points.length; i++) if (i === 0 || points[i].hash !== points[i - 1].hash) out.push(points[i]);
  return out;
}

/** The ring as a compact string, 10 hex digits a point (hash, server), for njs. */
export function encodeRing(points: RingPoint[]): string {
  let s = '';
  for (let i = 0; i < points.length; i++) {
    s += ('0000000' + points[i].hash.toString(16)).slice(-8) + ('0' + points[i].server.toString(16)).slice(-2);
  }
  return s;
}

/** A ring read straight from its encoded form: no parsing of every point. */
export interface EncodedRing {
  data: string;
  servers: number;
}

function pointHash(r: EncodedRing, i: number): number {
  return parseInt(r.data.substr(i * 10, 8), 16);
}

function pointServer(r: EncodedRing, i: number): number {
  return parseInt(r.data.substr(i * 10 + 8, 2), 16);
}

/** The servers in the order nginx tries them for this key (distinct, ring order). */
export function ringOrder(r: EncodedRing, key: Bytes): number[] {
  const n = r.data.length / 10;
  if (n === 0) return [];
  const h = crc32(key);
  // First point with hash >= h (nginx's ngx_http_upstream_find_chash_point).
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pointHash(r, mid) < h) lo = mid + 1;
    else hi = mid;
  }
  const order: number[] = [];
  for (let k = 0; k < n && order.length < r.servers; k++) {
    const s = pointServer(r, (lo + k) % n);
    if (order.indexOf(s) < 0) order.push(s);
  }
  return order;
}

/**
 * For each server, a key that nginx sends to it first: what the router
 * returns to steer a stream to a chosen origin without leaving nginx's own
 * balancer (failure counting and failover keep working).
 */
export function steeringKeys(r: EncodedRing, names: string[]): string[] {
  const keys: string[] = [];
  for (let s = 0; s < names.length; s++) {
    let found = '';
    for (let k = 0; k < 100000 && !found; k++) {
      const key = 'media-edge-steer:' + names[s] + ':' + k;
      if (ringOrder(r, ascii(key))[0] === s) found = key;
    }
    keys.push(found);
  }
  return keys;
}
