package edge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// edge.example.yaml is the README's configuration example, byte for byte,
// and it loads and validates as shown.
func TestExampleFileIsTheREADMEsAndLoads(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../edge.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	i := strings.Index(text, "## Configuration")
	j := strings.Index(text[i:], "```yaml\n")
	if i < 0 || j < 0 {
		t.Fatal("no yaml block under ## Configuration in README.md")
	}
	block := text[i+j+len("```yaml\n"):]
	k := strings.Index(block, "```")
	if k < 0 {
		t.Fatal("unterminated yaml block under ## Configuration in README.md")
	}
	if block[:k] != string(example) {
		t.Fatal("README.md's configuration example and edge.example.yaml differ: keep them one text (copy the file into the README)")
	}
	cfg := Defaults()
	if err := LoadFile("../edge.example.yaml", &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Health.ProbeInterval != 500*time.Millisecond || len(cfg.Upstreams) != 2 || cfg.RateLimit == nil ||
		cfg.RateLimit.RequestsPerSecond != 50 || cfg.Channel != "icon_dex" {
		t.Fatalf("example read wrong: %+v", cfg)
	}
}

// The defaults are a valid configuration once a node is named, and every
// default that a package owns is that package's.
func TestDefaultsAreValid(t *testing.T) {
	cfg := Defaults()
	cfg.Upstreams = []string{"http://127.0.0.1:1"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	none := Defaults()
	if err := none.Validate(); err == nil || err.Error() != "upstreams must list at least one node (--upstream http://host:port)" {
		t.Fatalf("no upstreams: %v", err)
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
