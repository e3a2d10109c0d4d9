package confkey

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInPrefixesEveryKeyOnce(t *testing.T) {
	err := errors.Join(New("burst", "must be >= 1, got %d", -5), New(Index("trusted_proxies", 2), "%q is not a CIDR", "x"),
		errors.New("something without a key"))
	got := In("ratelimit", err)
	want := []string{
		"ratelimit.burst must be >= 1, got -5",
		`ratelimit.trusted_proxies[2] "x" is not a CIDR`,
		"ratelimit: something without a key",
	}
	list := List(got)
	if len(list) != len(want) {
		t.Fatalf("%d errors, want %d: %v", len(list), len(want), got)
	}
	for i, e := range list {
		if e.Error() != want[i] {
			t.Errorf("error %d = %q, want %q", i, e, want[i])
		}
	}
	if In("x", nil) != nil {
		t.Error("In(nil) is not nil")
	}
	if got := In("access_log", In("elasticsearch", New("index", "is empty"))).Error(); got != "access_log.elasticsearch.index is empty" {
		t.Errorf("nested: %q", got)
	}
	if got := Join("keys", "[1]"); got != "keys[1]" {
		t.Errorf("Join = %q", got)
	}
}

func TestWritableFile(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "log.jsonl")
	if err := os.WriteFile(existing, []byte("kept\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(existing, "x") // a path under a regular file: fails even for root
	for path, want := range map[string]string{
		existing:                           "",
		filepath.Join(dir, "new.jsonl"):    "",
		dir:                                "is a directory",
		filepath.Join(dir, "no", "f.json"): "directory " + filepath.Join(dir, "no") + " does not exist",
		notDir:                             "not a directory",
	} {
		err := WritableFile("capture.path", path)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", path, err)
		case want != "" && (err == nil || !strings.HasPrefix(err.Error(), "capture.path ") || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want capture.path ... %s", path, err, want)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "kept\n" {
		t.Errorf("the check changed an existing file: %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the check left files behind: %v", entries)
	}
}
