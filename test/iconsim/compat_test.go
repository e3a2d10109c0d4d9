package iconsim_test

import (
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/test/compat"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

// TestCompatReplay replays every recorded goloop exchange against a fresh
// simulator and compares status, error codes and result shapes.
func TestCompatReplay(t *testing.T) {
	c, err := iconsim.Start(iconsim.Config{Listen: "127.0.0.1:0", Nodes: 1, BlockInterval: 250 * time.Millisecond, DefaultWaitTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w, err := icon.NewWallet(iconsim.DevPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := icon.NewWallet(iconsim.Dev2PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	compat.Replay(t, c.URLs()[0], compat.Env{Wallet: w, Wallet2: w2, NID: c.NID(), Channel: c.Channel()})
}
