-- wrk script: GET [base]/{query}, round robin over the query paths in $BENCH_QUERIES (one per
-- line, relative to the FHIR base). $BENCH_BASE is the FHIR base path ("/fhir" or "").

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local base = os.getenv("BENCH_BASE") or "/fhir"
local file = os.getenv("BENCH_QUERIES") or error("BENCH_QUERIES is not set")
local headers = { ["Accept"] = "application/fhir+json" }

dofile(here .. "rotate.lua")(function()
  local reqs = {}
  for line in io.lines(file) do
    if line ~= "" then
      table.insert(reqs, wrk.format("GET", base .. "/" .. line:gsub("|", "%%7C"), headers))
    end
  end
  return reqs
end)
