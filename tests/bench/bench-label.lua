-- bench-label.lua — wrk script for tests/bench/bench-label.sh.
-- MODE=thumb: GET /img/N?s=thumb over NITEMS images.
-- MODE=label: POST /api/label with a fresh submission id each (every 2xx is one
-- durable append) for WINDOW seconds, then resends of an already recorded submission
-- (answered "duplicate", nothing appended) until wrk stops, so that no acknowledged
-- label can be cut off by the end of the run: every label POST has been answered
-- when wrk stops.  done() prints the acknowledged count and POST latencies.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } cs_ts;
int clock_gettime(int clk, cs_ts *ts);
]]
local ts = ffi.new("cs_ts")
local function now()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local mode = os.getenv("MODE")
local nitems = tonumber(os.getenv("NITEMS"))
local window = tonumber(os.getenv("WINDOW") or "10")
local cookie, csrf = os.getenv("COOKIE"), os.getenv("CSRF")
local threads, ntid = {}, 0

function setup(thread)
  ntid = ntid + 1
  thread:set("tid", ntid)
  table.insert(threads, thread)
end

n, acked, other, t0 = 0, 0, 0, nil   -- globals: done() reads them with thread:get
local hdr = { ["Content-Type"] = "application/json", ["X-CSRF-Token"] = csrf, ["Cookie"] = cookie }

function request()
  n = n + 1
  if mode == "thumb" then
    return wrk.format("GET", string.format("/img/%d?s=thumb", (n * 7 + tid) % nitems))
  end
  t0 = t0 or now()
  local body
  if now() - t0 < window then
    body = string.format('{"id":%d,"class":"%s","sub":"bench-%d-%08d"}', (n * 7 + tid) % nitems,
      n % 2 == 0 and "packaged" or "unpackaged", tid, n)
  else
    body = '{"id":0,"class":"packaged","sub":"bench-pad-00000001"}'
  end
  return wrk.format("POST", "/api/label", hdr, body)
end

function response(status, headers, body)
  if mode == "label" then
    if status == 200 and body:find('"duplicate":false', 1, true) then acked = acked + 1
    elseif status ~= 200 then other = other + 1 end
  end
end

function done(summary, latency, requests)
  local a, o = 0, 0
  for _, t in ipairs(threads) do a = a + t:get("acked"); o = o + t:get("other") end
  io.write(string.format("RESULT requests %d errors %d status_errors %d acked %d non200 %d p50_ms %.3f p99_ms %.3f max_ms %.3f secs %.3f\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, a, o, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.duration / 1e6))
end
