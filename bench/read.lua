-- wrk script: GET [base]/Patient/{id}, round robin over the ids in $BENCH_IDS (one per line).
-- $BENCH_BASE is the FHIR base path ("/fhir" for fhird, "" for Helios).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local base = os.getenv("BENCH_BASE") or "/fhir"
local ids_file = os.getenv("BENCH_IDS") or error("BENCH_IDS is not set")
local headers = { ["Accept"] = "application/fhir+json" }

dofile(here .. "rotate.lua")(function()
  local reqs = {}
  for line in io.lines(ids_file) do
    if line ~= "" then
      table.insert(reqs, wrk.format("GET", base .. "/Patient/" .. line, headers))
    end
  end
  return reqs
end)
