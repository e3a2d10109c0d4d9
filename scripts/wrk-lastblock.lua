-- wrk script: POST icx_getLastBlock to the path given on the command line.
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}'
wrk.headers["Content-Type"] = "application/json"
