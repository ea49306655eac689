-- Shared by the wrk scripts (read.lua, create.lua, search.lua): each thread cycles through a
-- list of prepared requests, starting at its own offset so the threads are not in lock step.
-- BENCH_STATUS=1 also counts the status codes (costs some client CPU; off for measurements).
-- Usage: `local rotate = dofile(dir .. "rotate.lua"); rotate(function() return {reqs…} end)`.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

return function(build)
  local reqs = {}
  local i = 1

  function init(args)
    reqs = build()
    if #reqs == 0 then error("no requests to send") end
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
end
