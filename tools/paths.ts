/**
 * Where things are: this package's files, and the nginx modules of the
 * machine. Leaf module: imports nothing of ours.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package (repository or installed copy): tools/ and dist/ are one level below it. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const TEMPLATE_DIR = join(PACKAGE_ROOT, 'nginx');

/** Where distributions put nginx's dynamic modules, most common first. */
export const MODULE_DIRS = ['/usr/lib/nginx/modules', '/etc/nginx/modules', '/usr/lib64/nginx/modules', '/usr/local/nginx/modules'];

/** The first of MODULE_DIRS that has njs's http module, or null. */
export function findModulesDir(): string | null {
  return MODULE_DIRS.find((d) => existsSync(join(d, 'ngx_http_js_module.so'))) ?? null;
}

/** A settings path: relative ones resolve against the settings file's directory. */
export function abs(base: string, p: string): string {
  return isAbsolute(p) ? p : resolve(base, p);
}
