-- wrk script: POST [base]/Patient with realistic ~1.2 KB Patients (no id), taken round robin
-- from $BENCH_BODIES (one compact JSON resource per line, made by bench/gen_patients.py).
-- $BENCH_BASE is the FHIR base path ("/fhir" for fhird, "" for Helios).
-- The server's default answer (the created resource, `return=representation`) is requested.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local base = os.getenv("BENCH_BASE") or "/fhir"
local bodies_file = os.getenv("BENCH_BODIES") or error("BENCH_BODIES is not set")
local headers = {
  ["Content-Type"] = "application/fhir+json",
  ["Accept"] = "application/fhir+json",
}

dofile(here .. "rotate.lua")(function()
  local reqs = {}
  for line in io.lines(bodies_file) do
    if line ~= "" then
      table.insert(reqs, wrk.format("POST", base .. "/Patient", headers, line))
    end
  end
  return reqs
end)
