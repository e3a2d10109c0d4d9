package accesslog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// The bulk loop: one goroutine (run) takes records from the queue, encodes
// them into a batch and sends the batch as one _bulk request when it reaches
// FlushBytes or FlushInterval passes. Sending is synchronous, so while a
// request is in flight the queue in front absorbs the burst and Log drops
// once it is full: memory stays bounded by the queue plus one batch.

var ndjsonHeader = http.Header{"Content-Type": {"application/x-ndjson"}}

func (s *esSink) run() {
	if s.cfg.InstallTemplate {
		s.installTemplateRetrying()
	}
	tick := time.NewTicker(s.cfg.FlushInterval)
	defer tick.Stop()
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
		case <-tick.C:
			s.flush()
		}
	}
}

// add encodes r into a pooled document and batches it.
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

// actionOverhead is the bulk action line around a document, without the index.
const actionOverhead = len(`{"create":{"_index":""}}`) + 2

func (s *esSink) addDoc(d *doc) {
	if s.abortCtx.Err() != nil {
		s.m.dropShutdown.Inc()
		releaseDoc(d)
		return
	}
	size := len(d.buf) + len(d.index) + actionOverhead
	if len(s.batch) > 0 && s.batchBytes+size > s.cfg.FlushBytes {
		s.flush()
	}
	s.batch = append(s.batch, d)
	s.batchBytes += size
	if s.batchBytes >= s.cfg.FlushBytes {
		s.flush()
	}
}

type bulkItem struct {
	Index  string `json:"_index"`
	Status int    `json:"status"`
	Error  struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// flush sends the batch as one _bulk request and settles every document in
// it: shipped, scheduled for another try, failed or dropped at shutdown.
func (s *esSink) flush() {
	if len(s.batch) == 0 {
		return
	}
	docs := s.batch
	defer func() {
		clear(docs)
		s.batch, s.batchBytes = docs[:0], 0
	}()
	body := s.body[:0]
	for _, d := range docs {
		// create is the one action both daily indices and data streams take.
		body = append(body, `{"create":{"_index":`...)
		body = appendJSONString(body, d.index)
		body = append(body, "}}\n"...)
		body = append(body, d.buf...)
		body = append(body, '\n')
	}
	s.body = body
	if cap(s.body) > 4*s.cfg.FlushBytes {
		s.body = nil // one outsized batch must not pin its buffer
	}

	res, err := esapi.BulkRequest{Body: bytes.NewReader(body), Header: ndjsonHeader}.Do(s.abortCtx, s.es)
	if err != nil {
		s.failAll(docs, err)
		return
	}
	defer func() {
		_, _ = io.Copy(io.Discard, res.Body) // lets the connection be reused
		res.Body.Close()
	}()
	if res.IsError() {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		s.failAll(docs, fmt.Errorf("%s: %s", res.Status(), bytes.TrimSpace(msg)))
		return
	}
	var out struct {
		Errors bool                  `json:"errors"`
		Items  []map[string]bulkItem `json:"items"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		s.failAll(docs, fmt.Errorf("reading bulk response: %w", err))
		return
	}
	for i, d := range docs {
		var it bulkItem
		if i < len(out.Items) {
			for _, v := range out.Items[i] { // one key: the action
				it = v
			}
		}
		if it.Status >= 200 && it.Status <= 299 {
			s.m.shipped.Inc()
			releaseDoc(d)
			continue
		}
		s.itemFailed(d, &it)
	}
}

// failAll settles a batch whose request failed after the transport's
// retries: a cancelled request is the shutdown deadline, anything else a
// delivery failure.
func (s *esSink) failAll(docs []*doc, err error) {
	if errors.Is(err, context.Canceled) || s.abortCtx.Err() != nil {
		s.m.dropShutdown.Add(float64(len(docs)))
	} else {
		s.m.failed.Add(float64(len(docs)))
		s.log.Warn("bulk request failed", "err", err, "documents", len(docs))
	}
	for _, d := range docs {
		releaseDoc(d)
	}
}

func (s *esSink) itemFailed(d *doc, it *bulkItem) {
	// 429 on an item is Elasticsearch shedding load (es_rejected_execution):
	// worth another try later. Other item errors (mapping, closed index) will
	// not change.
	if it.Status == http.StatusTooManyRequests && d.attempt < s.cfg.MaxRetries && !s.closing.Load() {
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
	s.m.failed.Inc()
	s.log.Debug("document rejected", "index", it.Index, "status", it.Status,
		"type", it.Error.Type, "reason", it.Error.Reason)
	releaseDoc(d)
}

// finish delivers what is left: it flushes the batch, feeds back the
// documents that came back with a 429, and repeats until nothing is owed
// (each document is retried at most MaxRetries times) or it is aborted.
func (s *esSink) finish() {
	for s.abortCtx.Err() == nil {
		s.flush()
		if s.pending.Load() == 0 {
			break
		}
		select {
		case d := <-s.retryQ:
			s.pending.Add(-1)
			s.addDoc(d)
			s.takeReadyRetries()
		case <-s.abortCtx.Done():
		}
	}
	s.closing.Store(true)
	// Aborted with a batch not yet sent.
	s.m.dropShutdown.Add(float64(len(s.batch)))
	for _, d := range s.batch {
		releaseDoc(d)
	}
	clear(s.batch)
	s.batch = s.batch[:0]
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

// takeReadyRetries batches every retry already due, so the final flushes
// send them together rather than one request each.
func (s *esSink) takeReadyRetries() {
	for {
		select {
		case d := <-s.retryQ:
			s.pending.Add(-1)
			s.addDoc(d)
		default:
			return
		}
	}
}
