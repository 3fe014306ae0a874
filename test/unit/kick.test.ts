import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatKick, KICK_DEFAULT_S, KICK_MAX_S, kickFile, kickLeft, kickName, kickTempFile, parseKick, parseKickRequest } from '../../njs/kick.ts';

const json = 'application/json';
const form = 'application/x-www-form-urlencoded';

describe('kick requests (POST /media-edge/kick)', () => {
  it('reads JSON and forms alike, with the default time', () => {
    expect(parseKickRequest(json, '{"app":"live","stream":"cam1","seconds":30}')).toEqual({ ok: true, kick: { app: 'live', stream: 'cam1', seconds: 30 } });
    expect(parseKickRequest(`${form}; charset=UTF-8`, 'app=live&stream=cam1&seconds=30')).toEqual({ ok: true, kick: { app: 'live', stream: 'cam1', seconds: 30 } });
    expect(parseKickRequest('Application/JSON', '{"app":"live","stream":"cam1"}')).toEqual({ ok: true, kick: { app: 'live', stream: 'cam1', seconds: KICK_DEFAULT_S } });
    expect(parseKickRequest(json, '{"app":"live","stream":"cam1","seconds":0}')).toEqual({ ok: true, kick: { app: 'live', stream: 'cam1', seconds: 0 } });
    expect(parseKickRequest(json, `{"app":"live","stream":"cam1","seconds":${KICK_MAX_S}}`)).toMatchObject({ ok: true });
  });

  it('refuses whole what is not exactly a kick, naming the field', () => {
    const bad: [string, string, number, RegExp][] = [
      [json, '', 400, /not JSON/],
      [json, 'null', 400, /JSON object/],
      [json, '"live/cam1"', 400, /JSON object/],
      [json, '{"app":"live","stream":"cam1","seconds":30,"kid":1}', 400, /^kid: unknown field/],
      [json, '{"app":1,"stream":"cam1"}', 400, /^app:/],
      [json, '{"app":"live","stream":["cam1"]}', 400, /^stream:/],
      [json, '{"app":"live","stream":"cam1?key=x"}', 400, /^stream:/],
      [json, '{"app":"live","stream":"cam1\\n"}', 400, /^stream:/],
      [json, '{"app":"live","stream":"cam\\u00e9"}', 400, /^stream:/],
      [json, '{"app":"live","stream":""}', 400, /^stream:/],
      [json, `{"app":"live","stream":"cam1","seconds":${KICK_MAX_S + 1}}`, 400, /^seconds:/],
      [json, '{"app":"live","stream":"cam1","seconds":"30"}', 400, /^seconds:/],
      [json, '{"app":"live","stream":"cam1","seconds":null}', 400, /^seconds:/],
      [json, '{"app":"live","stream":"cam1","seconds":1e400}', 400, /^seconds:/],
      [form, 'app=live&stream=cam1&seconds=-5', 400, /^seconds:/],
      [form, 'app=live&stream=cam1&seconds=', 400, /^seconds:/],
      [form, 'app=live&app=other&stream=cam1', 400, /^app: given twice/],
      [form, 'app=live&stream=%zz', 400, /URL-encoded/],
      ['text/plain', 'app=live&stream=cam1', 415, /Content-Type/],
      ['', 'app=live&stream=cam1', 415, /Content-Type/],
    ];
    for (const [type, body, status, error] of bad) {
      const p = parseKickRequest(type, body);
      expect(p.ok, body).toBe(false);
      if (!p.ok) {
        expect(p.status, body).toBe(status);
        expect(p.error, body).toMatch(error);
      }
    }
  });

  it('never throws, and accepts only names a kick file can hold', () => {
    fc.assert(fc.property(fc.string(), fc.string(), fc.oneof(fc.integer(), fc.double(), fc.string()), (app, stream, seconds) => {
      const p = parseKickRequest(json, JSON.stringify({ app, stream, seconds }));
      if (p.ok) expect(kickName(kickFile(p.kick.app, p.kick.stream))).toEqual({ app: app.toLowerCase(), stream: stream.toLowerCase() });
    }), { numRuns: 2000 });
  });
});

describe('kick files', () => {
  it('one file per stream, names compared without case, no path out of the directory', () => {
    expect(kickFile('Live', 'CAM1')).toBe(kickFile('live', 'cam1'));
    expect(kickFile('live', 'cam1')).toBe('live%2Fcam1');
    expect(kickFile('live', 'a:b')).not.toContain('/');
    expect(kickName('live%2Fcam1')).toEqual({ app: 'live', stream: 'cam1' });
    // Not a kick file: temporary files, another spelling of a name, traversal.
    for (const f of [kickTempFile('live%2Fcam1', 'a1-b2'), 'LIVE%2Fcam1', 'live%2F..%2Fx', '..', 'live', '%zz']) expect(kickName(f), f).toBeNull();
  });

  it('holds until its time, and an unreadable file kicks nobody', () => {
    const text = formatKick(10_000, 1_000, '127.0.0.1');
    expect(parseKick(text)).toEqual({ until: 10_000, since: 1_000, by: '127.0.0.1' });
    expect(kickLeft(text, 4_000)).toBe(6_000);
    expect(kickLeft(text, 10_000)).toBe(0);
    expect(kickLeft(null, 0)).toBe(0);
    for (const t of ['', '{', '[]', '{"until":"9999999999999","since":0}', '{"until":1e999,"since":0}']) expect(kickLeft(t, 0), t).toBe(0);
  });
});
