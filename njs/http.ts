/**
 * Entry for ngx_http_js_module. Only what nginx calls lives here; the logic is
 * in small modules with named exports (see ./request.ts).
 *
 * njs 0.7.9 accepts only `export default`; tools/build.mjs rewrites esbuild's
 * `export { x as default }` for it.
 */
import { cacheKey, checkRequestUri, classifyPath } from './request';

/** js_set $media_edge_reject: "" when the request may proceed, else a reason. */
function reject(r: NginxHTTPRequest): string {
  // Unset when nginx's own parser refused the request line.
  const bad = checkRequestUri(r.variables.request_uri || '');
  return bad === null ? '' : bad.reason;
}

/** js_set $media_edge_kind: master|media|mpd|init|segment|key|other. */
function kind(r: NginxHTTPRequest): string {
  return classifyPath(r.variables.uri || '');
}

/** js_set $media_edge_cache_key. */
function key(r: NginxHTTPRequest): string {
  return cacheKey(r.variables.request_uri || '');
}

/** js_content for /health: proves the module is loaded and says which engine. */
function health(r: NginxHTTPRequest): void {
  const body = {
    status: 'ok',
    nginx: String(r.variables.nginx_version),
    njs: njs.version,
    engine: engineName(),
  };
  r.headersOut['Content-Type'] = 'application/json';
  r.return(200, JSON.stringify(body) + '\n');
}

function engineName(): string {
  // `njs.engine` exists from 0.8.6 ("njs" or "QuickJS"); older is always njs.
  const e = (njs as unknown as { engine?: string }).engine;
  return typeof e === 'string' ? e : 'njs';
}

export default { reject, kind, key, health };
