package upstream

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// A node URL without a port is valid configuration; the node connections'
// own dial function must add :80 (or :443) as fasthttp does without one.
// Port 80 is the point of the test: it skips where it cannot bind it.
func TestNodeURLWithoutPortConnects(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:80")
	if err != nil {
		t.Skip("needs 127.0.0.1:80:", err)
	}
	defer ln.Close()
	go func() { _ = fasthttp.Serve(ln, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }) }()
	if _, err := ParseSource("http://127.0.0.1", nil); err != nil {
		t.Fatalf("config refused: %v", err)
	}
	hc := (&Pool{}).newClient("http://127.0.0.1")
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://127.0.0.1/")
	if err := hc.DoDeadline(req, resp, time.Now().Add(5*time.Second)); err != nil {
		t.Fatalf("port-less node: %v", err)
	}
}

// A node whose SYNs go unanswered (here a listener with a full accept
// queue; a dead host or a firewall in production): the dial must end with
// the attempt's deadline, not fasthttp's default 3 s dial timeout, or one
// dead node eats the time retries and hedges need.
func TestDialEndsWithTheAttemptsDeadline(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	filled := false
	for i := 0; i < 16 && !filled; i++ { // connect until one hangs: the queue is full
		c, err := net.DialTimeout("tcp4", addr, 300*time.Millisecond)
		if err != nil {
			filled = true
			break
		}
		defer c.Close()
	}
	if !filled {
		t.Skip("the accept queue never filled")
	}
	hc := (&Pool{}).newClient("http://" + addr)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + "/")
	start := time.Now()
	err = hc.DoDeadline(req, resp, start.Add(200*time.Millisecond))
	if took := time.Since(start); err == nil || took > 2*time.Second {
		t.Fatalf("an attempt with 200 ms left to a node that never accepts: %v after %v (fasthttp's own dial timeout is 3 s)", err, took)
	}
}
