#!/usr/bin/env bash
# make bench: the performance goals (README "Performance", docs/performance.md),
# each measured in this one run against a baseline from the same run, printed
# as a ratio with PASS/FAIL beside it. Nothing here is asserted by make test.
#
#   1 pass-through: icon-edge (cache off) vs nginx as a keep-alive reverse proxy
#     to the same iconsim node, same wrk load: throughput and CPU per 1,000
#     requests (utime+stime of each proxy's processes from /proc/PID/stat);
#     0 allocs/op for a plain read in the Go benchmark
#   2 node requests per client request: micro-batching vs none under the same
#     load (iconsim's /_sim/stats http_requests) and the node's CPU, its
#     latency cost; then a capture of the demo's mixed workload replayed
#     through nginx, the edge without and with its cache, and with
#     micro-batching too
#   3 websocket fan-out: relay p99 for 10,000 subscribers vs the floor, and
#     memory per idle subscriber (go test -bench ./wsbridge)
#   4 latency added by the edge at half its saturation rate, open loop
#     (icon-loadtest compare, A = the node direct, B = the edge); saturation
#     is the highest rate icon-loadtest itself sustains through the edge here
#
# Needs wrk and nginx (apt-get install wrk nginx-light), python3, curl.
# DUR (5s) per wrk run, ROUNDS (3) alternating rounds, medians;
# WSBRIDGE_BENCH_SUBS (10000); REPLAY_DUR (8s). About 6 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
DUR=${DUR:-5s}
ROUNDS=${ROUNDS:-3}
REPLAY_DUR=${REPLAY_DUR:-8s}
# The issue's load generator: one wrk thread, 64 connections.
WRK_THREADS=${WRK_THREADS:-1}
SIM=127.0.0.1:19181
TMP=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$TMP/nginx.pid" "$TMP/n1/nginx.pid"; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

for tool in wrk nginx python3 curl; do
  command -v $tool >/dev/null || { echo "bench: needs $tool (apt-get install wrk nginx-light python3 curl)"; exit 1; }
done

calc() { python3 -c "print($1)"; }
results=()   # "goal|what|ratio|target|PASS/FAIL"
verdict() {  # name what value op target
  local ok=FAIL
  [ "$3" = n/a ] || ok=$(python3 -c "print('PASS' if $3 $4 $5 else 'FAIL')")
  printf "  %-58s %8s  (target %s %s)  %s\n" "$1 $2" "$3" "$4" "$5" "$ok"
  results+=("$1|$2|$3|$4 $5|$ok")
}

"$BIN/iconsim" --listen $SIM --nodes 1 --block-interval 1s --nid 0x3 --channel icon_dex --log-format text >"$TMP/sim.log" 2>&1 &
SIMPID=$!; pids+=($SIMPID)
declare -A pid url
edge() { # name port flags...
  local name=$1 port=$2; shift 2
  "$BIN/icon-edge" --listen 127.0.0.1:$port --upstream http://$SIM --log-format json --log-level warn "$@" >"$TMP/edge-$name.log" 2>&1 &
  pid[$name]=$!; pids+=($!)
  url[$name]=http://127.0.0.1:$port/api/v3
}
cat >"$TMP/nopipe.yaml" <<EOF
cache: {enabled: false}
upstream: {pipeline_conns: 0}
EOF
cat >"$TMP/mb.yaml" <<EOF
cache: {enabled: false}
upstream: {micro_batch: {enabled: true, max_wait: 200us, max_items: 10}}
EOF
cat >"$TMP/full.yaml" <<EOF
upstream: {micro_batch: {enabled: true, max_wait: 200us, max_items: 10}}
EOF
edge edge 19080 --cache=false
edge edge-cache 19081
edge edge-limit 19082 --config scripts/edge-ratelimit-bench.yaml
edge edge-nopipe 19083 --config "$TMP/nopipe.yaml"
edge edge-mb 19084 --config "$TMP/mb.yaml"
edge edge-full 19085 --config "$TMP/full.yaml"
edge edge-allprocs 19087 --cache=false --procs all
mkdir -p "$TMP/body" "$TMP/proxy"
sed -e "s|__PORT__|19090|" -e "s|__UPSTREAM__|$SIM|" -e "s|__DIR__|$TMP|g" scripts/nginx-bench.conf >"$TMP/nginx.conf"
nginx -c "$TMP/nginx.conf" -e "$TMP/error.log"
mkdir -p "$TMP/n1/body" "$TMP/n1/proxy"
sed -e "s|__PORT__|19091|" -e "s|__UPSTREAM__|$SIM|" -e "s|__DIR__|$TMP/n1|g" -e "s|worker_processes auto;|worker_processes 1;|" \
  scripts/nginx-bench.conf >"$TMP/nginx1.conf"
nginx -c "$TMP/nginx1.conf" -e "$TMP/n1/error.log"
url[direct]=http://$SIM/api/v3
url[nginx]=http://127.0.0.1:19090/api/v3
url[nginx-1core]=http://127.0.0.1:19091/api/v3
for port in 19080 19081 19082 19083 19084 19085 19087; do
  for i in $(seq 1 100); do curl -fsS http://127.0.0.1:$port/readyz >/dev/null 2>&1 && break; sleep 0.1; done
done
sleep 2 # a few blocks, so block 0x1 is final and cacheable
nginx_pids() { local m; m=$(cat "$1"); echo "$m $(pgrep -P "$m" | tr '\n' ' ')"; }
pids_of() { case $1 in nginx) nginx_pids "$TMP/nginx.pid" ;; nginx-1core) nginx_pids "$TMP/n1/nginx.pid" ;; direct) echo "$SIMPID" ;; *) echo "${pid[$1]}" ;; esac; }
# CPU ticks (1/100 s) used so far by the given processes
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
node_posts() { curl -fsS "http://$SIM/_sim/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["http_requests"])'; }

# wrk_run <name> <script>: one closed-loop run; appends "rps reqs proxy_ticks node_ticks node_posts" to $TMP/runs.<name>
wrk_run() {
  local name=$1 script=$2 a b na nb pa pb out
  local procs; procs=$(pids_of "$name")
  a=$(ticks $procs); na=$(ticks $SIMPID); pa=$(node_posts)
  out=$(wrk -t"$WRK_THREADS" -c64 -d"$DUR" -s "$script" "${url[$name]}")
  b=$(ticks $procs); nb=$(ticks $SIMPID); pb=$(node_posts)
  local rps reqs
  rps=$(echo "$out" | awk '/Requests\/sec/ {print int($2)}')
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$rps $reqs $((b - a)) $((nb - na)) $((pb - pa))" >>"$TMP/runs.$name"
  echo "    $name: $rps req/s"
}
# stat <name> <field>: median rps | cpu ms per 1k requests (proxy or node) | node posts per request
stat() {
  python3 - "$TMP/runs.$1" "$2" <<'EOF'
import sys, statistics
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
f = sys.argv[2]
reqs = sum(r[1] for r in rows)
if f == "rps": print(int(statistics.median(r[0] for r in rows)))
elif f == "cpu": print(round(sum(r[2] for r in rows) * 10 / reqs * 1000, 2))
elif f == "nodecpu": print(round(sum(r[3] for r in rows) * 10 / reqs * 1000, 2))
elif f == "posts": print(round(sum(r[4] for r in rows) / reqs, 3))
EOF
}

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start; everything (wrk, proxies, node) shares them"
echo
echo "== Goal 1: pass-through, icx_getLastBlock, wrk -t$WRK_THREADS -c64 -d$DUR, $ROUNDS alternating rounds (medians; CPU summed over rounds)"
for r in $(seq 1 "$ROUNDS"); do
  echo "  round $r"
  for t in direct edge edge-nopipe nginx edge-allprocs nginx-1core; do wrk_run $t scripts/wrk-lastblock.lua; done
done
for t in direct edge edge-nopipe nginx edge-allprocs nginx-1core; do
  printf "  %-14s %7s req/s   %6s ms CPU per 1,000 requests (%s)\n" "$t" "$(stat $t rps)" "$(stat $t cpu)" \
    "$([ $t = direct ] && echo node || echo "the proxy's processes")"
done
echo "  pipelining: edge / edge without it = $(calc "round($(stat edge rps) / $(stat edge-nopipe rps), 2)") throughput, $(calc "round($(stat edge cpu) / $(stat edge-nopipe cpu), 2)") CPU per request"
metric() { curl -fsS "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
echo "  the edge's processors (procs: adaptive): $(metric 19080 icon_edge_procs) after the rounds;" \
  "changes up $(metric 19080 'icon_edge_procs_changes_total{direction="up"}'), down $(metric 19080 'icon_edge_procs_changes_total{direction="down"}')"
echo "  adaptive / every processor from the start (procs: all): $(calc "round($(stat edge rps) / $(stat edge-allprocs rps), 2)") throughput," \
  "$(calc "round($(stat edge cpu) / $(stat edge-allprocs cpu), 2)") CPU per request (information, not a goal)"
echo "  nginx with one worker / nginx (worker_processes auto): $(calc "round($(stat nginx-1core rps) / $(stat nginx rps), 2)") throughput;" \
  "edge / nginx with one worker: $(calc "round($(stat edge rps) / $(stat nginx-1core rps), 2)") (information, not a goal)"
verdict "1a" "throughput edge / nginx" "$(calc "round($(stat edge rps) / $(stat nginx rps), 2)")" ">=" 1.2
verdict "1b" "CPU per 1k requests edge / nginx" "$(calc "round($(stat edge cpu) / $(stat nginx cpu), 2)")" "<=" 1.0
allocs=$(go test -run '^$' -bench '^BenchmarkEdgeSingleRead$' -benchmem -benchtime 20000x ./proxy 2>/dev/null | awk '/^BenchmarkEdgeSingleRead/ {for (i=1;i<=NF;i++) if ($i=="allocs/op") print $(i-1)}')
verdict "1c" "allocs/op, plain read (BenchmarkEdgeSingleRead)" "${allocs:-1}" "==" 0
sat=$(stat edge rps)
# The open-loop saturation: the highest rate icon-loadtest sustains through
# the edge (kept up, >= 97% answered at the offered rate, p99 under 50 ms).
# The tester shares the 2 cores: it saturates below wrk's closed-loop figure.
olsat=0
for share in 15 25 35 45 55 65 75; do
  r=$((sat * share / 100))
  "$BIN/icon-loadtest" synth --target "${url[edge]}" --mix scripts/mix-lastblock.yaml --rate "$r" --duration 2s \
    --quiet --json "$TMP/sat.json" >/dev/null 2>&1 || true
  ok=$(python3 - "$TMP/sat.json" "$r" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); rate = float(sys.argv[2])
print(1 if r["tester_kept_up"] and r["throughput_rps"] >= 0.97 * rate and r["latency"]["p99_ms"] < 50 else 0)
EOF
)
  [ "$ok" = 1 ] || break
  olsat=$r
done
[ "$olsat" -gt 0 ] || olsat=$((sat / 10)) # the tester never kept up: say so below, measure anyway
rate4=$((olsat / 2))

echo
echo "== Goal 2: node requests per client request (same wrk load, cache off), $ROUNDS alternating rounds"
for r in $(seq 1 "$ROUNDS"); do
  echo "  round $r"
  for t in edge edge-mb; do wrk_run $t scripts/wrk-lastblock.lua; done
done
for t in edge edge-mb; do
  printf "  %-8s %7s req/s   node: %5s HTTP requests per client request, %6s ms CPU per 1,000 client requests\n" \
    $t "$(stat $t rps)" "$(stat $t posts)" "$(stat $t nodecpu)"
done
verdict "2a" "node requests per client request, micro-batch / none" "$(calc "round($(stat edge-mb posts) / $(stat edge posts), 2)")" "<=" 0.5
verdict "2b" "node CPU per client request, micro-batch / none" "$(calc "round($(stat edge-mb nodecpu) / $(stat edge nodecpu), 2)")" "<" 1.0
rate=$rate4
echo "  latency cost of micro-batching, open loop at $rate req/s (icon-loadtest compare, A = edge, B = edge with micro_batch)"
"$BIN/icon-loadtest" compare --a "${url[edge]}" --b "${url[edge-mb]}" --mix scripts/mix-lastblock.yaml \
  --rate "$rate" --duration "$DUR" --rounds 2 --quiet --json "$TMP/mbcost.json" >/dev/null 2>&1 || true
python3 - "$TMP/mbcost.json" <<'EOF' || echo "  (compare failed)"
import json, sys
c = json.load(open(sys.argv[1])); a, b = c["a"]["latency"], c["b"]["latency"]
print("  added by micro-batching: p50 %+.0f us, p99 %+.0f us (p50 %.3f -> %.3f ms, p99 %.3f -> %.3f ms)" % (
    (b["p50_ms"]-a["p50_ms"])*1000, (b["p99_ms"]-a["p99_ms"])*1000, a["p50_ms"], b["p50_ms"], a["p99_ms"], b["p99_ms"]))
EOF

echo "  replayed mix: the demo's workload (icon-demo's read stream: 8 clients, 5 request shapes; then 3 s of the built-in mix at 300 req/s)"
echo "  captured through an edge in front of 3 nodes, then replayed at $rate req/s (goal 4's rate) for $REPLAY_DUR through each target"
"$BIN/iconsim" --listen 127.0.0.1:19281 --nodes 3 --block-interval 500ms --nid 0x3 --channel icon_dex --log-format text >"$TMP/sim3.log" 2>&1 &
SIM3=$!; pids+=($SIM3)
cat >"$TMP/capture.yaml" <<EOF
capture: {path: $TMP/cap.jsonl, gzip: false, sample_rate: 1}
shutdown: {drain_delay: 0s}
channel: icon_dex
EOF
"$BIN/icon-edge" --listen 127.0.0.1:19086 --config "$TMP/capture.yaml" --log-format json --log-level warn \
  --upstream http://127.0.0.1:19281 --upstream http://127.0.0.1:19282 --upstream http://127.0.0.1:19283 >"$TMP/edge-capture.log" 2>&1 &
CAPPID=$!; pids+=($CAPPID)
for i in $(seq 1 100); do curl -fsS http://127.0.0.1:19086/readyz >/dev/null 2>&1 && break; sleep 0.1; done
# The demo's read stream (cmd/icon-demo/stream.go): 8 clients, ~40 reads/s
# each, cycling getLastBlock, getBalance of ever new accounts, getTotalSupply,
# icx_call balanceOf of ever new accounts and final blocks; then, as make demo
# used to, the built-in synthetic mix.
python3 - http://127.0.0.1:19086 "${DEMO_STREAM_SECONDS:-4}" <<'EOF' || echo "  (demo stream failed)"
import http.client, json, sys, threading, time
host = sys.argv[1].split("//")[1]; secs = float(sys.argv[2])
token = "cx0000000000000000000000000000000000001234"  # iconsim.TokenAddress
def post(conn, body):
    conn.request("POST", "/api/v3/icon_dex", body, {"Content-Type": "application/json"})
    r = conn.getresponse(); return r.read()
c0 = http.client.HTTPConnection(host, timeout=10)
tip = int(json.loads(post(c0, '{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}'))["result"]["height"])
final = max(tip - 1, 1)
shapes = [lambda i: '{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}',
          lambda i: '{"jsonrpc":"2.0","id":2,"method":"icx_getBalance","params":{"address":"hx%040x"}}' % i,
          lambda i: '{"jsonrpc":"2.0","id":3,"method":"icx_getTotalSupply"}',
          lambda i: '{"jsonrpc":"2.0","id":4,"method":"icx_call","params":{"to":"%s","dataType":"call","data":{"method":"balanceOf","params":{"_owner":"hx%040x"}}}}' % (token, i),
          lambda i: '{"jsonrpc":"2.0","id":5,"method":"icx_getBlockByHeight","params":{"height":"0x%x"}}' % (1 + i % final)]
end = time.time() + secs
def client(w):
    conn = http.client.HTTPConnection(host, timeout=10); i = w
    while time.time() < end:
        post(conn, shapes[i % 5](i // 5)); i += 8; time.sleep(0.025)
ts = [threading.Thread(target=client, args=(w,)) for w in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
EOF
"$BIN/icon-loadtest" synth --target http://127.0.0.1:19086/api/v3/icon_dex --rate 300 --duration 3s --quiet >/dev/null 2>&1 || true
kill -TERM $CAPPID; wait $CAPPID 2>/dev/null || true
kill $SIM3 2>/dev/null || true
echo "  captured $(wc -l <"$TMP/cap.jsonl") requests"
replay() { # name base-url
  local name=$1 base=$2 pa na pb nb
  pa=$(node_posts); na=$(ticks $SIMPID)
  "$BIN/icon-loadtest" replay --target "$base" --capture "$TMP/cap.jsonl" --rate "$rate" --loop --duration "$REPLAY_DUR" \
    --quiet --json "$TMP/replay-$name.json" >/dev/null 2>&1 || true
  pb=$(node_posts); nb=$(ticks $SIMPID)
  python3 - "$TMP/replay-$name.json" "$name" $((pb - pa)) $((nb - na)) <<'EOF' | tee -a "$TMP/replay.txt"
import json, sys
r = json.load(open(sys.argv[1])); n = r["completed"]; posts = int(sys.argv[3]); cpu = int(sys.argv[4]) * 10
print("  %-38s %6d requests, %5.0f req/s, p50 %.3f ms: node %.3f HTTP requests and %.2f ms CPU per client request x1000" % (
    sys.argv[2], n, r["throughput_rps"], r["latency"]["p50_ms"], posts / max(n, 1), cpu / max(n, 1) * 1000))
EOF
}
replay "nginx" http://127.0.0.1:19090
replay "edge, cache off" http://127.0.0.1:19080
replay "edge, cache + coalescing (default)" http://127.0.0.1:19081
replay "edge, cache + coalescing + micro-batch" http://127.0.0.1:19085
ratio=$(python3 - "$TMP/replay.txt" <<'EOF'
import re, sys
v = [float(re.search(r"node ([0-9.]+) HTTP", l).group(1)) for l in open(sys.argv[1])]
print(round(v[3] / v[0], 2) if v[0] else 0)
EOF
)
verdict "2c" "replayed mix: node requests per client request, edge (all) / nginx" "$ratio" "<" 1.0

echo
echo "== Goal 3: websocket fan-out (go test -bench ./wsbridge; subscribers in a child process)"
WSBRIDGE_BENCH_SUBS=${WSBRIDGE_BENCH_SUBS:-10000} go test -run '^$' -bench 'Idle|Relay' -benchtime 1x ./wsbridge 2>&1 \
  | grep -E '^Benchmark' | tee "$TMP/ws.txt" | sed 's/^/  /'
wsval() { awk -v k="$1" '{for (i=2;i<=NF;i++) if ($i==k) print $(i-1)}' "$TMP/ws.txt" | head -1; }
echo "  $(wsval subs) subscribers (RLIMIT_NOFILE $(wsval fd-limit) per process; both ends in separate processes)"
verdict "3a" "relay p99 / floor p99 ($(wsval p99-ms) / $(wsval floor-p99-ms) ms)" "$(wsval x-floor)" "<=" 1.5
verdict "3b" "KiB per idle subscriber (bridge heap + stacks)" "$(wsval KiB/idle-sub)" "<=" 12

echo
echo "== Goal 4: latency added by the edge, open loop (icon-loadtest compare, A = direct, B = edge)"
echo "  open-loop saturation through the edge with icon-loadtest: $olsat req/s (wrk's closed loop: $sat); measured at half: $rate4 req/s"
# Three comparisons, each A/B alternating over 2 rounds; the medians of
# their added p50 and p99, as goal 1 takes medians of rounds (one stall of
# the shared machine must not decide the goal; each comparison is printed).
# A comparison in which the tester fell behind on either side measures the
# tester, not the edge: it is run again (up to 3 times per comparison), and
# never counted.
: >"$TMP/lat.txt"
for cmp in 1 2 3; do
  for attempt in 1 2 3; do
    "$BIN/icon-loadtest" compare --a "${url[direct]}" --b "${url[edge]}" --mix scripts/mix-lastblock.yaml \
      --rate "$rate4" --duration "$DUR" --rounds 2 --quiet --json "$TMP/lat.json" >/dev/null 2>&1 || true
    read -r kept d50 d99 < <(python3 - "$TMP/lat.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1])); a, b = c["a"]["latency"], c["b"]["latency"]
kept = c["a"]["tester_kept_up"] and c["b"]["tester_kept_up"]
print("  direct p50 %.3f p99 %.3f ms; through the edge p50 %.3f p99 %.3f ms; tester kept up: %s / %s" % (
    a["p50_ms"], a["p99_ms"], b["p50_ms"], b["p99_ms"], c["a"]["tester_kept_up"], c["b"]["tester_kept_up"]), file=sys.stderr)
print(1 if kept else 0, round((b["p50_ms"]-a["p50_ms"])*1000), round((b["p99_ms"]-a["p99_ms"])*1000))
EOF
)
    [ "$kept" = 1 ] && break
    echo "  (the tester fell behind: not a measurement of the edge; again)"
  done
  [ "$kept" = 1 ] && echo "$d50 $d99" >>"$TMP/lat.txt"
done
read -r p50 p99 < <(python3 - "$TMP/lat.txt" <<'EOF'
import statistics, sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
print(*(round(statistics.median(r[i] for r in rows)) if rows else "n/a" for i in (0, 1)))
EOF
)
echo "  medians of $(wc -l <"$TMP/lat.txt") comparisons: added p50 $p50 us, p99 $p99 us"
verdict "4a" "added p50, us" "$p50" "<" 100
verdict "4b" "added p99, us" "$p99" "<" 1000

echo
echo "== Other ratios of the same run (1 round each)"
for t in edge-limit edge; do wrk_run $t scripts/wrk-lastblock.lua >/dev/null; done
echo "  rate limiter on / off: $(calc "round($(tail -1 "$TMP/runs.edge-limit" | cut -d' ' -f1) / $(tail -1 "$TMP/runs.edge" | cut -d' ' -f1), 2)") throughput (target >= 0.95)"
for t in direct edge-cache; do wrk_run $t scripts/wrk-block1.lua >/dev/null; done
echo "  cache hits (final block) / direct: $(calc "round($(tail -1 "$TMP/runs.edge-cache" | cut -d' ' -f1) / $(tail -1 "$TMP/runs.direct" | cut -d' ' -f1), 2)") throughput"

echo
echo "== Go benchmarks of the hot paths (ns/op, allocs/op)"
go test -run '^$' -bench . -benchmem -benchtime 1s ./proxy ./upstream ./cache ./ratelimit ./accesslog ./capture ./internal/rawconn ./edge 2>/dev/null | grep -E '^(Benchmark|ok)' || true
go test -run '^$' -bench 'Fanout' -benchmem ./wsbridge 2>/dev/null | grep -E '^(Benchmark|ok)' || true

echo
echo "== Goals (this run)"
printf "  %-4s %-62s %8s  %-8s %s\n" goal what ratio target result
for r in "${results[@]}"; do
  IFS='|' read -r g w v t ok <<<"$r"
  printf "  %-4s %-62s %8s  %-8s %s\n" "$g" "$w" "$v" "$t" "$ok"
done
