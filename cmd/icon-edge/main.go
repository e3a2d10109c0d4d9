// Command icon-edge is the API edge for ICON: a JSON-RPC v3 proxy in front of
// goloop citizen nodes that routes every call to a node that is high enough
// and fast, and retries reads elsewhere.
//
//	icon-edge --listen 127.0.0.1:9080 --upstream http://127.0.0.1:9181 --upstream http://127.0.0.1:9182
//	icon-edge --config edge.yaml
//	icon-edge --config edge.yaml --check      # validate only
//	icon-edge cloudflare plan|apply|drain|undrain --config edge.yaml [--region NAME]
//
// Flags override the file; ICON_EDGE_* variables override both. SIGHUP
// reloads the file; SIGTERM drains and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof" // registered on http.DefaultServeMux, served only with --pprof
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/icon-edge/icon-edge/edge"
	"github.com/icon-edge/icon-edge/internal/confkey"
	"github.com/icon-edge/icon-edge/internal/procs"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/icon-edge/icon-edge/version"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() { os.Exit(run(os.Args[1:])) }

// overrides collects flags that override the configuration file. Only flags
// given on the command line apply, so a flag's zero value never hides a
// setting from the file.
type overrides struct {
	fs    *flag.FlagSet
	apply map[string]func(*edge.Config)
}

func (o *overrides) str(name, usage string, set func(*edge.Config, string)) {
	v := o.fs.String(name, "", usage)
	o.apply[name] = func(c *edge.Config) { set(c, *v) }
}

func (o *overrides) boolean(name string, def bool, usage string, set func(*edge.Config, bool)) {
	v := o.fs.Bool(name, def, usage)
	o.apply[name] = func(c *edge.Config) { set(c, *v) }
}

func (o *overrides) int64(name, usage string, set func(*edge.Config, int64)) {
	v := o.fs.Int64(name, 0, usage)
	o.apply[name] = func(c *edge.Config) { set(c, *v) }
}

func (o *overrides) duration(name, usage string, set func(*edge.Config, time.Duration)) {
	v := o.fs.Duration(name, 0, usage)
	o.apply[name] = func(c *edge.Config) { set(c, *v) }
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "cloudflare" {
		return runCloudflare(args[1:], os.Stdout, os.Stderr, os.Getenv)
	}
	fs := flag.NewFlagSet("icon-edge", flag.ContinueOnError)
	fs.Usage = func() {} // parseExit prints the help
	configPath := fs.String("config", "", "YAML configuration file")
	showVersion := fs.Bool("version", false, "print the version and exit")
	checkOnly := fs.Bool("check", false, "validate the configuration (file, flags, environment) and exit: 0 if valid, 2 if not")
	pprofAddr := fs.String("pprof", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); off by default")
	var upstreams stringList
	fs.Var(&upstreams, "upstream", "node base URL, http://host:port or dns+http://name:port (repeatable)")
	var peers routing.PeerFlags
	fs.Var(&peers, "peer", "another region's edge, NAME=URL, in order of preference (repeatable; replaces peers: from the file)")
	o := &overrides{fs: fs, apply: map[string]func(*edge.Config){}}
	o.str("listen", "address to serve on (default 127.0.0.1:9080)", func(c *edge.Config, v string) { c.Listen = v })
	o.str("public-url", "this region's public URL, shown in /region.json and on /status", func(c *edge.Config, v string) { c.PublicURL = v })
	o.str("region", "region name shown in /status.json and logs", func(c *edge.Config, v string) { c.Region = v })
	o.str("channel", "channel the probes use (/api/v3/{channel})", func(c *edge.Config, v string) { c.Channel = v })
	o.int64("max-lag", "blocks a node may trail the tip and still serve latest reads (default 2)",
		func(c *edge.Config, v int64) { c.Health.MaxLag = v })
	o.duration("probe-interval", "how often each node is probed (default 500ms)",
		func(c *edge.Config, v time.Duration) { c.Health.ProbeInterval = v })
	o.boolean("debug-api", false, "proxy the debug API on /api/v3d", func(c *edge.Config, v bool) { c.DebugAPI = v })
	o.boolean("cache", true, "cache final answers and coalesce identical reads", func(c *edge.Config, v bool) { c.Cache.Enabled = v })
	o.str("capture", "record requests (path, body) to this file for icon-loadtest replay",
		func(c *edge.Config, v string) { c.Capture.Path = v })
	o.str("log-format", "auto, json or text", func(c *edge.Config, v string) { c.LogFormat = v })
	o.str("log-level", "debug, info, warn or error", func(c *edge.Config, v string) { c.LogLevel = v })
	o.str("procs", "processors for the edge's goroutines: adaptive (follow the load; default), all, or a number",
		func(c *edge.Config, v string) { c.Procs = v })
	if err := fs.Parse(args); err != nil {
		return parseExit(fs, err)
	}
	if *showVersion {
		fmt.Println("icon-edge", version.Version)
		return 0
	}
	var given []func(*edge.Config)
	fs.Visit(func(f *flag.Flag) {
		if apply := o.apply[f.Name]; apply != nil {
			given = append(given, apply)
		}
	})

	load := func() (edge.Config, error) {
		cfg := edge.Defaults()
		if *configPath != "" {
			if err := edge.LoadFile(*configPath, &cfg); err != nil {
				return cfg, err
			}
		}
		if len(upstreams) > 0 {
			cfg.Upstreams = upstreams
		}
		if len(peers) > 0 {
			cfg.Peers = peers
		}
		for _, apply := range given {
			apply(&cfg)
		}
		edge.ApplyEnv(&cfg, os.Getenv)
		return cfg, cfg.Validate()
	}

	cfg, err := load()
	if err != nil {
		for _, e := range confkey.List(err) { // one line per invalid value
			fmt.Fprintln(os.Stderr, "icon-edge:", e)
		}
		return 2
	}
	if *checkOnly {
		fmt.Println("icon-edge: configuration valid")
		return 0
	}
	log := edge.NewLogger(cfg.LogFormat, cfg.LogLevel, os.Stderr)
	e, err := edge.Start(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	// After Start: what sizes itself by GOMAXPROCS when built (the websocket
	// fan-out's writers) sees every processor the count may grow to.
	if _, err := procs.Start(context.Background(), cfg.Procs, os.Getenv, e.Registry(), log); err != nil {
		log.Error("cannot start", "err", err)
		_ = e.Close()
		return 1
	}
	if *pprofAddr != "" {
		// A separate listener: profiles never share the public port.
		go func() { log.Error("pprof listener stopped", "err", http.ListenAndServe(*pprofAddr, nil)) }()
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			next, err := load()
			if err == nil {
				err = e.Reload(next)
			}
			if err != nil {
				log.Error("reload rejected; keeping the running configuration", "err", err)
			}
			continue
		}
		log.Info("shutting down", "signal", sig.String())
		sd := e.Config().Shutdown // as the last reload set it
		ctx, cancel := context.WithTimeout(context.Background(), sd.DrainDelay+sd.Timeout)
		err := e.Shutdown(ctx, sd.DrainDelay)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			log.Error("shutdown", "err", err)
			return 1
		}
		log.Info("stopped")
		return 0
	}
	return 0
}
