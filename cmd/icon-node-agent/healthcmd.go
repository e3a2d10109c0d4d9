package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func cmdHealth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("health", "health --node http://127.0.0.1:9080 --reference URL ... --listen 127.0.0.1:9100", stdout)
	node := fs.String("node", envOr("ICON_NODE_AGENT_NODE", "http://127.0.0.1:9080"), "the local goloop's RPC URL (a bare base URL means /api/v3; its /metrics is re-exported) (env ICON_NODE_AGENT_NODE)")
	var refs listFlag
	fs.Var(&refs, "reference", "reference height source, repeatable (or comma-separated): another node's JSON-RPC URL, or an edge's\n"+
		"http://EDGE/region.json (its \"tip\"); the highest answer counts, failing ones are ignored (env ICON_NODE_AGENT_REFERENCES)")
	listen := fs.String("listen", envOr("ICON_NODE_AGENT_LISTEN", "127.0.0.1:9100"), "address for /health and /metrics (env ICON_NODE_AGENT_LISTEN)")
	data := dataFlag(fs)
	maxLag := fs.Int64("max-lag", 30, "healthy while at most this many blocks behind the reference (30 ≈ 1 min at 2 s blocks)")
	interval := fs.Duration("interval", 2*time.Second, "time between checks")
	timeout := fs.Duration("timeout", 2*time.Second, "bound on one check (node and references in parallel)")
	stall := fs.Duration("stall-after", time.Minute, "with every reference down: healthy only if the local height advanced within this")
	rise := fs.Int("rise", 2, "consecutive passing checks to become healthy")
	fall := fs.Int("fall", 3, "consecutive failing checks to become unhealthy (a restore is immediate)")
	prefixes := fs.String("goloop-metrics", "goloop_consensus_,goloop_txpool_,goloop_txlatency_,goloop_chain_",
		"comma-separated name prefixes of the node's /metrics to re-export (empty: none)")
	logFmt, logLvl := addLogFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := logging(stderr, *logFmt, *logLvl); err != nil {
		return err
	}
	if len(refs) == 0 && os.Getenv("ICON_NODE_AGENT_REFERENCES") != "" {
		refs = strings.Split(os.Getenv("ICON_NODE_AGENT_REFERENCES"), ",")
	}
	var references []string
	for _, r := range refs {
		for _, one := range strings.Split(r, ",") {
			if one = strings.TrimSpace(one); one != "" {
				if u, err := url.Parse(one); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return usagef("--reference %q: want an http(s) URL", one)
				}
				references = append(references, one)
			}
		}
	}
	if u, err := url.Parse(*node); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--node %q: want an http(s) URL", *node)
	}
	if *maxLag < 0 || *interval <= 0 || *timeout <= 0 || *stall <= 0 || *rise < 1 || *fall < 1 {
		return usagef("--max-lag, --interval, --timeout, --stall-after, --rise and --fall must be positive")
	}
	cfg := healthConfig{node: *node, references: references, dataDir: *data, maxLag: *maxLag, interval: *interval,
		timeout: *timeout, stallAfter: *stall, rise: *rise, fall: *fall}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return usagef("--listen %s: %v", *listen, err)
	}
	srv, c := newHealthServer(cfg, splitList(*prefixes))
	go c.run(ctx)
	slog.Info("health check serving", "listen", ln.Addr().String(), "node", cfg.node, "references", references, "max_lag", cfg.maxLag)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// newHealthServer wires /health and /metrics.
func newHealthServer(cfg healthConfig, prefixes []string) (*http.Server, *checker) {
	m := newAgentMetrics(cfg)
	c := newChecker(cfg, m)
	gatherers := prometheus.Gatherers{m.reg}
	if mu, err := goloopMetricsURL(cfg.node); err == nil && len(prefixes) > 0 {
		up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "icon_node_agent_goloop_scrape_up", Help: "1 when the node's /metrics was read at this scrape"})
		m.reg.MustRegister(up)
		gatherers = append(gatherers, &goloopGatherer{url: mu, prefixes: prefixes, client: &http.Client{Timeout: cfg.timeout}, up: up})
	}
	mux := http.NewServeMux()
	mux.Handle("/health", c)
	mux.Handle("/metrics", promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, c
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
