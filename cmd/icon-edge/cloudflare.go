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
	"time"

	"github.com/icon-edge/icon-edge/routing/cloudflare"
)

const cloudflareUsage = `usage: icon-edge cloudflare plan|apply|drain|undrain --config FILE [--region NAME]

Declares icon-edge's Cloudflare load balancing from the cloudflare: section of
the edge's YAML file: one monitor probing every region's /readyz, one pool per
region, one geo-steered load balancer (objects and names: docs/geo.md).

  plan      print what apply would create, update or delete; changes nothing
  apply     make Cloudflare match the file; a second apply makes no API writes
  drain     disable --region's origin (maintenance); nothing else is touched
  undrain   enable --region's origin again

Flags:
`

const cloudflareEnv = `
Environment:
  CLOUDFLARE_API_TOKEN  API token (required): Load Balancing: Monitors and Pools: Edit
                        on the account, Load Balancers: Edit on the zone
  CLOUDFLARE_BASE_URL   API base URL (default https://api.cloudflare.com/client/v4/);
                        for tests and staging, e.g. iconsim cloudflare-fake

Exit status: 0 done, 1 the API call failed, 2 usage or configuration error.
`

// runCloudflare is `icon-edge cloudflare ...`.
func runCloudflare(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("icon-edge cloudflare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "edge YAML file with a cloudflare: section (required)")
	region := fs.String("region", "", "region to drain or undrain (required for drain and undrain)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long (retries included)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), cloudflareUsage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), cloudflareEnv)
	}
	action := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		action, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "icon-edge cloudflare: "+format+"\n", a...)
		fmt.Fprintln(stderr, "run icon-edge cloudflare --help for usage")
		return 2
	}
	switch action {
	case "plan", "apply":
		if *region != "" {
			return usage("--region applies only to drain and undrain")
		}
	case "drain", "undrain":
		if *region == "" {
			return usage("%s needs --region NAME", action)
		}
	case "":
		return usage("missing action: plan, apply, drain or undrain")
	default:
		return usage("unknown action %q: plan, apply, drain or undrain", action)
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q", fs.Arg(0))
	}
	if *configPath == "" {
		return usage("--config FILE is required")
	}
	cfg, err := cloudflare.LoadFile(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "icon-edge cloudflare:", err)
		return 2
	}
	if (action == "drain" || action == "undrain") && !hasRegion(cfg, *region) {
		return usage("region %q is not in cloudflare.pools of %s", *region, *configPath)
	}
	opts := cloudflare.OptionsFromEnv(getenv)
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	client, err := cloudflare.NewClient(opts)
	if err != nil {
		fmt.Fprintln(stderr, "icon-edge cloudflare:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	switch action {
	case "plan":
		p, err := client.Plan(ctx, cfg)
		if err != nil {
			fmt.Fprintln(stderr, "icon-edge cloudflare plan:", err)
			return 1
		}
		fmt.Fprint(stdout, p)
	case "apply":
		p, err := client.Apply(ctx, cfg)
		if p != nil {
			fmt.Fprint(stdout, p)
		}
		if err != nil {
			fmt.Fprintln(stderr, "icon-edge cloudflare apply:", err)
			return 1
		}
		if !p.Empty() {
			fmt.Fprintf(stdout, "applied %d change(s)\n", len(p.Changes))
		}
	case "drain", "undrain":
		do := client.Drain
		if action == "undrain" {
			do = client.Undrain
		}
		res, err := do(ctx, cfg, *region)
		if err != nil {
			fmt.Fprintf(stderr, "icon-edge cloudflare %s: %v\n", action, err)
			return 1
		}
		if len(res.Origins) == 0 {
			fmt.Fprintf(stdout, "%s: region %s is already %sed; nothing changed\n", action, *region, action)
		} else {
			state := "disabled: Cloudflare sends its traffic to the next pools"
			if action == "undrain" {
				state = "enabled again"
			}
			fmt.Fprintf(stdout, "%s: region %s: origin %s of pool %s (%s) %s\n",
				action, *region, strings.Join(res.Origins, ", "), res.Pool, res.PoolID, state)
		}
	}
	return 0
}

func hasRegion(cfg cloudflare.Config, region string) bool {
	_, ok := cfg.Pool(region)
	return ok
}
