/**
 * Entry for ngx_stream_js_module (RTMP ingest). For now the edge relays RTMP
 * natively; this module only labels sessions in the stream access log, which
 * also proves the bundle loads in every nginx we support. Publish auth plugs
 * in here as a js_filter.
 */

/** js_set $media_edge_stream_njs: the njs version serving this session. */
function version(_s: NginxStreamRequest): string {
  return njs.version;
}

export default { version };
