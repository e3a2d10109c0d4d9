// Command icon-loadtest is an open-loop load tester for ICON JSON-RPC
// endpoints: it replays captures written by icon-edge, synthesizes a
// workload from a method mix, and compares two targets.
//
//	icon-loadtest replay  --target http://127.0.0.1:9080 --capture cap.jsonl.gz --speed 2
//	icon-loadtest synth   --target http://127.0.0.1:9080/api/v3 --rate 2000 --duration 30s [--mix mix.yaml]
//	icon-loadtest compare --a http://127.0.0.1:9000/api/v3 --b http://127.0.0.1:9080/api/v3 --rate 2000 --duration 20s
//
// See docs/loadtest.md.
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
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/icon-edge/icon-edge/capture"
	"github.com/icon-edge/icon-edge/internal/logfmt"
	"github.com/icon-edge/icon-edge/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: icon-loadtest <replay|synth|compare> [flags]

  replay   send the requests of a capture (from icon-edge --capture) to a target
  synth    send a synthetic workload (a method mix) at a constant rate
  compare  run the same workload against two targets in alternation, print B/A ratios

Run "icon-loadtest <command> --help" for the flags of a command.
` + envHelp

// envHelp ends every help text: what the tester reads besides its flags.
const envHelp = `
Environment:
  ICON_LOADTEST_KEY         private key (hex) that signs the transfers of a mix with
                            icx_sendTransaction when the mix has no transfer.private_key
  ICON_LOADTEST_CPUPROFILE  write a CPU profile of the tester itself to this file

Reference: docs/loadtest.md (commands, mix spec, capture format, chaos hooks,
reports); the edge's capture settings are in docs/configuration.md.
`

// hooks collects repeated --at flags.
type hooks []loadtest.Hook

func (h *hooks) String() string { return fmt.Sprint(*h) }
func (h *hooks) Set(s string) error {
	hk, err := loadtest.ParseHook(s)
	if err != nil {
		return err
	}
	*h = append(*h, hk)
	return nil
}

type common struct {
	duration    time.Duration
	maxInflight int
	timeout     time.Duration
	late        time.Duration
	pipeline    int
	quiet       bool
	jsonOut     string
	htmlOut     string
	at          hooks
}

func (c *common) register(fs *flag.FlagSet, withHooks bool) {
	fs.DurationVar(&c.duration, "duration", 0, "stop scheduling after this long (0: until the workload ends; synth needs it)")
	fs.IntVar(&c.maxInflight, "max-inflight", 512, "requests in flight at once; sends beyond it wait and count as late")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.DurationVar(&c.late, "late-threshold", 5*time.Millisecond, "a send this far behind schedule counts as late")
	fs.IntVar(&c.pipeline, "pipeline", 0, "HTTP/1.1 pipelining over this many connections (fewer syscalls for very high rates; responses on a connection come back in order)")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress line on stderr")
	fs.StringVar(&c.jsonOut, "json", "", "write the report as JSON to this file")
	fs.StringVar(&c.htmlOut, "html", "", "write a self-contained HTML report with charts to this file")
	if withHooks {
		fs.Var(&c.at, "at", `chaos hook OFFSET:METHOD:URL[:BODY], repeatable, e.g. 10s:POST:http://127.0.0.1:9182/_sim/faults:{"down":true}`)
	}
}

func (c *common) config(target, mode string, stderr io.Writer) loadtest.Config {
	cfg := loadtest.Config{
		Target: target, Duration: c.duration, MaxInflight: c.maxInflight, Timeout: c.timeout,
		LateThreshold: c.late, Hooks: c.at, Mode: mode, Pipeline: c.pipeline,
	}
	if !c.quiet {
		cfg.Progress = stderr
	}
	return cfg
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{ReplaceAttr: logfmt.Durations})))
	// For profiling the tester itself: ICON_LOADTEST_CPUPROFILE=file.
	if p := os.Getenv("ICON_LOADTEST_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			defer f.Close()
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "replay":
		err = replay(ctx, args[1:], stdout, stderr)
	case "synth":
		err = synth(ctx, args[1:], stdout, stderr)
	case "compare":
		err = compare(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "icon-loadtest:", err)
		return 1
	}
	return 0
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("icon-loadtest "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run reports the error once; --help goes to stdout
	fs.Usage = func() {}
	return fs
}

// commandHelp is what "icon-loadtest CMD --help" prints, before the flags.
var commandHelp = map[string]string{
	"replay": `icon-loadtest replay: send the requests of a capture (icon-edge --capture) to a target,
at the captured pace (--speed) or a constant --rate.

Usage:
  icon-loadtest replay --target http://127.0.0.1:9080 --capture cap.jsonl.gz [flags]
`,
	"synth": `icon-loadtest synth: send a synthetic workload (a method mix) at a constant rate.

Usage:
  icon-loadtest synth --target http://127.0.0.1:9080/api/v3 --rate 2000 --duration 30s [--mix mix.yaml] [flags]
`,
	"compare": `icon-loadtest compare: run the same workload against two targets in alternation
and print B/A ratios.

Usage:
  icon-loadtest compare --a URL --b URL --rate 2000 --duration 10s [flags]
`,
}

// parse parses a command's flags; --help prints the command's help, flags
// and environment to stdout (run turns flag.ErrHelp into exit code 0).
func parse(fs *flag.FlagSet, name string, args []string, stdout io.Writer) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, commandHelp[name], "\nFlags:\n")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fmt.Fprint(stdout, envHelp)
		return err
	}
	if err != nil {
		return fmt.Errorf("%w (run \"icon-loadtest %s --help\")", err, name)
	}
	return nil
}

func replay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replay")
	var c common
	c.register(fs, true)
	target := fs.String("target", "", "base URL; captured paths are appended (e.g. http://127.0.0.1:9080)")
	capPath := fs.String("capture", "", "capture file (JSON lines, gzip or not); its rotated siblings FILE.N… are read first")
	speed := fs.Float64("speed", 1, "replay the captured inter-arrival times divided by this")
	rate := fs.Float64("rate", 0, "replay at this constant rate (req/s) instead of the captured times")
	loop := fs.Bool("loop", false, "start the capture over when it ends (needs --duration)")
	if err := parse(fs, "replay", args, stdout); err != nil {
		return err
	}
	if *target == "" || *capPath == "" {
		return errors.New("replay needs --target and --capture")
	}
	if *loop && c.duration <= 0 {
		return errors.New("--loop needs --duration")
	}
	files := capture.Files(*capPath)
	if len(files) == 0 {
		return fmt.Errorf("no capture at %s", *capPath)
	}
	src, err := loadtest.NewCaptureSource(files, loadtest.ReplayOptions{Speed: *speed, Rate: *rate, Loop: *loop})
	if err != nil {
		return err
	}
	defer src.Close()
	cfg := c.config(*target, "replay", stderr)
	cfg.Description = fmt.Sprintf("capture %s, speed %g", *capPath, *speed)
	if *rate > 0 {
		cfg.Description = fmt.Sprintf("capture %s at %g req/s", *capPath, *rate)
	}
	rep, err := loadtest.Run(ctx, cfg, src)
	if err != nil {
		return err
	}
	if err := src.Err(); err != nil {
		rep.Warnings = append(rep.Warnings, "capture read stopped early: "+err.Error())
	}
	if src.Unfinished() {
		rep.Warnings = append(rep.Warnings, "the capture's last file is still being written: replayed up to its last flush "+
			"(at most a second behind); it is complete once rotated or after the edge stops")
	}
	if n := src.Skipped(); n > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d malformed capture lines skipped", n))
	}
	return output(rep, &c, stdout)
}

func loadMix(path string) (*loadtest.Mix, string, error) {
	if path == "" {
		return loadtest.DefaultMix(), "built-in mix", nil
	}
	m, err := loadtest.LoadMix(path)
	return m, "mix " + path, err
}

func synth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("synth")
	var c common
	c.register(fs, true)
	target := fs.String("target", "", "JSON-RPC endpoint, e.g. http://127.0.0.1:9080/api/v3")
	rate := fs.Float64("rate", 0, "requests per second")
	mixPath := fs.String("mix", "", "mix spec (YAML); default: the built-in mix modelled on public ICON traffic")
	poisson := fs.Bool("poisson", false, "exponential inter-arrival times (Poisson arrivals) instead of a constant gap")
	seed := fs.Uint64("seed", 1, "random seed of the request sequence")
	if err := parse(fs, "synth", args, stdout); err != nil {
		return err
	}
	if *target == "" || *rate <= 0 || c.duration <= 0 {
		return errors.New("synth needs --target, --rate and --duration")
	}
	mix, desc, err := loadMix(*mixPath)
	if err != nil {
		return err
	}
	src, err := loadtest.NewSynthSource(ctx, *target, mix, loadtest.SynthOptions{Rate: *rate, Poisson: *poisson, Seed: *seed})
	if err != nil {
		return err
	}
	defer src.Close()
	cfg := c.config(*target, "synth", stderr)
	cfg.Description = fmt.Sprintf("%s at %g req/s", desc, *rate)
	rep, err := loadtest.Run(ctx, cfg, src)
	if err != nil {
		return err
	}
	rep.Warnings = append(src.Warnings, rep.Warnings...)
	return output(rep, &c, stdout)
}

func compare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("compare")
	var c common
	c.register(fs, false)
	a := fs.String("a", "", "first target (JSON-RPC endpoint for synth, base URL with --capture)")
	b := fs.String("b", "", "second target")
	rate := fs.Float64("rate", 0, "requests per second")
	rounds := fs.Int("rounds", 4, "alternations between A and B")
	mixPath := fs.String("mix", "", "mix spec (YAML); default: the built-in mix")
	capPath := fs.String("capture", "", "replay this capture instead of a synthetic mix")
	if err := parse(fs, "compare", args, stdout); err != nil {
		return err
	}
	if *a == "" || *b == "" || *rate <= 0 || c.duration <= 0 {
		return errors.New("compare needs --a, --b, --rate and --duration")
	}
	cc := loadtest.CompareConfig{A: *a, B: *b, Rounds: *rounds, Base: c.config("", "compare", stderr)}
	if *capPath != "" {
		files := capture.Files(*capPath)
		if len(files) == 0 {
			return fmt.Errorf("no capture at %s", *capPath)
		}
		cc.Base.Description = fmt.Sprintf("capture %s at %g req/s", *capPath, *rate)
		cc.NewSource = func(int, string) (loadtest.Source, func(), error) {
			s, err := loadtest.NewCaptureSource(files, loadtest.ReplayOptions{Rate: *rate, Loop: true})
			if err != nil {
				return nil, nil, err
			}
			return s, func() { s.Close() }, nil
		}
	} else {
		mix, desc, err := loadMix(*mixPath)
		if err != nil {
			return err
		}
		plan, err := loadtest.PlanSynth(ctx, *a, mix, loadtest.SynthOptions{Rate: *rate})
		if err != nil {
			return err
		}
		cc.Base.Description = fmt.Sprintf("%s at %g req/s", desc, *rate)
		cc.NewSource = func(round int, _ string) (loadtest.Source, func(), error) {
			s, err := plan.Source(ctx, uint64(round)+1)
			if err != nil {
				return nil, nil, err
			}
			return s, s.Close, nil
		}
	}
	cmp, err := loadtest.Compare(ctx, cc)
	if err != nil {
		return err
	}
	if err := cmp.WriteText(stdout); err != nil {
		return err
	}
	if c.jsonOut != "" {
		if err := cmp.WriteJSONFile(c.jsonOut); err != nil {
			return err
		}
	}
	if c.htmlOut != "" {
		// One page per side: FILE with A, FILE with -b before the extension for B.
		if err := cmp.A.WriteHTMLFile(c.htmlOut); err != nil {
			return err
		}
		if err := cmp.B.WriteHTMLFile(suffixed(c.htmlOut, "-b")); err != nil {
			return err
		}
	}
	return nil
}

func suffixed(path, suffix string) string {
	if i := strings.LastIndexByte(path, '.'); i > strings.LastIndexByte(path, '/') {
		return path[:i] + suffix + path[i:]
	}
	return path + suffix
}

func output(rep *loadtest.Report, c *common, stdout io.Writer) error {
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if c.jsonOut != "" {
		if err := rep.WriteJSONFile(c.jsonOut); err != nil {
			return err
		}
	}
	if c.htmlOut != "" {
		if err := rep.WriteHTMLFile(c.htmlOut); err != nil {
			return err
		}
	}
	return nil
}
