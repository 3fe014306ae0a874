/**
 * Steering decisions on top of nginx's balancer (pure logic). nginx hashes
 * the stream onto its weighted ring and counts failures itself; on njs >= 0.8
 * the edge adds two things nginx cannot know, kept in a shared dictionary:
 *   - where a stream was actually found after other origins said 404
 *     ("memory"), so later misses go there first instead of asking in vain;
 *   - which origins failed the periodic probe, so misses avoid them before a
 *     viewer's request has to fail on them.
 * The router never picks a server itself: it returns a hash key that nginx's
 * own ring sends to the chosen origin (njs/ring.ts), so failover, failure
 * counting and weights stay nginx's.
 */

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

/** The hash key that sends the stream to `choice`: the stream itself when nginx would pick it anyway. */
export function routeKey(stream: string, order: number[], choice: number, steer: string[]): string {
  return order.length === 0 || choice === order[0] || !steer[choice] ? stream : steer[choice];
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
 * finally served the stream, unless it is the one the ring picks anyway.
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
