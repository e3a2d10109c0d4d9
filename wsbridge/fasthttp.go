package wsbridge

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// fastBridge lets the fasthttp edge hand websocket requests to the net/http
// code gorilla needs: the hijacked connection, with the request bytes
// fasthttp already read replayed in front, is accepted by an internal
// http.Server that serves exactly that one request.
type fastBridge struct {
	ln  *connListener
	srv *http.Server
}

func newFastBridge(b *Bridge) *fastBridge {
	ln := &connListener{ch: make(chan net.Conn), closed: make(chan struct{})}
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: nil}
	srv.SetKeepAlivesEnabled(false) // one request per hijacked connection
	go func() { _ = srv.Serve(ln) }()
	return &fastBridge{ln: ln, srv: srv}
}

func (f *fastBridge) close() error {
	f.ln.Close()
	return f.srv.Close()
}

// IsWebSocket reports a GET with Upgrade: websocket on a websocket path.
func (b *Bridge) IsWebSocket(ctx *fasthttp.RequestCtx) bool {
	if !ctx.IsGet() || !bytes.EqualFold(ctx.Request.Header.Peek("Upgrade"), []byte("websocket")) {
		return false
	}
	// The original path: fasthttp's normalized one turns goloop's
	// empty-channel form /api/v3//block into /api/v3/block.
	_, _, status, _ := b.route(string(ctx.Request.URI().PathOriginal()))
	return status == 0
}

// HandleFastHTTP serves a websocket request from the edge's fasthttp router.
// The server must set KeepHijackedConns: otherwise fasthttp recycles the
// hijacked connection as soon as it is closed, while the bridge's goroutines
// may still set a deadline on it (a nil-pointer panic in fasthttp's wrapper).
func (b *Bridge) HandleFastHTTP(ctx *fasthttp.RequestCtx) {
	// The request is replayed whole (request line and headers as received;
	// a GET upgrade has no body) for net/http to parse again.
	head := append([]byte(nil), ctx.Request.Header.Header()...)
	head = append(head, ctx.Request.Body()...)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		pc := &prefixConn{Conn: c, r: io.MultiReader(bytes.NewReader(head), c), done: make(chan struct{})}
		select {
		case b.fast.ln.ch <- pc:
		case <-b.fast.ln.closed:
			return
		}
		<-pc.done // holds fasthttp's accounting of the connection until the websocket ends
	})
}

type prefixConn struct {
	net.Conn
	r    io.Reader
	once sync.Once
	done chan struct{}
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *prefixConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.done) })
	return err
}

// SetWriteBuffer passes the socket option through to the TCP connection.
func (c *prefixConn) SetWriteBuffer(n int) error {
	if tc, ok := c.Conn.(interface{ SetWriteBuffer(int) error }); ok {
		return tc.SetWriteBuffer(n)
	}
	return nil
}

type connListener struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
