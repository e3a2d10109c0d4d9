package accesslog

import (
	"net"
	"testing"
	"time"
)

// The baseline is what the caller pays anyway: filling an Entry and making a
// call that the compiler cannot remove. BenchmarkLog* adds the logger's share.
//
//go:noinline
func noopLog(e *Entry) { _ = e }

func benchEntry() *Entry {
	return &Entry{
		Time: time.Now(), Region: "eu", Method: "icx_getBalance", HTTPStatus: 200,
		Latency: 1200 * time.Microsecond, Upstream: "node-a", Bytes: 120,
		RequestID: "0f3c2a", ClientIP: net.IPv4(203, 0, 113, 7), APIKeyID: "key-1",
	}
}

func BenchmarkLogBaselineNoop(b *testing.B) {
	e := benchEntry()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			noopLog(e)
		}
	})
}

// BenchmarkLogElasticsearch measures Log with the Elasticsearch sink running
// against the in-test server: a mix of accepted and (once the queue is full)
// dropped documents, which is what an overloaded edge sees.
func BenchmarkLogElasticsearch(b *testing.B) {
	es := newFakeES(&testing.T{})
	defer es.srv.Close()
	l, err := New(Config{Elasticsearch: ElasticsearchConfig{Addresses: []string{es.URL()}}}, nil, quietLog())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(b.Context())
	e := benchEntry()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Log(e)
		}
	})
}

func BenchmarkLogFile(b *testing.B) {
	l, err := New(Config{File: "/dev/null"}, nil, quietLog())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(b.Context())
	e := benchEntry()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Log(e)
		}
	})
}

// BenchmarkEncode is the per-document cost paid on the sink goroutine.
func BenchmarkEncode(b *testing.B) {
	e := benchEntry()
	enc := &encoder{}
	r := record{time: e.Time, region: e.Region, method: e.Method, status: 200, latency: e.Latency,
		upstream: e.Upstream, bytes: e.Bytes, requestID: e.RequestID, apiKeyID: e.APIKeyID}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = enc.appendDoc(buf[:0], &r)
	}
}
