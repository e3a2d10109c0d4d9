package infratest

import (
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// `docker-compose config` (the real parser and merger; no engine needed)
// for the base stack and every combination of overrides, then the merged
// result checked for what each topology promises.
func TestComposeConfig(t *testing.T) {
	dc := needTool(t, "docker-compose", "apt-get install docker-compose")
	dir := infraDir(t, "compose")
	overrides := []string{"single", "multi", "monitoring", "logging"}
	for mask := 0; mask < 1<<len(overrides); mask++ {
		if mask&3 == 3 {
			continue // single and multi are alternatives
		}
		args := []string{"-f", "docker-compose.yml"}
		var names []string
		for i, o := range overrides {
			if mask&(1<<i) != 0 {
				args = append(args, "-f", "docker-compose."+o+".yml")
				names = append(names, o)
			}
		}
		t.Run("base+"+strings.Join(names, "+"), func(t *testing.T) {
			out := run(t, dir, []string{"ICON_SNAPSHOT_STORE=s3://bucket/mainnet"}, dc, append(args, "config")...)
			var merged struct {
				Services map[string]struct {
					Image   string   `yaml:"image"`
					Ports   []any    `yaml:"ports"`
					Volumes []any    `yaml:"volumes"`
					Command []string `yaml:"command"`
				} `yaml:"services"`
			}
			if err := yaml.Unmarshal([]byte(out), &merged); err != nil {
				t.Fatal(err)
			}
			want := []string{"node1", "restore1", "agent1", "edge"}
			if mask&2 != 0 {
				want = append(want, "node2", "node3", "agent2", "agent3")
			}
			if mask&4 != 0 {
				want = append(want, "prometheus", "alertmanager", "grafana")
			}
			if mask&8 != 0 {
				want = append(want, "elasticsearch", "kibana", "fluent-bit")
			}
			if len(merged.Services) != len(want) {
				t.Errorf("services %d, want %v", len(merged.Services), want)
			}
			for _, s := range want {
				svc, ok := merged.Services[s]
				if !ok {
					t.Errorf("service %s missing", s)
					continue
				}
				if svc.Image == "" || strings.HasSuffix(svc.Image, ":latest") || !strings.Contains(svc.Image, ":") {
					t.Errorf("service %s: image %q must be pinned", s, svc.Image)
				}
			}
			if mask&3 != 0 && len(merged.Services["edge"].Ports) == 0 {
				t.Error("the topology override does not publish the edge")
			}
			if mask&2 != 0 {
				vols := strings.Join(anyStrings(merged.Services["edge"].Volumes), " ")
				if !strings.Contains(vols, filepath.Join(dir, "config", "edge-multi.yaml")) {
					t.Errorf("multi: edge does not mount edge-multi.yaml: %s", vols)
				}
			}
		})
	}
}

func anyStrings(v []any) []string {
	var out []string
	for _, x := range v {
		switch x := x.(type) {
		case string:
			out = append(out, x)
		case map[string]any:
			if s, ok := x["source"].(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
