#!/usr/bin/env bash
# Direct-to-node vs through-the-edge: the same synthetic workload against a
# simulated node and against icon-edge in front of the simulated nodes, in
# alternation (icon-loadtest compare), printing B/A ratios.
#
# Bounded (fixed duration, 127.0.0.1 only). Env: RATE (default 2000),
# DURATION (per side, default 20s), ROUNDS (4), NODES (2), MIX (a mix file),
# OUT (directory for JSON/HTML reports, default: none).
set -euo pipefail
cd "$(dirname "$0")/../.."

RATE=${RATE:-2000}
DURATION=${DURATION:-20s}
ROUNDS=${ROUNDS:-4}
NODES=${NODES:-2}
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/icon-loadtest" ./cmd/icon-loadtest
go build -o "$tmp/simserve" ./loadtest/bench/simserve
go build -o "$tmp/icon-edge" ./cmd/icon-edge

"$tmp/simserve" -nodes "$NODES" -listen 127.0.0.1:0 >"$tmp/nodes" 2>"$tmp/sim.log" &
pids+=($!)
for _ in $(seq 50); do [ "$(wc -l <"$tmp/nodes")" -ge "$NODES" ] && break; sleep 0.1; done
mapfile -t nodes <"$tmp/nodes"
[ "${#nodes[@]}" -ge 1 ] || { echo "simulator did not start" >&2; cat "$tmp/sim.log" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
up=()
for n in "${nodes[@]}"; do up+=(--upstream "$n"); done
"$tmp/icon-edge" --listen "127.0.0.1:$port" "${up[@]}" --log-level warn >"$tmp/edge.log" 2>&1 &
pids+=($!)
edge="http://127.0.0.1:$port"
for _ in $(seq 100); do
	curl -fsS -m 1 -H 'Content-Type: application/json' \
		-d '{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}' "$edge/api/v3" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fsS -m 1 -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}' \
	"$edge/api/v3" >/dev/null || { echo "edge did not come up" >&2; cat "$tmp/edge.log" >&2; exit 1; }

echo "A = node ${nodes[0]} (direct), B = icon-edge $edge over ${#nodes[@]} node(s); $RATE req/s, $DURATION per side, $ROUNDS rounds"
args=(compare --a "${nodes[0]}/api/v3" --b "$edge/api/v3" --rate "$RATE" --duration "$DURATION" --rounds "$ROUNDS" --quiet)
[ -n "${MIX:-}" ] && args+=(--mix "$MIX")
if [ -n "${OUT:-}" ]; then
	mkdir -p "$OUT"
	args+=(--json "$OUT/direct_vs_edge.json" --html "$OUT/direct_vs_edge.html")
fi
"$tmp/icon-loadtest" "${args[@]}"
