package accesslog

import (
	"encoding/json"
	"strconv"
	"strings"
)

// templateName names the ILM policy and index template after the index
// pattern's fixed part, so two edges shipping to different indices do not
// overwrite each other's template.
func templateName(n *indexNamer) string {
	name := strings.TrimRight(n.prefix, "-_.")
	if name == "" {
		name = "icon-edge-access"
	}
	return name
}

// docMapping is the explicit mapping of every field appendDoc writes; dynamic
// mapping is off so a stray field cannot turn into a mapping conflict.
var docMapping = map[string]any{
	"dynamic": false,
	"properties": map[string]any{
		"@timestamp":     map[string]any{"type": "date_nanos"},
		"region":         map[string]any{"type": "keyword"},
		"method":         map[string]any{"type": "keyword", "ignore_above": maxFieldLen},
		"http_status":    map[string]any{"type": "short"},
		"rpc_code":       map[string]any{"type": "integer"},
		"latency_ms":     map[string]any{"type": "double"},
		"upstream":       map[string]any{"type": "keyword"},
		"cache_hit":      map[string]any{"type": "boolean"},
		"retries":        map[string]any{"type": "short"},
		"bytes":          map[string]any{"type": "long"},
		"request_id":     map[string]any{"type": "keyword"},
		"api_key_id":     map[string]any{"type": "keyword"},
		"client_ip":      map[string]any{"type": "ip"},
		"client_ip_hash": map[string]any{"type": "keyword"},
	},
}

// templateBodies returns the ILM policy and the composable index template.
// Daily indices are simply deleted after retention; a data stream also rolls
// over daily (or at 50 GB per primary shard).
func templateBodies(n *indexNamer, name string, retentionDays int) (policy, template string) {
	hot := map[string]any{"min_age": "0ms", "actions": map[string]any{}}
	if !n.dated() {
		hot["actions"] = map[string]any{"rollover": map[string]any{
			"max_age": "1d", "max_primary_shard_size": "50gb",
		}}
	}
	p := map[string]any{"policy": map[string]any{
		"_meta": map[string]any{"managed_by": "icon-edge"},
		"phases": map[string]any{
			"hot": hot,
			"delete": map[string]any{
				"min_age": strconv.Itoa(retentionDays) + "d",
				"actions": map[string]any{"delete": map[string]any{}},
			},
		},
	}}
	t := map[string]any{
		"index_patterns": []string{n.templatePattern()},
		"priority":       200,
		"_meta":          map[string]any{"managed_by": "icon-edge"},
		"template": map[string]any{
			"settings": map[string]any{
				"index.lifecycle.name": name,
				"index.codec":          "best_compression",
			},
			"mappings": docMapping,
		},
	}
	if !n.dated() {
		t["data_stream"] = map[string]any{}
	}
	pb, _ := json.Marshal(p) // plain maps of strings and numbers cannot fail
	tb, _ := json.Marshal(t)
	return string(pb), string(tb)
}

// IndexTemplate returns the ILM policy and index template New installs for
// index (same syntax as ElasticsearchConfig.Index; empty for the default),
// under the name it uses for both. Operators who install templates
// themselves (InstallTemplate off) can take them from here.
func IndexTemplate(index string, retentionDays int) (name, policy, template string, err error) {
	if index == "" {
		index = defaultIndex
	}
	if retentionDays <= 0 {
		retentionDays = defaultRetention
	}
	n, err := newIndexNamer(index)
	if err != nil {
		return "", "", "", err
	}
	name = templateName(n)
	policy, template = templateBodies(n, name, retentionDays)
	return name, policy, template, nil
}
