-- wrk script: POST /token (password grant, same body as ../shared/bench/token.lua) and count
-- responses by status class, so 503 (hash pool saturated) is reported apart from real errors.
-- Prints one line at the end: "STATUS 2xx=N 503=N 429=N other=N".
local user = os.getenv("BENCH_USER") or "alice"
local pass = os.getenv("BENCH_PASSWORD") or "correct horse battery staple"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=password&username=" .. user .. "&password=" .. pass:gsub(" ", "+") .. "&scope=me"

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok, busy, limited, other = 0, 0, 0, 0 end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1
  elseif status == 503 then busy = busy + 1
  elseif status == 429 then limited = limited + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local o, b, l, x = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); b = b + t:get("busy"); l = l + t:get("limited"); x = x + t:get("other")
  end
  io.write(string.format("STATUS 2xx=%d 503=%d 429=%d other=%d\n", o, b, l, x))
end
