package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/icon-edge/icon-edge/edge"
	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

// counts is what the edge's metrics and the nodes' own stats say at one moment.
type counts struct {
	ok, failedAttempts map[string]float64 // by node URL: icon_edge_upstream_requests_total
	hits, coalesced    float64
	retries            float64
	nodeMethods        []map[string]int64 // per node, from GET /_sim/stats
}

func snapshot(ctx context.Context, e *edge.Edge, nodes []string) (*counts, error) {
	mfs, err := e.Registry().Gather()
	if err != nil {
		return nil, err
	}
	c := &counts{ok: map[string]float64{}, failedAttempts: map[string]float64{}}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue()
			switch mf.GetName() {
			case "icon_edge_upstream_requests_total":
				var node, outcome string
				for _, l := range m.GetLabel() {
					switch l.GetName() {
					case "upstream":
						node = l.GetValue()
					case "outcome":
						outcome = l.GetValue()
					}
				}
				if outcome == "ok" {
					c.ok[node] += v
				} else {
					c.failedAttempts[node] += v
				}
			case "icon_edge_cache_hits_total":
				c.hits += v
			case "icon_edge_coalesced_total":
				c.coalesced += v
			case "icon_edge_retries_total":
				c.retries += v
			}
		}
	}
	for _, n := range nodes {
		var st struct {
			Methods map[string]int64 `json:"methods"`
		}
		if err := getJSON(ctx, n+"/_sim/stats", &st); err != nil {
			return nil, err
		}
		c.nodeMethods = append(c.nodeMethods, st.Methods)
	}
	return c, nil
}

// explain prints where the stream's reads went and returns how many
// latest-state reads the lagging node (the last one) served.
func explain(p *printer, before, after *counts, nodes []string, names, roles map[string]string, reads int64) int64 {
	hits, shared := after.hits-before.hits, after.coalesced-before.coalesced
	var byNodes float64
	for _, n := range nodes {
		byNodes += after.ok[n] - before.ok[n]
	}
	p.f("   Where the %d reads went (the edge's own metrics):\n", reads)
	p.f("     %6.0f answered from the edge's cache, no node asked (icon_edge_cache_hits_total):\n"+
		"            latest-state answers are kept until the edge sees the next block (every 500 ms\n"+
		"            in this demo), final blocks for good\n", hits)
	p.f("     %6.0f shared an identical call already in flight (icon_edge_coalesced_total)\n", shared)
	p.f("     %6.0f answered by a node, as below (cache + shared + nodes = %.0f)\n\n", byNodes, hits+shared+byNodes)
	tw := tabwriter.NewWriter(p.w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "     NODE\tROLE\tANSWERED\tFAILED ATTEMPTS")
	for _, n := range nodes {
		fmt.Fprintf(tw, "     %s\t%s\t%.0f\t%.0f\n", names[n], roles[n], after.ok[n]-before.ok[n],
			after.failedAttempts[n]-before.failedAttempts[n])
	}
	tw.Flush()
	p.f("\n   A failed attempt is a read the edge sent to a node that broke (reset, refused, timed\n"+
		"   out); the edge retried it on another node (%.0f retries, icon_edge_retries_total), so\n"+
		"   the client never saw it. Node B answers 40 ms late: the edge prefers A and sends B\n"+
		"   reads mostly while A is out.\n"+
		"   Node C is 5 blocks behind: it may serve only reads pinned to a block it has\n"+
		"   (getBlockByHeight of a final block), never latest-state reads.\n", after.retries-before.retries)
	lag := len(nodes) - 1
	d := func(m string) int64 { return after.nodeMethods[lag][m] - before.nodeMethods[lag][m] }
	return d("icx_getBalance") + d("icx_getTotalSupply") + d("icx_call")
}

// transfer sends 1 ICX from the dev account to the second test account and
// waits for the result through the edge.
func transfer(ctx context.Context, p *printer, api string) error {
	w, err := icon.NewWallet(iconsim.DevPrivateKey)
	if err != nil {
		return err
	}
	from, to := w.Address(), iconsim.Dev2Address
	balance := func(addr string) (*big.Int, error) {
		var hex string
		if err := rpc(ctx, api, "icx_getBalance", map[string]string{"address": addr}, &hex); err != nil {
			return nil, err
		}
		v, ok := new(big.Int).SetString(strings.TrimPrefix(hex, "0x"), 16)
		if !ok {
			return nil, fmt.Errorf("icx_getBalance: bad value %q", hex)
		}
		return v, nil
	}
	fromBefore, err := balance(from)
	if err != nil {
		return err
	}
	toBefore, err := balance(to)
	if err != nil {
		return err
	}
	oneICX := big.NewInt(1e18)
	params, txHash, err := w.SignTransfer(to, oneICX, 3, 1000000, time.Now())
	if err != nil {
		return err
	}
	var pm map[string]any
	if err := json.Unmarshal(params, &pm); err != nil {
		return err
	}
	var result struct {
		Status      string `json:"status"`
		BlockHeight string `json:"blockHeight"`
	}
	if err := rpcHeader(ctx, api, "icx_sendTransactionAndWait", pm, &result, "Icon-Options", "timeout=10000"); err != nil {
		return fmt.Errorf("transfer %s: %w", txHash, err)
	}
	if result.Status != "0x1" {
		return fmt.Errorf("transfer %s failed: status %q", txHash, result.Status)
	}
	fromAfter, err := balance(from)
	if err != nil {
		return err
	}
	toAfter, err := balance(to)
	if err != nil {
		return err
	}
	fee := new(big.Int).Sub(fromBefore, fromAfter)
	fee.Sub(fee, oneICX)
	p.f("   tx %s: status 0x1 (success) in block %s\n", txHash, result.BlockHeight)
	p.f("   sender   %s  %s -> %s  (1 ICX + %s fee)\n", from, formatICX(fromBefore), formatICX(fromAfter), formatICX(fee))
	p.f("   receiver %s  %s -> %s\n", to, formatICX(toBefore), formatICX(toAfter))
	return nil
}

// formatICX writes an amount in loop (1 ICX = 10^18 loop) as ICX with
// thousands separators and the decimals it has: "800,460,000 ICX", "0.00125 ICX".
func formatICX(loop *big.Int) string {
	neg := loop.Sign() < 0
	q, r := new(big.Int).QuoRem(new(big.Int).Abs(loop), big.NewInt(1e18), new(big.Int))
	digits := q.String()
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if r.Sign() != 0 {
		frac := fmt.Sprintf("%018s", r.String())
		b.WriteByte('.')
		b.WriteString(strings.TrimRight(frac, "0"))
	}
	b.WriteString(" ICX")
	return b.String()
}

func rpc(ctx context.Context, url, method string, params, result any) error {
	return rpcHeader(ctx, url, method, params, result)
}

func rpcHeader(ctx context.Context, url, method string, params, result any, header ...string) error {
	req := map[string]any{"jsonrpc": "2.0", "id": 1, "method": method}
	if params != nil {
		req["params"] = params
	}
	b, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
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
