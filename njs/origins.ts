/**
 * The origins as the status endpoint reports them (pure logic). nginx does the
 * routing (weighted consistent hash, passive failure counting); the status
 * endpoint adds what nginx does not show: each origin probed right now.
 */

export interface OriginInfo {
  name: string;
  http: string;
  rtmp: string | null;
  weight: number;
  backup: boolean;
}

export interface OriginsConfig {
  balance: string;
  origins: OriginInfo[];
  /** The primary origins' ring (njs/ring.ts encoding): index i is primaries[i]. */
  ring: string;
  /** Indexes into `origins` of the primary (hashed) origins, in upstream order. */
  primaries: number[];
  /** Per primary, the hash key nginx sends to it first. */
  steer: string[];
}

export interface Probe {
  state: 'up' | 'down' | 'unknown';
  /** HTTP status of the probe, when the origin answered. */
  status: number | null;
  error: string | null;
  ms: number;
}

/** Parse the js_var the renderer wrote; an error value when it is damaged. */
export function parseOriginsConfig(json: string): OriginsConfig | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    return { error: 'origins configuration is not JSON' };
  }
  const c = v as OriginsConfig;
  if (!c || typeof c !== 'object' || !Array.isArray(c.origins)) return { error: 'origins configuration has no origin list' };
  return c;
}

/** The URL a probe fetches, or null when ngx.fetch cannot reach the address (unix sockets). */
export function probeUrl(address: string, path: string): string | null {
  return address.indexOf('unix:') === 0 ? null : 'http://' + address + path;
}

/**
 * Any HTTP answer means the origin is up: Wowza answers `/` with its version
 * string, other origins may say 404; only no answer at all is "down".
 */
export function probeFromResponse(status: number, ms: number): Probe {
  return { state: 'up', status: status, error: null, ms: ms };
}

export function probeFromError(message: string, ms: number): Probe {
  return { state: 'down', status: null, error: message, ms: ms };
}

/** What the shared dictionary knows (njs >= 0.8), for the status report. */
export interface SharedView {
  /** Per origin index: failed its last periodic probe. */
  probedDown: boolean[];
  rememberedStreams: number;
}

/** What runs the edge: nginx's and njs's versions and the engine ("njs" or "QuickJS"). */
export interface Runtime {
  nginx: string;
  njs: string;
  engine: string;
}

export function statusReport(cfg: OriginsConfig, probes: Probe[], now: number, shared: SharedView | null, runtime: Runtime): object {
  const origins = [];
  let totalWeight = 0;
  for (let i = 0; i < cfg.origins.length; i++) if (!cfg.origins[i].backup) totalWeight += cfg.origins[i].weight;
  for (let i = 0; i < cfg.origins.length; i++) {
    const o = cfg.origins[i];
    const p = probes[i];
    origins.push({
      name: o.name,
      http: o.http,
      rtmp: o.rtmp,
      weight: o.weight,
      backup: o.backup,
      // The expected share of streams (or objects) this origin serves.
      share: o.backup || totalWeight === 0 ? 0 : Math.round((o.weight / totalWeight) * 1000) / 1000,
      state: p.state,
      status: p.status,
      error: p.error,
      probe_ms: p.ms,
      periodic_probe: shared ? (shared.probedDown[i] ? 'down' : 'up') : 'unavailable (njs < 0.8.1)',
    });
  }
  return {
    time: new Date(now).toISOString(),
    nginx: runtime.nginx,
    njs: runtime.njs,
    engine: runtime.engine,
    balance: cfg.balance,
    remembered_streams: shared ? shared.rememberedStreams : null,
    origins: origins,
  };
}
