// Command icon-demo drives `make demo`: it starts three simulated goloop
// nodes (one lagging, one slow) and an icon-edge in front of them, in this
// process and on free loopback ports, streams reads through the edge while it
// kills the best node and brings it back, sends a signed transfer, and prints
// where every read went. It exits non-zero if a read failed, the lagging node
// served a latest-state read or the transfer did not land.
//
// Everything runs in this one process, so Ctrl-C, a failure or a kill leaves
// no simulator or edge behind.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/icon-edge/icon-edge/edge"
	"github.com/icon-edge/icon-edge/internal/logfmt"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

const help = `icon-demo: three simulated goloop nodes and icon-edge in front of them, in
this process on free loopback ports. Streams reads through the edge while
the best node is killed and brought back, sends a signed transfer, and shows
where every read went. Under a minute; nothing is left running afterwards.

Usage:
  icon-demo [--keep]

Flags:
`

const helpFooter = `
Environment: none is read.
Exit codes: 0 no read failed, 1 something failed (printed), 2 bad flags,
130 interrupted (everything stopped).
Reference: README.md ("make demo"), docs/iconsim.md (the simulator and its
fault API), docs/configuration.md (the edge's settings; the demo uses the
defaults with the three nodes as upstreams).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(cli(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("icon-demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var o options
	fs.BoolVar(&o.keep, "keep", false, "leave the simulator and the edge running after the demo, until Ctrl-C, to try the commands it prints")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, help)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fmt.Fprint(stdout, helpFooter)
			return 0
		}
		fmt.Fprintf(stderr, "icon-demo: %v (see icon-demo --help)\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "icon-demo: unexpected argument %q (see icon-demo --help)\n", fs.Arg(0))
		return 2
	}
	o.out = stdout
	_, err := run(ctx, o)
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "icon-demo: interrupted; the edge and the simulator are stopped")
		return 130
	default:
		fmt.Fprintln(stderr, "icon-demo: FAILED:", err)
		return 1
	}
}

type options struct {
	keep bool
	out  io.Writer
}

// outcome is what a run saw, for the test.
type outcome struct {
	edgeAddr  string
	nodeAddrs []string
	reads     int64
	failed    int64
}

// printer serializes output from the stream, the fault schedule and the
// edge's log, stamping lines with the time since the stream began.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func (p *printer) f(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

func (p *printer) at(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.start.IsZero() {
		fmt.Fprintf(p.w, "        "+format+"\n", args...)
		return
	}
	fmt.Fprintf(p.w, "  %5.1fs "+format+"\n", append([]any{time.Since(p.start).Seconds()}, args...)...)
}

func (p *printer) begin() { p.mu.Lock(); p.start = time.Now(); p.mu.Unlock() }
func (p *printer) end()   { p.mu.Lock(); p.start = time.Time{}; p.mu.Unlock() }

// client keeps a connection per demo client alive (the default keeps two).
var client = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

func run(ctx context.Context, o options) (*outcome, error) {
	p := &printer{w: o.out}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sim, err := iconsim.Start(iconsim.Config{Listen: "127.0.0.1:0", Nodes: 3, BlockInterval: 500 * time.Millisecond,
		Channel: "icon_dex", Logger: quiet})
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	nodes := sim.URLs()
	best, slow, lagging := nodes[0], nodes[1], nodes[2]
	if err := postFaults(ctx, slow, `{"latency_ms":40}`); err != nil {
		return nil, err
	}
	if err := postFaults(ctx, lagging, `{"lag_blocks":5}`); err != nil {
		return nil, err
	}

	cfg := edge.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.Upstreams = nodes
	cfg.Channel = "icon_dex"
	cfg.Shutdown.DrainDelay = 0
	// The edge's log, reduced to what it says about its nodes.
	log := slog.New(slog.NewTextHandler(&nodeEvents{p: p}, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	e, err := edge.Start(cfg, log)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	res := &outcome{edgeAddr: e.Addr(), nodeAddrs: nodes}
	api := e.URL() + "/api/v3/icon_dex"
	names := map[string]string{best: "A", slow: "B", lagging: "C"}
	roles := map[string]string{best: "healthy, killed mid-stream", slow: "answers 40 ms late", lagging: "5 blocks behind the tip"}

	p.f("icon-demo: three simulated goloop nodes and icon-edge, on free loopback ports\n")
	for _, n := range nodes {
		p.f("  node %s  %-24s  %s\n", names[n], n, roles[n])
	}
	p.f("  edge    %-24s  JSON-RPC at /api/v3/icon_dex\n\n", e.URL())
	if err := waitEdgeSees(ctx, e.URL(), func(st *status) bool {
		n := st.node(lagging)
		return st.Ready && n != nil && n.Height >= 0 && !n.InSync
	}); err != nil {
		return res, fmt.Errorf("edge never saw node C fall behind: %w", err)
	}

	var tip struct {
		Height int64 `json:"height"`
	}
	if err := rpc(ctx, api, "icx_getLastBlock", nil, &tip); err != nil {
		return res, err
	}
	before, err := snapshot(ctx, e, nodes)
	if err != nil {
		return res, err
	}
	p.f("1) 8 clients read through the edge for 6 s; node A, the only fast node at the tip, dies at 1.5 s\n")
	reads, failed, err := stream(ctx, p, api, best, max(tip.Height-1, 1), 6*time.Second, 1500*time.Millisecond, 3500*time.Millisecond)
	res.reads, res.failed = reads, failed
	if err != nil {
		return res, err
	}
	if err := waitEdgeSees(ctx, e.URL(), func(st *status) bool {
		n := st.node(best)
		return n != nil && n.InSync && n.State == "healthy"
	}); err != nil {
		return res, fmt.Errorf("edge never took node A back: %w", err)
	}
	p.at("the edge serves from node A again")
	after, err := snapshot(ctx, e, nodes)
	if err != nil {
		return res, err
	}
	p.end()
	p.f("\n   failed reads: %d of %d\n\n", failed, reads)
	latestOnLagging := explain(p, before, after, nodes, names, roles, reads)

	p.f("\n2) A signed transfer of 1 ICX through the edge (icx_sendTransactionAndWait)\n")
	if err := transfer(ctx, p, api); err != nil {
		return res, err
	}

	switch {
	case failed > 0:
		return res, fmt.Errorf("%d of %d reads failed", failed, reads)
	case latestOnLagging > 0:
		return res, fmt.Errorf("the lagging node served %d latest-state reads", latestOnLagging)
	}
	p.f("\nOK: node A died and came back mid-stream and no read failed; the lagging node\n" +
		"served no latest-state read; the transfer landed once.\n")
	tryNext(p, o.keep, e.URL(), best)
	if o.keep {
		// Transactions in every block from now on, so a synthetic load test
		// against this setup looks up real transaction hashes.
		if stopTraffic, err := sim.StartTraffic(2); err == nil {
			defer stopTraffic()
		}
		<-ctx.Done()
		p.f("\nicon-demo: stopping the edge and the simulator\n")
	}
	return res, nil
}

func tryNext(p *printer, keep bool, edgeURL, nodeA string) {
	if keep {
		p.f("\nThis setup stays up until Ctrl-C. Try, in another terminal:\n")
	} else {
		p.f("\nTry next: `bin/icon-demo --keep` (or `make demo DEMO_FLAGS=--keep`) leaves this setup\n" +
			"running until Ctrl-C; then, with the addresses it prints:\n")
	}
	host := edgeURL[len("http://"):]
	if hasStatusPage(edgeURL) {
		p.f("  open %s/status in a browser   # the status page: readiness, chain tip, traffic, latency, availability\n", edgeURL)
	}
	p.f("  curl -s %s/status.json              # every node: state, height, lag, latency, as JSON\n", edgeURL)
	p.f("  curl -s %s/metrics | grep cache     # the edge's Prometheus metrics\n", edgeURL)
	p.f("  bin/icon-loadtest synth --target %s/api/v3/icon_dex --rate 300 --duration 20s --html report.html \\\n", edgeURL)
	p.f("      --at '10s:POST:%s/_sim/faults:{\"down\":true}'   # load test, node A killed at 10 s\n", nodeA)
	p.f("  npx wscat -c ws://%s/api/v3/icon_dex/block   # then send {\"height\":\"0x1\"}: blocks as they are made\n", host)
	p.f("More: README.md, docs/loadtest.md, docs/wsbridge.md, docs/configuration.md\n")
}

// hasStatusPage reports whether the edge serves an HTML status page at
// /status (newer edges); /status.json is always there.
func hasStatusPage(edgeURL string) bool {
	resp, err := client.Get(edgeURL + "/status")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html")
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return logfmt.Durations(nil, a)
}
