package iconsim

import (
	"context"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/icon-edge/icon-edge/icon"
)

// StartTraffic makes the dev account send perBlock signed transfers of 1
// loop every block interval, to a rotating set of 16 accounts, until stop is
// called. A live chain always has transactions in its recent blocks; with
// this the simulator's does too, so a load test that draws transaction
// hashes and accounts from recent blocks looks up real ones instead of
// collecting -31004 for unknown hashes. The transfers go through node 0's
// JSON-RPC like any client's; while that node is down they are skipped.
func (c *Cluster) StartTraffic(perBlock int) (stop func(), err error) {
	if perBlock <= 0 {
		return func() {}, nil
	}
	w, err := icon.NewWallet(DevPrivateKey)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	url := c.URLs()[0] + "/api/v3"
	hc := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer close(done)
		t := time.NewTicker(c.cfg.BlockInterval)
		defer t.Stop()
		for n := 0; ; {
			for i := 0; i < perBlock; i, n = i+1, n+1 {
				// Distinct timestamps keep every transaction's hash distinct.
				to := fmt.Sprintf("hx%040x", 0x7aff1c0000+n%16)
				params, _, err := w.SignTransfer(to, big.NewInt(1), c.cfg.NID, 0x30d40, time.Now().Add(time.Duration(i)*time.Microsecond))
				if err != nil {
					continue
				}
				body := `{"jsonrpc":"2.0","id":1,"method":"icx_sendTransaction","params":` + string(params) + `}`
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if resp, err := hc.Do(req); err == nil {
					resp.Body.Close()
				}
			}
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			case <-c.stop:
				return
			}
		}
	}()
	return func() { cancel(); <-done }, nil
}
