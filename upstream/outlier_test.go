package upstream

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// Hardening #2: with a fifth of every node's answers failing, nothing is
// ejected (retries absorb the failures); a node failing most requests is;
// and never more than half the fleet at once.
func TestOutlierDetectionEjectsOnRateWithinTheCap(t *testing.T) {
	a, b, c := newScriptNode(t, 10), newScriptNode(t, 10), newScriptNode(t, 10)
	p, _ := scriptPool(t, a, b, c)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	var i int
	flaky := func(string) (int, string) { // every fifth answer fails
		i++
		if i%5 == 0 {
			return 503, "busy"
		}
		return 200, `{"jsonrpc":"2.0","result":"0x1","id":1}`
	}
	for _, n := range []*scriptNode{a, b, c} {
		n.set(flaky)
	}
	failed := 0
	for range 300 {
		r := p.Send(Need{Latest: true}, post(`{"jsonrpc":"2.0","id":1,"method":"icx_getBalance"}`), resp, time.Now().Add(5*time.Second), Policy{Retries: 2})
		if r.Outcome != OutcomeOK {
			failed++
		}
	}
	for _, n := range p.Nodes() {
		if n.State() != StateHealthy {
			t.Fatalf("%s ejected at a 20%% error rate", n.URL())
		}
	}
	if failed > 3 { // 0.2^3 = 0.8% expected
		t.Fatalf("%d of 300 reads failed at a 20%% error rate with two retries", failed)
	}
	// Every node fails every request: at most one of three (50%) is ejected.
	for _, n := range []*scriptNode{a, b, c} {
		n.set(answers(503, "down"))
	}
	for range 200 {
		p.Send(Need{Latest: true}, post(`{"jsonrpc":"2.0","id":1,"method":"icx_getBalance"}`), resp, time.Now().Add(5*time.Second), Policy{Retries: 2})
	}
	ejected := 0
	for _, n := range p.Nodes() {
		if n.State() == StateEjected {
			ejected++
		}
	}
	if ejected != 1 {
		t.Fatalf("%d of 3 nodes ejected; want exactly 1 (max_ejected_percent 50)", ejected)
	}
}

// Panic mode: when no healthy node qualifies, a node ejected for its error
// rate (up, but erroring) still serves; one that fails its probes does not.
func TestPanicModeServesFromErroringNodes(t *testing.T) {
	a := newScriptNode(t, 10)
	a.set(answers(200, `{"jsonrpc":"2.0","result":"0x1","id":1}`))
	p, _ := scriptPool(t, a)
	n := p.byURL[a.url]
	n.eject(&p.cfg.Health, time.Now(), false)
	if got := p.Pick(Need{Latest: true}, nil); got != n {
		t.Fatal("an erroring node must still serve when it is the only one")
	}
	if p.Ready() {
		t.Fatal("a region in panic mode is not ready")
	}
	n.setState(StateHealthy)
	n.eject(&p.cfg.Health, time.Now(), true)
	if got := p.Pick(Need{Latest: true}, nil); got != nil {
		t.Fatal("a node failing its probes must not serve")
	}
}

// Hardening #1: traffic that fills a node's connection pool (long waits)
// must not starve its probes and eject a healthy node.
func TestProbesHaveTheirOwnConnections(t *testing.T) {
	a := newScriptNode(t, 10) // answers nothing but probes: every request hangs
	p, err := New(Config{Upstreams: []string{a.url}, MaxConnsPerNode: 2, MaxWaitsPerNode: 2,
		Health: HealthConfig{ProbeInterval: 5 * time.Millisecond, EjectAfter: 2}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p.Start(t.Context())
	t.Cleanup(p.Close)
	deadline := time.Now().Add(10 * time.Second)
	for !p.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("not ready")
		}
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	for range 2 {
		go func() {
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseResponse(resp)
			p.Send(Need{Latest: true}, post(`{"jsonrpc":"2.0","id":1,"method":"icx_waitTransactionResult"}`), resp,
				time.Now().Add(20*time.Second), Policy{Long: true})
			done <- struct{}{}
		}()
	}
	eventually(t, "both waits at the node", func() bool { return a.calls.Load() >= 2 })
	n := p.byURL[a.url]
	lastProbe := func() time.Time { n.mu.Lock(); defer n.mu.Unlock(); return n.lastProbe }
	before := lastProbe()
	start := time.Now()
	for time.Since(start) < 200*time.Millisecond { // ~40 probe intervals with the pool full
		if n.State() != StateHealthy {
			t.Fatalf("node ejected while its connections were busy with waits: %s", n.LastError())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The window proves something only if probes ran in it.
	eventually(t, "a probe while the pool is full", func() bool { return lastProbe().After(before) })
	if n.State() != StateHealthy {
		t.Fatalf("node ejected while its connections were busy with waits: %s", n.LastError())
	}
	a.stopHanging()
	<-done
	<-done
}
