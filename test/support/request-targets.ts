/**
 * Random request lines for the gate (njs/rules.ts gateRules): methods, and raw
 * targets built from plain, encoded and hostile segments. One generator for
 * the unit test (the rules in V8) and the integration test (the rendered map
 * in real nginx).
 */
import fc from 'fast-check';
import { rejectReason } from '../../njs/rules.ts';

export const methods = fc.constantFrom('GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'DELETE', 'PATCH', 'GETX');

const segment = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 10 }).map((s) => encodeURIComponent(s)),
  fc.constantFrom('live', 'LIVE', '_definst_', 'mp4:a.mp4', 'chunklist_w12_b800000.m3u8', 'media_1.ts', '.', '..', '%2e%2E', '', '%2f', '%5C', '\\', '%zz', '%4', 'a%00', '%0d%0a',
    '..;', 'a;b', '%c0%ae', '%252e', '%6cive', 'caf%C3%A9', '%C3', '\xe9'),
);

export const requestTargets = fc.oneof(
  { weight: 9, arbitrary: fc.tuple(fc.array(segment, { maxLength: 6 }), fc.constantFrom('', '?', '?a=1&_HLS_msn=3', '?x=../..//%00')).map(([segs, q]) => '/' + segs.join('/') + q) },
  { weight: 1, arbitrary: fc.constantFrom('*', 'http://evil/x.ts', '/') },
);

/** What the gate must say: the target first, whatever the method, then the method. */
export function expectedGate(method: string, uri: string): string {
  const reason = rejectReason(uri);
  if (reason !== '') return reason;
  if (method === 'OPTIONS') return 'preflight';
  return method === 'GET' || method === 'HEAD' ? '' : 'method';
}
