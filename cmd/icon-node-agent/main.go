// Command icon-node-agent runs next to a goloop node: a sync-aware health
// check and exporter for load balancers and Prometheus, and fast sync from
// incremental, content-addressed S3 snapshots.
//
//	icon-node-agent snapshot --data DIR --store s3://BUCKET/PREFIX [--s3-endpoint URL] [--capture-cmd CMD]
//	icon-node-agent restore  --data DIR --store s3://BUCKET/PREFIX [--s3-endpoint URL] [--snapshot ID] [--dry-run]
//	icon-node-agent health   --node http://127.0.0.1:9080 --reference URL ... --listen 127.0.0.1:9100
//	icon-node-agent gc       --store s3://BUCKET/PREFIX --keep K
//
// See docs/node-agent.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/icon-edge/icon-edge/snapshot"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `icon-node-agent: health check, exporter and fast sync for a goloop node

usage: icon-node-agent <command> [flags]

  snapshot  capture the chain directory and upload what the store lacks (source-of-truth node)
  restore   fetch a snapshot into an empty data directory at disk speed (node boot)
  health    serve /health (200/503, sync-aware) and /metrics next to the node
  gc        keep the newest K snapshots, delete objects nothing needs after a grace period
  capture   (for --capture-cmd hooks) hard-link/copy a closed database into a directory

Run "icon-node-agent <command> --help" for the flags of a command.

Environment:
  ICON_NODE_AGENT_STORE        default for --store (s3://BUCKET/PREFIX)
  ICON_NODE_AGENT_S3_ENDPOINT  default for --s3-endpoint
  ICON_NODE_AGENT_DATA         default for --data
  AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE,
  AWS_CA_BUNDLE, ...           the standard AWS chain (instance role in production)

Exit status: 0 done, 1 the operation failed, 2 bad flags or configuration.
`

// errUsage marks errors that are the caller's (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "snapshot":
		err = cmdSnapshot(ctx, args[1:], stdout, stderr)
	case "restore":
		err = cmdRestore(ctx, args[1:], stdout, stderr)
	case "health":
		err = cmdHealth(ctx, args[1:], stdout, stderr)
	case "gc":
		err = cmdGC(ctx, args[1:], stdout, stderr)
	case "capture":
		err = cmdCapture(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "icon-node-agent: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "icon-node-agent %s: %v\n", args[0], err)
		return 2
	default:
		slog.Error(args[0]+" failed", "err", err)
		return 1
	}
}

// newFlags makes a flag set whose --help prints the command's own text and
// its flags to stdout (exit 0), and whose errors are usage errors.
func newFlags(name, summary string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "usage: icon-node-agent %s\n\nFlags:\n", summary)
		fs.PrintDefaults()
		fmt.Fprint(stdout, "\nEnvironment: ICON_NODE_AGENT_STORE, ICON_NODE_AGENT_S3_ENDPOINT, ICON_NODE_AGENT_DATA (defaults for\n--store, --s3-endpoint, --data); AWS_* for credentials and region. See docs/node-agent.md.\n")
		fs.SetOutput(io.Discard)
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err // fs.Usage has printed the help
		}
		return usagef("%v (see --help)", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (see --help)", fs.Arg(0))
	}
	return nil
}

// logging sets the default slog handler for a command.
func logging(stderr io.Writer, format, level string) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		slog.SetDefault(slog.New(slog.NewJSONHandler(stderr, opts)))
	case "text":
		slog.SetDefault(slog.New(slog.NewTextHandler(stderr, opts)))
	default:
		return usagef("--log-format %q: want text or json", format)
	}
	return nil
}

func addLogFlags(fs *flag.FlagSet) (format, level *string) {
	return fs.String("log-format", "text", "log format: text or json"), fs.String("log-level", "info", "log level: debug, info, warn, error")
}

// storeFlags are shared by snapshot, restore and gc.
type storeFlags struct {
	store, endpoint string
	maxConns        int
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.store, "store", os.Getenv("ICON_NODE_AGENT_STORE"), "snapshot store, s3://BUCKET/PREFIX (env ICON_NODE_AGENT_STORE)")
	fs.StringVar(&s.endpoint, "s3-endpoint", os.Getenv("ICON_NODE_AGENT_S3_ENDPOINT"), "S3-compatible endpoint URL, path-style (env ICON_NODE_AGENT_S3_ENDPOINT; empty: AWS S3)")
}

func (s *storeFlags) open(ctx context.Context) (snapshot.Store, error) {
	if s.store == "" {
		return nil, usagef("--store is required (s3://BUCKET/PREFIX)")
	}
	if _, _, err := snapshot.ParseStoreURL(s.store); err != nil {
		return nil, usagef("--store: %v", err)
	}
	st, err := snapshot.NewS3Store(ctx, snapshot.S3Options{URL: s.store, Endpoint: s.endpoint, MaxConns: s.maxConns})
	if err != nil {
		if strings.Contains(err.Error(), "endpoint") {
			return nil, usagef("--s3-endpoint: %v", err)
		}
		return nil, err
	}
	return st, nil
}

func dataFlag(fs *flag.FlagSet) *string {
	return fs.String("data", os.Getenv("ICON_NODE_AGENT_DATA"), "the node's data directory (goloop's node_dir) (env ICON_NODE_AGENT_DATA)")
}
