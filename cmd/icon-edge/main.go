// Command icon-edge is the API edge for ICON: a JSON-RPC v3 proxy in front of
// goloop citizen nodes that routes every call to a node that is high enough
// and fast, and retries reads elsewhere.
//
//	icon-edge --listen 127.0.0.1:9080 --upstream http://127.0.0.1:9181 --upstream http://127.0.0.1:9182
//	icon-edge --config edge.yaml
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

	"github.com/icon-edge/icon-edge/edge"
	"github.com/icon-edge/icon-edge/proxy"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("icon-edge", flag.ContinueOnError)
	configPath := fs.String("config", "", "YAML configuration file")
	listen := fs.String("listen", "", "address to serve on (default 127.0.0.1:9080)")
	var upstreams stringList
	fs.Var(&upstreams, "upstream", "node base URL, http://host:port or dns+http://name:port (repeatable)")
	region := fs.String("region", "", "region name shown in /status.json and logs")
	channel := fs.String("channel", "", "channel the probes use (/api/v3/{channel})")
	maxLag := fs.Int64("max-lag", 0, "blocks a node may trail the tip and still serve latest reads (default 2)")
	probeInterval := fs.Duration("probe-interval", 0, "how often each node is probed (default 500ms)")
	debugAPI := fs.Bool("debug-api", false, "proxy the debug API on /api/v3d")
	cacheOn := fs.Bool("cache", true, "cache final answers and coalesce identical reads")
	capturePath := fs.String("capture", "", "record requests (path, body) to this file for icon-loadtest replay")
	logFormat := fs.String("log-format", "", "auto, json or text")
	logLevel := fs.String("log-level", "", "debug, info, warn or error")
	version := fs.Bool("version", false, "print the version and exit")
	pprofAddr := fs.String("pprof", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); off by default")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *version {
		fmt.Println("icon-edge", proxy.Version)
		return 0
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	load := func() (edge.Config, error) {
		cfg := edge.Defaults()
		if *configPath != "" {
			if err := edge.LoadFile(*configPath, &cfg); err != nil {
				return cfg, err
			}
		}
		if set["listen"] {
			cfg.Listen = *listen
		}
		if len(upstreams) > 0 {
			cfg.Upstreams = upstreams
		}
		if set["region"] {
			cfg.Region = *region
		}
		if set["channel"] {
			cfg.Channel = *channel
		}
		if set["max-lag"] {
			cfg.Health.MaxLag = *maxLag
		}
		if set["probe-interval"] {
			cfg.Health.ProbeInterval = *probeInterval
		}
		if set["debug-api"] {
			cfg.DebugAPI = *debugAPI
		}
		if set["capture"] {
			cfg.Capture.Path = *capturePath
		}
		if set["cache"] {
			cfg.Cache.Enabled = *cacheOn
		}
		if set["log-format"] {
			cfg.LogFormat = *logFormat
		}
		if set["log-level"] {
			cfg.LogLevel = *logLevel
		}
		edge.ApplyEnv(&cfg, os.Getenv)
		return cfg, cfg.Validate()
	}

	cfg, err := load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "icon-edge:", err)
		return 2
	}
	log := edge.NewLogger(cfg.LogFormat, cfg.LogLevel, os.Stderr)
	e, err := edge.Start(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
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
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown.DrainDelay+cfg.Shutdown.Timeout)
		err := e.Shutdown(ctx, cfg.Shutdown.DrainDelay)
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
