#!/usr/bin/env bash
# make bench: one iconsim node, measured in one run through
#   direct       straight to the node
#   edge         icon-edge with the cache off: it parses, validates and routes every call
#   edge-limit   the same with per-client rate limiting on (budgets never reached)
#   edge-cache   icon-edge with its answer cache on (the default)
#   nginx        nginx as a plain keep-alive reverse proxy: the practical bar for an L7 proxy
# Closed loop with wrk (64 connections), open loop at a fixed moderate rate with
# icon-loadtest, then the Go benchmarks of the hot paths. Every figure is a
# ratio against a baseline from the same invocation: this machine is shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
DUR=${DUR:-5s}
ROUNDS=${ROUNDS:-2}
SIM=127.0.0.1:19181
TMP=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$TMP/nginx.pid" ] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

for tool in wrk nginx bc python3 curl; do
  command -v $tool >/dev/null || { echo "bench: needs $tool (apt-get install wrk nginx-light bc python3 curl)"; exit 1; }
done

"$BIN/iconsim" --listen $SIM --nodes 1 --block-interval 1s --log-format text >"$TMP/sim.log" 2>&1 & pids+=($!)
edge() { # name port flags...
  local port=$2; shift 2
  "$BIN/icon-edge" --listen 127.0.0.1:$port --upstream http://$SIM --log-format json --log-level warn "$@" >"$TMP/edge-$port.log" 2>&1 &
  pids+=($!)
}
edge edge 19080 --cache=false
edge edge-limit 19082 --config scripts/edge-ratelimit-bench.yaml
edge edge-cache 19081
mkdir -p "$TMP/body" "$TMP/proxy"
sed -e "s|__PORT__|19090|" -e "s|__UPSTREAM__|$SIM|" -e "s|__DIR__|$TMP|g" scripts/nginx-bench.conf >"$TMP/nginx.conf"
nginx -c "$TMP/nginx.conf" -e "$TMP/error.log"
for port in 19080 19081 19082; do
  for i in $(seq 1 100); do curl -fsS http://127.0.0.1:$port/readyz >/dev/null 2>&1 && break; sleep 0.1; done
done
sleep 2 # a few blocks, so block 0x1 is final and cacheable

declare -A url=([direct]=http://$SIM/api/v3 [edge]=http://127.0.0.1:19080/api/v3 [edge-limit]=http://127.0.0.1:19082/api/v3
                [edge-cache]=http://127.0.0.1:19081/api/v3 [nginx]=http://127.0.0.1:19090/api/v3)

# closed <script> <targets...>: best req/s of ROUNDS alternating rounds into best[]
declare -A best
closed() {
  local script=$1; shift
  best=()
  for r in $(seq 1 "$ROUNDS"); do
    for t in "$@"; do
      local rps
      rps=$(wrk -t2 -c64 -d"$DUR" -s "$script" "${url[$t]}" | awk '/Requests\/sec/ {print int($2)}')
      echo "  round $r $t: $rps req/s"
      if [ "${best[$t]:-0}" -lt "$rps" ]; then best[$t]=$rps; fi
    done
  done
}
ratio() { echo "scale=2; $1 / $2" | bc -l; }

echo "== icx_getLastBlock, closed loop: wrk -t2 -c64 -d$DUR, best of $ROUNDS alternating rounds"
closed scripts/wrk-lastblock.lua direct edge edge-limit nginx
for t in direct edge edge-limit nginx; do
  printf "  %-11s %8d req/s  %5s x direct\n" $t "${best[$t]}" "$(ratio "${best[$t]}" "${best[direct]}")"
done
echo "  edge / nginx:               $(ratio "${best[edge]}" "${best[nginx]}")   (target >= 1)"
echo "  edge-limit / edge:          $(ratio "${best[edge-limit]}" "${best[edge]}")   (target >= 0.95: limiter costs < 5%)"
# The open-loop rate: a share of what the slower proxy saturates at. On 2
# cores the tester, the proxy and the node share the CPU, so at half
# saturation the tester itself falls behind; RATE_SHARE=2 asks for that anyway.
half=$(( (best[edge] < best[nginx] ? best[edge] : best[nginx]) / ${RATE_SHARE:-4} ))

echo
echo "== icx_getBlockByHeight 0x1 (final block), closed loop"
closed scripts/wrk-block1.lua direct edge-cache
echo "  edge-cache / direct:        $(ratio "${best[edge-cache]}" "${best[direct]}")   (target >= 3: cache hits)"

rate=$half
echo
echo "== icx_getLastBlock, open loop at $rate req/s (1/${RATE_SHARE:-4} of the slower proxy's saturation): icon-loadtest compare, A = direct"
for t in edge nginx; do
  echo "-- B = $t"
  "$BIN/icon-loadtest" compare --a "${url[direct]}" --b "${url[$t]}" --mix scripts/mix-lastblock.yaml \
    --rate "$rate" --duration "$DUR" --rounds 2 --quiet 2>&1 | sed 's/^/  /'
done

echo
echo "== Go benchmarks of the hot paths (ns/op, allocs/op; baselines in the same run)"
go test -run '^$' -bench . -benchmem -benchtime 1s ./proxy ./cache ./ratelimit ./accesslog ./capture 2>/dev/null | grep -E '^(Benchmark|ok)' || true
if [ "${WSBENCH:-1}" = 1 ]; then
  echo
  echo "== websocket bridge: memory per idle subscriber, relay latency (WSBRIDGE_BENCH_SUBS, default 9000)"
  WSBRIDGE_BENCH_SUBS=${WSBRIDGE_BENCH_SUBS:-9000} go test -run '^$' -bench . -benchtime 1x ./wsbridge 2>/dev/null | grep -E '^(Benchmark|ok)' || true
fi
