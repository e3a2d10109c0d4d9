package iconsim

import (
	"fmt"
	"math/big"
	"testing"
	"time"
)

func TestTrafficFillsBlocksWithTransactions(t *testing.T) {
	c, err := Start(Config{Listen: "127.0.0.1:0", Nodes: 1, BlockInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop, err := c.StartTraffic(2)
	if err != nil {
		t.Fatal(err)
	}
	// Transfers land in blocks as they are sent: wait (bounded) until two
	// blocks hold some, however slow this machine is.
	withTx := func() int {
		n := 0
		for h := int64(1); h <= c.Height(); h++ {
			if b := c.chain.block(h); b != nil && len(b.Txs) > 0 {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for withTx() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s %d of %d blocks hold transactions", withTx(), c.Height())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if stop2, err := c.StartTraffic(0); err != nil {
		t.Fatal(err)
	} else {
		stop2() // off: nothing started, stop is a no-op
	}
	// Each transfer moved 1 loop to one of the 16 recipients.
	total := new(big.Int)
	for i := 0; i < 16; i++ {
		total.Add(total, c.Balance(fmt.Sprintf("hx%040x", 0x7aff1c0000+i)))
	}
	if total.Sign() == 0 {
		t.Fatal("no recipient was credited")
	}
}
