// Command iconsim runs a simulated network of goloop nodes sharing one
// in-memory ICON chain, for developing and testing against ICON JSON-RPC v3.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
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

func main() { os.Exit(exitCode(run(os.Args[1:], os.Stdout), os.Stderr)) }

// exitCode reports err and maps it: 0 for --help and a clean stop, 2 for
// bad flags, 1 for anything else.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintln(stderr, "iconsim:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "iconsim:", err)
		return 1
	}
}

// usageError is a bad flag or flag value: exit code 2.
type usageError struct{ error }

const helpHeader = `iconsim: simulated goloop nodes sharing one in-memory ICON chain, for
developing and testing against JSON-RPC v3 and goloop's websockets.

Usage:
  iconsim [flags]
  iconsim cloudflare-fake [flags]   a fake Cloudflare API for icon-edge's cloudflare commands (demos)

Flags:
`

const helpFooter = `
Environment: none is read.
Each node serves JSON-RPC on /api/v3[/{channel}], websockets on
/api/v3/{channel}/block and /event, and its fault API on /_sim/faults and
/_sim/stats (POST {"down":true} kills a node, {"down":false} brings it back).
Reference: docs/iconsim.md (flags, dev keys, faults, Go API); the edge in
front of it is configured as in docs/configuration.md.
`

func run(args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "cloudflare-fake" {
		return runCloudflareFake(args[1:], stdout, nil)
	}
	fs := flag.NewFlagSet("iconsim", flag.ContinueOnError)
	fs.Usage = func() {}
	fs.SetOutput(io.Discard) // errors are reported once, by exitCode
	listen := fs.String("listen", "127.0.0.1:9181", "first node's address; node i listens on port+i (port 0: random ports)")
	nodes := fs.Int("nodes", 3, "number of nodes")
	interval := fs.Duration("block-interval", time.Second, "time between blocks")
	nidStr := fs.String("nid", "0x3", "network id (hex 0x.. or decimal)")
	channel := fs.String("channel", "icon_dex", "channel name served at /api/v3/{channel}")
	wait := fs.Duration("wait-timeout", 10*time.Second, "default (and maximum) wait of icx_waitTransactionResult / icx_sendTransactionAndWait")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	txs := fs.Int("txs-per-block", 2, "signed transfers the dev account sends every block, so recent blocks hold transactions as on a live chain (0: none)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, helpHeader)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fmt.Fprint(stdout, helpFooter)
			return err
		}
		return usageError{fmt.Errorf("%w (see iconsim --help)", err)}
	}
	var h slog.Handler
	opts := &slog.HandlerOptions{ReplaceAttr: logfmt.Durations}
	switch *logFormat {
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	default:
		return usageError{fmt.Errorf("--log-format must be text or json, not %q", *logFormat)}
	}
	log := slog.New(h)
	nid, err := parseNID(*nidStr)
	if err != nil {
		return usageError{err}
	}
	c, err := iconsim.Start(iconsim.Config{
		Listen: *listen, Nodes: *nodes, BlockInterval: *interval, NID: nid,
		Channel: *channel, DefaultWaitTimeout: *wait, Logger: log,
	})
	if err != nil {
		return err
	}
	stopTraffic, err := c.StartTraffic(*txs)
	if err != nil {
		c.Close()
		return err
	}
	defer stopTraffic()
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
