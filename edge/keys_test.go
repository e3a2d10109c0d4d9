package edge

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/icon-edge/icon-edge/internal/confkey"
	"github.com/icon-edge/icon-edge/ratelimit"
)

// nest writes value at a dotted key as block YAML: nest("a.b", "1") is
// "a:\n  b: 1\n".
func nest(key, value string) string {
	parts := strings.Split(key, ".")
	var b strings.Builder
	for i, p := range parts {
		b.WriteString(strings.Repeat("  ", i) + p + ":")
		if i == len(parts)-1 {
			b.WriteString(" " + value)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// A valid tier with one field replaced, for the ratelimit.tiers.* keys.
func tier(field, value string) string {
	t := map[string]string{"requests_per_second": "1", "burst": "1", "write_requests_per_second": "1", "write_burst": "1"}
	t[field] = value
	var kv []string
	for _, k := range []string{"requests_per_second", "burst", "write_requests_per_second", "write_burst", "unlimited", "allowed_methods"} {
		if v, ok := t[k]; ok {
			kv = append(kv, k+": "+v)
		}
	}
	return "ratelimit:\n  tiers:\n    gold: {" + strings.Join(kv, ", ") + "}\n"
}

// redisWith is a valid redis section with one field set.
func redisWith(field, value string) string {
	return "redis:\n  url: redis://127.0.0.1:6379/0\n  " + field + ": " + value + "\n"
}

// cf is a valid cloudflare section with one field replaced: a top key
// (hostname), monitor.X or pools.X (in the first pool).
func cf(field, value string) string {
	top := map[string]string{"account_id": "0000000000000000000000000000acc1", "zone_id": "00000000000000000000000000000201",
		"hostname": "rpc.example.org", "fallback": "eu"}
	mon := map[string]string{"path": "/readyz", "interval": "60", "timeout": "5", "retries": "1", "consecutive_up": "3", "consecutive_down": "2"}
	pool := map[string]string{"region": "eu", "origin": "eu.rpc.example.org", "latitude": "50.1", "longitude": "8.7", "steer": "[WEU]"}
	switch {
	case strings.HasPrefix(field, "monitor."):
		mon[strings.TrimPrefix(field, "monitor.")] = value
	case strings.HasPrefix(field, "pools."):
		pool[strings.TrimPrefix(field, "pools.")] = value
	default:
		top[field] = value
	}
	flow := func(m map[string]string, order ...string) string {
		var kv []string
		for _, k := range order {
			kv = append(kv, k+": "+m[k])
		}
		return "{" + strings.Join(kv, ", ") + "}"
	}
	return "region: eu\ncloudflare:\n" +
		"  account_id: " + top["account_id"] + "\n  zone_id: " + top["zone_id"] + "\n  hostname: " + top["hostname"] +
		"\n  fallback: " + top["fallback"] +
		"\n  monitor: " + flow(mon, "path", "interval", "timeout", "retries", "consecutive_up", "consecutive_down") +
		"\n  pools: [" + flow(pool, "region", "origin", "latitude", "longitude", "steer") + "]\n"
}

// Every key of the file, found by reflecting over the yaml tags, has a case
// here: a value it must refuse, and the one message that names the key as the
// operator wrote it (never a Go field, never a doubled prefix). A key added
// without a case fails this test.
func TestEveryKeyRefusesABadValueByName(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("no certificate here"), 0o600); err != nil {
		t.Fatal(err)
	}
	missingDir := filepath.Join(dir, "missing", "f")
	type bad struct {
		yaml string // the setting, added to a valid configuration
		key  string // the key the message must start with (default: the case's key)
		want string // a fragment of the message
	}
	cases := map[string]bad{
		"listen":           {nest("listen", "nope"), "", `must be host:port like 127.0.0.1:9080 (no port), got "nope"`},
		"admin_listen":     {nest("admin_listen", "127.0.0.1:99999"), "", "the port is not a number from 0 to 65535"},
		"region":           {nest("region", "{a: 1}"), "", "must be a single value, got a mapping"},
		"log_format":       {nest("log_format", "xml"), "", `must be auto, json or text, got "xml"`},
		"log_level":        {nest("log_level", "loud"), "", `must be debug, info, warn or error, got "loud"`},
		"procs":            {nest("procs", "0"), "", `must be adaptive, all or a number of processors from 1 to 4096, got "0"`},
		"upstreams":        {nest("upstreams", "[ftp://x:1]"), "upstreams[0]", `must be http(s)://host:port or dns+http(s)://name:port, got "ftp://x:1"`},
		"channel":          {nest("channel", "a/b"), "", `must be a channel name without slashes or spaces, got "a/b"`},
		"debug_api":        {nest("debug_api", "maybe"), "", `must be true or false, got "maybe"`},
		"disabled_methods": {nest("disabled_methods", "[icx_sendTransactionAndWiat]"), "disabled_methods[0]", `names no method the edge serves, got "icx_sendTransactionAndWiat"`},

		"health.probe_interval":       {nest("health.probe_interval", "soon"), "", `must be a duration like 500ms or 10s, got "soon"`},
		"health.probe_timeout":        {nest("health.probe_timeout", "0s"), "", "must be a positive duration like 500ms or 10s, got 0s"},
		"health.max_lag":              {nest("health.max_lag", "0"), "", "must be >= 1, got 0"},
		"health.eject_after":          {nest("health.eject_after", "0"), "", "must be >= 1, got 0"},
		"health.outlier_window":       {nest("health.outlier_window", "-1s"), "", "must be a positive duration"},
		"health.outlier_failure_rate": {nest("health.outlier_failure_rate", "1.5"), "", "must be more than 0 and at most 1, got 1.5"},
		"health.outlier_min_requests": {nest("health.outlier_min_requests", "0"), "", "must be >= 1, got 0"},
		"health.max_ejected_percent":  {nest("health.max_ejected_percent", "101"), "", "must be between 1 and 100, got 101"},
		"health.recover_after":        {nest("health.recover_after", "-1"), "", "must be >= 1, got -1"},
		"health.backoff_min":          {nest("health.backoff_min", "0s"), "", "must be a positive duration"},
		"health.backoff_max":          {nest("health.backoff_max", "500ms"), "", "must be at least health.backoff_min (1s), got 500ms"},
		"health.resolve_interval":     {nest("health.resolve_interval", "10"), "", `must be a duration like 500ms or 10s, got "10"`},

		"limits.max_body_bytes":       {nest("limits.max_body_bytes", "0"), "", "must be >= 1, got 0"},
		"limits.max_batch":            {nest("limits.max_batch", "-3"), "", "must be >= 1, got -3"},
		"limits.node_batch_limit":     {nest("limits.node_batch_limit", "ten"), "", `must be a whole number, got "ten"`},
		"limits.request_timeout":      {nest("limits.request_timeout", "0s"), "", "must be a positive duration"},
		"limits.attempt_timeout":      {nest("limits.attempt_timeout", "0s"), "", "must be a positive duration"},
		"limits.max_retries":          {nest("limits.max_retries", "9"), "", "must be between 0 and 3, got 9"},
		"limits.default_wait_timeout": {nest("limits.default_wait_timeout", "-1s"), "", "must be a positive duration"},
		"limits.max_wait_timeout":     {nest("limits.max_wait_timeout", "0s"), "", "must be a positive duration"},
		"limits.max_conns_per_node":   {nest("limits.max_conns_per_node", "0"), "", "must be >= 1, got 0"},
		"limits.max_waits_per_node":   {nest("limits.max_waits_per_node", "512"), "", "must be below limits.max_conns_per_node (512)"},
		"limits.max_waits_per_client": {nest("limits.max_waits_per_client", "0"), "", "must be >= 1, got 0"},
		"limits.idle_timeout":         {nest("limits.idle_timeout", "0s"), "", "must be a positive duration"},
		"limits.read_timeout":         {nest("limits.read_timeout", "0s"), "", "must be a positive duration"},
		"limits.write_timeout":        {nest("limits.write_timeout", "-5s"), "", "must be a positive duration"},
		"limits.max_conns_per_ip":     {nest("limits.max_conns_per_ip", "-1"), "", "must be >= 0 (0 = unlimited), got -1"},
		"limits.node_max_rps":         {nest("limits.node_max_rps", "-1"), "", "must be >= 0 (0 = no cap), got -1"},
		"limits.node_max_wait":        {nest("limits.node_max_wait", "-1ms"), "", "must not be negative, got -1ms"},

		"shutdown.drain_delay": {nest("shutdown.drain_delay", "-1s"), "", "must not be negative, got -1s"},
		"shutdown.timeout":     {nest("shutdown.timeout", "0s"), "", "must be a positive duration"},

		"cache.enabled":        {nest("cache.enabled", "yes please"), "", `must be true or false, got "yes please"`},
		"cache.max_bytes":      {nest("cache.max_bytes", "1024"), "", "must be at least 1 MiB (1048576), got 1024"},
		"cache.finality_depth": {nest("cache.finality_depth", "-1"), "", "must be >= 0 (0: the tip is final), got -1"},

		"ratelimit.enabled":                           {nest("ratelimit.enabled", "on please"), "", `must be true or false, got "on please"`},
		"ratelimit.requests_per_second":               {nest("ratelimit.requests_per_second", "-3"), "", "must be > 0, got -3"},
		"ratelimit.burst":                             {nest("ratelimit.burst", "-5"), "", "must be >= 1, got -5"},
		"ratelimit.write_requests_per_second":         {nest("ratelimit.write_requests_per_second", "0"), "", "must be > 0, got 0"},
		"ratelimit.write_burst":                       {nest("ratelimit.write_burst", "0"), "", "must be >= 1, got 0"},
		"ratelimit.allowed_methods":                   {nest("ratelimit.allowed_methods", "['icx_*_x']"), "ratelimit.allowed_methods[0]", `must be a method name, optionally ending in '*', got "icx_*_x"`},
		"ratelimit.method_cost":                       {nest("ratelimit.method_cost", "{icx_call: 0}"), "ratelimit.method_cost.icx_call", "must be >= 1, got 0"},
		"ratelimit.trusted_proxies":                   {nest("ratelimit.trusted_proxies", "[10.0.0.0/8, 173.245.48.0/33]"), "ratelimit.trusted_proxies[1]", `must be a CIDR like 10.0.0.0/8 or an IP, got "173.245.48.0/33"`},
		"ratelimit.proxy_headers":                     {nest("ratelimit.proxy_headers", `[""]`), "ratelimit.proxy_headers[0]", "is empty"},
		"ratelimit.allow":                             {nest("ratelimit.allow", "[nope]"), "ratelimit.allow[0]", "must be a CIDR"},
		"ratelimit.deny":                              {nest("ratelimit.deny", "[10.0.0.1/40]"), "ratelimit.deny[0]", "must be a CIDR"},
		"ratelimit.max_clients":                       {nest("ratelimit.max_clients", "3"), "", "must be >= 16, got 3"},
		"ratelimit.ipv6_prefix_len":                   {nest("ratelimit.ipv6_prefix_len", "129"), "", "must be between 1 and 128, got 129"},
		"ratelimit.api_key_header":                    {nest("ratelimit.api_key_header", `""`), "", "must name a header"},
		"ratelimit.keys[*].id":                        {"ratelimit:\n  tiers: {gold: {unlimited: true}}\n  keys: [{key: s3cret, tier: gold}]\n", "ratelimit.keys[0].id", "is required"},
		"ratelimit.keys[*].key":                       {"ratelimit:\n  tiers: {gold: {unlimited: true}}\n  keys: [{id: a, tier: gold}]\n", "ratelimit.keys[0].key", "is empty"},
		"ratelimit.keys[*].tier":                      {"ratelimit:\n  keys: [{id: a, key: s3cret, tier: silver}]\n", "ratelimit.keys[0].tier", `"silver" is not in tiers`},
		"ratelimit.tiers.*.requests_per_second":       {tier("requests_per_second", "0"), "ratelimit.tiers.gold.requests_per_second", "must be > 0, got 0"},
		"ratelimit.tiers.*.burst":                     {tier("burst", "0"), "ratelimit.tiers.gold.burst", "must be >= 1, got 0"},
		"ratelimit.tiers.*.write_requests_per_second": {tier("write_requests_per_second", "-1"), "ratelimit.tiers.gold.write_requests_per_second", "must be > 0, got -1"},
		"ratelimit.tiers.*.write_burst":               {tier("write_burst", "0"), "ratelimit.tiers.gold.write_burst", "must be >= 1, got 0"},
		"ratelimit.tiers.*.unlimited":                 {tier("unlimited", "sometimes"), "ratelimit.tiers.gold.unlimited", `must be true or false, got "sometimes"`},
		"ratelimit.tiers.*.allowed_methods":           {tier("allowed_methods", `["*x*"]`), "ratelimit.tiers.gold.allowed_methods[0]", "must be a method name"},

		"access_log.elasticsearch.addresses":        {nest("access_log.elasticsearch.addresses", "[es:9200]"), "access_log.elasticsearch.addresses[0]", `must be a URL like https://es.internal:9200, got "es:9200"`},
		"access_log.elasticsearch.username":         {nest("access_log.elasticsearch.username", "[a]"), "", "must be a single value, got a list"},
		"access_log.elasticsearch.password":         {nest("access_log.elasticsearch.password", "{a: b}"), "", "must be a single value, got a mapping"},
		"access_log.elasticsearch.api_key":          {nest("access_log.elasticsearch.api_key", "[k]"), "", "must be a single value, got a list"},
		"access_log.elasticsearch.ca_cert_file":     {nest("access_log.elasticsearch.ca_cert_file", notPEM), "", "holds no PEM certificate"},
		"access_log.elasticsearch.index":            {nest("access_log.elasticsearch.index", "Access"), "", `got "Access"`},
		"access_log.elasticsearch.install_template": {nest("access_log.elasticsearch.install_template", "2"), "", `must be true or false, got "2"`},
		"access_log.elasticsearch.retention_days":   {nest("access_log.elasticsearch.retention_days", "0"), "", "must be >= 1, got 0"},
		"access_log.elasticsearch.flush_interval":   {nest("access_log.elasticsearch.flush_interval", "0s"), "", "must be a positive duration like 1s, got 0s"},
		"access_log.elasticsearch.flush_bytes":      {nest("access_log.elasticsearch.flush_bytes", "0"), "", "must be >= 1, got 0"},
		"access_log.elasticsearch.queue_size":       {nest("access_log.elasticsearch.queue_size", "-1"), "", "must be >= 1, got -1"},
		"access_log.elasticsearch.max_retries":      {nest("access_log.elasticsearch.max_retries", "0"), "", "must be >= 1, got 0"},
		"access_log.elasticsearch.timeout":          {nest("access_log.elasticsearch.timeout", "0s"), "", "must be a positive duration like 30s, got 0s"},
		"access_log.file":                           {nest("access_log.file", missingDir), "", `cannot be created: directory ` + filepath.Dir(missingDir) + ` does not exist`},
		"access_log.file_queue_size":                {nest("access_log.file_queue_size", "0"), "", "must be >= 1, got 0"},
		"access_log.client_ip":                      {nest("access_log.client_ip", "mask"), "", `must be full, truncate, hash or none, got "mask"`},
		"access_log.hash_salt":                      {"access_log:\n  client_ip: hash\n", "access_log.hash_salt", "is required with client_ip: hash"},

		"websocket.enabled":                    {nest("websocket.enabled", "nah"), "", `must be true or false, got "nah"`},
		"websocket.max_connections":            {nest("websocket.max_connections", "-1"), "", "must be >= 0 (0 = no total), got -1"},
		"websocket.max_conns_per_ip":           {nest("websocket.max_conns_per_ip", "0"), "", "must be >= 1, got 0"},
		"websocket.max_message_size":           {nest("websocket.max_message_size", "10"), "", "must be >= 256, got 10"},
		"websocket.max_subscriptions_per_conn": {nest("websocket.max_subscriptions_per_conn", "0"), "", "must be >= 1, got 0"},
		"websocket.send_queue":                 {nest("websocket.send_queue", "0"), "", "must be >= 1, got 0"},
		"websocket.ping_interval":              {nest("websocket.ping_interval", "0s"), "", "must be a positive duration"},
		"websocket.idle_timeout":               {nest("websocket.idle_timeout", "20s"), "", "must be longer than websocket.ping_interval (30s)"},

		"limits.body_timeout":             {nest("limits.body_timeout", "0s"), "", "must be a positive duration"},
		"limits.max_body_bytes_in_flight": {nest("limits.max_body_bytes_in_flight", "1000"), "", "must be at least limits.max_body_bytes (1048576), got 1000"},

		"websocket.max_sessions_per_node":  {nest("websocket.max_sessions_per_node", "1"), "", "must be >= 2, got 1"},
		"websocket.max_filter_sets_per_ip": {nest("websocket.max_filter_sets_per_ip", "0"), "", "must be >= 1, got 0"},
		"websocket.max_filter_sets":        {nest("websocket.max_filter_sets", "-1"), "", "must be >= 1, got -1"},

		"public_url":                          {nest("public_url", "eu.rpc.example.org"), "", `must be an http(s) URL like https://eu.rpc.example.org, got "eu.rpc.example.org"`},
		"peers[*].name":                       {"region: eu\npeers: [{name: us east, url: https://us.rpc.example.org}]\n", "peers[0].name", `"us east" may contain only letters, digits, - and _`},
		"peers[*].url":                        {"region: eu\npeers: [{name: us, url: us.rpc.example.org}]\n", "peers[0].url", `"us.rpc.example.org" must be an http(s) base URL`},
		"peer_poll_interval":                  {nest("peer_poll_interval", "0s"), "", "must be a positive duration"},
		"readiness.min_synced_nodes":          {nest("readiness.min_synced_nodes", "0"), "", "must be at least 1, got 0"},
		"readiness.flip_after":                {nest("readiness.flip_after", "101"), "", "must be between 1 and 100, got 101"},
		"cloudflare.account_id":               {cf("account_id", "acc1"), "", `must be the 32-hex-digit account id, got "acc1"`},
		"cloudflare.zone_id":                  {cf("zone_id", "zone"), "", `must be the 32-hex-digit zone id, got "zone"`},
		"cloudflare.hostname":                 {cf("hostname", "rpc"), "", `must be a DNS name like rpc.example.org, got "rpc"`},
		"cloudflare.monitor.path":             {cf("monitor.path", "readyz"), "", `must start with /, got "readyz"`},
		"cloudflare.monitor.interval":         {cf("monitor.interval", "5000"), "", "must be between 10 and 3600, got 5000"},
		"cloudflare.monitor.timeout":          {cf("monitor.timeout", "0"), "", "must be between 1 and 10, got 0"},
		"cloudflare.monitor.retries":          {cf("monitor.retries", "9"), "", "must be between 0 and 5, got 9"},
		"cloudflare.monitor.consecutive_up":   {cf("monitor.consecutive_up", "0"), "", "must be between 1 and 100, got 0"},
		"cloudflare.monitor.consecutive_down": {cf("monitor.consecutive_down", "101"), "", "must be between 1 and 100, got 101"},
		"cloudflare.fallback":                 {cf("fallback", "mars"), "", `"mars" is not a region in cloudflare.pools (eu)`},
		"cloudflare.pools[*].region":          {cf("pools.region", `"e u"`) + "", "cloudflare.pools[0].region", "may contain only letters, digits, - and _"},
		"cloudflare.pools[*].origin":          {cf("pools.origin", "eu"), "cloudflare.pools[0].origin", `must be the region's public hostname like eu.rpc.example.org, got "eu"`},
		"cloudflare.pools[*].latitude":        {cf("pools.latitude", "123"), "cloudflare.pools[0].latitude", "must be between -90 and 90, got 123"},
		"cloudflare.pools[*].longitude":       {cf("pools.longitude", "-181"), "cloudflare.pools[0].longitude", "must be between -180 and 180, got -181"},
		"cloudflare.pools[*].steer":           {cf("pools.steer", "[EU]"), "cloudflare.pools[0].steer[0]", "is not a Cloudflare region code (Europe is WEU and EEU)"},
		"cloudflare_pool_health":              {nest("cloudflare_pool_health", "true"), "", "needs a cloudflare: section"},

		"capture.path":        {nest("capture.path", dir), "", "is a directory"},
		"capture.gzip":        {nest("capture.gzip", "[true]"), "", "must be true or false, got a list"},
		"capture.sample_rate": {nest("capture.sample_rate", "0"), "", "must be more than 0 and at most 1 (1 = every request), got 0"},
		"capture.max_bytes":   {nest("capture.max_bytes", "100"), "", "must be >= 1024, got 100"},
		"capture.max_files":   {nest("capture.max_files", "0"), "", "must be >= 1, got 0"},
		"capture.buffer_size": {nest("capture.buffer_size", "-1"), "", "must be >= 1, got -1"},

		"redis.url":                   {nest("redis.url", "http://127.0.0.1:6379"), "", "must be a URL like redis://10.0.2.7:6379/0"},
		"redis.key_prefix":            {redisWith("key_prefix", `"icon edge:"`), "", `must be non-empty, without spaces or control characters, like "icon-edge:eu:", got "icon edge:"`},
		"redis.timeout":               {redisWith("timeout", "1m"), "", "must be a positive duration up to 5s, like 20ms"},
		"redis.on_error":              {redisWith("on_error", "open"), "", `must be local (fall back to this replica's state) or deny (refuse with 503), got "open"`},
		"redis.cache_ttl":             {redisWith("cache_ttl", "0s"), "", "must be a positive duration"},
		"redis.cache_max_entry_bytes": {redisWith("cache_max_entry_bytes", "0"), "", "must be >= 1, got 0"},
		"hedge.enabled":               {nest("hedge.enabled", "[true]"), "", "must be true or false, got a list"},
		"hedge.delay":                 {"hedge:\n  enabled: true\n  delay: -1ms\n", "", "must not be negative, got -1ms"},
		"hedge.quantile":              {"hedge:\n  enabled: true\n  quantile: 1.5\n", "", "must be in [0, 1), e.g. 0.95 (0: the fixed delay alone), got 1.5"},
		"hedge.max_share":             {"hedge:\n  enabled: true\n  max_share: 0\n", "", "must be in (0, 1], e.g. 0.05, got 0"},

		"upstream.pipeline_conns":        {nest("upstream.pipeline_conns", "65"), "", "must be between 0 (off) and 64, got 65"},
		"upstream.pipeline_depth":        {nest("upstream.pipeline_depth", "0"), "", "must be between 1 and 4096, got 0"},
		"upstream.micro_batch.enabled":   {nest("upstream.micro_batch.enabled", "[true]"), "", "must be true or false, got a list"},
		"upstream.micro_batch.max_wait":  {"upstream:\n  micro_batch:\n    enabled: true\n    max_wait: 1s\n", "", "must be a duration between 1us and 10ms, like 200us, got 1s"},
		"upstream.micro_batch.max_items": {"upstream:\n  micro_batch:\n    enabled: true\n    max_items: 11\n", "", "must be between 2 and limits.node_batch_limit (10), got 11"},
	}
	keys := Keys()
	for _, k := range keys {
		if _, ok := cases[k]; !ok {
			t.Errorf("key %s has no case: add the value it must refuse", k)
		}
	}
	for k := range cases {
		if !slices.Contains(keys, k) {
			t.Errorf("case %s names no key", k)
		}
	}
	for k, c := range cases {
		key := c.key
		if key == "" {
			key = k
		}
		path := filepath.Join(dir, "edge.yaml")
		base := "upstreams: [http://127.0.0.1:1]\n"
		if strings.HasPrefix(c.yaml, "upstreams:") {
			base = ""
		}
		if err := os.WriteFile(path, []byte(base+c.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := Defaults()
		err := LoadFile(path, &cfg)
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil {
			t.Errorf("%s: accepted\n%s", k, c.yaml)
			continue
		}
		msgs := confkey.List(err)
		if len(msgs) != 1 || !strings.HasPrefix(err.Error(), key+" ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %d message(s):\n%v\nwant one: %s ... %s", k, len(msgs), err, key, c.want)
		}
	}
}

func TestFileErrorsSayWhere(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ yaml, want string }{
		{"upstreams: [http://127.0.0.1:1]\nhelth: {}\n", "helth is not a known key; did you mean health? (edge.yaml:2)"},
		{"upstreams: [http://127.0.0.1:1]\nhealth:\n  probe_intervall: 1s\n", "health.probe_intervall is not a known key; did you mean health.probe_interval? (edge.yaml:3)"},
		{"upstreams: [http://127.0.0.1:1]\nhealth:\n  probe_interval: soon\n", `health.probe_interval must be a duration like 500ms or 10s, got "soon" (edge.yaml:3)`},
		{"region: eu\nregion: us\n", "region is set twice (edge.yaml:1 and 2)"},
		{"- listen\n", "the file must be a mapping of keys like listen: 127.0.0.1:9080, got a list"},
		{"ratelimit:\n  tiers:\n    gold: {burts: 5}\n", "ratelimit.tiers.gold.burts is not a known key; did you mean ratelimit.tiers.gold.burst? (edge.yaml:3)"},
	} {
		path := filepath.Join(dir, "edge.yaml")
		if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := Defaults()
		err := LoadFile(path, &cfg)
		if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), dir+"/", ""), c.want) || len(confkey.List(err)) != 1 {
			t.Errorf("%q: error %v, want one: %s", c.yaml, err, c.want)
		}
	}
}

// Every restart-only entry covers keys of the file, and Reload can keep it.
func TestRestartKeysAreKeys(t *testing.T) {
	keys := Keys()
	for _, k := range RestartKeys {
		if !slices.ContainsFunc(keys, func(key string) bool { return restartKey(key) == k }) {
			t.Errorf("RestartKeys names %s, which covers no key", k)
		}
		var c Config
		if _, ok := field(reflect.ValueOf(&c).Elem(), k); !ok {
			t.Errorf("RestartKeys names %s, which Reload cannot keep", k)
		}
	}
}

// changedKeys names single settings, and whole sections only when one side lacks them.
func TestChangedKeys(t *testing.T) {
	a := Defaults()
	b := a
	b.Limits.MaxBatch = 5
	b.Health.MaxLag = 9
	b.DisabledMethods = []string{"icx_call"}
	if got := changedKeys(a, b); !slices.Equal(got, []string{"disabled_methods", "health.max_lag", "limits.max_batch"}) {
		t.Fatalf("changedKeys = %v", got)
	}
	rl := ratelimit.DefaultConfig()
	b = a
	b.RateLimit = &rl
	if got := changedKeys(a, b); !slices.Equal(got, []string{"ratelimit"}) {
		t.Fatalf("section added: %v", got)
	}
	a.RateLimit = &ratelimit.Config{}
	*a.RateLimit = rl
	a.RateLimit.Burst = 7
	if got := changedKeys(a, b); !slices.Equal(got, []string{"ratelimit.burst"}) {
		t.Fatalf("inside a section: %v", got)
	}
}
