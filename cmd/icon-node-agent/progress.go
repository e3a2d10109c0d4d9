package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/icon-edge/icon-edge/snapshot"
)

// isTerminal reports whether w is a character device (a person watching).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// showProgress draws a bar on a terminal, or logs a line every 10 s
// otherwise, until the returned stop is called.
func showProgress(w io.Writer, what string, p *snapshot.Progress) (stop func()) {
	tty := isTerminal(w)
	every := 10 * time.Second
	if tty {
		every = 250 * time.Millisecond
	}
	quit, exited := make(chan struct{}), make(chan struct{})
	start := time.Now()
	go func() {
		defer close(exited)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				if tty {
					fmt.Fprintf(w, "\r%s\n", bar(what, p, time.Since(start)))
				}
				return
			case <-t.C:
				if tty {
					fmt.Fprintf(w, "\r%s", bar(what, p, time.Since(start)))
				} else {
					done, total := p.DoneBytes.Load(), p.TotalBytes.Load()
					slog.Info(what+" progress", "done_bytes", done, "total_bytes", total,
						"transferred_bytes", p.Transferred.Load(), "mib_per_s", rate(p.Transferred.Load(), time.Since(start)))
				}
			}
		}
	}()
	return func() { close(quit); <-exited }
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / (1 << 20) / d.Seconds()
}

func bar(what string, p *snapshot.Progress, elapsed time.Duration) string {
	done, total := p.DoneBytes.Load(), p.TotalBytes.Load()
	frac := 0.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	const width = 30
	filled := int(frac * width)
	speed := rate(p.Transferred.Load(), elapsed)
	eta := "--"
	if speed > 0 && total > done {
		eta = (time.Duration(float64(total-done)/(speed*(1<<20))) * time.Second / time.Second * time.Second).String()
	}
	return fmt.Sprintf("%s [%s%s] %5.1f%% %s/%s %7.1f MiB/s ETA %s   ", what,
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), 100*frac, gib(done), gib(total), speed, eta)
}

func gib(n int64) string { return fmt.Sprintf("%.2fGiB", float64(n)/(1<<30)) }
