package main

import (
	"bytes"
	"context"
	"math/big"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is the demo's stdout; onLine lets a test react to what it prints.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	onLine func(string)
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.onLine != nil {
		b.onLine(string(p))
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var addrRE = regexp.MustCompile(`(?m)^  (?:node [ABC]|edge)\s+http://(127\.0\.0\.1:\d+)`)

// assertNothingListens checks that every address the demo printed is closed
// once it returned: no simulator node and no edge left behind.
func assertNothingListens(t *testing.T, out string) {
	t.Helper()
	addrs := addrRE.FindAllStringSubmatch(out, -1)
	if len(addrs) != 4 {
		t.Fatalf("found %d addresses in the output, want 3 nodes and the edge:\n%s", len(addrs), out)
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a[1], time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the demo returned", a[1])
		}
	}
}

func TestDemoKillsANodeAndNoReadFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb syncBuffer
	start := time.Now()
	code := cli(ctx, nil, &out, &errb)
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d after %v\nstdout:\n%s\nstderr:\n%s", code, took, out.String(), errb.String())
	}
	o := out.String()
	m := regexp.MustCompile(`failed reads: (\d+) of (\d+)`).FindStringSubmatch(o)
	if m == nil || m[1] != "0" || m[2] == "0" {
		t.Fatalf("no \"failed reads: 0 of N\" line:\n%s", o)
	}
	for _, want := range []string{`{"down":true}`, `{"down":false}`, "icon_edge_cache_hits_total",
		"status 0x1", "0 ICX -> 1 ICX", "/status.json", "icon-loadtest synth", "ws://"} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
	t.Logf("demo took %v", took)
	assertNothingListens(t, o)
}

func TestDemoInterruptedStopsEverything(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb syncBuffer
	// Ctrl-C in the middle: as soon as node A is killed.
	out.onLine = func(s string) {
		if strings.Contains(s, "node A killed") {
			cancel()
		}
	}
	if code := cli(ctx, nil, &out, &errb); code != 130 {
		t.Fatalf("exit %d, want 130\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "interrupted") {
		t.Errorf("stderr %q", errb.String())
	}
	assertNothingListens(t, out.String())
}

func TestHelpAndBadFlags(t *testing.T) {
	var out, errb syncBuffer
	if code := cli(context.Background(), []string{"--help"}, &out, &errb); code != 0 {
		t.Errorf("--help exited %d", code)
	}
	for _, want := range []string{"-keep", "Environment", "docs/configuration.md", "docs/iconsim.md"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for _, args := range [][]string{{"--bogus"}, {"extra"}} {
		if code := cli(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v exited %d, want 2", args, code)
		}
	}
}

func TestFormatICX(t *testing.T) {
	for in, want := range map[string]string{
		"0":                           "0 ICX",
		"1000000000000000000":         "1 ICX",
		"1250000000000000":            "0.00125 ICX",
		"800460000000000000000000000": "800,460,000 ICX",
		"800459998998750000000000000": "800,459,998.99875 ICX",
		"1":                           "0.000000000000000001 ICX",
		"-1500000000000000000":        "-1.5 ICX",
		"123456789000000000000000":    "123,456.789 ICX",
	} {
		v, _ := new(big.Int).SetString(in, 10)
		if got := formatICX(v); got != want {
			t.Errorf("formatICX(%s) = %q, want %q", in, got, want)
		}
	}
}
