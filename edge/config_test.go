package edge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The configuration reference in README.md must load and validate as shown.
func TestREADMEConfigExampleLoads(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	i := strings.Index(text, "## Configuration")
	j := strings.Index(text[i:], "```yaml\n")
	k := strings.Index(text[i+j+8:], "```")
	if i < 0 || j < 0 || k < 0 {
		t.Fatal("no yaml block under ## Configuration in README.md")
	}
	path := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(path, []byte(text[i+j+8:i+j+8+k]), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	if err := LoadFile(path, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Health.ProbeInterval != 500*time.Millisecond || len(cfg.Upstreams) != 2 || cfg.RateLimit == nil {
		t.Fatalf("README example read wrong: %+v", cfg)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ yaml, field string }{
		{"listen: nope\nupstreams: [http://127.0.0.1:1]\n", "listen"},
		{"upstreams: [http://127.0.0.1:1]\nhealth:\n  probe_interval: -1s\n", "health.probe_interval"},
		{"upstreams: [ftp://x:1]\n", "upstreams[0]"},
		{"upstreams: []\n", "upstreams"},
		{"upstreams: [http://127.0.0.1:1]\nlimits:\n  max_retries: 9\n", "limits.max_retries"},
		{"upstreams: [http://127.0.0.1:1]\ncapture:\n  sample_rate: 2\n", "capture.sample_rate"},
		{"upstreams: [http://127.0.0.1:1]\nhelth: {}\n", "helth"},
		{"upstreams: [http://127.0.0.1:1]\nhealth:\n  probe_interval: soon\n", "soon"},
	} {
		path := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(path, []byte(c.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := Defaults()
		err := LoadFile(path, &cfg)
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%q: error %v does not name %q", c.yaml, err, c.field)
		}
	}
}

func TestEnvOverridesSecrets(t *testing.T) {
	cfg := Defaults()
	env := map[string]string{"ICON_EDGE_UPSTREAMS": "http://a:1, http://b:2", "ICON_EDGE_ES_PASSWORD": "s3cret"}
	ApplyEnv(&cfg, func(k string) string { return env[k] })
	if len(cfg.Upstreams) != 2 || cfg.Upstreams[1] != "http://b:2" || cfg.AccessLog.Elasticsearch.Password != "s3cret" {
		t.Fatalf("env not applied: %v %q", cfg.Upstreams, cfg.AccessLog.Elasticsearch.Password)
	}
}

func TestReloadNamesSettingsThatNeedARestart(t *testing.T) {
	a := Defaults()
	b := a
	b.Upstreams = []string{"http://x:1"}
	if got := restartOnly(a, b); len(got) != 0 {
		t.Fatalf("an upstream change needs no restart, got %v", got)
	}
	b.DebugAPI = true
	b.Limits.MaxBatch = 5
	got := restartOnly(a, b)
	if strings.Join(got, ",") != "debug_api,limits" {
		t.Fatalf("restartOnly = %v, want [debug_api limits]", got)
	}
}
