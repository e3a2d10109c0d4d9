package e2e

import (
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/edge"
	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

// region is one region of a multi-region test: its nodes and its edge.
type region struct {
	name string
	sim  *iconsim.Cluster
	edge *edge.Edge
}

// startRegions starts one iconsim cluster and one edge per name, every edge
// peered with the others in the order given, and waits until each edge sees
// every peer healthy.
func startRegions(t *testing.T, names ...string) []*region {
	t.Helper()
	regions := make([]*region, len(names))
	cfgs := make([]edge.Config, len(names))
	for i, name := range names {
		regions[i] = &region{name: name, sim: startSim(t, 2)}
		cfgs[i] = edgeConfig(regions[i].sim)
		cfgs[i].Region = name
		cfgs[i].Readiness = routing.VerdictConfig{MinSyncedNodes: 1, FlipAfter: 2}
		cfgs[i].PeerPollInterval = 200 * time.Millisecond
	}
	ports := freeAddrs(t, len(names))
	for i := range names {
		cfgs[i].Listen = ports[i]
		for j, other := range names {
			if j != i {
				cfgs[i].Peers = append(cfgs[i].Peers, routing.PeerConfig{Name: other, URL: "http://" + ports[j]})
			}
		}
	}
	for i := range names {
		regions[i].edge = startEdge(t, cfgs[i])
	}
	for _, r := range regions {
		eventually(t, r.name+" ready", func() bool { return get(t, r.edge.URL()+"/readyz").status == 200 })
	}
	for _, r := range regions {
		for _, other := range regions {
			if other != r {
				eventually(t, r.name+" sees "+other.name+" up", func() bool {
					return strings.Contains(string(get(t, r.edge.URL()+"/metrics").body), `icon_edge_peer_up{peer="`+other.name+`"} 1`)
				})
			}
		}
	}
	return regions
}

// freeAddrs finds n free loopback addresses, so edges can name each other
// as peers before they start. A port taken in between fails the edge's
// start loudly, never silently.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out[i] = ln.Addr().String()
		_ = ln.Close()
	}
	return out
}

func get(t *testing.T, url string) reply {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, b, resp.Header}
}

func regionDown(r *region, down bool) {
	for i := 0; i < r.sim.Nodes(); i++ {
		r.sim.Node(i).SetFaults(iconsim.Faults{Down: boolp(down)})
	}
}

// A whole region goes down under steady reads: not one read fails (what no
// local node can serve goes to the peer), and /readyz turns 503 so the
// balancer moves traffic away.
func TestRegionDownCostsNoFailedReads(t *testing.T) {
	rs := startRegions(t, "us", "eu")
	us := rs[0]
	var failed, done atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for range 2000 {
				select {
				case <-stop:
					return
				default:
				}
				r := post(t, us.edge.URL()+"/api/v3", `{"jsonrpc":"2.0","id":7,"method":"icx_getLastBlock"}`)
				done.Add(1)
				if r.status != http.StatusOK {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, string(r.body))
				}
			}
		})
	}
	eventually(t, "some reads served locally", func() bool { return done.Load() > 30 })
	regionDown(us, true)
	eventually(t, "us /readyz fails", func() bool { return get(t, us.edge.URL()+"/readyz").status == 503 })
	servedBefore := done.Load()
	eventually(t, "reads keep flowing through eu", func() bool { return done.Load() > servedBefore+30 })
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d reads failed while the region went down; first: %v", failed.Load(), done.Load(), firstErr.Load())
	}
	metrics := string(get(t, us.edge.URL()+"/metrics").body)
	if !strings.Contains(metrics, `icon_edge_region_failover_total{peer="eu",result="ok"}`) {
		t.Fatal("forwarded reads are not counted in icon_edge_region_failover_total")
	}
	// A batch: items no local node can serve go to the peer as one sub-batch.
	r := post(t, us.edge.URL()+"/api/v3", `[{"jsonrpc":"2.0","id":"a","method":"icx_getLastBlock"},{"jsonrpc":"2.0","id":"b","method":"icx_getTotalSupply"}]`)
	var items []rpcAnswer
	if err := json.Unmarshal(r.body, &items); err != nil || len(items) != 2 || items[0].Error != nil || items[1].Error != nil ||
		string(items[0].ID) != `"a"` || string(items[1].ID) != `"b"` {
		t.Fatalf("batch while the region is down: %d %s", r.status, r.body)
	}
	regionDown(us, false)
	eventually(t, "us ready again", func() bool { return get(t, us.edge.URL()+"/readyz").status == 200 })
}

// Two regions with every node down answer 503 and never pass a request back
// and forth: a request that already hopped is not forwarded again.
func TestTwoRegionsDownNeverLoop(t *testing.T) {
	rs := startRegions(t, "us", "eu")
	us, eu := rs[0], rs[1]
	regionDown(eu, true)
	// eu's nodes are down but us still believes eu healthy for a moment; a
	// hopped request must stop at eu whatever eu believes of us.
	r := post(t, eu.edge.URL()+"/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`, routing.HopHeader, "us")
	if r.status < 500 {
		t.Fatalf("a hopped request eu cannot serve: %d %s", r.status, r.body)
	}
	regionDown(us, true)
	for _, rg := range rs {
		eventually(t, rg.name+" not ready", func() bool { return get(t, rg.edge.URL()+"/readyz").status == 503 })
	}
	for _, rg := range rs {
		for _, other := range rs {
			if other != rg {
				eventually(t, rg.name+" sees "+other.name+" down", func() bool {
					return strings.Contains(string(get(t, rg.edge.URL()+"/metrics").body), `icon_edge_peer_up{peer="`+other.name+`"} 0`)
				})
			}
		}
	}
	forwards := func() string {
		var out []string
		for _, rg := range rs {
			for _, line := range strings.Split(string(get(t, rg.edge.URL()+"/metrics").body), "\n") {
				if strings.HasPrefix(line, "icon_edge_region_failover_total{") && strings.Contains(line, `result="ok"`) {
					out = append(out, rg.name+" "+line)
				}
			}
		}
		return strings.Join(out, "; ")
	}
	before := forwards()
	for _, rg := range rs {
		r := post(t, rg.edge.URL()+"/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`)
		if r.status != http.StatusServiceUnavailable && r.status != http.StatusBadGateway {
			t.Fatalf("%s with every region down: %d %s", rg.name, r.status, r.body)
		}
	}
	if after := forwards(); after != before {
		t.Fatalf("a request was forwarded with every region down: before %q, after %q", before, after)
	}
}

// A write is forwarded only when no local node could take it, and reaches
// the other region exactly once.
func TestWriteFailsOverAtMostOnce(t *testing.T) {
	rs := startRegions(t, "us", "eu")
	us, eu := rs[0], rs[1]
	regionDown(us, true)
	eventually(t, "us not ready", func() bool { return get(t, us.edge.URL()+"/readyz").status == 503 })
	w, err := icon.NewWallet(iconsim.DevPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	params, txHash, err := w.SignTransfer("hx6d012de5402f8d43a87a1406e24ef69db9972bb4", big.NewInt(777), eu.sim.NID(), 1000000, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	before := 0
	for i := 0; i < eu.sim.Nodes(); i++ {
		before += int(eu.sim.Node(i).Stats().Methods["icx_sendTransaction"])
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 9, "method": "icx_sendTransaction", "params": json.RawMessage(params)})
	r := post(t, us.edge.URL()+"/api/v3", string(body))
	a := decode(t, r.body)
	if r.status != 200 || a.Error != nil || string(a.Result) != `"`+txHash+`"` {
		t.Fatalf("write while us is down: %d %s", r.status, r.body)
	}
	after := 0
	for i := 0; i < eu.sim.Nodes(); i++ {
		after += int(eu.sim.Node(i).Stats().Methods["icx_sendTransaction"])
	}
	if after-before != 1 {
		t.Fatalf("the write reached eu's nodes %d times", after-before)
	}
}

// /region.json and /status are public: they never name a node.
func TestPublicRegionPagesCarryNoNodeAddress(t *testing.T) {
	rs := startRegions(t, "us", "eu")
	for _, rg := range rs {
		for _, path := range []string{"/region.json", "/status"} {
			r := get(t, rg.edge.URL()+path)
			if r.status != 200 {
				t.Fatalf("%s%s: %d", rg.name, path, r.status)
			}
			for _, other := range rs {
				for _, u := range other.sim.URLs() {
					host := strings.TrimPrefix(u, "http://")
					if strings.Contains(string(r.body), host) {
						t.Fatalf("%s%s names node %s", rg.name, path, host)
					}
				}
			}
		}
		var doc routing.RegionSummary
		if err := json.Unmarshal(get(t, rg.edge.URL()+"/region.json").body, &doc); err != nil || doc.Name != rg.name ||
			!doc.Ready || doc.InSync != 2 || doc.Total != 2 || doc.Tip <= 0 {
			t.Fatalf("%s /region.json: %+v (%v)", rg.name, doc, err)
		}
	}
	page := string(get(t, rs[0].edge.URL()+"/status").body)
	if !strings.Contains(page, "eu") || !strings.Contains(page, "us") {
		t.Fatal("the status page must show this region and its peers")
	}
}
