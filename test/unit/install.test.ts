import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { includedSnippets, includeInstructions, mainUser, MARKER, notOurs, parseNginxV } from '../../tools/install.ts';
import { validate } from '../../tools/settings.ts';

describe('media-edge install reads the nginx it finds', () => {
  it('takes the config and module paths and the default user from nginx -V', () => {
    const debian = 'nginx version: nginx/1.22.1\nconfigure arguments: --with-cc-opt=-O2 --prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf --pid-path=/run/nginx.pid --modules-path=/usr/lib/nginx/modules --with-http_ssl_module';
    expect(parseNginxV(debian)).toEqual({ confPath: '/etc/nginx/nginx.conf', modulesPath: '/usr/lib/nginx/modules', user: 'nobody' });
    expect(parseNginxV('configure arguments: --user=nginx --group=nginx')).toEqual({ confPath: '/usr/local/nginx/conf/nginx.conf', modulesPath: '/usr/local/nginx/modules', user: 'nginx' });
  });

  it('takes the workers\' user from the main context only, as nginx does', () => {
    expect(mainUser('user www-data;\nworker_processes auto;\nevents {}\n')).toBe('www-data');
    expect(mainUser('# user nobody;\nuser  nginx nginx ;\nhttp { }')).toBe('nginx nginx');
    expect(mainUser('http {\n    server { user x; }\n}\n')).toBeNull();
    expect(mainUser('http { log_format a "user y;"; }\n')).toBeNull();
  });

  it('sees which snippets a config already includes, comments aside', () => {
    const dump = '# configuration file /etc/nginx/nginx.conf:\nhttp {\n\tinclude /etc/nginx/media-edge/media-edge-http.conf;\n\t# include /etc/nginx/media-edge/media-edge-server.conf;\n}\nstream { include "/etc/nginx/media-edge/media-edge-stream.conf"; }\n';
    expect(includedSnippets(dump, '/etc/nginx/media-edge')).toEqual({ http: true, server: false, stream: true });
    expect(includedSnippets(dump, '/etc/nginx/other')).toEqual({ http: false, server: false, stream: false });
  });

  it('prints only what is missing, by context; nothing when all is there', () => {
    const v = validate({ listen_http: '0.0.0.0:80' });
    if (!v.ok) throw new Error(v.errors.join());
    const none = { http: false, server: false, stream: false };
    const all = includeInstructions('/etc/nginx/nginx.conf', '/etc/nginx/media-edge', v.value, none, true, false);
    expect(all).toContain('load_module modules/ngx_stream_js_module.so;');
    expect(all).toContain('  inside http { }, before the other includes:\n      variables_hash_max_size 4096;\n      include /etc/nginx/media-edge/media-edge-http.conf;');
    expect(all).toContain('          listen 0.0.0.0:80;\n          include /etc/nginx/media-edge/media-edge-server.conf;');
    expect(all).toContain('      stream {\n          include /etc/nginx/media-edge/media-edge-stream.conf;\n      }');
    const some = includeInstructions('/etc/nginx/nginx.conf', '/etc/nginx/media-edge', v.value, { http: true, server: false, stream: true }, true, true);
    expect(some).not.toMatch(/load_module|media-edge-http|media-edge-stream|pcre_jit/);
    expect(some).toContain('media-edge-server.conf');
    expect(includeInstructions('/etc/nginx/nginx.conf', '/etc/nginx/media-edge', v.value, { http: true, server: true, stream: false }, false, true)).toBe('');
  });

  it('replaces only a directory it rendered (or none, or an empty one)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'media-edge-install-'));
    try {
      expect(notOurs(join(dir, 'new'))).toBe('');
      expect(notOurs(dir)).toBe('');
      writeFileSync(join(dir, 'site.conf'), 'server {}');
      expect(notOurs(dir)).toContain('holds files media-edge install did not write');
      writeFileSync(join(dir, MARKER), '');
      expect(notOurs(dir)).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
