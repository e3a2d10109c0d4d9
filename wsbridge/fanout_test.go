package wsbridge

import (
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkFanout is one notification published by a hub to 256 clients on
// loopback sockets and written by the workers: ns/op and allocs/op are per
// notification (all 256 writes), so a regression in the fan-out shows.
func BenchmarkFanout(b *testing.B) {
	const n = 256
	br, err := New(Config{SendQueue: 64, PingInterval: time.Hour}, nil, nil, quietLog())
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var written atomic.Int64
	br.relayObserver = func(time.Duration) { written.Add(1) }
	h := &hub{b: br, clients: map[*client]struct{}{}, covered: before(1), last: before(1)}
	for i := 0; i < n; i++ {
		peer, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer peer.Close()
		go func() { _, _ = io.Copy(io.Discard, peer) }()
		srv, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		c := &client{b: br, cfg: br.conns.Load(), raw: srv, rc: rawConnOf(srv), sub: &subscription{}, cursor: before(1),
			drained: make(chan struct{}, 1), done: make(chan struct{}), gone: make(chan struct{})}
		br.fan.assign(c)
		h.clients[c] = struct{}{}
	}
	frame := textFrame([]byte(`{"hash":"0x` + string(make([]byte, 0)) + `abababababababababababababababababababababababababababababababab","height":"0x1a2b3c"}` + "\n"))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		want := written.Load() + n
		h.publish(&entry{at: pos{int64(i + 1), 0}, frame: frame, recv: time.Now()})
		for written.Load() < want {
			runtime.Gosched()
		}
	}
}
