/**
 * Entry for ngx_http_js_module. Only what nginx calls lives here; logic lives
 * in small modules with named exports.
 *
 * Per-request decisions that nginx can express (URL checks, classification,
 * cache keys) are rendered into nginx maps from ./rules.ts instead of running
 * here: an njs handler costs a VM per request. njs does what nginx cannot.
 *
 * njs 0.7.9 accepts only `export default`; tools/build.mjs rewrites esbuild's
 * `export { x as default }` for it.
 */

/** js_content for /health: proves the module is loaded and says which engine. */
function health(r: NginxHTTPRequest): void {
  const body = {
    status: 'ok',
    nginx: r.variables.nginx_version || '',
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

export default { health };
