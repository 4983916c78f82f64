-- wrk script for scripts/bench.sh (campaign_get_uncached): GET /api/campaigns/{id} with a
-- different campaign per request, so that every request misses the Redis cache and reads
-- PostgreSQL. bench.sh makes BENCH_UNCACHED_COUNT campaigns with the ids
-- camp_bebe00000000, camp_bebe00000001, ... (hex) before the runs and deletes their cached copies
-- before every wrk run; the URL given to wrk ends in "/api/campaigns/". Each wrk thread walks its
-- own block of ids (BENCH_UNCACHED_THREADS = wrk's -t); past the end of its block it starts again,
-- and those requests may be cache hits: done() prints how many requests were made and how many
-- repeated an id, and bench.sh reports it.
local count = tonumber(os.getenv("BENCH_UNCACHED_COUNT") or "")
local threads = tonumber(os.getenv("BENCH_UNCACHED_THREADS") or "")
assert(count and count > 0, "BENCH_UNCACHED_COUNT is not set")
assert(threads and threads > 0, "BENCH_UNCACHED_THREADS is not set")

local all_threads = {}
local next_index = 0

function setup(thread)
  thread:set("thread_index", next_index)
  next_index = next_index + 1
  table.insert(all_threads, thread)
end

function init(args)
  block = math.floor(count / threads)
  first = thread_index * block
  made = 0
end

function request()
  local id = string.format("camp_bebe%08x", first + made % block)
  made = made + 1
  return wrk.format(nil, wrk.path .. id)
end

function done(summary, latency, requests)
  local total, repeated = 0, 0
  local block = math.floor(count / threads)
  for _, thread in ipairs(all_threads) do
    local n = thread:get("made") or 0
    total = total + n
    if n > block then repeated = repeated + n - block end
  end
  io.write(string.format("uncached_requests=%d repeated=%d ids=%d\n", total, repeated, count))
end
