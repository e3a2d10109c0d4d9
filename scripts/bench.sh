#!/usr/bin/env bash
# make bench: icx_getLastBlock on one iconsim node, measured in one run for
#   (a) direct to the node, (b) through icon-edge, (c) through nginx as a plain
#   keep-alive reverse proxy,
# closed loop (wrk, 64 connections) and open loop at a fixed moderate rate
# (icon-loadtest, half of the direct throughput); then the Go benchmarks of
# the hot paths. Figures are ratios against the direct run of the same
# invocation: this machine is shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
DUR=${DUR:-5s}
ROUNDS=${ROUNDS:-2}
SIM=127.0.0.1:19181 EDGE=127.0.0.1:19080 NGINX=127.0.0.1:19090
TMP=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$TMP/nginx.pid" ] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

for tool in wrk nginx; do
  command -v $tool >/dev/null || { echo "bench: needs $tool (apt-get install wrk nginx-light)"; exit 1; }
done

"$BIN/iconsim" --listen $SIM --nodes 1 --block-interval 1s --log-format text >"$TMP/sim.log" 2>&1 & pids+=($!)
"$BIN/icon-edge" --listen $EDGE --upstream http://$SIM --log-format json --log-level warn >"$TMP/edge.log" 2>&1 & pids+=($!)
mkdir -p "$TMP/body" "$TMP/proxy"
sed -e "s|__PORT__|${NGINX#*:}|" -e "s|__UPSTREAM__|$SIM|" -e "s|__DIR__|$TMP|g" scripts/nginx-bench.conf >"$TMP/nginx.conf"
nginx -c "$TMP/nginx.conf" -e "$TMP/error.log"
for i in $(seq 1 100); do curl -fsS http://$EDGE/readyz >/dev/null 2>&1 && break; sleep 0.1; done

declare -A url=([direct]=http://$SIM/api/v3 [edge]=http://$EDGE/api/v3 [nginx]=http://$NGINX/api/v3)
declare -A best
echo "== closed loop: wrk -t2 -c64 -d$DUR, icx_getLastBlock, best of $ROUNDS alternating rounds"
for r in $(seq 1 "$ROUNDS"); do
  for t in direct edge nginx; do
    rps=$(wrk -t2 -c64 -d"$DUR" -s scripts/wrk-lastblock.lua "${url[$t]}" | awk '/Requests\/sec/ {print int($2)}')
    echo "  round $r $t: $rps req/s"
    [ "${best[$t]:-0}" -lt "$rps" ] && best[$t]=$rps
  done
done
printf "  %-7s %8s req/s  %5s\n" target throughput "x direct"
for t in direct edge nginx; do
  printf "  %-7s %8d req/s  %5.2f\n" $t "${best[$t]}" "$(echo "${best[$t]} / ${best[direct]}" | bc -l)"
done
printf "  edge vs nginx: %.2f\n" "$(echo "${best[edge]} / ${best[nginx]}" | bc -l)"

rate=$(( best[direct] / 2 ))
echo
echo "== open loop at $rate req/s (half of direct saturation), $DUR each: latency"
for t in direct edge nginx; do
  "$BIN/icon-loadtest" synth --target "${url[$t]}" --mix scripts/mix-lastblock.yaml --rate "$rate" --duration "$DUR" --quiet --json "$TMP/$t.json" >/dev/null
  python3 - "$TMP/$t.json" "$t" <<'PY'
import json,sys
r=json.load(open(sys.argv[1])); l=r['latency']
print("  %-7s p50 %7.3f ms  p99 %7.3f ms  achieved %6.0f req/s  failed %d  tester kept up: %s" % (
    sys.argv[2], l['p50_ms'], l['p99_ms'], r['throughput_rps'], r['failed'], r['tester_kept_up']))
PY
done

python3 - "$TMP" <<'PY'
import json,sys
d={t: json.load(open(f"{sys.argv[1]}/{t}.json"))['latency'] for t in ('direct','edge','nginx')}
print("  added p50 vs direct: edge %+.0f µs, nginx %+.0f µs" % ((d['edge']['p50_ms']-d['direct']['p50_ms'])*1000, (d['nginx']['p50_ms']-d['direct']['p50_ms'])*1000))
PY

echo
echo "== Go benchmarks of the hot paths (ns/op, allocs/op; baselines in the same run)"
go test -run '^$' -bench . -benchmem -benchtime 1s ./proxy ./cache ./ratelimit ./accesslog ./loadtest/capture 2>/dev/null | grep -E '^(Benchmark|ok|PASS)' || true
