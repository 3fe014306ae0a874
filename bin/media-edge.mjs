#!/usr/bin/env node
// The `media-edge` command: runs the bundle that `npm run build` (also run by
// `npm ci`/`npm install` through the prepare script) writes to dist/.
import { existsSync } from 'node:fs';
const cli = new URL('../dist/cli.mjs', import.meta.url);
if (!existsSync(cli)) {
  console.error('media-edge: dist/cli.mjs is missing; run `npm run build` first');
  process.exit(1);
}
await import(cli.href);
