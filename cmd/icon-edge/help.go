package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// helpOut is where --help goes (a variable so the test can read it).
var helpOut io.Writer = os.Stdout

// envVars are the variables icon-edge reads (edge.ApplyEnv), with the key
// each one overrides. A test fails when edge/config.go reads one not listed.
var envVars = [][2]string{
	{"ICON_EDGE_LISTEN", "listen"},
	{"ICON_EDGE_REGION", "region"},
	{"ICON_EDGE_UPSTREAMS", "upstreams (comma-separated)"},
	{"ICON_EDGE_ES_ADDRESSES", "access_log.elasticsearch.addresses (comma-separated)"},
	{"ICON_EDGE_ES_USERNAME", "access_log.elasticsearch.username"},
	{"ICON_EDGE_ES_PASSWORD", "access_log.elasticsearch.password"},
	{"ICON_EDGE_ES_API_KEY", "access_log.elasticsearch.api_key"},
	{"ICON_EDGE_ACCESSLOG_HASH_SALT", "access_log.hash_salt"},
}

// parseExit turns a flag parse error into the exit code: --help prints the
// help to stdout and succeeds, anything else is a usage error (2).
func parseExit(fs *flag.FlagSet, err error) int {
	if !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "run 'icon-edge --help' for flags, environment variables and the configuration reference")
		return 2
	}
	w := helpOut
	fmt.Fprint(w, `icon-edge: the API edge for ICON, a JSON-RPC v3 proxy in front of goloop nodes.

Usage:
  icon-edge --config edge.yaml [flags]
  icon-edge --upstream http://127.0.0.1:9181 --upstream http://127.0.0.1:9182 [flags]
  icon-edge cloudflare plan|apply|drain|undrain --config edge.yaml   (see icon-edge cloudflare --help)

Flags (override the configuration file):
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, "\nEnvironment (overrides the file and the flags):\n")
	for _, e := range envVars {
		fmt.Fprintf(w, "  %-30s %s\n", e[0], e[1])
	}
	fmt.Fprintf(w, "  %-30s %s\n", "GOMAXPROCS", "a positive number fixes the processor count (procs), as Go reads it")
	fmt.Fprint(w, `
Signals: SIGHUP reloads the configuration file (a bad file is logged and the
running configuration kept); SIGTERM or SIGINT drain and exit.
Exit codes: 0 stopped cleanly, 1 failed at run time, 2 bad flags or configuration.

Configuration reference (every key, its default, flag and variable):
  docs/configuration.md in the icon-edge source tree; the README has an example edge.yaml.
`)
	return 0
}
