vcl 4.1;
# Varnish in front of the Wowza origin as a competent operator would set it
# up for live HLS/DASH, the benchmark's second baseline (test/bench/varnish.ts).
# Its rules match the plain proxy_cache server's (test/bench/nginx/
# media-edge-http.conf): playlists 1 s, everything else a day, only 200s
# stored, the origin's Cache-Control ignored. What Varnish adds by itself or
# by a line here: request coalescing (its waiting list, on by default),
# grace (stale while one background fetch revalidates) and a key without
# the query parameters that do not change the content.

backend origin {
    .host = "{{origin_host}}";
    .port = "{{origin_port}}";
    # Timeouts like the edge's origin_connect_timeout / origin_read_timeout.
    .connect_timeout = 2s;
    .first_byte_timeout = 10s;
    .between_bytes_timeout = 10s;
}

sub vcl_recv {
    # Only GET and HEAD are cacheable reads; anything else goes through.
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # Cookies would make the builtin VCL pass every request; a public live
    # stream's bytes do not depend on them.
    unset req.http.Cookie;
    # Query stripping: tokens, player cache-busters and session ids would give
    # each viewer a key of its own (and the origin a request per viewer). Keep
    # only what changes the content: LL-HLS's _HLS_msn, _HLS_part and
    # _HLS_skip (the edge's cache_key_args). The origin gets the same URL, so
    # what it answers is what is stored under the key.
    if (req.url ~ "\?") {
        set req.http.X-Keep = regsuball(regsub(req.url, "^[^?]*\?", "&"), "&(?!_HLS_(msn|part|skip)=)[^&]*", "");
        set req.url = regsub(req.url, "\?.*$", "") + regsub(req.http.X-Keep, "^&", "?");
        unset req.http.X-Keep;
    }
    return (hash);
}

sub vcl_hash {
    # The path and the kept query, as the plain server's $uri$is_args$args;
    # not the Host header: one stream is one object whatever name reached us.
    hash_data(req.url);
    return (lookup);
}

sub vcl_backend_response {
    unset beresp.http.Set-Cookie;
    if (beresp.status != 200) {
        # Not stored, as on the plain server (proxy_cache_valid 200 only).
        # A short hit-for-miss mark, so that the requests waiting on this
        # fetch go to the origin at once instead of one after another.
        set beresp.ttl = 1s;
        set beresp.grace = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    if (bereq.url ~ "\.(m3u8|mpd)(\?|$)") {
        # A live playlist changes every segment: 1 s, as the plain server.
        # Grace 1 s: once expired, a copy is served for up to a second more
        # while one background fetch refreshes it (stale-while-revalidate),
        # so no viewer waits on the origin; longer would put viewers further
        # behind the live edge.
        set beresp.ttl = 1s;
        set beresp.grace = 1s;
    } else {
        # Segments never change under their name.
        set beresp.ttl = 1d;
        set beresp.grace = 10s;
    }
    # Return here: the builtin VCL would make the origin's `Cache-Control:
    # no-cache` (Wowza's, on playlists and segments) a hit-for-miss, and the
    # plain server ignores it too (proxy_ignore_headers).
    return (deliver);
}

sub vcl_deliver {
    # What the edge's X-Cache-Status tells: hit or miss, for a look with curl.
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
