/**
 * Steering decisions on top of nginx's balancer (pure logic). Without njs
 * shared state nginx hashes the stream onto its weighted ring itself; on
 * njs >= 0.8.1 the router decides the origin (issue 15: exact weights) and
 * adds two things nginx cannot know, kept in a shared dictionary:
 *   - where a stream was actually found after other origins said 404
 *     ("memory"), so later misses go there first instead of asking in vain;
 *   - which origins failed the periodic probe, so misses avoid them before a
 *     viewer's request has to fail on them.
 * The router never proxies itself: it returns a hash key that nginx's own
 * ring sends to the chosen origin first (njs/ring.ts), so failover to the
 * next origin and failure counting stay nginx's.
 */

import { ascii, ringOrder } from './ring';

/** murmur3's finalizer: a 32-bit mix in which every input bit moves every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The primaries in the order a stream prefers them, by weighted rendezvous
 * hashing ("highest random weight", Thaler and Ravishankar 1998; weighted:
 * score = -weight / ln(u), Schindelhauer and Schomaker 2005): each origin
 * draws u in (0, 1) from the stream and its name, the highest score first.
 * An origin is first for exactly its weight's share of streams in
 * expectation, whatever the addresses (nginx's ring gives an origin the
 * arcs of 160 points per unit of weight, whose share varies with the
 * addresses by a sixth for weight 1: issue 15); a stream keeps its origin;
 * adding or removing an origin moves only the streams that go to it or came
 * from it. `streamCrc` is crc32 of the stream (njs/ring.ts), `nameCrcs` of
 * each origin's name: a name, not an address, so that a new address keeps
 * the origin's streams.
 */
export function weightedOrder(streamCrc: number, nameCrcs: number[], weights: number[]): number[] {
  const score: number[] = [];
  const order: number[] = [];
  for (let i = 0; i < nameCrcs.length; i++) {
    // Two rounds of mixing: crc32 is linear, so crc(stream) ^ crc(name)
    // alone would tie the draws of two origins together.
    const h = fmix32((fmix32((streamCrc ^ nameCrcs[i]) >>> 0) + nameCrcs[i]) >>> 0);
    const u = (h + 0.5) / 4294967296;
    score.push(-weights[i] / Math.log(u));
    order.push(i);
  }
  order.sort((a, b) => score[b] - score[a] || a - b);
  return order;
}

/**
 * The origin a miss should go to: the remembered one if it is up, else the
 * first origin in ring order that is up; the ring's first when all are down
 * (nginx's failover then does what it can).
 */
export function chooseOrigin(order: number[], remembered: number | null, down: boolean[]): number {
  if (remembered !== null && remembered >= 0 && !down[remembered]) return remembered;
  for (let i = 0; i < order.length; i++) if (!down[order[i]]) return order[i];
  return order.length ? order[0] : 0;
}

/**
 * The hash key that sends the stream to `choice`: the key nginx's ring
 * sends to it first (its steering key), or the stream itself when there is
 * none (a ring too large to replicate: nginx's own choice stands).
 */
export function routeKey(stream: string, choice: number, steer: string[]): string {
  return steer[choice] ? steer[choice] : stream;
}

/**
 * The attempts of one request from `$upstream_addr`/`$upstream_status`:
 * attempts are separated by ", ", internal redirects (the backup fallback)
 * by " : ".
 */
export function attempts(list: string): string[] {
  return list === '' ? [] : list.split(/, | : /);
}

export type MemoryUpdate = { set: number } | { forget: true } | null;

/**
 * What to remember after a request that went upstream: the origin that
 * finally served the stream, unless it is the stream's own (first in
 * `order`, weightedOrder).
 */
export function memoryUpdate(order: number[], addrs: string, statuses: string, httpAddresses: string[]): MemoryUpdate {
  const a = attempts(addrs);
  const s = attempts(statuses);
  if (a.length === 0 || s.length !== a.length) return null;
  const last = s[s.length - 1];
  if (last !== '200' && last !== '206') return null;
  const origin = httpAddresses.indexOf(a[a.length - 1]);
  if (origin < 0) return null; // a backup, or a name nginx resolved: nothing to steer to
  return origin === order[0] ? { forget: true } : { set: origin };
}

/**
 * The primary to ask after an answer nginx took as a success but the
 * producer cannot use (njs/producer.ts unusable): the first in the
 * stream's order on nginx's ring whose address is not in `tried`, that the
 * probes do not have down (`down`, by primary; empty without njs shared
 * state) and that has a steering key (the key nginx's ring sends to it
 * first); -1 when there is none, or when an attempt in `tried` is no
 * primary's address (an origin named by host name: nginx logs the address
 * it resolved, so which one failed cannot be told). `addresses` are the
 * primaries' as configured, in upstream order.
 */
export function retryOrigin(ring: string, addresses: string[], steer: string[], down: boolean[], stream: string, tried: string[]): number {
  for (let i = 0; i < tried.length; i++) if (addresses.indexOf(tried[i]) < 0) return -1;
  const order = ringOrder({ data: ring, servers: addresses.length }, ascii(stream));
  for (let i = 0; i < order.length; i++) {
    const s = order[i];
    if (tried.indexOf(addresses[s]) < 0 && !down[s] && steer[s]) return s;
  }
  return -1;
}
