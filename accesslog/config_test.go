package accesslog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultConfigValidAndErrorsNameKeys(t *testing.T) {
	d := DefaultConfig()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pem := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(pem, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.ClientIP = "mask" }, `client_ip must be full, truncate, hash or none, got "mask"`},
		{func(c *Config) { c.ClientIP = ClientIPHash }, "hash_salt is required with client_ip: hash"},
		{func(c *Config) { c.File = dir }, "file " + `"` + dir + `" is a directory`},
		{func(c *Config) { c.File = filepath.Join(dir, "no", "x.log") }, "file " + `"` + filepath.Join(dir, "no", "x.log") + `" cannot be created`},
		{func(c *Config) { c.FileQueueSize = 0 }, "file_queue_size must be >= 1, got 0"},
		{func(c *Config) { c.Elasticsearch.Addresses = []string{"http://a:9200", "es:9200"} }, `elasticsearch.addresses[1] must be a URL like https://es.internal:9200, got "es:9200"`},
		{func(c *Config) { c.Elasticsearch.Addresses = []string{"ftp://u:secret@es:9200"} }, `elasticsearch.addresses[0] must be a URL like https://es.internal:9200, got "ftp://u:xxxxx@es:9200"`},
		{func(c *Config) { c.Elasticsearch.Index = "Upper" }, `elasticsearch.index must be an index name`},
		{func(c *Config) { c.Elasticsearch.CACertFile = pem }, "elasticsearch.ca_cert_file " + `"` + pem + `" holds no PEM certificate`},
		{func(c *Config) { c.Elasticsearch.CACertFile = filepath.Join(dir, "none.pem") }, "elasticsearch.ca_cert_file cannot be read"},
		{func(c *Config) { c.Elasticsearch.MaxRetries = 0 }, "elasticsearch.max_retries must be >= 1, got 0"},
		{func(c *Config) { c.Elasticsearch.FlushInterval = -1 }, "elasticsearch.flush_interval must be a positive duration"},
		{func(c *Config) { c.Elasticsearch.Timeout = 0 }, "elasticsearch.timeout must be a positive duration"},
	} {
		cfg := DefaultConfig()
		c.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "secret") {
			t.Errorf("error %v, want the one message %q", err, c.want)
		}
	}
}
