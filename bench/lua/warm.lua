-- Fill a cache: request /k/1 .. /k/N once each, in order across all connections, then
-- keep asking for /k/1 (a hit) until bench/run sees N renders at the origin and stops wrk.
-- BENCH_KEYS: N.
local n = tonumber(os.getenv("BENCH_KEYS") or "100000")
local i = 0
request = function()
  i = i + 1
  if i > n then
    return wrk.format("GET", "/k/1")
  end
  return wrk.format("GET", "/k/" .. i)
end
