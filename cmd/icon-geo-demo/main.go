// Command icon-geo-demo shows three regions acting as one system, on one
// machine and without any real ICON node or Cloudflare account: an iconsim
// cluster and an icon-edge per region, peered; `icon-edge cloudflare apply`
// against a local fake of Cloudflare's API; steady traffic into one region
// while all its nodes go down. It prints what a balancer would see (/readyz),
// how many requests failed (0) and where they went, and leaves a screenshot
// of the public status page.
//
//	icon-geo-demo [--icon-edge bin/icon-edge] [--out DIR]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/icon-edge/icon-edge/edge"
	"github.com/icon-edge/icon-edge/internal/chromium"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/icon-edge/icon-edge/routing/cloudflare/cffake"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

type region struct {
	name, origin string
	lat, lon     float64
	steer        []string
	sim          *iconsim.Cluster
	edge         *edge.Edge
	addr         string
}

func run(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("icon-geo-demo", flag.ContinueOnError)
	fs.SetOutput(out)
	bin := fs.String("icon-edge", "bin/icon-edge", "the icon-edge binary whose `cloudflare apply` the demo runs")
	dir := fs.String("out", "", "where the config and the status-page screenshot go (default: a new temporary directory)")
	fs.Usage = func() {
		fmt.Fprintln(out, "usage: icon-geo-demo [--icon-edge PATH] [--out DIR]\n\nThree regions on this machine, one taken down under traffic. Needs nothing but the built binaries;\nwith Debian's chromium installed it also screenshots the status page. See docs/geo.md.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 110*time.Second)
	defer cancel()
	if err := demo(ctx, out, *bin, *dir); err != nil {
		fmt.Fprintln(out, "demo failed:", err)
		return 1
	}
	return 0
}

func demo(ctx context.Context, out io.Writer, bin, dir string) error {
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "icon-geo-demo-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	regions := []*region{
		{name: "us", origin: "us.rpc.example.org", lat: 39.0, lon: -77.5, steer: []string{"WNAM", "ENAM", "NSAM", "SSAM"}},
		{name: "eu", origin: "eu.rpc.example.org", lat: 50.1, lon: 8.7, steer: []string{"WEU", "EEU", "ME", "NAF", "SAF"}},
		{name: "asia", origin: "asia.rpc.example.org", lat: 1.3, lon: 103.8, steer: []string{"SEAS", "NEAS", "SAS", "OC"}},
	}
	step(out, "1. Three regions, each an iconsim cluster (3 nodes) behind its own icon-edge, peered")
	for _, r := range regions {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		r.addr = ln.Addr().String()
		ln.Close()
	}
	for _, r := range regions {
		sim, err := iconsim.Start(iconsim.Config{Listen: "127.0.0.1:0", Nodes: 3, BlockInterval: 500 * time.Millisecond,
			NID: 3, Channel: "icon_dex", Logger: quiet})
		if err != nil {
			return err
		}
		r.sim = sim
		defer sim.Close()
		cfg := edge.Defaults()
		cfg.Listen, cfg.Region, cfg.Upstreams = r.addr, r.name, sim.URLs()
		cfg.PublicURL = "https://" + r.origin
		cfg.Health.ProbeInterval = 200 * time.Millisecond
		cfg.PeerPollInterval = time.Second
		cfg.Shutdown.DrainDelay = 0
		for _, p := range regions {
			if p != r {
				cfg.Peers = append(cfg.Peers, routing.PeerConfig{Name: p.name, URL: "http://" + p.addr})
			}
		}
		e, err := edge.Start(cfg, quiet)
		if err != nil {
			return fmt.Errorf("region %s: %w", r.name, err)
		}
		r.edge = e
		defer e.Close()
		fmt.Fprintf(out, "   %-4s edge http://%s  (3 nodes; peers %s)\n", r.name, r.addr, peerNames(cfg.Peers))
	}
	for _, r := range regions {
		if err := until(ctx, func() bool { return status(r, "/readyz") == 200 }); err != nil {
			return fmt.Errorf("region %s never became ready: %w", r.name, err)
		}
	}

	step(out, "2. icon-edge cloudflare apply, against a local fake of Cloudflare's API")
	cf := cffake.New(cffake.Options{})
	if err := cf.Start("127.0.0.1:0"); err != nil {
		return err
	}
	defer cf.Close()
	cfgPath := filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(cfgPath, []byte(cloudflareYAML(regions)), 0o644); err != nil {
		return err
	}
	for _, sub := range []string{"apply", "apply"} {
		cmd := exec.CommandContext(ctx, bin, "cloudflare", sub, "--config", cfgPath)
		cmd.Env = append(os.Environ(), "CLOUDFLARE_API_TOKEN="+cffake.DefaultToken, "CLOUDFLARE_BASE_URL="+cf.URL())
		b, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s cloudflare %s: %v\n%s", bin, sub, err, b)
		}
		fmt.Fprint(out, indent(string(b)))
	}
	fmt.Fprintf(out, "   (the second apply changed nothing: %d API writes in all)\n", cf.Writes())

	step(out, "3. Steady reads into us; then every us node goes down")
	us := regions[0]
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for range 4 {
		wg.Go(func() {
			for trafficCtx.Err() == nil {
				resp, err := client.Post("http://"+us.addr+"/api/v3", "application/json",
					strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`))
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, b))
				}
			}
		})
	}
	if err := until(ctx, func() bool { return sent.Load() > 200 }); err != nil {
		stopTraffic()
		wg.Wait()
		return err
	}
	down := time.Now()
	for i := 0; i < us.sim.Nodes(); i++ {
		t := true
		us.sim.Node(i).SetFaults(iconsim.Faults{Down: &t})
	}
	fmt.Fprintf(out, "   %s  us /readyz %d  (%d requests sent so far)\n", time.Now().Format("15:04:05.000"), status(us, "/readyz"), sent.Load())
	err := until(ctx, func() bool { return status(us, "/readyz") == 503 })
	fmt.Fprintf(out, "   %s  us /readyz %d after %v: Cloudflare's monitor now takes us out of the pool\n",
		time.Now().Format("15:04:05.000"), status(us, "/readyz"), time.Since(down).Round(time.Millisecond))
	if err == nil {
		before := sent.Load()
		err = until(ctx, func() bool { return sent.Load() > before+500 })
	}
	stopTraffic()
	wg.Wait()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   requests sent to us: %d, failed: %d\n", sent.Load(), failed.Load())
	if failed.Load() != 0 {
		return fmt.Errorf("%d requests failed; first: %v", failed.Load(), firstErr.Load())
	}
	fmt.Fprintln(out, "   where they went (icon_edge_region_failover_total on us's edge):")
	for _, line := range metricLines(us, "icon_edge_region_failover_total{") {
		fmt.Fprintln(out, "     "+line)
	}
	for _, r := range regions[1:] {
		total := int64(0)
		for i := 0; i < r.sim.Nodes(); i++ {
			total += r.sim.Node(i).Stats().Methods["icx_getLastBlock"]
		}
		fmt.Fprintf(out, "     %s's nodes answered icx_getLastBlock %d times (its edge's cache answered the rest until each new block)\n", r.name, total)
	}

	step(out, "4. The public status page (every region, from each one's /region.json)")
	page := "http://" + regions[1].addr + "/status"
	fmt.Fprintln(out, "   "+page)
	shot := filepath.Join(dir, "status-page.png")
	if chromium.Find() == "" {
		fmt.Fprintln(out, "   (install Debian's chromium for a screenshot: apt-get install chromium)")
	} else {
		// Let eu see us down before the picture.
		_ = until(ctx, func() bool {
			return strings.Contains(strings.Join(metricLines(regions[1], `icon_edge_peer_up{peer="us"}`), ""), " 0")
		})
		shotCtx, c := context.WithTimeout(ctx, 30*time.Second)
		res, err := chromium.Load(shotCtx, page, chromium.Options{Width: 1000, Height: 900, Screenshot: true})
		c()
		if err != nil {
			fmt.Fprintln(out, "   screenshot failed:", err)
		} else if err := os.WriteFile(shot, res.Screenshot, 0o644); err == nil {
			fmt.Fprintln(out, "   screenshot: "+shot)
		}
	}
	fmt.Fprintln(out, "\nDone: us went down, its /readyz said so, and not one request failed. Everything started is stopped.")
	return nil
}

func step(out io.Writer, s string) { fmt.Fprintln(out, "\n"+s) }

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "   " + strings.Join(lines, "\n   ") + "\n"
}

func peerNames(ps []routing.PeerConfig) string {
	var n []string
	for _, p := range ps {
		n = append(n, p.Name)
	}
	return strings.Join(n, ", ")
}

func status(r *region, path string) int {
	resp, err := http.Get("http://" + r.addr + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func metricLines(r *region, prefix string) []string {
	resp, err := http.Get("http://" + r.addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func until(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// cloudflareYAML is the `cloudflare:` section for the demo's regions,
// addressed to the fake's account and zone.
func cloudflareYAML(regions []*region) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cloudflare:\n  account_id: %s\n  zone_id: %s\n  hostname: rpc.%s\n  fallback: us\n  pools:\n",
		cffake.DefaultAccountID, cffake.DefaultZoneID, cffake.DefaultZoneName)
	for _, r := range regions {
		steer, _ := json.Marshal(r.steer)
		fmt.Fprintf(&b, "    - {region: %s, origin: %s, latitude: %v, longitude: %v, steer: %s}\n", r.name, r.origin, r.lat, r.lon, steer)
	}
	return b.String()
}
