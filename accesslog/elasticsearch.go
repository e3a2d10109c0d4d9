package accesslog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// The sink talks to Elasticsearch through esapi (typed requests) over
// elastictransport (connection pool, retries) and batches documents itself
// (bulk.go). The root elasticsearch package and esutil are avoided on
// purpose: they pull in the typed API, ~850 packages that triple a cold
// build of icon-edge for three endpoints.

const (
	defaultIndex       = "icon-edge-access-%{+yyyy.MM.dd}"
	defaultQueueSize   = 10000
	defaultFlushEvery  = time.Second
	defaultFlushBytes  = 1 << 20
	defaultMaxRetries  = 5
	defaultTimeout     = 30 * time.Second
	defaultRetention   = 30
	maxBackoff         = 10 * time.Second
	templateRetryFirst = 500 * time.Millisecond
)

// doc is one encoded document waiting in a batch or for a retry.
type doc struct {
	buf     []byte
	index   string
	attempt int
}

var docPool = sync.Pool{New: func() any { return new(doc) }}

func releaseDoc(d *doc) {
	if cap(d.buf) > 4*maxFieldLen*8 {
		return // keep the pool from pinning outsized buffers
	}
	d.buf = d.buf[:0]
	d.attempt = 0
	docPool.Put(d)
}

type esSink struct {
	cfg   ElasticsearchConfig
	q     chan record
	enc   *encoder
	namer *indexNamer
	tp    *elastictransport.Client
	es    esapi.Transport // tp behind the product check
	m     *metrics
	log   *slog.Logger

	abortCtx context.Context
	abortFn  context.CancelFunc

	// The batch being filled, owned by the run goroutine.
	batch      []*doc
	batchBytes int
	body       []byte // reused bulk body

	// Documents Elasticsearch answered 429 for wait in retryQ (after a
	// backoff timer) to be added again; pending counts those scheduled but
	// not yet taken back, so shutdown knows what it still owes.
	retryQ  chan *doc
	pending atomic.Int64
	closing atomic.Bool // final flush done: no new retries
}

func newESSink(cfg ElasticsearchConfig, enc *encoder, m *metrics, log *slog.Logger) (*esSink, error) {
	if cfg.Index == "" {
		cfg.Index = defaultIndex
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = defaultQueueSize
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = defaultFlushEvery
	}
	if cfg.FlushBytes <= 0 {
		cfg.FlushBytes = defaultFlushBytes
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = defaultMaxRetries
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.RetentionDays <= 0 {
		cfg.RetentionDays = defaultRetention
	}
	namer, err := newIndexNamer(cfg.Index)
	if err != nil {
		return nil, err
	}
	urls, err := parseAddresses(cfg.Addresses)
	if err != nil {
		return nil, err
	}
	var caCert []byte
	if cfg.CACertFile != "" {
		if caCert, err = os.ReadFile(cfg.CACertFile); err != nil {
			return nil, fmt.Errorf("accesslog: ca_cert_file: %w", err)
		}
	}
	tp, err := elastictransport.New(elastictransport.Config{
		UserAgent: "icon-edge",
		URLs:      urls,
		Username:  cfg.Username,
		Password:  cfg.Password,
		APIKey:    cfg.APIKey,
		Transport: newHTTPTransport(cfg.Timeout, caCert),
		// Whole bulk requests are retried on these and on connection errors.
		// A 500 on _bulk means the request as a whole was not applied;
		// access logs prefer a rare duplicate to a gap.
		RetryOnStatus: []int{http.StatusTooManyRequests, 500, 502, 503, 504},
		MaxRetries:    cfg.MaxRetries,
		RetryBackoff:  backoff,
	})
	if err != nil {
		return nil, fmt.Errorf("accesslog: elasticsearch transport: %w", err)
	}
	s := &esSink{
		cfg: cfg, q: make(chan record, cfg.QueueSize), enc: enc, namer: namer,
		tp: tp, es: &productCheck{tp: tp}, m: m, log: log.With("sink", "elasticsearch"),
		retryQ: make(chan *doc, min(cfg.QueueSize, 4096)),
	}
	s.abortCtx, s.abortFn = context.WithCancel(context.Background())
	return s, nil
}

// parseAddresses turns the configured addresses into URLs, as the official
// client does (trailing slashes dropped), but refuses what it would only
// fail on at the first request.
func parseAddresses(addrs []string) ([]*url.URL, error) {
	urls := make([]*url.URL, 0, len(addrs))
	for _, a := range addrs {
		u, err := url.Parse(strings.TrimRight(a, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("accesslog: elasticsearch address %q: want http(s)://host:port", a)
		}
		urls = append(urls, u)
	}
	return urls, nil
}

// errUnknownProduct is the official client's answer to a server that does not
// say it is Elasticsearch (a proxy's error page, another product).
var errUnknownProduct = errors.New("the server is not Elasticsearch (no X-Elastic-Product header)")

// productCheck does what the root client does on its first successful
// answer: make sure the server is Elasticsearch before trusting a 2xx.
type productCheck struct {
	tp *elastictransport.Client
	ok atomic.Bool
}

func (p *productCheck) Perform(req *http.Request) (*http.Response, error) {
	res, err := p.tp.Perform(req)
	if err != nil || p.ok.Load() || res.StatusCode < 200 || res.StatusCode > 299 {
		return res, err
	}
	if res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		res.Body.Close()
		return nil, errUnknownProduct
	}
	p.ok.Store(true)
	return res, nil
}

func newHTTPTransport(timeout time.Duration, caCert []byte) *http.Transport {
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	if len(caCert) > 0 {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caCert)
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return t
}

// backoff is exponential with full jitter: 100ms, 200ms, ... capped at 10s.
func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt-1, 10)
	d = min(d, maxBackoff)
	return d/2 + rand.N(d/2+1)
}

func (s *esSink) queue() chan record { return s.q }
func (s *esSink) abort()             { s.abortFn() }

func (s *esSink) release() {
	s.abortFn()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.tp.Close(ctx)
}

// installTemplateRetrying installs the ILM policy and index template before
// any document is sent, so the first index of the day gets the mapping. It
// retries with backoff until it succeeds or the logger is aborted.
func (s *esSink) installTemplateRetrying() {
	wait := templateRetryFirst
	for {
		err := s.installTemplate(s.abortCtx)
		if err == nil {
			s.log.Info("index template installed", "index", s.cfg.Index)
			return
		}
		if s.abortCtx.Err() != nil {
			return
		}
		s.log.Warn("installing index template failed; retrying", "err", err, "in", wait)
		select {
		case <-time.After(wait):
		case <-s.abortCtx.Done():
			return
		}
		wait = min(2*wait, maxBackoff)
	}
}

func (s *esSink) installTemplate(ctx context.Context) error {
	name := templateName(s.namer)
	policy, template := templateBodies(s.namer, name, s.cfg.RetentionDays)
	res, err := esapi.ILMPutLifecycleRequest{Policy: name, Body: strings.NewReader(policy)}.Do(ctx, s.es)
	if err != nil {
		return fmt.Errorf("ILM policy: %w", err)
	}
	res.Body.Close()
	if res.IsError() {
		return fmt.Errorf("ILM policy: %s", res.Status())
	}
	res, err = esapi.IndicesPutIndexTemplateRequest{Name: name, Body: strings.NewReader(template)}.Do(ctx, s.es)
	if err != nil {
		return fmt.Errorf("index template: %w", err)
	}
	res.Body.Close()
	if res.IsError() {
		return fmt.Errorf("index template: %s", res.Status())
	}
	return nil
}
