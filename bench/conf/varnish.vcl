vcl 4.1;
# Varnish as an ISR-like cache (from shared/bench/conf/varnish.vcl): TTL from the origin's
# s-maxage (Varnish's default), grace 1 day, request coalescing (built in). X-Cache says
# whether an answer was a hit, a grace (stale) hit or a miss, like nginx's and isr's.
backend origin { .host = "127.0.0.1"; .port = "@ORIGIN_PORT@"; }
sub vcl_backend_response { set beresp.grace = 1d; @DO_GZIP@ }
sub vcl_hit { if (obj.ttl <= 0s) { set req.http.X-Bench-Stale = "1"; } }
sub vcl_deliver {
  if (req.http.X-Bench-Stale) { set resp.http.X-Cache = "STALE"; }
  elsif (obj.hits > 0) { set resp.http.X-Cache = "HIT"; }
  else { set resp.http.X-Cache = "MISS"; }
}
