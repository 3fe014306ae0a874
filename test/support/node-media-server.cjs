// node-media-server 2.x as a test origin: RTMP ingest, and ffmpeg (its
// "trans" task) packaging HLS and DASH under <mediaroot>/<app>/<name>/,
// served by its own HTTP server. Usage: node node-media-server.cjs RTMP_PORT HTTP_PORT MEDIAROOT
'use strict';
const net = require('node:net');
// Test servers listen on 127.0.0.1 only; node-media-server listens on every address.
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (port, ...rest) {
  if (typeof port === 'number' && (rest.length === 0 || typeof rest[0] === 'function')) return listen.call(this, port, '127.0.0.1', ...rest);
  return listen.call(this, port, ...rest);
};
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const NodeMediaServer = require('node-media-server');
// It wants ffmpeg's absolute path.
const ffmpeg = (process.env.PATH || '').split(':').map((d) => join(d, 'ffmpeg')).find((f) => existsSync(f)) || '/usr/bin/ffmpeg';
const [rtmpPort, httpPort, mediaroot] = process.argv.slice(2);
new NodeMediaServer({
  logType: 1,
  rtmp: { port: Number(rtmpPort), chunk_size: 60000, gop_cache: true, ping: 30, ping_timeout: 60 },
  http: { port: Number(httpPort), mediaroot, allow_origin: '*' },
  trans: {
    ffmpeg,
    tasks: [{ app: 'live', hls: true, hlsFlags: '[hls_time=2:hls_list_size=3:hls_flags=delete_segments]', dash: true, dashFlags: '[f=dash:window_size=3:extra_window_size=5]' }],
  },
}).run();
