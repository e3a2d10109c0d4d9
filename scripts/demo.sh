#!/usr/bin/env bash
# make demo: three simulated ICON nodes (one lagging, one slow) and icon-edge in
# front of them; reads stream through the edge while the best node is killed and
# brought back, then a signed transfer. No ICON node needed; under a minute.
#
# icon-demo runs the simulator and the edge inside its own process on free
# loopback ports (9080 may be a goloop node's), so nothing outlives it. The
# trap covers this script being signalled: the demo is interrupted (it stops
# the edge and the simulator) and waited for.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
"$BIN/icon-demo" "$@" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; exit 130' INT TERM
wait "$pid"
