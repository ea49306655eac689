-- wrk script: POST [base]/Patient with realistic ~1.2 KB Patients (no id), taken round robin
-- from $BENCH_BODIES (one compact JSON resource per line, made by bench/gen_patients.py).
-- $BENCH_BASE is the FHIR base path ("/fhir" for fhird, "" for Helios).
-- The server's default answer (the created resource, `return=representation`) is requested.
-- BENCH_STATUS=1 also counts the status codes (costs some client CPU; off for measurements).

local base = os.getenv("BENCH_BASE") or "/fhir"
local bodies_file = os.getenv("BENCH_BODIES") or error("BENCH_BODIES is not set")
local headers = {
  ["Content-Type"] = "application/fhir+json",
  ["Accept"] = "application/fhir+json",
}

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
  local path = base .. "/Patient"
  for line in io.lines(bodies_file) do
    if line ~= "" then
      table.insert(reqs, wrk.format("POST", path, headers, line))
    end
  end
  if #reqs == 0 then error("no bodies in " .. bodies_file) end
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
