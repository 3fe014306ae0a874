/**
 * Entry for ngx_http_js_module in the segment locations
 * (media-edge-segments.conf): js_set $media_edge_cache_full, which
 * proxy_no_cache evaluates when an origin answered a miss, never on a
 * cache hit; "1" while the cache's disk has less than cache_min_free free
 * (njs/cache-space.ts). Kept apart from media-edge-http.js, as
 * media-edge-viewer.js is: njs 0.7 builds each request's VM from every
 * module its location imports, and on njs 0.7.9 (no router) this is the
 * only njs of a segment miss. With the whole of media-edge-http.js it cost
 * 40-byte misses 63% of their rate, alone 41% (`npm run bench`, select:
 * the VM, the variables and the stamp's read).
 */
import fs from 'fs';
import { askCacheSpace, type SpaceStore } from './cache-space';

function cacheFull(r: NginxHTTPRequest): string {
  return askCacheSpace(fs as unknown as SpaceStore, ngx, r.variables, Date.now()) ? '1' : '';
}

export default { cacheFull };
