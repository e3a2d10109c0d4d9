#!/usr/bin/env bash
# Regenerates docs/loadtest-report.png: 12 s of the built-in mix at 300 req/s
# through icon-edge in front of three simulated nodes (which make 2 transfers a
# block, so transaction lookups find real hashes), one node taken down at 6 s,
# rendered by headless Chromium (apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
TMP=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
"$BIN/iconsim" --listen 127.0.0.1:19281 --nodes 3 --block-interval 500ms >"$TMP/sim.log" 2>&1 & pids+=($!)
"$BIN/icon-edge" --listen 127.0.0.1:19280 --log-level warn \
  --upstream http://127.0.0.1:19281 --upstream http://127.0.0.1:19282 --upstream http://127.0.0.1:19283 >"$TMP/edge.log" 2>&1 & pids+=($!)
for i in $(seq 1 100); do curl -fsS http://127.0.0.1:19280/readyz >/dev/null 2>&1 && break; sleep 0.1; done
# Wait for the simulator's first transfers to be in blocks: the load tester
# draws transaction hashes from the recent blocks.
for i in $(seq 1 100); do
  curl -fsS http://127.0.0.1:19280/api/v3 -d '{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}' 2>/dev/null |
    grep -q '"txHash"' && break
  sleep 0.1
done
"$BIN/icon-loadtest" synth --target http://127.0.0.1:19280/api/v3 --rate 300 --duration 12s --quiet \
  --html "$TMP/report.html" --at '6s:POST:http://127.0.0.1:19282/_sim/faults:{"down":true}'
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$TMP/chromium" --hide-scrollbars \
  --window-size=1000,1000 --screenshot="$TMP/report.png" "file://$TMP/report.html" >/dev/null 2>&1
cp "$TMP/report.png" docs/loadtest-report.png
echo "wrote docs/loadtest-report.png"
