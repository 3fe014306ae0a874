/**
 * vitest globalSetup: before any test, start the edge once on every target
 * and print what the target itself reports at /health (nginx, njs, engine),
 * so a run's log says exactly what it tested. A target whose engine is not
 * the one it claims fails the run here, before its tests could pass for the
 * wrong engine.
 */
import { startEdge } from './edge.ts';
import { targets } from './targets.ts';

export default async function announce(): Promise<void> {
  const { targets: list, skipped } = targets();
  const lines: string[] = [];
  const wrong: string[] = [];
  for (const t of list) {
    // An origin that is never asked: /health is answered by the edge alone.
    const edge = await startEdge(t, { origins: [{ name: 'unused', http: '127.0.0.1:9' }] });
    try {
      const h = (await (await fetch(`${edge.url}/health`)).json()) as { nginx: string; njs: string; engine: string };
      lines.push(`  ${t.name}: nginx ${h.nginx}, njs ${h.njs}, ${h.engine}`);
      if ((h.engine === 'QuickJS') !== (t.engine === 'qjs')) wrong.push(`${t.name} should run ${t.engine} but reports ${h.engine}`);
    } finally {
      await edge.stop();
    }
  }
  console.log(`targets:\n${lines.join('\n')}${skipped ? `\n  containers skipped: ${skipped}` : ''}`);
  if (wrong.length) throw new Error(wrong.join('\n'));
}
