-- wrk script: GET [base]/{query}, round robin over the query paths in $BENCH_QUERIES (one per
-- line, relative to the FHIR base). $BENCH_BASE is the FHIR base path ("/fhir" or "").
-- BENCH_STATUS=1 also counts status codes.

local base = os.getenv("BENCH_BASE") or "/fhir"
local file = os.getenv("BENCH_QUERIES") or error("BENCH_QUERIES is not set")
local headers = { ["Accept"] = "application/fhir+json" }
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local reqs = {}
local i = 1

function init(args)
  for line in io.lines(file) do
    if line ~= "" then
      table.insert(reqs, wrk.format("GET", base .. "/" .. line:gsub("|", "%%7C"), headers))
    end
  end
  if #reqs == 0 then error("no queries in " .. file) end
  i = ((tid or 0) * 7919) % #reqs + 1
  statuses = {}
end

function request()
  local r = reqs[i]
  i = i + 1
  if i > #reqs then i = 1 end
  return r
end

if os.getenv("BENCH_STATUS") == "1" then
  function response(status, hdrs, body)
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  if os.getenv("BENCH_STATUS") ~= "1" then return end
  local total = {}
  for _, t in ipairs(threads) do
    for s, n in pairs(t:get("statuses") or {}) do total[s] = (total[s] or 0) + n end
  end
  for s, n in pairs(total) do io.write(string.format("status %d: %d\n", s, n)) end
end
