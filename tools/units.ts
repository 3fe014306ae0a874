/**
 * nginx's units, as its configuration parser reads them
 * (https://nginx.org/en/docs/syntax.html): times such as "1h30m", "500ms"
 * or "2s" (no unit is seconds), sizes such as "512k", "8m", "1g" (no unit
 * is bytes). Leaf module: imports nothing of ours.
 */

/** Milliseconds in an nginx time value ("1h30m", "500ms", "2s"; no unit is seconds). */
export function parseMs(t: string): number {
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000, w: 604800000, M: 2592000000, y: 31536000000 };
  let total = 0;
  for (const m of t.matchAll(/(\d+)(ms|s|m|h|d|w|M|y)?/g)) total += Number(m[1]) * unit[m[2] ?? 's'];
  return total;
}

/** Whole seconds in an nginx time value, rounded down. */
export function nginxSeconds(t: string): number {
  return Math.floor(parseMs(t) / 1000);
}

/** Bytes in an nginx size ("512k", "8m", "1g"; no unit is bytes). */
export function parseSize(t: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(t);
  if (!m) return NaN;
  const unit: Record<string, number> = { '': 1, k: 1024, m: 1048576, g: 1073741824 };
  return Number(m[1]) * unit[m[2].toLowerCase()];
}
