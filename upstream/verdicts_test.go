package upstream

import (
	"sync"
	"testing"
	"time"
)

type sentEjection struct {
	node    string
	backoff time.Duration
	byProbe bool
}

// recordingSink keeps what a pool published.
type recordingSink struct {
	mu      sync.Mutex
	ejected []sentEjection
	tips    []int64
}

func (s *recordingSink) PublishEjection(node string, backoff time.Duration, byProbe bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ejected = append(s.ejected, sentEjection{node, backoff, byProbe})
}

func (s *recordingSink) PublishTip(h int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tips = append(s.tips, h)
}

func (s *recordingSink) ejections() []sentEjection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sentEjection(nil), s.ejected...)
}

func (s *recordingSink) lastTip() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tips) == 0 {
		return -1
	}
	return s.tips[len(s.tips)-1]
}

func TestEjectionAndTipArePublished(t *testing.T) {
	a, b := newFakeNode(t, 100), newFakeNode(t, 100)
	sink := &recordingSink{}
	cfg := testConfig(a.srv.URL, b.srv.URL)
	cfg.Verdicts = sink
	p := startPool(t, cfg)
	eventually(t, "tip published", func() bool { return sink.lastTip() == 100 })
	a.height.Store(101)
	eventually(t, "new tip published", func() bool { return sink.lastTip() == 101 })

	b.fail.Store(true)
	eventually(t, "b ejected", func() bool { return nodeByURL(p, b.srv.URL).State() == StateEjected })
	eventually(t, "ejection published", func() bool { return len(sink.ejections()) > 0 })
	e := sink.ejections()[0]
	if e.node != b.srv.URL || !e.byProbe || e.backoff != cfg.Health.BackoffMin {
		t.Fatalf("published %+v, want b by probe with backoff %v", e, cfg.Health.BackoffMin)
	}
	for _, h := range sink.tips {
		if h > 101 {
			t.Fatalf("published tips %v", sink.tips)
		}
	}
}

func TestAppliedEjectionTakesNodeOutUntilItsOwnProbesPass(t *testing.T) {
	a, b := newFakeNode(t, 100), newFakeNode(t, 100)
	cfg := testConfig(a.srv.URL, b.srv.URL)
	cfg.Health.BackoffMin, cfg.Health.BackoffMax = 300*time.Millisecond, time.Second
	sink := &recordingSink{}
	cfg.Verdicts = sink
	p := startPool(t, cfg)
	eventually(t, "both in sync", func() bool { return p.InSync(nodeByURL(p, a.srv.URL)) && p.InSync(nodeByURL(p, b.srv.URL)) })

	if p.ApplyEjection("http://127.0.0.1:1", time.Second, true) {
		t.Fatal("a node this replica does not know was ejected")
	}
	start := time.Now()
	if !p.ApplyEjection(b.srv.URL, 300*time.Millisecond, true) {
		t.Fatal("a healthy node was not ejected on a shared verdict")
	}
	nb := nodeByURL(p, b.srv.URL)
	for range 50 {
		if n := p.Pick(Need{Latest: true}, nil); n == nb {
			t.Fatal("Pick chose the node another replica ejected")
		}
	}
	if got := sink.ejections(); len(got) != 0 {
		t.Fatalf("an applied verdict was published again: %+v", got)
	}
	// b is fine for this replica: after the backoff its own probes bring it back.
	eventually(t, "b back after the backoff", func() bool { return nb.State() == StateHealthy })
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("b came back after %v, before the shared backoff of 300ms", took)
	}
}

func TestAppliedLiveEjectionRespectsTheFleetShare(t *testing.T) {
	a, b := newFakeNode(t, 100), newFakeNode(t, 100)
	cfg := testConfig(a.srv.URL, b.srv.URL)
	cfg.Health.BackoffMin, cfg.Health.BackoffMax = 5*time.Second, 10*time.Second
	p := startPool(t, cfg)
	eventually(t, "both healthy", func() bool {
		return nodeByURL(p, a.srv.URL).State() == StateHealthy && nodeByURL(p, b.srv.URL).State() == StateHealthy
	})
	if !p.ApplyEjection(a.srv.URL, time.Second, false) {
		t.Fatal("first live ejection refused")
	}
	// max_ejected_percent 50 of two nodes: the second may not go for its error rate.
	if p.ApplyEjection(b.srv.URL, time.Second, false) {
		t.Fatal("a live-traffic verdict ejected more than max_ejected_percent of the fleet")
	}
	// A dead node is out whatever the share, as with local probes.
	if !p.ApplyEjection(b.srv.URL, time.Second, true) {
		t.Fatal("probe verdict refused")
	}
}

func TestSharedTipTightensSyncButNotRouting(t *testing.T) {
	a, b := newFakeNode(t, 100), newFakeNode(t, 98)
	p := startPool(t, testConfig(a.srv.URL, b.srv.URL)) // max_lag 2
	na, nb := func() *Node { return nodeByURL(p, a.srv.URL) }, func() *Node { return nodeByURL(p, b.srv.URL) }
	eventually(t, "both in sync", func() bool { return na() != nil && nb() != nil && p.InSync(na()) && p.InSync(nb()) })

	p.ApplyTip(101) // another replica saw 101: b (98) is 3 behind
	if p.InSync(nb()) || !p.InSync(na()) {
		t.Fatalf("after a shared tip of 101: a in sync %v, b in sync %v", p.InSync(na()), p.InSync(nb()))
	}
	if p.Tip() != 100 {
		t.Fatalf("Tip() = %d: the shared tip must not replace this replica's own", p.Tip())
	}
	for range 50 {
		if n := p.Pick(Need{Latest: true}, nil); n != na() {
			t.Fatal("a latest read went to the node behind the shared tip")
		}
	}
	p.ApplyTip(1000) // never more than max_lag past the own tip: a stays in sync
	if !p.InSync(na()) || !p.Ready() {
		t.Fatal("a far higher shared tip took this replica's best node out of sync")
	}
}
