package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/snapshot"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func cmdSnapshot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("snapshot", "snapshot --data DIR --store s3://BUCKET/PREFIX [--s3-endpoint URL] [--capture-cmd CMD]", stdout)
	data := dataFlag(fs)
	var sf storeFlags
	sf.register(fs)
	captureCmd := fs.String("capture-cmd", os.Getenv("ICON_NODE_AGENT_CAPTURE_CMD"), "shell command that fills $ICON_NODE_AGENT_CAPTURE with a consistent copy of --data\n"+
		"(e.g. goloop chain backup --manual, then icon-node-agent capture, then goloop chain start); it also gets\n"+
		"$ICON_NODE_AGENT_DATA, $ICON_NODE_AGENT_META (write height/block_hash/goloop_version JSON here) and\n"+
		"$ICON_NODE_AGENT_BIN. Empty: capture directly, refusing while a database in --data is open (env ICON_NODE_AGENT_CAPTURE_CMD)")
	var excludes listFlag
	fs.Var(&excludes, "exclude", "also leave out paths matching this pattern (repeatable; always excluded: "+strings.Join(snapshot.DefaultExcludes, " ")+")")
	node := fs.String("node", "", "goloop JSON-RPC URL asked for height and block hash just before the capture (optional)")
	conc := fs.Int("concurrency", 16, "parts hashed and uploaded at once")
	logFmt, logLvl := addLogFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := logging(stderr, *logFmt, *logLvl); err != nil {
		return err
	}
	if *data == "" {
		return usagef("--data is required")
	}
	if fi, err := os.Stat(*data); err != nil || !fi.IsDir() {
		return usagef("--data %s: not a directory", *data)
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	excl := snapshot.Excluder(append(append([]string{}, snapshot.DefaultExcludes...), excludes...))
	state := filepath.Join(*data, snapshot.StateDirName)
	capDir, metaFile := filepath.Join(state, "capture"), filepath.Join(state, "capture-meta.json")
	if err := os.RemoveAll(capDir); err != nil {
		return err
	}
	os.Remove(metaFile)
	if err := os.MkdirAll(capDir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(capDir)

	var meta snapshot.Meta
	if *node != "" {
		lb, err := (&icon.Client{URL: *node}).LastBlock(ctx)
		if err != nil {
			slog.Warn("node not asked for its height; the manifest will lack it", "node", *node, "err", err)
		} else {
			meta.Height, meta.BlockHash = lb.Height, lb.BlockHash
		}
	}
	start := time.Now()
	if *captureCmd != "" {
		self, _ := os.Executable()
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", *captureCmd)
		cmd.Env = append(os.Environ(), "ICON_NODE_AGENT_DATA="+*data, "ICON_NODE_AGENT_CAPTURE="+capDir,
			"ICON_NODE_AGENT_META="+metaFile, "ICON_NODE_AGENT_BIN="+self)
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("capture command failed: %w", err)
		}
		if ents, _ := os.ReadDir(capDir); len(ents) == 0 {
			return errors.New("the capture command left $ICON_NODE_AGENT_CAPTURE empty")
		}
	} else {
		if err := snapshot.CheckNotInUse(*data, excl); err != nil {
			return err
		}
		if _, err := snapshot.Capture(*data, capDir, excl); err != nil {
			return fmt.Errorf("capture: %w", err)
		}
	}
	slog.Info("captured", "dir", capDir, "took", time.Since(start).Round(time.Millisecond))
	hookMeta, err := snapshot.ReadMetaFile(metaFile)
	if err != nil {
		return err
	}
	hookMeta.Merge(meta) // what the hook wrote wins: it knows the captured state
	p := &snapshot.Progress{}
	stop := showProgress(stderr, "snapshot", p)
	res, err := snapshot.Create(ctx, st, capDir, snapshot.CreateOptions{Meta: hookMeta, StatusDir: *data, Progress: p, Concurrency: *conc})
	stop()
	if err != nil {
		return err
	}
	m := res.Manifest
	fmt.Fprintf(stdout, "snapshot %s: %d files, %d bytes, height %d; uploaded %d objects (%d bytes), reused %d (%d bytes), %s\n",
		m.ID, len(m.Files), m.Size, m.Height, res.Uploaded, res.UploadedBytes, res.Reused, res.ReusedBytes, time.Since(start).Round(time.Millisecond))
	return nil
}

func cmdCapture(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("capture", "capture --data DIR --out DIR (inside a --capture-cmd hook, while the database is closed)", stdout)
	data := dataFlag(fs)
	out := fs.String("out", os.Getenv("ICON_NODE_AGENT_CAPTURE"), "empty directory on the same filesystem to fill (env ICON_NODE_AGENT_CAPTURE)")
	var excludes listFlag
	fs.Var(&excludes, "exclude", "also leave out paths matching this pattern (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" || *out == "" {
		return usagef("--data and --out are required")
	}
	excl := snapshot.Excluder(append(append([]string{}, snapshot.DefaultExcludes...), excludes...))
	if err := snapshot.CheckNotInUse(*data, excl); err != nil {
		return err
	}
	cs, err := snapshot.Capture(*data, *out, excl)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "captured %s: %d files hard-linked (%d bytes), %d copied (%d bytes), %d left out\n",
		*data, cs.Linked, cs.LinkedBytes, cs.Copied, cs.CopiedBytes, len(cs.Skipped))
	return nil
}

// parseSize reads 8388608, 8MiB, 16M, 512KiB.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if t, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = t, u.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n * mult, err
}

func cmdRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("restore", "restore --data DIR --store s3://BUCKET/PREFIX [--s3-endpoint URL] [--snapshot ID] [--dry-run]", stdout)
	data := dataFlag(fs)
	var sf storeFlags
	sf.register(fs)
	id := fs.String("snapshot", "", "snapshot ID to restore (default: the one an interrupted restore was fetching, else LATEST)")
	dry := fs.Bool("dry-run", false, "print what would be fetched (and whether the disk is big enough); change nothing")
	force := fs.Bool("force", false, "replace what the data directory holds (default: a non-empty directory is left alone, exit 0)")
	conc := fs.Int("concurrency", snapshot.DefaultConcurrency, "ranged GETs in flight (memory: this × --range-size)")
	rangeSize := fs.String("range-size", "8MiB", "bytes per ranged GET, a power of two from 1MiB to 64MiB (8MiB–16MiB suit S3)")
	logFmt, logLvl := addLogFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := logging(stderr, *logFmt, *logLvl); err != nil {
		return err
	}
	if *data == "" {
		return usagef("--data is required")
	}
	rs, err := parseSize(*rangeSize)
	if err != nil || rs < 1<<20 || rs > 64<<20 || rs&(rs-1) != 0 {
		return usagef("--range-size %q: want a power of two from 1MiB to 64MiB", *rangeSize)
	}
	if *conc < 1 || *conc > 1024 {
		return usagef("--concurrency %d: want 1-1024", *conc)
	}
	if *id != "" && !snapshot.ValidID(*id) {
		return usagef("--snapshot %q is not a snapshot ID", *id)
	}
	sf.maxConns = *conc
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	p := &snapshot.Progress{}
	var stop func()
	if !*dry {
		stop = showProgress(stderr, "restore", p)
	}
	res, err := snapshot.Restore(ctx, st, *data, snapshot.RestoreOptions{
		SnapshotID: *id, Concurrency: *conc, RangeSize: rs, Force: *force, DryRun: *dry, Out: stdout, Progress: p, Logger: slog.Default(),
	})
	if stop != nil {
		stop()
	}
	if err != nil {
		return err
	}
	if res.Skipped || *dry {
		return nil
	}
	m := res.Manifest
	fmt.Fprintf(stdout, "restored snapshot %s (height %d) into %s: %d files, %d bytes; fetched %d bytes in %s (%.0f MiB/s)%s\n",
		m.ID, m.Height, *data, len(m.Files), m.Size, res.FetchedBytes, res.Elapsed.Round(time.Millisecond),
		rate(res.FetchedBytes, res.Elapsed), map[bool]string{true: ", resumed", false: ""}[res.Resumed])
	return nil
}

func cmdGC(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gc", "gc --store s3://BUCKET/PREFIX --keep K [--grace 48h] [--dry-run]", stdout)
	var sf storeFlags
	sf.register(fs)
	keep := fs.Int("keep", 0, "snapshots to keep, newest first (required, at least 1; the one LATEST names always stays)")
	grace := fs.Duration("grace", snapshot.DefaultGrace, "how long expired snapshots' objects and unreferenced objects survive: longer than the slowest restore, and the slowest snapshot plus 12h")
	dry := fs.Bool("dry-run", false, "print what would be expired and deleted; change nothing")
	logFmt, logLvl := addLogFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := logging(stderr, *logFmt, *logLvl); err != nil {
		return err
	}
	if *keep < 1 {
		return usagef("--keep must be at least 1")
	}
	if *grace < time.Hour {
		return usagef("--grace %s: at least 1h (it must outlast the slowest restore)", *grace)
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	res, err := snapshot.GC(ctx, st, snapshot.GCOptions{Keep: *keep, Grace: *grace, DryRun: *dry})
	if err != nil {
		return err
	}
	verb := map[bool]string{true: "would delete", false: "deleted"}[*dry]
	fmt.Fprintf(stdout, "kept %d snapshots %v; expired %v; purged %v (grace over); %s %d objects (%d bytes); %d objects (%d bytes) stay\n",
		len(res.Kept), res.Kept, res.Expired, res.Purged, verb, res.DeletedObjects, res.DeletedBytes, res.KeptObjects, res.KeptBytes)
	return nil
}
