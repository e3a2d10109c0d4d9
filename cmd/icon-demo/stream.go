package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icon-edge/icon-edge/test/iconsim"
)

// stream runs 8 clients that read through the edge until dur has passed,
// while node victim is taken down at killAt and brought back at reviveAt
// through the simulator's fault API. A read fails when it gets no answer, a
// non-200 status or a JSON-RPC error.
//
// Half the reads are the same for every client (the edge answers most of them
// from its cache); the other half ask about a different account each time,
// so they reach a node, and some of them are on node A when it dies.
func stream(ctx context.Context, p *printer, api, victim string, final int64, dur, killAt, reviveAt time.Duration) (reads, failed int64, err error) {
	bodies := []func(i int) string{
		func(int) string { return `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}` },
		func(i int) string {
			return fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"icx_getBalance","params":{"address":"hx%040x"}}`, i)
		},
		func(int) string { return `{"jsonrpc":"2.0","id":3,"method":"icx_getTotalSupply"}` },
		func(i int) string {
			return fmt.Sprintf(`{"jsonrpc":"2.0","id":4,"method":"icx_call","params":{"to":"%s","dataType":"call",`+
				`"data":{"method":"balanceOf","params":{"_owner":"hx%040x"}}}}`, iconsim.TokenAddress, i)
		},
		func(i int) string {
			// Heights <= tip-1 are final: the edge caches them for good.
			return fmt.Sprintf(`{"jsonrpc":"2.0","id":5,"method":"icx_getBlockByHeight","params":{"height":"0x%x"}}`, 1+int64(i)%final)
		},
	}

	p.begin()
	p.at("8 clients start: getLastBlock, getTotalSupply, getBlockByHeight, and getBalance and icx_call of ever new accounts")
	end := time.Now().Add(dur)
	var nReads, nFailed atomic.Int64
	var faultErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, f := range []struct {
			at   time.Duration
			body string
			what string
		}{
			{killAt, `{"down":true}`, "node A killed: POST %s/_sim/faults {\"down\":true} (open connections reset, new ones refused)"},
			{reviveAt, `{"down":false}`, "node A back: POST %s/_sim/faults {\"down\":false}"},
		} {
			if !sleepUntil(ctx, end.Add(f.at-dur)) {
				return
			}
			if err := postFaults(ctx, victim, f.body); err != nil {
				faultErr = err
				return
			}
			p.at(f.what, victim)
		}
	})
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for i := w; time.Now().Before(end) && ctx.Err() == nil; i += 8 {
				ok := read(ctx, api, bodies[i%len(bodies)](i/len(bodies)))
				if ctx.Err() != nil {
					return // interrupted: not a failure of the edge
				}
				nReads.Add(1)
				if !ok {
					nFailed.Add(1)
				}
				// About 40 reads a second per client: a stream, not a benchmark.
				if !sleepUntil(ctx, time.Now().Add(25*time.Millisecond)) {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nReads.Load(), nFailed.Load(), err
	}
	p.at("stream ends: %d reads, %d failed", nReads.Load(), nFailed.Load())
	return nReads.Load(), nFailed.Load(), faultErr
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func read(ctx context.Context, api, body string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api, strings.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return err == nil && resp.StatusCode == http.StatusOK && len(out.Result) > 0 && out.Error == nil
}

func postFaults(ctx context.Context, node, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, node+"/_sim/faults", strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST %s/_sim/faults: %d %s", node, resp.StatusCode, b)
	}
	return nil
}

// status is the part of the edge's /status.json the demo reads.
type status struct {
	Ready bool         `json:"ready"`
	Nodes []nodeStatus `json:"nodes"`
}

type nodeStatus struct {
	URL    string `json:"url"`
	State  string `json:"state"`
	InSync bool   `json:"in_sync"`
	Height int64  `json:"height"`
}

func (s *status) node(url string) *nodeStatus {
	for i := range s.Nodes {
		if s.Nodes[i].URL == url {
			return &s.Nodes[i]
		}
	}
	return nil
}

// waitEdgeSees polls /status.json until cond holds (15 s at most).
func waitEdgeSees(ctx context.Context, edgeURL string, cond func(*status) bool) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		var st status
		if err := getJSON(ctx, edgeURL+"/status.json", &st); err == nil && cond(&st) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within 15s")
		}
		if !sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) {
			return ctx.Err()
		}
	}
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// nodeEvents receives the edge's log records (one Write each) and prints
// those about its nodes while the stream runs.
type nodeEvents struct{ p *printer }

func (w *nodeEvents) Write(b []byte) (int, error) {
	line := string(bytes.TrimSpace(b))
	if strings.Contains(line, `msg="upstream node`) {
		w.p.mu.Lock()
		started := !w.p.start.IsZero()
		w.p.mu.Unlock()
		if started {
			w.p.at("edge log: %s", line)
		}
	}
	return len(b), nil
}
