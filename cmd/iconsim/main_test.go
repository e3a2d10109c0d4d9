package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestHelpAndUsageExitCodes(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		var out, errb bytes.Buffer
		if code := exitCode(run([]string{arg}, &out), &errb); code != 0 {
			t.Errorf("iconsim %s exited %d, want 0", arg, code)
		}
		for _, want := range []string{"-listen", "-nodes", "-block-interval", "-nid", "-channel",
			"-wait-timeout", "-log-format", "-txs-per-block", "Environment", "docs/iconsim.md", "docs/configuration.md", "/_sim/faults"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: help lacks %q", arg, want)
			}
		}
		if errb.Len() != 0 {
			t.Errorf("%s: stderr %q", arg, errb.String())
		}
	}
	for _, args := range [][]string{{"--bogus"}, {"--nid", "zz"}, {"--log-format", "xml"}, {"--nodes", "many"}} {
		var out, errb bytes.Buffer
		if code := exitCode(run(args, &out), &errb); code != 2 {
			t.Errorf("iconsim %v exited %d, want 2", args, code)
		}
		if !strings.Contains(errb.String(), "iconsim:") || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("iconsim %v: want one error line, got %q", args, errb.String())
		}
	}
}
