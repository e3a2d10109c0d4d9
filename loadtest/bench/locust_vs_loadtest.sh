#!/usr/bin/env bash
# Locust vs icon-loadtest on the same cores against the same target.
#
# 1. starts a target on 127.0.0.1: TARGET=stub (default; a canned goloop
#    answer, nearly free per request, so the testers are what is measured)
#    or TARGET=iconsim (the node simulator, which then shares the cores);
# 2. runs Locust headless (loadtest/locust/locustfile.py, icx_getLastBlock
#    only, as many users as it can drive) for LOCUST_TIME and reads the
#    rate it sustained;
# 3. runs icon-loadtest synth (same method) open loop at stepped multiples
#    of that rate for STEP_TIME each, and keeps the highest rate it held with
#    its send schedule within tolerance (<= 1% of sends more than 5ms late,
#    >= 99% completed, no failures);
# 4. prints the ratio.
#
# Bounded: every run has a fixed duration, all traffic goes to 127.0.0.1.
# Needs: go, python3-locust (Debian), python3. Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET=${TARGET:-stub}
LOCUST_TIME=${LOCUST_TIME:-10s}
LOCUST_USERS=${LOCUST_USERS:-100}
LOCUST_PROCS=${LOCUST_PROCS:-2}   # Locust processes: one core each at most
STEP_TIME=${STEP_TIME:-5s}
MULTIPLES=${MULTIPLES:-"1 2 3 4 5 6 7 8"}
PIPELINE=${PIPELINE:-4}

command -v locust >/dev/null || { echo "locust not installed (Debian: apt-get install python3-locust)" >&2; exit 2; }
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
flags=()
[ "$TARGET" = stub ] && flags=(-stub)
"$tmp/simserve" "${flags[@]}" -listen 127.0.0.1:0 >"$tmp/target.url" 2>"$tmp/target.log" &
pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/target.url" ] && break; sleep 0.1; done
base=$(head -1 "$tmp/target.url")
[ -n "$base" ] || { echo "target did not start" >&2; cat "$tmp/target.log" >&2; exit 1; }
echo "target ($TARGET): $base"

# --- Locust ---------------------------------------------------------------
export ICON_ONLY=icx_getLastBlock ICON_PATH=/api/v3
# Debian's Locust 2.12 cannot run distributed (its workers report no
# version and the master refuses them), so LOCUST_PROCS standalone
# processes share the users and their rates are added up.
per=$(( (LOCUST_USERS + LOCUST_PROCS - 1) / LOCUST_PROCS ))
lpids=()
for i in $(seq "$LOCUST_PROCS"); do
	timeout 120 locust -f loadtest/locust/locustfile.py --host "$base" --headless -u "$per" -r "$per" \
		-t "$LOCUST_TIME" --only-summary --csv "$tmp/locust$i" --loglevel WARNING >"$tmp/locust$i.out" 2>&1 &
	lpids+=($!)
done
for p in "${lpids[@]}"; do wait "$p" || true; done
locust_rps=$(python3 - "$tmp"/locust*_stats.csv <<'PY'
import csv, sys
total = 0.0
for path in sys.argv[1:]:
    for row in csv.DictReader(open(path)):
        if row["Name"] == "Aggregated":
            total += float(row["Requests/s"])
print(int(total))
PY
)
[ -n "$locust_rps" ] && [ "$locust_rps" -gt 0 ] || { echo "locust produced no rate" >&2; cat "$tmp"/locust*.out >&2; exit 1; }
echo "locust ($LOCUST_PROCS process(es), $LOCUST_USERS users, closed loop): $locust_rps req/s"

# --- icon-loadtest ---------------------------------------------------------
# Two modes: one request per connection at a time (keep-alive, like Locust
# and most clients) and HTTP/1.1 pipelining over PIPELINE connections (far
# fewer syscalls per request: the tester's ceiling).
printf 'methods:\n  icx_getLastBlock: 1\n' >"$tmp/mix.yaml"
step() { # mode-flags... ; prints the highest held rate
	local best=0 rate ok line
	for m in $MULTIPLES; do
		rate=$((locust_rps * m))
		"$tmp/icon-loadtest" synth --target "$base/api/v3" --mix "$tmp/mix.yaml" --rate "$rate" \
			--duration "$STEP_TIME" --quiet --json "$tmp/r.json" "$@" >/dev/null
		read -r ok line < <(python3 - "$tmp/r.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
done, sched = r["completed"], max(r["scheduled"], 1)
late = 100.0 * r["late_sends"] / max(done, 1)
held = r["tester_kept_up"] and r["failed"] == 0 and done >= 0.99 * sched
print("1" if held else "0",
      "%10.0f %10.0f %9.2f%% %8.2f %10.2f %10.2f  %s" % (r["offered_rps"], r["throughput_rps"], late,
      r["send_lag"]["p99_ms"], r["latency"]["p50_ms"], r["latency"]["p99_ms"], "yes" if held else "no"))
PY
)
		echo "$line" >&2
		if [ "$ok" = 1 ]; then best=$rate; else break; fi
	done
	echo "$best"
}
hdr() { printf '%10s %10s %10s %8s %10s %10s  %s\n' offered completed late% p99lag_ms p50_ms p99_ms held >&2; }
echo "icon-loadtest, keep-alive connections:"
hdr
plain=$(step)
echo "icon-loadtest, --pipeline $PIPELINE:"
hdr
piped=$(step --pipeline "$PIPELINE")
python3 - "$plain" "$piped" "$locust_rps" "$PIPELINE" <<'PY'
import sys
plain, piped, loc, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
best = max(plain, piped)
print("locust:                          %6d req/s" % loc)
print("icon-loadtest keep-alive:        %6d req/s open loop = %.1fx" % (plain, plain / loc))
print("icon-loadtest --pipeline %s:%s%6d req/s open loop = %.1fx" % (n, " " * max(1, 7 - len(n)), piped, piped / loc))
print("goal >= 5x Locust: %s" % ("OK" if best >= 5 * loc else "BELOW GOAL"))
PY
