package e2e

import (
	"testing"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/test/compat"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

// Clients must not be able to tell the edge from a node: every recorded
// goloop exchange is replayed through the edge, in front of three nodes.
func TestEdgeSpeaksLikeGoloop(t *testing.T) {
	sim := startSim(t, 3)
	cfg := edgeConfig(sim)
	// The edge splits batches up to 100 items by default; with the nodes' own
	// limit it must answer an 11-item batch exactly as goloop does.
	cfg.Limits.MaxBatch = 10
	e := startEdge(t, cfg)
	allInSync(t, e, 3)
	w, err := icon.NewWallet(iconsim.DevPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := icon.NewWallet(iconsim.Dev2PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	compat.Replay(t, e.URL(), compat.Env{Wallet: w, Wallet2: w2, NID: sim.NID(), Channel: sim.Channel(), Edge: true})
}
