// Command icon-demo drives `make demo`: against a running iconsim cluster and
// an icon-edge in front of it, it makes one node lag and one slow, sends a
// mixed workload and a signed transfer through the edge, and prints what each
// node served. It exits non-zero if the edge routed a latest-state read to the
// lagging node or the transfer failed.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

type stats struct {
	Total   int64            `json:"total"`
	Methods map[string]int64 `json:"methods"`
	Height  int64            `json:"height"`
}

var client = &http.Client{Timeout: 15 * time.Second}

func main() {
	edgeURL := flag.String("edge", "http://127.0.0.1:9080", "icon-edge base URL")
	nodes := flag.String("nodes", "http://127.0.0.1:9181,http://127.0.0.1:9182,http://127.0.0.1:9183", "iconsim node URLs, comma-separated")
	flag.Parse()
	if err := run(*edgeURL, strings.Split(*nodes, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(edge string, nodes []string) error {
	if len(nodes) < 3 {
		return fmt.Errorf("need 3 nodes, got %d", len(nodes))
	}
	lagging, slow := nodes[2], nodes[1]
	fmt.Printf("Faults: %s lags 5 blocks, %s answers 40 ms late\n", lagging, slow)
	if err := postJSON(lagging+"/_sim/faults", `{"lag_blocks":5}`, nil); err != nil {
		return err
	}
	if err := postJSON(slow+"/_sim/faults", `{"latency_ms":40}`, nil); err != nil {
		return err
	}
	if err := waitLagSeen(edge, lagging); err != nil {
		return err
	}
	before, err := allStats(nodes)
	if err != nil {
		return err
	}

	// A mixed read workload, 8 clients at once.
	api := edge + "/api/v3/icon_dex"
	var tip struct {
		Height int64 `json:"height"`
	}
	if err := rpc(api, "icx_getLastBlock", nil, &tip); err != nil {
		return err
	}
	bodies := []string{
		`{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`,
		`{"jsonrpc":"2.0","id":2,"method":"icx_getBalance","params":{"address":"` + iconsim.DevAddress + `"}}`,
		`{"jsonrpc":"2.0","id":3,"method":"icx_getTotalSupply"}`,
		`{"jsonrpc":"2.0","id":4,"method":"icx_call","params":{"to":"` + iconsim.TokenAddress + `","dataType":"call","data":{"method":"symbol"}}}`,
		fmt.Sprintf(`{"jsonrpc":"2.0","id":5,"method":"icx_getBlockByHeight","params":{"height":"0x%x"}}`, max(tip.Height-1, 1)),
	}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for i := 0; i < 75; i++ {
				body := bodies[(w+i)%len(bodies)]
				resp, err := client.Post(api, "application/json", strings.NewReader(body))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	fmt.Printf("Sent 600 reads through the edge in %v: %d failed\n", time.Since(start).Round(time.Millisecond), failed)

	// A signed transfer, waited for through the edge.
	w, err := icon.NewWallet(iconsim.DevPrivateKey)
	if err != nil {
		return err
	}
	to := "hx6d012de5402f8d43a87a1406e24ef69db9972bb4"
	var balBefore string
	if err := rpc(api, "icx_getBalance", map[string]string{"address": to}, &balBefore); err != nil {
		return err
	}
	params, txHash, err := w.SignTransfer(to, big.NewInt(1e18), 3, 1000000, time.Now())
	if err != nil {
		return err
	}
	var p map[string]any
	_ = json.Unmarshal(params, &p)
	var result struct {
		Status      string `json:"status"`
		BlockHeight string `json:"blockHeight"`
		TxHash      string `json:"txHash"`
	}
	if err := rpcHeader(api, "icx_sendTransactionAndWait", p, &result, "Icon-Options", "timeout=10000"); err != nil {
		return fmt.Errorf("transfer %s: %w", txHash, err)
	}
	var balAfter string
	if err := rpc(api, "icx_getBalance", map[string]string{"address": to}, &balAfter); err != nil {
		return err
	}
	after, err := allStats(nodes)
	if err != nil {
		return err
	}

	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tHEIGHT\tgetLastBlock*\tgetBalance\tgetTotalSupply\ticx_call\tgetBlockByHeight\tsendTx")
	roles := map[string]string{nodes[0]: "healthy", slow: "slow (40ms)", lagging: "lagging (5 blocks)"}
	latestOnLagging := int64(0)
	for i, n := range nodes {
		d := func(m string) int64 { return after[i].Methods[m] - before[i].Methods[m] }
		if n == lagging {
			latestOnLagging = d("icx_getBalance") + d("icx_getTotalSupply") + d("icx_call")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", n, roles[n], after[i].Height, d("icx_getLastBlock"),
			d("icx_getBalance"), d("icx_getTotalSupply"), d("icx_call"), d("icx_getBlockByHeight"),
			d("icx_sendTransactionAndWait"))
	}
	tw.Flush()
	fmt.Println("  * getLastBlock includes the edge's own health probes (every node is probed every 500ms).")
	fmt.Println()
	fmt.Printf("Transfer %s: status %s in block %s; receiver balance %s -> %s\n", txHash, result.Status, result.BlockHeight, balBefore, balAfter)
	switch {
	case failed > 0:
		return fmt.Errorf("%d reads failed", failed)
	case latestOnLagging > 0:
		return fmt.Errorf("the lagging node served %d latest-state reads", latestOnLagging)
	case result.Status != "0x1":
		return fmt.Errorf("transfer failed: status %q", result.Status)
	}
	fmt.Println("OK: no failed reads, the lagging node got no latest-state reads, the transfer landed once.")
	return nil
}

func waitLagSeen(edge, lagging string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var st struct {
			Ready bool `json:"ready"`
			Nodes []struct {
				URL    string `json:"url"`
				InSync bool   `json:"in_sync"`
				Height int64  `json:"height"`
			} `json:"nodes"`
		}
		if err := getJSON(edge+"/status.json", &st); err == nil && st.Ready {
			for _, n := range st.Nodes {
				if n.URL == lagging && n.Height >= 0 && !n.InSync {
					fmt.Printf("Edge sees %s out of sync (height %d)\n", lagging, n.Height)
					return nil
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("edge at %s never saw %s fall behind", edge, lagging)
}

func allStats(nodes []string) ([]stats, error) {
	out := make([]stats, len(nodes))
	for i, n := range nodes {
		if err := getJSON(n+"/_sim/stats", &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func getJSON(url string, v any) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func postJSON(url, body string, v any) error {
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	if v != nil {
		return json.NewDecoder(resp.Body).Decode(v)
	}
	return nil
}

func rpc(url, method string, params any, result any) error {
	return rpcHeader(url, method, params, result)
}

func rpcHeader(url, method string, params any, result any, header ...string) error {
	req := map[string]any{"jsonrpc": "2.0", "id": 1, "method": method}
	if params != nil {
		req["params"] = params
	}
	b, _ := json.Marshal(req)
	hr, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	hr.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		hr.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("%s: HTTP %d: %v", method, resp.StatusCode, err)
	}
	if out.Error != nil {
		return fmt.Errorf("%s: %d %s", method, out.Error.Code, out.Error.Message)
	}
	return json.Unmarshal(out.Result, result)
}
