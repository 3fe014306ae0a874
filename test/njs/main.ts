// Entry for the njs CLI: print the vector results.
import { run } from './vectors';
console.log(run());
