/**
 * The demo origin (nginx-rtmp with its HLS, `tools/demo.ts`) for one suite:
 * started before the suite in a temporary directory of its own, stopped and
 * removed after it. Call it before `useEdge`, so that the origin is up when
 * the edge's settings are computed (and is stopped after the edge).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { freePort, startDemoOrigin, type DemoOrigin } from '../../tools/demo.ts';
import type { Origin } from '../../tools/settings.ts';

export interface DemoOriginHandle {
  origin: DemoOrigin;
  /** The suite's temporary directory (the origin's state is in `origin/`). */
  dir: string;
  /** The edge's `origins` entry for this origin, HTTP and RTMP. */
  entry(name?: string): Origin;
}

/** `onPublish`: nginx-rtmp's on_publish URL, computed once the suite starts. */
export function useDemoOrigin(prefix: string, opts: { onPublish?: () => string } = {}): DemoOriginHandle {
  const h = {
    entry: (name = 'rtmp-origin') => ({ name, http: `127.0.0.1:${h.origin.httpPort}`, rtmp: `127.0.0.1:${h.origin.rtmpPort}` }),
  } as DemoOriginHandle;
  beforeAll(async () => {
    h.dir = mkdtempSync(join(tmpdir(), `media-edge-${prefix}-`));
    // mkdtemp makes it 0700; nginx's workers (another user when the tests
    // run as root) must reach the origin's files.
    chmodSync(h.dir, 0o755);
    h.origin = await startDemoOrigin(join(h.dir, 'origin'), await freePort(), await freePort(), { onPublish: opts.onPublish?.() });
  });
  afterAll(async () => {
    await h.origin?.nginx.stop();
    if (h.dir) rmSync(h.dir, { recursive: true, force: true });
  });
  return h;
}
