/**
 * The rendered configuration of every example, for each njs, is the
 * checked-in tree under test/golden (tools/golden.ts): a change to any
 * directive shows up as a diff there, and `npm run golden` rewrites it.
 */
import { describe, expect, it } from 'vitest';
import { goldenDiff, goldenTree } from '../../tools/golden.ts';

describe('golden files', () => {
  it('every example renders to exactly the checked-in files (after a deliberate change: npm run golden)', () => {
    expect(goldenDiff()).toEqual([]);
  });

  it('covers every example for each njs, the auth and stream files included where used', () => {
    const paths = [...goldenTree().keys()];
    for (const example of ['edge', 'shield', 'edge-tier']) {
      for (const njs of ['njs-0.7', 'njs-0.8', 'njs-1.0-qjs']) expect(paths).toContain(`${example}/${njs}/nginx.conf`);
    }
    expect(paths).toContain('edge/njs-0.8/media-edge-auth.conf');
    expect(paths).toContain('edge/njs-0.8/media-edge-stream.conf');
    expect(paths).not.toContain('edge-tier/njs-0.8/media-edge-stream.conf'); // no RTMP there
  });
});
