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

import { parseOriginsConfig, probeFromError, probeFromResponse, probeUrl, statusReport, type Probe } from './origins';

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

/** Probe one origin now; never rejects (a failure is a value). */
function probe(address: string): Promise<Probe> {
  const url = probeUrl(address);
  if (url === null) return Promise.resolve({ state: 'unknown', status: null, error: 'unix socket: not probed', ms: 0 } as Probe);
  const t0 = Date.now();
  return ngx.fetch(url).then(
    (res) => probeFromResponse(res.status, Date.now() - t0),
    (e: Error) => probeFromError(String(e && e.message ? e.message : e), Date.now() - t0),
  );
}

/** js_content for /media-edge/status: origins, weights, and their state now. */
async function status(r: NginxHTTPRequest): Promise<void> {
  const cfg = parseOriginsConfig(r.variables.media_edge_origins || '');
  if ('error' in cfg) {
    r.error('media-edge status: ' + cfg.error);
    r.return(500, JSON.stringify({ error: cfg.error }) + '\n');
    return;
  }
  const pending: Promise<Probe>[] = [];
  for (let i = 0; i < cfg.origins.length; i++) pending.push(probe(cfg.origins[i].http));
  const probes = await Promise.all(pending);
  r.headersOut['Content-Type'] = 'application/json';
  r.return(200, JSON.stringify(statusReport(cfg, probes, Date.now())) + '\n');
}

export default { health, status };
