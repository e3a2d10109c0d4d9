package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestInvalidConfigExitsWithTwo(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(bad, []byte("upstreams: [http://127.0.0.1:1]\nlimits:\n  max_batch: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{},                                     // no upstream
		{"--upstream", "127.0.0.1:9181"},       // no scheme
		{"--config", bad},                      // a bad field
		{"--config", "/nonexistent/edge.yaml"}, // no file
		{"--no-such-flag"},
	} {
		if code := run(args); code != 2 {
			t.Errorf("icon-edge %q exited %d, want 2", args, code)
		}
	}
}

func TestCheckValidatesWithoutServing(t *testing.T) {
	if code := run([]string{"--config", "../../edge.example.yaml", "--check"}); code != 0 {
		t.Fatalf("--check of edge.example.yaml exited %d", code)
	}
	bad := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(bad, []byte("upstreams: [http://127.0.0.1:1]\nwebsocket:\n  max_connections: -1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"--config", bad, "--check"}); code != 2 {
		t.Fatalf("--check of an invalid file exited %d", code)
	}
}
