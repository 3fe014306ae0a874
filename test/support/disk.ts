/**
 * A full disk, made on purpose: a small tmpfs (root only) and a file that
 * takes what is left of it. The cache-full test and the bench's cachefull
 * fault use it.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';

/** Write zeros into `file` until its file system is full (ENOSPC): large blocks, then pages. */
export function fill(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const size of [1 << 20, 4096]) {
      const block = Buffer.alloc(size);
      try {
        for (;;) writeSync(fd, block);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Mount a tmpfs of `size` (mount's syntax: "4m") at `dir`, which exists. */
export function mountTmpfs(dir: string, size: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
}

/** Undo mountTmpfs, even while a process still has a file open there (lazy: detached now, freed when the last one closes). */
export function unmountTmpfs(dir: string): void {
  execFileSync('umount', ['-l', dir]);
}
