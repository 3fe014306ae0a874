import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { backoffMs, BACKOFF_MAX_MS, consumeEvents, delivered, endReason, enqueue, EVENT_MAX_AGE_MS, expire, eventBody, heartbeatBody, keepUrls, MAX_QUEUE, newEventsState, parseEventLine, readEventsState, startLine } from '../../njs/events.ts';

const U = 'http://10.0.0.5:8000/events';

describe('publish events: the log lines', () => {
  it('reads the filter\'s start lines and nginx\'s end lines', () => {
    const s = parseEventLine(startLine(1_700_000_000_123, '7.42', 'live', 'cam1', '10.1.2.3', false, 'publish refused: bad signature', 'rtmp://edge/live').trimEnd());
    expect(s).toMatchObject({ kind: 'start', at: 1_700_000_000_123, client: '7.42', app: 'live', stream: 'cam1', addr: '10.1.2.3', allowed: false, reason: 'publish refused: bad signature', tcUrl: 'rtmp://edge/live' });
    const e = parseEventLine('e\t1700000060.500\t7.42\tlive/cam1\t10.1.2.3\t123456\t60.377\t200\t-');
    expect(e).toMatchObject({ kind: 'end', at: 1_700_000_060_500, app: 'live', stream: 'cam1', bytesIn: 123456, seconds: 60.377, status: 200, reason: 'closed' });
    expect(parseEventLine('e\t1700000060.500\t7.42\tlive/cam1\t10.1.2.3\t1\t1\t200\tkicked')!.reason).toBe('kicked');
    for (const bad of ['', 's\t1', 'e\tx\t1\tlive/cam1\ta\t1\t1\t200\t-', 'e\t1\t1\tnoslash\ta\t1\t1\t200\t-', 'r\t1\t2\t3\t4\t5\t6\t7\t8']) expect(parseEventLine(bad), bad).toBeNull();
  });

  it('keeps what a client sent on one field: tabs and newlines in a tcUrl cannot forge a line', () => {
    fc.assert(fc.property(fc.string(), fc.string(), (tcUrl, stream) => {
      const line = startLine(1, 'id', 'live', stream, '1.2.3.4', true, '', tcUrl);
      expect(line.indexOf('\n')).toBe(line.length - 1);
      expect(parseEventLine(line.slice(0, -1))).not.toBeNull();
    }));
  });

  it('says why a session ended from nginx\'s $status where the filter did not', () => {
    expect([endReason('-', 200), endReason('', 502), endReason('-', 500), endReason('-', 403), endReason('kicked', 500)]).toEqual(['closed', 'origin unreachable', 'error', 'status 403', 'kicked']);
  });

  it('uses whole lines only: a line nginx is still writing waits', () => {
    const st = newEventsState();
    const text = 'e\t1.000\ta\tlive/x\t1.2.3.4\t1\t1\t200\t-\ne\t2.000\tb\tlive/y\t1.2';
    const used = consumeEvents(st, text, [U], 'edge1', 0);
    expect(used).toBe(text.indexOf('\n') + 1);
    expect(st.urls[U].queue.length).toBe(1);
  });
});

describe('publish events: bodies', () => {
  it('carries nginx-rtmp\'s and SRS\'s field names, and an id to deduplicate on', () => {
    const start = JSON.parse(eventBody(parseEventLine(startLine(1_700_000_000_000, '7.42', 'live', 'cam1', '10.1.2.3', true, '', 'rtmp://e/live').trimEnd())!, 'edge1'));
    expect(start).toEqual({ id: '7.42:start:live/cam1', action: 'on_publish', call: 'publish', time: '2023-11-14T22:13:20.000Z', timestamp: 1_700_000_000, edge: 'edge1', app: 'live', name: 'cam1', stream: 'cam1', addr: '10.1.2.3', ip: '10.1.2.3', clientid: '7.42', client_id: '7.42', allowed: true, reason: '', tcurl: 'rtmp://e/live' });
    const end = JSON.parse(eventBody(parseEventLine('e\t1700000060.000\t7.42\tlive/cam1\t10.1.2.3\t99\t60.000\t200\t-')!, 'edge1'));
    expect(end).toMatchObject({ id: '7.42:end:live/cam1', action: 'on_unpublish', call: 'publish_done', duration_s: 60, bytes_in: 99, reason: 'closed' });
    const beat = JSON.parse(heartbeatBody([{ id: '7.42', app: 'live', stream: 'cam1', since: 1_700_000_000_000, addr: '10.1.2.3' }], 'edge1', 1_700_000_030_000));
    expect(beat).toMatchObject({ action: 'heartbeat', call: 'heartbeat', edge: 'edge1', publishers: [{ app: 'live', name: 'cam1', client_id: '7.42', duration_s: 30, since: '2023-11-14T22:13:20.000Z' }] });
  });
});

describe('publish events: queues', () => {
  it('retries a URL after a backoff that doubles from 1 s to 5 min, and resets on success', () => {
    expect([1, 2, 3, 4, 9, 10, 50].map(backoffMs)).toEqual([1000, 2000, 4000, 8000, 256000, BACKOFF_MAX_MS, BACKOFF_MAX_MS]);
    const st = newEventsState();
    enqueue(st, [U], '{"a":1}', 0);
    enqueue(st, [U], '{"a":2}', 0);
    delivered(st, U, false, 'answered 500', 10_000);
    expect(st.urls[U]).toMatchObject({ failures: 1, next: 11_000, lastProblem: 'answered 500' });
    expect(st.urls[U].queue.length).toBe(2); // nothing lost, the head first again
    delivered(st, U, false, 'answered 500', 11_000);
    expect(st.urls[U].next).toBe(13_000);
    delivered(st, U, true, '', 13_000);
    expect(st.urls[U]).toMatchObject({ failures: 0, next: 0 });
    expect(st.urls[U].queue.map((q) => q.body)).toEqual(['{"a":2}']);
  });

  it('keeps one heartbeat waiting, and drops the oldest past the bounds', () => {
    const st = newEventsState();
    enqueue(st, [U], 'start', 0);
    enqueue(st, [U], 'beat1', 0, true);
    enqueue(st, [U], 'end', 0);
    enqueue(st, [U], 'beat2', 0, true);
    expect(st.urls[U].queue.map((q) => q.body)).toEqual(['start', 'end', 'beat2']);
    expect(enqueue(st, [U], 'late', EVENT_MAX_AGE_MS + 1)).toBe(3);
    expect(st.dropped).toBe(3);
    const big = newEventsState();
    for (let i = 0; i < MAX_QUEUE + 5; i++) enqueue(big, [U], String(i), 0);
    expect(big.urls[U].queue.length).toBe(MAX_QUEUE);
    expect(big.urls[U].queue[0].body).toBe('5');
  });

  it('drops what is past its age on a tick that queues nothing, from every queue, and counts it', () => {
    const st = newEventsState();
    enqueue(st, [U, `${U}2`], 'old', 0);
    enqueue(st, [U], 'newer', EVENT_MAX_AGE_MS);
    expect(expire(st, EVENT_MAX_AGE_MS)).toBe(0); // exactly a day old stays
    expect(expire(st, EVENT_MAX_AGE_MS + 1)).toBe(2);
    expect(st.urls[U].queue.map((q) => q.body)).toEqual(['newer']);
    expect(st.urls[`${U}2`].queue).toEqual([]);
    expect(st.dropped).toBe(2);
    expect(expire(st, EVENT_MAX_AGE_MS + 1)).toBe(0);
  });

  it('forgets URLs no longer set, and reads back what it saved (or starts anew from a bad file)', () => {
    const st = newEventsState();
    enqueue(st, [U, 'http://10.0.0.6:1/x'], 'e', 0);
    keepUrls(st, [U]);
    expect(Object.keys(st.urls)).toEqual([U]);
    st.offset = 77;
    expect(readEventsState(JSON.stringify(st))).toEqual(st);
    for (const bad of ['', '{', 'null', '[]']) expect(readEventsState(bad), bad).toEqual(newEventsState());
  });
});
