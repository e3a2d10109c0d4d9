package edge

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// lazyPair is a lazyConn (server side, no sweeper goroutine: the test sweeps
// by hand with chosen clocks) and the client end of a loopback connection.
func lazyPair(t *testing.T) (*lazyListener, *lazyConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &lazyListener{Listener: ln}
	l.now.Store(time.Now().UnixNano())
	t.Cleanup(func() { _ = l.Close() })
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return l, conn.(*lazyConn), client
}

func readTimesOut(t *testing.T, c net.Conn) {
	t.Helper()
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: want a deadline error, got %v", err)
	}
}

func readsByte(t *testing.T, c net.Conn, peer net.Conn) {
	t.Helper()
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("read: want a byte, got %d, %v", n, err)
	}
}

func TestFarDeadlineFiresOnlyOnceSweptPastIt(t *testing.T) {
	_, c, client := lazyPair(t)
	due := time.Now().Add(time.Minute)
	if err := c.SetReadDeadline(due); err != nil {
		t.Fatal(err)
	}
	c.expire(due.UnixNano() - 1) // a sweep before the deadline changes nothing
	readsByte(t, c, client)
	c.expire(due.UnixNano())
	readTimesOut(t, c) // pending and later reads fail, as with a real deadline
	readTimesOut(t, c)
	// A new deadline (fasthttp sets one per request) lifts the expired one.
	if err := c.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	readsByte(t, c, client)
}

func TestMovedDeadlineIsNotFiredAtItsOldTime(t *testing.T) {
	_, c, client := lazyPair(t)
	first := time.Now().Add(30 * time.Second)
	_ = c.SetReadDeadline(first)
	_ = c.SetReadDeadline(first.Add(time.Minute))
	c.expire(first.UnixNano() + 1)
	readsByte(t, c, client)
	_ = c.SetReadDeadline(time.Time{}) // none at all
	c.expire(first.Add(time.Hour).UnixNano())
	readsByte(t, c, client)
}

func TestNearDeadlineGoesToTheSocketAtOnce(t *testing.T) {
	_, c, client := lazyPair(t)
	// In the past: wsbridge uses this to read only what is buffered.
	_ = c.SetReadDeadline(time.Unix(1, 0))
	readTimesOut(t, c)
	_ = c.SetReadDeadline(time.Time{})
	readsByte(t, c, client)
	// Nearer than the sweeper's horizon: the socket's own timer, on time.
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(50 * time.Millisecond))
	readTimesOut(t, c)
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("timed out after %v, before its deadline", took)
	}
}

func TestWriteDeadlineFires(t *testing.T) {
	_, c, _ := lazyPair(t)
	due := time.Now().Add(time.Minute)
	_ = c.SetDeadline(due)
	c.expire(due.UnixNano())
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write: want a deadline error, got %v", err)
	}
}

// The sweeper goroutine itself: a far deadline fires without anyone calling
// expire, not before it is due, and the sweeper ends once the listener and
// its connections are closed.
func TestSweeperFiresFarDeadlines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newLazyListener(ln)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	horizon := time.Duration(l.now.Load()-start.UnixNano()) + lazyHorizon + 50*time.Millisecond
	_ = conn.SetReadDeadline(start.Add(horizon))
	if conn.(*lazyConn).read.due.Load() == 0 {
		t.Fatal("a deadline beyond the horizon was not left to the sweeper")
	}
	readTimesOut(t, conn)
	if took := time.Since(start); took < horizon {
		t.Fatalf("timed out after %v, before its deadline (%v)", took, horizon)
	}
	_ = conn.Close()
	_ = l.Close()
	if l.open.Load() != 0 {
		t.Fatalf("%d connections still counted after close", l.open.Load())
	}
}

// What fasthttp pays per deadline move, four per keep-alive request: on the
// socket (a runtime timer re-armed) against a lazyConn (recorded).
func BenchmarkSetReadDeadline(b *testing.B) {
	for _, mode := range []string{"socket", "lazy"} {
		b.Run(mode, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			l := &lazyListener{Listener: ln}
			l.now.Store(time.Now().UnixNano())
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close()
			conn, err := l.Accept()
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			if mode == "socket" {
				conn = conn.(*lazyConn).Conn
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Alternating, as fasthttp's idle and read timeouts do.
				_ = conn.SetReadDeadline(time.Now().Add(time.Duration(10+80*(i&1)) * time.Second))
			}
		})
	}
}
