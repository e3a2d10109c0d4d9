// Command iconsim runs a simulated network of goloop nodes sharing one
// in-memory ICON chain, for developing and testing against ICON JSON-RPC v3.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/icon-edge/icon-edge/internal/logfmt"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "iconsim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "cloudflare-fake" {
		return runCloudflareFake(args[1:], os.Stdout, nil)
	}
	fs := flag.NewFlagSet("iconsim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9181", "first node's address; node i listens on port+i (port 0: random ports)")
	nodes := fs.Int("nodes", 3, "number of nodes")
	interval := fs.Duration("block-interval", time.Second, "time between blocks")
	nidStr := fs.String("nid", "0x3", "network id (hex 0x.. or decimal)")
	channel := fs.String("channel", "icon_dex", "channel name served at /api/v3/{channel}")
	wait := fs.Duration("wait-timeout", 10*time.Second, "default (and maximum) wait of icx_waitTransactionResult / icx_sendTransactionAndWait")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var h slog.Handler
	opts := &slog.HandlerOptions{ReplaceAttr: logfmt.Durations}
	switch *logFormat {
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	default:
		return fmt.Errorf("--log-format must be text or json, not %q", *logFormat)
	}
	log := slog.New(h)
	nid, err := parseNID(*nidStr)
	if err != nil {
		return err
	}
	c, err := iconsim.Start(iconsim.Config{
		Listen: *listen, Nodes: *nodes, BlockInterval: *interval, NID: nid,
		Channel: *channel, DefaultWaitTimeout: *wait, Logger: log,
	})
	if err != nil {
		return err
	}
	fmt.Printf("iconsim: %d node(s), nid 0x%x, channel %s, block every %s\n", *nodes, nid, *channel, *interval)
	fmt.Printf("dev account %s (funded at genesis)\ndev private key %s (public test key: never use it for value)\n", iconsim.DevAddress, iconsim.DevPrivateKey)
	for i, u := range c.URLs() {
		fmt.Printf("node %d: %s/api/v3/%s  (faults: POST %s/_sim/faults, stats: GET %s/_sim/stats)\n", i, u, *channel, u, u)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	log.Info("shutting down", "signal", s.String(), "height", c.Height())
	return c.Close()
}

func parseNID(s string) (int64, error) {
	var v int64
	var err error
	if rest, ok := strings.CutPrefix(s, "0x"); ok {
		v, err = strconv.ParseInt(rest, 16, 64)
	} else {
		v, err = strconv.ParseInt(s, 10, 64)
	}
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad --nid %q", s)
	}
	return v, nil
}
