package accesslog

import (
	"crypto/x509"
	"errors"
	"net/url"
	"os"

	"github.com/icon-edge/icon-edge/internal/confkey"
)

// DefaultConfig is the access log's configuration when nothing is set: no
// sink, full client addresses, and the Elasticsearch settings a cluster gets
// once addresses are given.
func DefaultConfig() Config {
	return Config{FileQueueSize: defaultQueueSize, ClientIP: ClientIPFull,
		Elasticsearch: ElasticsearchConfig{Addresses: []string{}, Index: defaultIndex, RetentionDays: defaultRetention,
			FlushInterval: defaultFlushEvery, FlushBytes: defaultFlushBytes, QueueSize: defaultQueueSize,
			MaxRetries: defaultMaxRetries, Timeout: defaultTimeout}}
}

// Validate checks the configuration as written (no defaults filled in) and
// reports every problem, each naming its key within the `access_log:`
// section (file, elasticsearch.addresses[1]). The file must be writable now,
// and the CA bundle readable: a start or reload refuses them rather than
// failing on the first document. Credentials never appear in a message.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, confkey.New(key, format, args...)) }
	switch c.ClientIP {
	case ClientIPFull, ClientIPTruncate, ClientIPNone:
	case ClientIPHash:
		if c.HashSalt == "" {
			bad("hash_salt", "is required with client_ip: hash (set ICON_EDGE_ACCESSLOG_HASH_SALT), so addresses cannot be recovered by hashing every IPv4 address")
		}
	default:
		bad("client_ip", "must be full, truncate, hash or none, got %q", c.ClientIP)
	}
	if c.File != "" && c.File != "-" {
		if err := confkey.WritableFile("file", c.File); err != nil {
			errs = append(errs, err)
		}
	}
	if c.FileQueueSize < 1 {
		bad("file_queue_size", "must be >= 1, got %d", c.FileQueueSize)
	}
	errs = append(errs, confkey.In("elasticsearch", c.Elasticsearch.validate()))
	return errors.Join(errs...)
}

func (c *ElasticsearchConfig) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, confkey.New(key, format, args...)) }
	for i, a := range c.Addresses {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(confkey.Index("addresses", i), "must be a URL like https://es.internal:9200, got %q", redact(a, u))
		}
	}
	if _, err := newIndexNamer(c.Index); err != nil {
		bad("index", "must be an index name with one date pattern like icon-edge-access-%%{+yyyy.MM.dd}, or a data stream name, got %q", c.Index)
	}
	if c.CACertFile != "" {
		pem, err := os.ReadFile(c.CACertFile)
		switch {
		case err != nil:
			bad("ca_cert_file", "cannot be read: %v", err)
		case !x509.NewCertPool().AppendCertsFromPEM(pem):
			bad("ca_cert_file", "%q holds no PEM certificate", c.CACertFile)
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"retention_days", c.RetentionDays}, {"flush_bytes", c.FlushBytes}, {"queue_size", c.QueueSize}, {"max_retries", c.MaxRetries}} {
		if n.v < 1 {
			bad(n.key, "must be >= 1, got %d", n.v)
		}
	}
	if c.FlushInterval <= 0 {
		bad("flush_interval", "must be a positive duration like 1s, got %v", c.FlushInterval)
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be a positive duration like 30s, got %v", c.Timeout)
	}
	return errors.Join(errs...)
}

// redact hides a password written into an address.
func redact(raw string, u *url.URL) string {
	if u != nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}
