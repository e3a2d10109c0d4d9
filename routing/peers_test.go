package routing

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"
)

// fakeRegion is a peer edge serving /region.json with the real handler.
type fakeRegion struct {
	mu   sync.Mutex
	sum  RegionSummary
	raw  string // when set, served instead of the summary
	hang chan struct{}
	ln   net.Listener
	srv  *fasthttp.Server
}

func startRegion(t *testing.T, name string, ready bool, tip int64) *fakeRegion {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRegion{ln: ln, sum: RegionSummary{Name: name, Ready: ready, InSync: 2, Total: 3, Tip: tip, Version: "test"}}
	summary := SummaryHandler(func() RegionSummary {
		r.mu.Lock()
		defer r.mu.Unlock()
		s := r.sum
		s.ObservedAt = time.Now()
		return s
	})
	r.srv = &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		r.mu.Lock()
		raw, hang := r.raw, r.hang
		r.mu.Unlock()
		if hang != nil {
			<-hang
		}
		if string(ctx.Path()) != "/region.json" {
			ctx.NotFound()
			return
		}
		if raw != "" {
			ctx.SetBodyString(raw)
			return
		}
		summary(ctx)
	}}
	go func() { _ = r.srv.Serve(ln) }()
	t.Cleanup(func() { _ = r.srv.Shutdown() })
	return r
}

func (r *fakeRegion) url() string { return "http://" + r.ln.Addr().String() }

func (r *fakeRegion) set(f func(*fakeRegion)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

func deadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPeerPollerFindsTheFirstHealthyPeerInOrder(t *testing.T) {
	us, asia := startRegion(t, "us", true, 100), startRegion(t, "asia", false, 99)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + closed.Addr().String()
	closed.Close()
	reg := prometheus.NewRegistry()
	hist := NewHistory(1)
	p, err := NewPeerPoller(PeerPollerConfig{Self: "eu", Registry: reg, History: hist, Peers: []PeerConfig{
		{Name: "gone", URL: deadURL}, {Name: "us", URL: us.url() + "/"}, {Name: "asia", URL: asia.url()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.FirstHealthy(); ok {
		t.Fatal("healthy before any poll")
	}
	p.PollOnce(deadline(t))
	first, ok := p.FirstHealthy()
	if !ok || first.Name != "us" || first.URL != us.url() || first.Summary.Tip != 100 {
		t.Fatalf("first healthy %+v %v", first, ok)
	}
	states := p.Peers()
	if len(states) != 3 || states[0].Name != "gone" || states[0].Healthy || states[0].LastError == "" ||
		states[2].Healthy || !states[2].HasSummary || states[2].LastError != "" {
		t.Fatalf("states %+v", states)
	}
	for peer, want := range map[string]float64{"gone": 0, "us": 1, "asia": 0} {
		if v := testutil.ToFloat64(p.up.WithLabelValues(peer)); v != want {
			t.Errorf("icon_edge_peer_up{peer=%q} = %v, want %v", peer, v, want)
		}
	}
	if v := testutil.ToFloat64(p.tip.WithLabelValues("us")); v != 100 {
		t.Errorf("icon_edge_peer_tip_height{peer=us} = %v", v)
	}
	if n, err := testutil.GatherAndCount(reg, "icon_edge_peer_up", "icon_edge_peer_tip_height"); err != nil || n != 5 {
		t.Errorf("registered series %d %v", n, err)
	}

	us.set(func(r *fakeRegion) { r.sum.Ready = false })
	p.PollOnce(deadline(t))
	if _, ok := p.FirstHealthy(); ok || p.Healthy("us") {
		t.Fatal("a peer that says it is not ready is not healthy")
	}
	asia.set(func(r *fakeRegion) { r.sum.Ready = true })
	p.PollOnce(deadline(t))
	if first, ok := p.FirstHealthy(); !ok || first.Name != "asia" {
		t.Fatalf("failover order: got %+v", first)
	}
	if s := hist.Series("us", time.Now()); s[len(s)-1].Total != 3 || s[len(s)-1].Up != 1 {
		t.Fatalf("history of us: %+v", s[len(s)-1])
	}
}

func TestAPeerIsHealthyOnlyWhileItsAnswerIsFresh(t *testing.T) {
	us := startRegion(t, "us", true, 7)
	p, err := NewPeerPoller(PeerPollerConfig{Self: "eu", Interval: 5 * time.Second, Peers: []PeerConfig{{Name: "us", URL: us.url()}}})
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	p.now = clock.Now
	p.PollOnce(deadline(t))
	if !p.Healthy("us") {
		t.Fatal("not healthy after a good answer")
	}
	_ = us.srv.Shutdown()
	clock.Add(5 * time.Second)
	p.PollOnce(deadline(t))
	st := p.Peers()[0]
	if !st.Healthy || st.LastError == "" || st.Age != 5*time.Second {
		t.Fatalf("one lost poll within 2×interval must be tolerated: %+v", st)
	}
	clock.Add(5*time.Second + time.Millisecond)
	if p.Healthy("us") {
		t.Fatal("an answer older than StaleAfter still counts")
	}
	if st := p.Peers()[0]; st.Summary.Tip != 7 || !st.HasSummary {
		t.Fatalf("the last good answer must be kept with its age: %+v", st)
	}
}

func TestPeerPollerRejectsWrongOrUnsafeAnswers(t *testing.T) {
	r := startRegion(t, "us", true, 1)
	p, err := NewPeerPoller(PeerPollerConfig{Self: "eu", Timeout: 300 * time.Millisecond, Peers: []PeerConfig{{Name: "asia", URL: r.url()}}})
	if err != nil {
		t.Fatal(err)
	}
	p.PollOnce(deadline(t))
	if st := p.Peers()[0]; st.Healthy || !strings.Contains(st.LastError, `answered as region "us"`) {
		t.Fatalf("a peer answering under another name: %+v", st)
	}

	r.set(func(r *fakeRegion) { r.raw = `{"name":"asia","ready":true,"in_sync":5,"total":2}` })
	p.PollOnce(deadline(t))
	if st := p.Peers()[0]; st.Healthy || !strings.Contains(st.LastError, "in_sync 5 of total 2") {
		t.Fatalf("insane counts: %+v", st)
	}

	// Fields a peer should never send are not kept, so they can never be shown.
	r.set(func(r *fakeRegion) {
		r.raw = `{"name":"asia","ready":true,"in_sync":1,"total":1,"tip":9,"nodes":[{"url":"http://10.1.2.3:9000"}]}`
	})
	p.PollOnce(deadline(t))
	st := p.Peers()[0]
	b, _ := json.Marshal(st)
	if !st.Healthy || strings.Contains(string(b), "10.1.2.3") {
		t.Fatalf("state %s", b)
	}

	hang := make(chan struct{})
	r.set(func(r *fakeRegion) { r.hang = hang })
	defer close(hang)
	p.PollOnce(deadline(t)) // bounded by Timeout: returns although the peer never answers
	if st := p.Peers()[0]; !strings.Contains(st.LastError, "deadline exceeded") && !strings.Contains(st.LastError, "Timeout") {
		t.Fatalf("a hanging peer: %+v", st)
	}
}

func TestPeerPollerStartPollsUntilCancelled(t *testing.T) {
	us := startRegion(t, "us", false, 3)
	p, err := NewPeerPoller(PeerPollerConfig{Self: "eu", Interval: 20 * time.Millisecond, Peers: []PeerConfig{{Name: "us", URL: us.url()}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Start(ctx)
	us.set(func(r *fakeRegion) { r.sum.Ready = true })
	for end := time.Now().Add(10 * time.Second); !p.Healthy("us"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the poller never saw the peer become ready")
		}
	}
}

func TestPeerFlagsAndValidation(t *testing.T) {
	p, err := ParsePeerFlag("eu=https://eu.rpc.example.org")
	if err != nil || p.Name != "eu" || p.URL != "https://eu.rpc.example.org" {
		t.Fatalf("%+v %v", p, err)
	}
	for v, want := range map[string]string{
		"eu":                     "want NAME=URL",
		"=http://x":              "want NAME=URL",
		"eu=ftp://x":             "must be an http(s) base URL",
		"e.u=http://x":           "may contain only letters",
		"eu=http://x/?token=abc": "must be an http(s) base URL",
	} {
		if _, err := ParsePeerFlag(v); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--peer %s: got %v, want %q", v, err, want)
		}
	}
	err = ValidatePeers("eu", []PeerConfig{{Name: "us", URL: "http://a"}, {Name: "eu", URL: "http://b"}, {Name: "us", URL: "http://c"}, {Name: "x", URL: "nope"}})
	for _, want := range []string{`peers[1].name "eu" is this region`, `peers[2].name "us" is already peers[0]`, `peers[3].url "nope" must be`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
	if _, err := NewPeerPoller(PeerPollerConfig{Self: "eu", Peers: []PeerConfig{{Name: "eu", URL: "http://x"}}}); err == nil {
		t.Fatal("a poller of itself")
	}
}

func TestPeerFlagsIsAFlagValue(t *testing.T) {
	fs := flag.NewFlagSet("icon-edge", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var peers PeerFlags
	fs.Var(&peers, "peer", "NAME=URL (repeatable)")
	if err := fs.Parse([]string{"--peer", "us=http://127.0.0.1:9080", "--peer", "asia=https://asia.rpc.example.org"}); err != nil {
		t.Fatal(err)
	}
	if len(peers) != 2 || peers[0].Name != "us" || peers[1].URL != "https://asia.rpc.example.org" || peers.String() != "us=http://127.0.0.1:9080,asia=https://asia.rpc.example.org" {
		t.Fatalf("%+v", peers)
	}
	if err := fs.Parse([]string{"--peer", "nope"}); err == nil || !strings.Contains(err.Error(), "want NAME=URL") {
		t.Fatalf("got %v", err)
	}
}
