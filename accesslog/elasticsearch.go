package accesslog

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
)

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

// doc is one encoded document. It is the bulk item's body, so the indexer's
// callbacks get it back to count, retry or recycle it.
type doc struct {
	bytes.Reader
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
	cfg    ElasticsearchConfig
	q      chan record
	enc    *encoder
	namer  *indexNamer
	client *elasticsearch.Client
	bi     esutil.BulkIndexer
	m      *metrics
	log    *slog.Logger

	abortCtx context.Context
	abortFn  context.CancelFunc

	// Documents Elasticsearch answered 429 for wait in retryQ (after a
	// backoff timer) to be added again; pending counts those scheduled but
	// not yet taken back, so shutdown knows what it still owes.
	retryQ  chan *doc
	pending atomic.Int64
	closing atomic.Bool // bulk indexer about to close: no new retries
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
	var caCert []byte
	if cfg.CACertFile != "" {
		if caCert, err = os.ReadFile(cfg.CACertFile); err != nil {
			return nil, fmt.Errorf("accesslog: ca_cert_file: %w", err)
		}
	}
	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: cfg.Addresses,
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
		return nil, fmt.Errorf("accesslog: elasticsearch client: %w", err)
	}
	s := &esSink{
		cfg: cfg, q: make(chan record, cfg.QueueSize), enc: enc, namer: namer,
		client: client, m: m, log: log.With("sink", "elasticsearch"),
		retryQ: make(chan *doc, min(cfg.QueueSize, 4096)),
	}
	s.abortCtx, s.abortFn = context.WithCancel(context.Background())
	s.bi, err = esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client: client,
		// One worker keeps batches large and the memory bound simple; the
		// queue in front of it is where bursts wait.
		NumWorkers:          1,
		QueueSizeMultiplier: 256,
		FlushBytes:          cfg.FlushBytes,
		FlushInterval:       cfg.FlushInterval,
		OnError:             s.onError,
		// The worker flushes with context.Background(); give it ours so an
		// expired shutdown deadline cuts a hanging request short.
		OnFlushStart: func(context.Context) context.Context { return s.abortCtx },
	})
	if err != nil {
		return nil, fmt.Errorf("accesslog: bulk indexer: %w", err)
	}
	return s, nil
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

func (s *esSink) onError(_ context.Context, err error) {
	if errors.Is(err, context.Canceled) {
		return // shutdown deadline: counted where the documents were given up
	}
	s.log.Warn("bulk request failed", "err", err)
}

func (s *esSink) run() {
	if s.cfg.InstallTemplate {
		s.installTemplateRetrying()
	}
	for {
		select {
		case r, ok := <-s.q:
			if !ok {
				s.finish()
				return
			}
			s.add(&r)
		case d := <-s.retryQ:
			s.pending.Add(-1)
			s.addDoc(d)
		}
	}
}

// add encodes r and hands it to the bulk indexer, waiting while the indexer
// is backed up: the queue in front absorbs that and Log drops once it is full.
func (s *esSink) add(r *record) {
	if s.abortCtx.Err() != nil {
		s.m.dropShutdown.Inc()
		return
	}
	d := docPool.Get().(*doc)
	d.buf = s.enc.appendDoc(d.buf[:0], r)
	d.index = s.namer.name(r.time)
	s.addDoc(d)
}

func (s *esSink) addDoc(d *doc) {
	d.Reset(d.buf)
	err := s.bi.Add(s.abortCtx, esutil.BulkIndexerItem{
		// create is the one action both daily indices and data streams take.
		Action:    "create",
		Index:     d.index,
		Body:      d,
		OnSuccess: s.onSuccess,
		OnFailure: s.onFailure,
	})
	if err != nil {
		s.m.dropShutdown.Inc()
		releaseDoc(d)
	}
}

func (s *esSink) onSuccess(_ context.Context, item esutil.BulkIndexerItem, _ esutil.BulkIndexerResponseItem) {
	s.m.shipped.Inc()
	if d, ok := item.Body.(*doc); ok {
		releaseDoc(d)
	}
}

func (s *esSink) onFailure(_ context.Context, item esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
	d, ok := item.Body.(*doc)
	if !ok {
		s.m.failed.Inc()
		return
	}
	// 429 on an item is Elasticsearch shedding load (es_rejected_execution):
	// worth another try later. Other item errors (mapping, closed index) will
	// not change, and a request-level err was already retried by the client.
	if err == nil && res.Status == http.StatusTooManyRequests && d.attempt < s.cfg.MaxRetries && !s.closing.Load() {
		d.attempt++
		s.pending.Add(1)
		time.AfterFunc(backoff(d.attempt), func() {
			select {
			case s.retryQ <- d:
			default:
				s.pending.Add(-1)
				s.m.failed.Inc()
				releaseDoc(d)
			}
		})
		return
	}
	if errors.Is(err, context.Canceled) {
		s.m.dropShutdown.Inc()
	} else {
		s.m.failed.Inc()
		if err == nil {
			s.log.Debug("document rejected", "index", res.Index, "status", res.Status,
				"type", res.Error.Type, "reason", res.Error.Reason)
		}
	}
	releaseDoc(d)
}

// finish delivers what is left: it flushes the indexer, feeds back the
// documents that came back with a 429, and repeats until nothing is owed
// (each document is retried at most MaxRetries times) or it is aborted.
func (s *esSink) finish() {
	for s.abortCtx.Err() == nil {
		if err := s.bi.Flush(s.abortCtx); err != nil {
			break
		}
		if s.pending.Load() == 0 {
			break
		}
		select {
		case d := <-s.retryQ:
			s.pending.Add(-1)
			s.addDoc(d)
		case <-s.abortCtx.Done():
		}
	}
	s.closing.Store(true)
	if err := s.bi.Close(s.abortCtx); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("closing bulk indexer", "err", err)
	}
	// Retries that were still waiting when the deadline hit.
	for s.pending.Load() > 0 {
		select {
		case d := <-s.retryQ:
			s.pending.Add(-1)
			s.m.dropShutdown.Inc()
			releaseDoc(d)
		case <-time.After(maxBackoff + time.Second):
			s.release()
			return
		}
	}
	s.release()
}

func (s *esSink) release() {
	s.abortFn()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.client.Close(ctx)
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
	res, err := s.client.ILM.PutLifecycle(name,
		s.client.ILM.PutLifecycle.WithBody(strings.NewReader(policy)),
		s.client.ILM.PutLifecycle.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("ILM policy: %w", err)
	}
	res.Body.Close()
	if res.IsError() {
		return fmt.Errorf("ILM policy: %s", res.Status())
	}
	res, err = s.client.Indices.PutIndexTemplate(name, strings.NewReader(template),
		s.client.Indices.PutIndexTemplate.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("index template: %w", err)
	}
	res.Body.Close()
	if res.IsError() {
		return fmt.Errorf("index template: %s", res.Status())
	}
	return nil
}
