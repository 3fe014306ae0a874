/**
 * The signing primitives publish keys (njs/publish.ts) and playback tokens
 * (njs/token.ts) share: one HMAC form, one digest form, one comparison.
 */
import crypto from 'crypto';

/** base64url(HMAC-SHA256(key, data)), unpadded: the signature of our own keys and tokens. */
export function hmacB64url(key: string, data: string): string {
  return crypto.createHmac('sha256', key).update(data).digest('base64url') as string;
}

export function sha256Hex(s: string): string {
  return crypto.createHash('sha256').update(s).digest('hex') as string;
}

/** Compare without an early exit, so timing does not reveal how much matched. */
export function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  // charCodeAt past the end is NaN, and NaN | 0 is 0.
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}
