-- make bench-redis: icx_getLastBlock from many clients (a trusted proxy names
-- one of 10 000 addresses in X-Forwarded-For), so each call is charged to a
-- client with a small budget: one Redis round trip per call, no lease.
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}'
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local i = (n * 7919) % 10000
  wrk.headers["X-Forwarded-For"] = string.format("198.18.%d.%d", math.floor(i / 256), i % 256) -- RFC 2544 benchmarking range
  return wrk.format()
end
