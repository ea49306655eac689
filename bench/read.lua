-- wrk script: GET [base]/Patient/{id}, round robin over the ids in $BENCH_IDS (one per line).
-- $BENCH_BASE is the FHIR base path ("/fhir" for fhird, "" for Helios).
-- Each wrk thread starts at a different offset so the threads do not read in lock step.
-- BENCH_STATUS=1 also counts the status codes (costs some client CPU; off for measurements).

local base = os.getenv("BENCH_BASE") or "/fhir"
local ids_file = os.getenv("BENCH_IDS") or error("BENCH_IDS is not set")
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
  for line in io.lines(ids_file) do
    if line ~= "" then
      table.insert(reqs, wrk.format("GET", base .. "/Patient/" .. line, headers))
    end
  end
  if #reqs == 0 then error("no ids in " .. ids_file) end
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
