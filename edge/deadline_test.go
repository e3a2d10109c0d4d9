package edge

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// lazyPair is a lazyConn (server side; with listen lazyListenerOn there is
// no sweeper goroutine and the test sweeps by hand with chosen clocks) and
// the client end of a loopback connection.
func lazyPair(tb testing.TB, listen func(net.Listener) *lazyListener) (*lazyListener, *lazyConn, net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	l := listen(ln)
	tb.Cleanup(func() { _ = l.Close() })
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = client.Close() })
	conn, err := l.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
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
	l, c, client := lazyPair(t, lazyListenerOn)
	due := time.Now().Add(time.Minute)
	if err := c.SetReadDeadline(due); err != nil {
		t.Fatal(err)
	}
	c.expire(l.since(due) - 1) // a sweep before the deadline changes nothing
	readsByte(t, c, client)
	c.expire(l.since(due))
	readTimesOut(t, c) // pending and later reads fail, as with a real deadline
	readTimesOut(t, c)
	// A new deadline (fasthttp sets one per request) lifts the expired one.
	if err := c.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	readsByte(t, c, client)
}

func TestMovedDeadlineIsNotFiredAtItsOldTime(t *testing.T) {
	l, c, client := lazyPair(t, lazyListenerOn)
	first := time.Now().Add(30 * time.Second)
	_ = c.SetReadDeadline(first)
	_ = c.SetReadDeadline(first.Add(time.Minute))
	c.expire(l.since(first) + 1)
	readsByte(t, c, client)
	_ = c.SetReadDeadline(time.Time{}) // none at all
	c.expire(l.since(first.Add(time.Hour)))
	readsByte(t, c, client)
}

func TestNearDeadlineGoesToTheSocketAtOnce(t *testing.T) {
	_, c, client := lazyPair(t, lazyListenerOn)
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
	l, c, _ := lazyPair(t, lazyListenerOn)
	due := time.Now().Add(time.Minute)
	_ = c.SetDeadline(due)
	c.expire(l.since(due))
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write: want a deadline error, got %v", err)
	}
}

// The sweeper goroutine itself: a far deadline fires without anyone calling
// expire, not before it is due, and the sweeper ends once the listener and
// its connections are closed.
func TestSweeperFiresFarDeadlines(t *testing.T) {
	l, conn, _ := lazyPair(t, newLazyListener)
	start := time.Now()
	horizon := time.Duration(l.now.Load()-l.since(start)) + lazyHorizon + 50*time.Millisecond
	_ = conn.SetReadDeadline(start.Add(horizon))
	if conn.read.due.Load() == 0 {
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
			_, lc, _ := lazyPair(b, lazyListenerOn)
			var conn net.Conn = lc
			if mode == "socket" {
				conn = lc.Conn
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

// gatedListener holds each accepted connection until released: the moment
// between the inner Accept and the connection's registration, stretched.
type gatedListener struct {
	net.Listener
	got, release chan struct{}
}

func (g gatedListener) Accept() (net.Conn, error) {
	c, err := g.Listener.Accept()
	g.got <- struct{}{}
	<-g.release
	return c, err
}

// Shutdown closes the listener while Accept already holds a connection: the
// sweeper must not end then, or that connection's far deadlines never fire
// (a client that never sends would hold the shutdown to its end).
func TestSweeperOutlivesAConnectionBeingAccepted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := gatedListener{ln, make(chan struct{}, 1), make(chan struct{})}
	l := newLazyListener(g)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := l.Accept(); accepted <- c }()
	<-g.got // the inner Accept has the connection
	_ = l.Close()
	if l.sweepAt(l.since(time.Now())) {
		t.Fatal("the sweeper would end while a connection was being accepted")
	}
	close(g.release)
	conn := <-accepted
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(lazyHorizon + 500*time.Millisecond)) // far: left to the sweeper
	done := make(chan error, 1)
	go func() { _, err := conn.Read(make([]byte, 1)); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read ended with %v, want its deadline", err)
		}
	case <-time.After(lazyHorizon + 10*time.Second):
		t.Fatal("a far read deadline never fired: the sweeper had ended")
	}
}

// A websocket's one-second write bound is nearer than the horizon: on the
// socket at once, on time.
func TestOneSecondBoundGoesToTheSocket(t *testing.T) {
	_, c, _ := lazyPair(t, lazyListenerOn)
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	if c.write.due.Load() != 0 {
		t.Fatal("the one-second write bound was left to the sweeper")
	}
}
