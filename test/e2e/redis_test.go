package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/edge"
	"github.com/icon-edge/icon-edge/internal/promtest"
	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/redisstate/redistest"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

// A region: three edges in front of the same nodes, sharing one real Redis.

func regionConfig(sim *iconsim.Cluster, srv *redistest.Server, onError string) edge.Config {
	cfg := edgeConfig(sim)
	r := edge.RedisDefaults()
	r.URL, r.KeyPrefix, r.OnError = srv.URL(), "e2e:", onError
	r.Timeout = 300 * time.Millisecond // a busy 2-core machine running -race; production: 20ms
	cfg.Redis = &r
	return cfg
}

// startRegion starts n edges; tune adjusts edge i's configuration.
func startRegion(t *testing.T, n int, cfg edge.Config, srv *redistest.Server, tune func(i int, c *edge.Config)) []*edge.Edge {
	t.Helper()
	var edges []*edge.Edge
	for i := range n {
		c := cfg
		if c.Redis != nil {
			r := *c.Redis
			c.Redis = &r
		}
		if tune != nil {
			tune(i, &c)
		}
		edges = append(edges, startEdge(t, c))
	}
	waitShared(t, edges, srv)
	return edges
}

// waitShared waits until every edge is connected to Redis and subscribed to
// the region's verdicts (pub/sub keeps nothing for late subscribers).
func waitShared(t *testing.T, edges []*edge.Edge, srv *redistest.Server) {
	t.Helper()
	for _, e := range edges {
		eventually(t, "edge connected to redis", func() bool { v, _ := promtest.Sum(t, e.Registry(), "icon_edge_redis_up", nil); return v == 1 })
	}
	eventually(t, "every edge subscribed", func() bool {
		return redisInt(t, srv, "return redis.call('PUBSUB','NUMSUB',ARGV[1])[2]", "e2e:verdicts") == len(edges)
	})
}

// budget is a ratelimit section with the defaults and this anonymous budget.
func budget(rps float64, burst int) *ratelimit.Config {
	c := ratelimit.DefaultConfig()
	c.Enabled, c.RequestsPerSecond, c.Burst = true, rps, burst
	return &c
}

// redisInt runs a Lua expression on Redis and returns its integer result.
func redisInt(t *testing.T, srv *redistest.Server, script string, args ...string) int {
	t.Helper()
	out, err := srv.Do(append([]string{"EVAL", script, "0"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if _, err := fmt.Sscanf(out, ":%d", &n); err != nil {
		t.Fatalf("redis answered %q", out)
	}
	return n
}

func sharedAnswers(t *testing.T, srv *redistest.Server) int {
	return redisInt(t, srv, "return #redis.call('KEYS', ARGV[1])", "e2e:c1:*")
}

func nodeCalls(sim *iconsim.Cluster, n int, method string) int64 {
	var total int64
	for i := range n {
		total += sim.Node(i).Stats().Methods[method]
	}
	return total
}

// A client sending three times its budget, spread over the three edges, gets
// one budget (±10 %), not three.
func TestRegionGivesAClientOneBudget(t *testing.T) {
	sim := startSim(t, 1)
	srv := redistest.Start(t)
	cfg := regionConfig(sim, srv, "local")
	const rps, burst = 20, 20
	cfg.RateLimit = budget(rps, burst)
	edges := startRegion(t, 3, cfg, srv, nil)

	body := `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`
	tick := time.NewTicker(time.Second / (3 * rps)) // three budgets' worth
	defer tick.Stop()
	admitted, limited := 0, 0
	var first, last time.Time
	for i := range 3 * rps * 3 { // three seconds
		<-tick.C
		if i == 0 {
			first = time.Now()
		}
		r := post(t, edges[i%3].URL()+"/api/v3", body)
		last = time.Now()
		switch r.status {
		case http.StatusOK:
			admitted++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	budget := float64(burst) + rps*last.Sub(first).Seconds()
	t.Logf("admitted %d, limited %d, one budget over %v = %.0f", admitted, limited, last.Sub(first), budget)
	if float64(admitted) < 0.9*budget || float64(admitted) > 1.1*budget {
		t.Fatalf("the region admitted %d calls; one budget is %.0f (±10%%), three would be %.0f", admitted, budget, 3*budget)
	}
	if redisInt(t, srv, "return redis.call('EXISTS', ARGV[1])", "e2e:rl:{ip:127.0.0.1}:r") != 1 {
		t.Fatal("no budget key in Redis")
	}
}

// A final block fetched through edge 1 is served by edge 2 without a node call.
func TestFinalAnswerFetchedByOneEdgeServesAnother(t *testing.T) {
	sim := startSim(t, 2)
	srv := redistest.Start(t)
	cfg := regionConfig(sim, srv, "local")
	cfg.Cache.Enabled = true
	edges := startRegion(t, 3, cfg, srv, nil)
	if err := sim.WaitHeight(ctxT(t), 5); err != nil {
		t.Fatal(err)
	}
	for _, e := range edges {
		eventually(t, "edge tip past 4", func() bool { return e.Pool().Tip() >= 5 })
	}
	body := `{"jsonrpc":"2.0","id":"a","method":"icx_getBlockByHeight","params":{"height":"0x3"}}`
	first := post(t, edges[0].URL()+"/api/v3", body)
	if first.status != 200 || decode(t, first.body).Result == nil {
		t.Fatalf("edge 1: %d %s", first.status, first.body)
	}
	eventually(t, "the answer in Redis", func() bool { return sharedAnswers(t, srv) >= 1 })
	before := nodeCalls(sim, 2, "icx_getBlockByHeight")
	second := post(t, edges[1].URL()+"/api/v3", body)
	if string(second.body) != string(first.body) {
		t.Fatalf("edge 2 answered differently:\n%s\n%s", first.body, second.body)
	}
	if after := nodeCalls(sim, 2, "icx_getBlockByHeight"); after != before {
		t.Fatalf("edge 2 asked a node (%d calls) for an answer edge 1 had shared", after-before)
	}
	// In a batch too: edge 3 answers the same block from Redis, the other item from a node.
	batch := post(t, edges[2].URL()+"/api/v3", `[`+body+`,{"jsonrpc":"2.0","id":"b","method":"icx_getBlockByHeight","params":{"height":"0x4"}}]`)
	if batch.status != 200 || !strings.Contains(string(batch.body), `"id":"a"`) {
		t.Fatalf("batch: %d %s", batch.status, batch.body)
	}
	if got := nodeCalls(sim, 2, "icx_getBlockByHeight") - before; got != 1 {
		t.Fatalf("the batch cost %d node calls, want 1 (block 3 was shared)", got)
	}
	// The latest block is never shared.
	post(t, edges[0].URL()+"/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`)
	if n := redisInt(t, srv, "return #redis.call('KEYS', ARGV[1])", "e2e:c1:*getLastBlock*"); n != 0 {
		t.Fatal("a head answer was shared")
	}
}

// A node killed behind the three edges stops getting traffic from all three
// within one probe interval of the first edge's verdict, although two of them
// would need 20 failed probes of their own.
func TestDeadNodeLeavesEveryEdgeWithinAProbeInterval(t *testing.T) {
	sim := startSim(t, 3)
	srv := redistest.Start(t)
	cfg := regionConfig(sim, srv, "local")
	const interval = 200 * time.Millisecond
	cfg.Health.ProbeInterval = interval
	cfg.Health.BackoffMin, cfg.Health.BackoffMax = 10*time.Second, 20*time.Second
	edges := startRegion(t, 3, cfg, srv, func(i int, c *edge.Config) {
		c.Health.EjectAfter = 20 // alone, 4 s to notice
		if i == 0 {
			c.Health.EjectAfter = 1
		}
	})
	for _, e := range edges {
		allInSync(t, e, 3)
	}
	dead := sim.Node(2).URL()
	state := func(e *edge.Edge) (string, uint64) {
		for _, s := range e.Pool().Snapshot() {
			if s.URL == dead {
				return s.State, s.Requests
			}
		}
		return "gone", 0
	}
	down := true
	killed := time.Now()
	sim.Node(2).SetFaults(iconsim.Faults{Down: &down})
	var firstOut time.Time
	eventually(t, "one edge ejects the dead node", func() bool {
		for _, e := range edges {
			if st, _ := state(e); st == "ejected" {
				firstOut = time.Now()
				return true
			}
		}
		return false
	})
	deadline := firstOut.Add(interval)
	for {
		out := 0
		for _, e := range edges {
			if st, _ := state(e); st == "ejected" {
				out++
			}
		}
		if out == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 edges had ejected the dead node one probe interval (%v) after the first", out, interval)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("first edge out %v after the kill, all three %v after", firstOut.Sub(killed), time.Since(killed))
	var before [3]uint64
	for i, e := range edges {
		_, before[i] = state(e)
	}
	for i := range 30 {
		e := edges[i%3]
		if r := post(t, e.URL()+"/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_getBalance","params":{"address":"`+iconsim.DevAddress+`"}}`); r.status != 200 {
			t.Fatalf("read through edge %d: %d %s", i%3+1, r.status, r.body)
		}
	}
	for i, e := range edges {
		if _, n := state(e); n != before[i] {
			t.Fatalf("edge %d still sent %d requests to the dead node", i+1, n-before[i])
		}
	}
}

// Redis killed mid-run with on_error local: no client request fails; Redis
// back: the edges share again.
func TestRedisOutageWithOnErrorLocal(t *testing.T) {
	sim := startSim(t, 2)
	srv := redistest.Start(t)
	cfg := regionConfig(sim, srv, "local")
	cfg.Cache.Enabled = true
	cfg.RateLimit = budget(10000, 10000)
	edges := startRegion(t, 3, cfg, srv, nil)
	if err := sim.WaitHeight(ctxT(t), 8); err != nil {
		t.Fatal(err)
	}
	for _, e := range edges {
		eventually(t, "edge tip past 7", func() bool { return e.Pool().Tip() >= 8 })
	}
	for i := range 150 {
		switch i {
		case 50:
			srv.Kill()
		case 100:
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
		}
		body := `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`
		if i%2 == 1 {
			body = fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"icx_getBlockByHeight","params":{"height":"0x%x"}}`, 1+i%6)
		}
		r := post(t, edges[i%3].URL()+"/api/v3", body)
		if r.status != 200 || decode(t, r.body).Result == nil {
			t.Fatalf("request %d (Redis %s): %d %s", i, map[bool]string{true: "down", false: "up"}[i >= 50 && i < 100], r.status, r.body)
		}
	}
	// Sharing resumes: budgets are kept in Redis again, and a final answer
	// from one edge serves another.
	waitShared(t, edges, srv)
	eventually(t, "budgets in Redis again", func() bool {
		post(t, edges[0].URL()+"/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`)
		return redisInt(t, srv, "return redis.call('EXISTS', ARGV[1])", "e2e:rl:{ip:127.0.0.1}:r") == 1
	})
	body := `{"jsonrpc":"2.0","id":1,"method":"icx_getBlockByHeight","params":{"height":"0x7"}}`
	post(t, edges[0].URL()+"/api/v3", body)
	eventually(t, "the answer in Redis", func() bool { return sharedAnswers(t, srv) >= 1 })
	before := nodeCalls(sim, 2, "icx_getBlockByHeight")
	if r := post(t, edges[1].URL()+"/api/v3", body); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if nodeCalls(sim, 2, "icx_getBlockByHeight") != before {
		t.Fatal("after Redis came back, edge 2 did not use edge 1's shared answer")
	}
}

// Redis killed with on_error deny: rate-limited calls are refused with 503,
// Retry-After and a JSON-RPC error, until Redis is back.
func TestRedisOutageWithOnErrorDeny(t *testing.T) {
	sim := startSim(t, 1)
	srv := redistest.Start(t)
	cfg := regionConfig(sim, srv, "deny")
	// A budget small enough that no tokens are leased: every call needs Redis.
	cfg.RateLimit = budget(50, 100)
	edges := startRegion(t, 2, cfg, srv, nil)
	body := `{"jsonrpc":"2.0","id":"d","method":"icx_getLastBlock"}`
	for _, e := range edges {
		if r := post(t, e.URL()+"/api/v3", body); r.status != 200 {
			t.Fatalf("with Redis up: %d %s", r.status, r.body)
		}
	}
	srv.Kill()
	for i := range 20 {
		r := post(t, edges[i%2].URL()+"/api/v3", body)
		a := decode(t, r.body)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" || a.Error == nil ||
			a.Error.Code != -32000 || !strings.Contains(a.Error.Message, "rate limits unavailable") || string(a.ID) != `"d"` {
			t.Fatalf("on_error deny with Redis down: %d %v %s", r.status, r.header, r.body)
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	for _, e := range edges {
		eventually(t, "served again", func() bool { return post(t, e.URL()+"/api/v3", body).status == 200 })
	}
}
