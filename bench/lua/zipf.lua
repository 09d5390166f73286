-- Zipf-distributed GETs over /k/1 .. /k/N: key k is asked for with probability
-- proportional to 1 / k^s. BENCH_KEYS: N (100000); BENCH_ZIPF_S: s (1.0).
-- The requests are formatted once, in init (after wrk has set the Host header), so wrk
-- spends its time on the network, not in Lua. Lua's generator is not seeded, so every
-- server is asked for the same sequence of keys.
local n = tonumber(os.getenv("BENCH_KEYS") or "100000")
local s = tonumber(os.getenv("BENCH_ZIPF_S") or "1.0")
local cdf, reqs = {}, {}

function init(args)
  local total = 0
  for k = 1, n do
    total = total + 1 / (k ^ s)
    cdf[k] = total
    reqs[k] = wrk.format("GET", "/k/" .. k)
  end
  for k = 1, n do cdf[k] = cdf[k] / total end
end

function request()
  local r = math.random()
  local lo, hi = 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < r then lo = mid + 1 else hi = mid end
  end
  return reqs[lo]
end
