package rawconn

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"
)

// pair is a raw connection and the plain other end of a loopback socket.
func pair(t testing.TB) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := Listener{ln}.Accept()
		accepted <- c
	}()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := <-accepted
	raw, ok := c.(*Conn)
	if !ok {
		t.Fatalf("a TCP connection was not wrapped: %T", c)
	}
	t.Cleanup(func() { _ = raw.Close(); _ = peer.Close() })
	return raw, peer
}

// Megabytes each way at once, through a peer that reads in small pieces, so
// that writes fill the socket's buffer and wait in the poller (EAGAIN).
func TestBulkBothWaysIntact(t *testing.T) {
	c, peer := pair(t)
	out := make([]byte, 8<<20)
	in := make([]byte, 8<<20)
	_, _ = rand.Read(out)
	_, _ = rand.Read(in)
	var wg sync.WaitGroup
	var got, echoed []byte
	var errs [3]error
	wg.Add(3)
	go func() { defer wg.Done(); _, errs[0] = c.Write(out) }()
	go func() {
		defer wg.Done()
		buf := make([]byte, 1000)
		for len(got) < len(out) {
			n, err := peer.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				errs[1] = err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		if _, err := peer.Write(in); err != nil {
			errs[2] = err
		}
	}()
	buf := make([]byte, 64<<10)
	for len(echoed) < len(in) {
		n, err := c.Read(buf)
		echoed = append(echoed, buf[:n]...)
		if err != nil {
			t.Fatalf("raw read after %d bytes: %v", len(echoed), err)
		}
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, out) || !bytes.Equal(echoed, in) {
		t.Fatal("bytes differ after the round trip")
	}
}

func TestEOFWhenThePeerCloses(t *testing.T) {
	c, peer := pair(t)
	_, _ = peer.Write([]byte("last"))
	_ = peer.Close()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "last" {
		t.Fatalf("ReadAll = %q, %v; want the bytes, then a clean EOF", b, err)
	}
}

func TestDeadlineIsATimeout(t *testing.T) {
	c, _ := pair(t)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a net.Error timeout", err)
	}
	// A peer that never reads: the write fills the buffers and then times out.
	_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := c.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n == 64<<20 {
		t.Fatalf("write to a peer that never reads: %d bytes, %v; want some, then a timeout", n, err)
	}
}

func TestCloseUnblocksARead(t *testing.T) {
	c, _ := pair(t)
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond) // best effort: the read is usually waiting by now; either way it must end
	_ = c.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on a closed connection: %v, want net.ErrClosed", err)
	}
}

func TestWriteToAResetConnectionFails(t *testing.T) {
	c, peer := pair(t)
	_ = peer.(*net.TCPConn).SetLinger(0) // close with RST
	_ = peer.Close()
	var err error
	for i := 0; i < 100 && err == nil; i++ { // the first write may still be taken before the RST is seen
		_, err = c.Write([]byte("x"))
		time.Sleep(time.Millisecond)
	}
	if err == nil {
		t.Fatal("writes to a reset connection kept succeeding")
	}
}

func TestNonSocketsAreLeftAlone(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Fatal("net.Pipe was wrapped")
	}
}

// Ping-pong of one small message over loopback: raw against package net.
func BenchmarkPingPong(b *testing.B) {
	for _, mode := range []string{"net", "raw"} {
		b.Run(mode, func(b *testing.B) {
			c, peer := pair(b)
			var conn net.Conn = c
			if mode == "net" {
				conn = c.Conn
			}
			go func() {
				buf := make([]byte, 64)
				for {
					n, err := peer.Read(buf)
					if err != nil {
						return
					}
					if _, err := peer.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
			msg := []byte(`{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`)
			buf := make([]byte, 64)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := conn.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(conn, buf[:len(msg)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TLS runs over a wrapped socket (the edge's connections to https nodes).
func TestTLSOverARawSocket(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "over tls")
	}))
	defer srv.Close()
	tcp, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	raw := Wrap(tcp)
	if _, ok := raw.(*Conn); !ok {
		t.Fatalf("not wrapped: %T", raw)
	}
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.ServerName = "example.com" // in httptest's certificate
	conn := tls.Client(raw, cfg)
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "over tls" {
		t.Fatalf("body %q", body)
	}
}
