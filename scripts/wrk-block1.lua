-- wrk script: POST icx_getBlockByHeight 0x1 (a final block: cacheable).
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"icx_getBlockByHeight","params":{"height":"0x1"}}'
wrk.headers["Content-Type"] = "application/json"
