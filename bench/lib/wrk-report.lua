-- Counts non-2xx answers exactly (wrk's own status counter only sees status >= 400)
-- and prints one JSON line that bench/lib/wrk.ts reads.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local non = 0
  for _, thread in ipairs(threads) do
    non = non + (thread:get("non2xx") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%.0f,"duration_us":%.0f,"p50_us":%.0f,"p99_us":%.0f,"max_us":%.0f,' ..
      '"non2xx":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"timeout":%.0f}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, non, e.connect, e.read, e.write, e.timeout))
end
