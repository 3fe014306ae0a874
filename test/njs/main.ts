// Entry for the njs CLI: print the vector results. njs's console.log cuts a
// line at 2048 characters, so the JSON goes out in 1000-character lines.
import { run } from './vectors';
const out = run();
for (let i = 0; i < out.length; i += 1000) console.log(out.slice(i, i + 1000));
