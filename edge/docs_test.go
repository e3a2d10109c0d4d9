package edge

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/routing/cloudflare"
	"gopkg.in/yaml.v3"
)

// docs/configuration.md lists every key once, with the edge's own default
// and the reload behaviour Reload implements: the reference cannot drift
// from the code.
func TestConfigurationReferenceMatchesTheCode(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ def, reload string }
	rows := map[string]row{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 6 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		key := strings.Trim(strings.TrimSpace(cells[1]), "`")
		if _, dup := rows[key]; dup {
			t.Errorf("%s is listed twice", key)
		}
		rows[key] = row{strings.TrimSpace(cells[2]), strings.TrimSpace(cells[3])}
	}
	defaults := Defaults()
	rl, cf := ratelimit.DefaultConfig(), cloudflare.Defaults()
	rd := RedisDefaults()
	defaults.RateLimit, defaults.Cloudflare, defaults.Redis = &rl, &cf, &rd
	for _, k := range Keys() {
		r, ok := rows[k]
		if !ok {
			t.Errorf("%s is not in docs/configuration.md", k)
			continue
		}
		want := "live"
		if needsRestart(k) {
			want = "restart"
		}
		if r.reload != want {
			t.Errorf("%s: the reference says %q, Reload does %q", k, r.reload, want)
		}
		// A default written as one `value` must be the edge's default.
		if strings.Count(r.def, "`") != 2 || !strings.HasPrefix(r.def, "`") || !strings.HasSuffix(r.def, "`") || strings.Contains(k, "*") {
			continue
		}
		v, ok := field(reflect.ValueOf(&defaults).Elem(), k)
		if !ok {
			t.Errorf("%s: no such field", k)
			continue
		}
		got := reflect.New(v.Type())
		if err := yaml.Unmarshal([]byte(strings.Trim(r.def, "`")), got.Interface()); err != nil {
			t.Errorf("%s: documented default %s does not read as a value: %v", k, r.def, err)
			continue
		}
		if !same(got.Elem(), v) {
			t.Errorf("%s: documented default %s, the edge's is %v", k, r.def, v.Interface())
		}
	}
	for k := range rows {
		if !slices.Contains(Keys(), k) && strings.Contains(k, ".") {
			t.Errorf("docs/configuration.md lists %s, which is not a key", k)
		}
	}
}

// same compares values, an empty list equal to no list.
func same(a, b reflect.Value) bool {
	if a.Kind() == reflect.Slice || a.Kind() == reflect.Map {
		if a.Len() == 0 && b.Len() == 0 {
			return true
		}
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}
