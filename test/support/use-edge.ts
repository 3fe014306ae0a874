/**
 * The vitest fixture around startEdge (test/support/edge.ts): one edge for
 * a describe (useEdge) or for one test (withEdge), its logs printed when a
 * test fails, and its error log checked for bad lines at the end. Apart
 * from edge.ts, which the benchmark and the global setup also run outside
 * vitest.
 */
import { afterAll, beforeAll, beforeEach, expect, onTestFailed } from 'vitest';
import type { Settings } from '../../tools/settings.ts';
import { dumpLogs, startEdge, type Edge, type EdgeOptions } from './edge.ts';
import type { Target } from './targets.ts';

export interface UseEdgeOptions extends EdgeOptions {
  /** Error-log lines this edge may have (see Edge.badLogLines). */
  expected?: RegExp[];
  /** More to print beside the edge's logs when a test fails (a peer's output). */
  moreLogs?: () => string;
}

export interface EdgeHandle {
  /** Set once beforeAll has started it. */
  edge: Edge;
}

/**
 * One edge for the describe this is called in, started in a beforeAll
 * registered here: what the settings read (an origin's address) must be
 * started by a beforeAll registered before, hence settings as a function.
 * afterAll hooks run in reverse (vitest's sequence.hooks "stack"), so the
 * edge stops before what it was started after.
 */
export function useEdge(target: Target, settings: Partial<Settings> | (() => Partial<Settings> | Promise<Partial<Settings>>), opts: UseEdgeOptions = {}): EdgeHandle {
  const handle = {} as EdgeHandle;
  beforeAll(async () => {
    handle.edge = await startEdge(target, typeof settings === 'function' ? await settings() : settings, opts);
  });
  beforeEach(() => onTestFailed(() => console.error(logs(handle.edge, opts))));
  afterAll(async () => {
    if (!handle.edge) return;
    const bad = handle.edge.badLogLines(opts.expected);
    await handle.edge.stop();
    expect(bad).toEqual([]);
  });
  return handle;
}

/** An edge for part of one test: started, used, checked for bad lines, stopped. */
export async function withEdge(target: Target, settings: Partial<Settings>, use: (edge: Edge) => Promise<void>, opts: UseEdgeOptions = {}): Promise<void> {
  const edge = await startEdge(target, settings, opts);
  try {
    onTestFailed(() => console.error(logs(edge, opts)));
    await use(edge);
    expect(edge.badLogLines(opts.expected)).toEqual([]);
  } finally {
    await edge.stop();
  }
}

function logs(edge: Edge | undefined, opts: UseEdgeOptions): string {
  const more = opts.moreLogs?.() ?? '';
  return more ? `${dumpLogs(edge)}\n${more}` : dumpLogs(edge);
}
