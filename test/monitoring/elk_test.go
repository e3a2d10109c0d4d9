package monitoring

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/icon-edge/icon-edge/accesslog"
	"gopkg.in/yaml.v3"
)

// mappedFields is the set of fields the edge's index template maps: every
// field an ELK asset uses must be one of them.
func mappedFields(t *testing.T) (pattern string, fields map[string]bool) {
	t.Helper()
	_, _, tmpl, err := accesslog.IndexTemplate("", 0)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		IndexPatterns []string `json:"index_patterns"`
		Template      struct {
			Mappings struct {
				Properties map[string]any `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal([]byte(tmpl), &v); err != nil {
		t.Fatal(err)
	}
	fields = map[string]bool{}
	for f := range v.Template.Mappings.Properties {
		fields[f] = true
	}
	return v.IndexPatterns[0], fields
}

func TestElastalertRules(t *testing.T) {
	pattern, fields := mappedFields(t)
	files := glob(t, filepath.Join(monitoringDir(t), "elk", "elastalert", "rules", "*.yaml"))
	types := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r map[string]any
		if err := yaml.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, k := range []string{"name", "type", "index", "filter", "alert", "timeframe", "timestamp_field"} {
			if r[k] == nil {
				t.Errorf("%s: missing %s", f, k)
			}
		}
		types[r["type"].(string)] = true
		if r["index"] != pattern {
			t.Errorf("%s: index %v, want the access log pattern %s", f, r["index"], pattern)
		}
		if strings.Contains(string(b), "hooks.slack.com") {
			t.Errorf("%s: secret in rule file", f)
		}
		// Field names: query_key, top_count_keys, alert args, range/term
		// filter fields and field:value pairs in query strings.
		var used []string
		if s, ok := r["query_key"].(string); ok {
			used = append(used, s)
		}
		for _, k := range []string{"top_count_keys", "alert_text_args", "alert_subject_args"} {
			if l, ok := r[k].([]any); ok {
				for _, x := range l {
					if s := x.(string); s != "spike_count" && s != "num_hits" && s != "num_matches" {
						used = append(used, s)
					}
				}
			}
		}
		fb, _ := json.Marshal(r["filter"])
		var filter []map[string]map[string]any
		json.Unmarshal(fb, &filter)
		for _, clause := range filter {
			for kind, body := range clause {
				switch kind {
				case "range", "term", "terms":
					for field := range body {
						used = append(used, field)
					}
				case "query":
					qs, _ := body["query_string"].(map[string]any)
					q, _ := qs["query"].(string)
					for _, m := range regexp.MustCompile(`([a-z_@]+):`).FindAllStringSubmatch(q, -1) {
						used = append(used, m[1])
					}
				}
			}
		}
		if len(used) < 2 {
			t.Errorf("%s: found only fields %v", f, used)
		}
		for _, u := range used {
			if !fields[u] {
				t.Errorf("%s: field %q is not in the access log mapping", f, u)
			}
		}
	}
	if !types["spike"] || !types["frequency"] {
		t.Errorf("want a spike rule (errors by method) and a frequency rule (5xx bursts), have %v", types)
	}
}

func TestKibanaSavedObjects(t *testing.T) {
	pattern, fields := mappedFields(t)
	checkKibanaObjects(t, filepath.Join(monitoringDir(t), "elk", "kibana", "icon-edge-access.ndjson"), pattern, fields)
}

func checkKibanaObjects(t *testing.T, path, pattern string, fields map[string]bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type object struct {
		Type       string         `json:"type"`
		ID         string         `json:"id"`
		Attributes map[string]any `json:"attributes"`
		References []struct {
			Name, Type, ID string
		} `json:"references"`
	}
	var objs []object
	have := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var o object
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("line %d: %v", len(objs)+1, err)
		}
		if o.Type == "" || o.ID == "" || o.Attributes["title"] == nil {
			t.Errorf("object %d lacks type, id or title", len(objs)+1)
		}
		key := o.Type + "/" + o.ID
		if have[key] {
			t.Errorf("duplicate %s", key)
		}
		have[key] = true
		objs = append(objs, o)
	}
	counts := map[string]int{}
	for _, o := range objs {
		counts[o.Type]++
		for _, r := range o.References {
			if !have[r.Type+"/"+r.ID] {
				t.Errorf("%s/%s references missing %s/%s", o.Type, o.ID, r.Type, r.ID)
			}
		}
		switch o.Type {
		case "index-pattern":
			if o.Attributes["title"] != pattern || o.Attributes["timeFieldName"] != "@timestamp" {
				t.Errorf("index pattern %v", o.Attributes)
			}
		case "visualization":
			var vs struct {
				Aggs []struct {
					Params map[string]any `json:"params"`
				} `json:"aggs"`
			}
			if err := json.Unmarshal([]byte(o.Attributes["visState"].(string)), &vs); err != nil {
				t.Errorf("%s: visState: %v", o.ID, err)
			}
			for _, a := range vs.Aggs {
				if fld, ok := a.Params["field"].(string); ok && !fields[fld] {
					t.Errorf("%s: aggregates unmapped field %q", o.ID, fld)
				}
			}
		case "search":
			for _, c := range o.Attributes["columns"].([]any) {
				if !fields[c.(string)] {
					t.Errorf("%s: column %q is not mapped", o.ID, c)
				}
			}
		case "dashboard":
			var panels []map[string]any
			if err := json.Unmarshal([]byte(o.Attributes["panelsJSON"].(string)), &panels); err != nil || len(panels) != len(o.References) {
				t.Errorf("dashboard panels %d vs references %d (%v)", len(panels), len(o.References), err)
			}
		}
		if meta, ok := o.Attributes["kibanaSavedObjectMeta"].(map[string]any); ok {
			var ss map[string]any
			if err := json.Unmarshal([]byte(meta["searchSourceJSON"].(string)), &ss); err != nil {
				t.Errorf("%s: searchSourceJSON: %v", o.ID, err)
			}
		}
	}
	if counts["index-pattern"] != 1 || counts["visualization"] < 2 || counts["dashboard"] != 1 || counts["search"] < 1 {
		t.Errorf("object counts %v", counts)
	}
}
