package main

import (
	"bytes"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/icon-edge/icon-edge/edge"
)

func TestHelpExitsZeroAndNamesFlagsEnvAndReference(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		var buf bytes.Buffer
		helpOut = &buf
		code := run([]string{arg})
		helpOut = os.Stdout
		if code != 0 {
			t.Errorf("icon-edge %s exited %d, want 0", arg, code)
		}
		out := buf.String()
		for _, want := range []string{"-config", "-upstream", "-listen", "-region", "-channel", "-max-lag",
			"-probe-interval", "-debug-api", "-cache", "-capture", "-log-format", "-log-level", "-pprof",
			"-version", "-peer", "-public-url", "-procs", "GOMAXPROCS", "SIGHUP", "docs/configuration.md", "icon-edge cloudflare"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: help lacks %q", arg, want)
			}
		}
		for _, e := range envVars {
			if !strings.Contains(out, e[0]) {
				t.Errorf("%s: help lacks %s", arg, e[0])
			}
		}
	}
	if _, err := os.Stat("../../docs/configuration.md"); err != nil {
		t.Errorf("help points at a reference that is not there: %v", err)
	}
}

// TestHelpListsEveryVariableTheEdgeReads keeps the help honest both ways:
// each listed variable changes the configuration, and every ICON_EDGE_
// variable edge/config.go mentions is listed.
func TestHelpListsEveryVariableTheEdgeReads(t *testing.T) {

	listed := map[string]bool{}
	for _, e := range envVars {
		listed[e[0]] = true
		cfg := edge.Defaults()
		edge.ApplyEnv(&cfg, func(k string) string {
			if k == e[0] {
				return "http://127.0.0.1:1"
			}
			return ""
		})
		if reflect.DeepEqual(cfg, edge.Defaults()) {
			t.Errorf("%s is in the help but changes nothing", e[0])
		}
	}
	src, err := os.ReadFile("../../edge/config.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range regexp.MustCompile(`"(ICON_EDGE_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		if !listed[v[1]] {
			t.Errorf("edge/config.go reads %s; add it to envVars in help.go", v[1])
		}
	}
}
