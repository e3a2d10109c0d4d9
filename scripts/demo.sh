#!/usr/bin/env bash
# make demo: three simulated ICON nodes (one lagging, one slow), icon-edge in
# front of them, a mixed workload with a signed transfer, a short synthetic
# load run, and a summary. Stops everything it started. No ICON node needed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
SIM_PORT=${SIM_PORT:-9181}
EDGE_PORT=${EDGE_PORT:-9080}
LOGDIR=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$LOGDIR"
}
trap cleanup EXIT

for port in $EDGE_PORT $SIM_PORT $((SIM_PORT+1)) $((SIM_PORT+2)); do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "demo: port $port is busy; set EDGE_PORT / SIM_PORT to free ports" >&2; exit 1
  fi
done

nodes="http://127.0.0.1:$SIM_PORT,http://127.0.0.1:$((SIM_PORT+1)),http://127.0.0.1:$((SIM_PORT+2))"
echo "== iconsim: 3 nodes on 127.0.0.1:$SIM_PORT-$((SIM_PORT+2)), 1 block per 500ms"
"$BIN/iconsim" --listen 127.0.0.1:$SIM_PORT --nodes 3 --block-interval 500ms --nid 0x3 --channel icon_dex \
  --log-format text >"$LOGDIR/sim.log" 2>&1 &
pids+=($!)
echo "== icon-edge on 127.0.0.1:$EDGE_PORT"
"$BIN/icon-edge" --listen 127.0.0.1:$EDGE_PORT --channel icon_dex --log-format text \
  --upstream http://127.0.0.1:$SIM_PORT --upstream http://127.0.0.1:$((SIM_PORT+1)) --upstream http://127.0.0.1:$((SIM_PORT+2)) \
  >"$LOGDIR/edge.log" 2>&1 &
pids+=($!)

for i in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$EDGE_PORT/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.1
  if [ "$i" = 100 ]; then echo "demo: edge never became ready"; cat "$LOGDIR/edge.log"; exit 1; fi
done
grep -m1 -i "private key" "$LOGDIR/sim.log" || true

echo
"$BIN/icon-demo" --edge "http://127.0.0.1:$EDGE_PORT" --nodes "$nodes"

echo
echo "== 3 s of synthetic load at 300 req/s through the edge (icon-loadtest synth)"
"$BIN/icon-loadtest" synth --target "http://127.0.0.1:$EDGE_PORT/api/v3/icon_dex" --rate 300 --duration 3s --quiet

echo
echo "== what the edge says about its nodes (GET /status.json)"
curl -fsS "http://127.0.0.1:$EDGE_PORT/status.json" | grep -E '"(url|state|height|in_sync|latency_ms)"' | paste - - - - - | sed 's/  */ /g'
echo
echo "demo: done; stopping iconsim and icon-edge"
