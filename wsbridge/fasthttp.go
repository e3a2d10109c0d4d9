package wsbridge

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"
)

// The fasthttp edge hands websocket requests over here. gorilla upgrades
// net/http requests, so the request is given to it as one (headers copied),
// first to run its checks (a refused handshake is answered through fasthttp,
// byte for byte what gorilla writes), then, once fasthttp has let go of the
// connection, to take the socket itself. The client then has one goroutine:
// no internal HTTP server, no replayed bytes, and neither fasthttp's request
// context nor its read buffer is kept for the life of the websocket.

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
// The server must set KeepHijackedConns: otherwise fasthttp closes (and
// recycles) the hijacked connection when the hijack handler returns, which
// it does at once: the client lives on in its own goroutine.
func (b *Bridge) HandleFastHTTP(ctx *fasthttp.RequestCtx) {
	r := netHTTPRequest(ctx)
	channel, kind, status, text := b.route(r.URL.Path)
	if status != 0 {
		ctx.Error(text, status)
		return
	}
	rec := &recorder{ctx: ctx, header: http.Header{}}
	if _, err := b.upgrader.Upgrade(rec, r, nil); !rec.hijacked {
		_ = err // gorilla answered (400 and its reason) through rec
		return
	}
	ip, lim := b.cfg.ClientIP(r), b.conns.Load()
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		raw, err := socketOf(c)
		if err != nil {
			_ = c.Close()
			return
		}
		conn, err := b.upgrader.Upgrade(&hijacker{conn: raw}, r, nil)
		if err != nil {
			_ = raw.Close()
			return
		}
		// Returning lets fasthttp recycle its request context and read
		// buffer (~8 KiB that would otherwise live as long as the socket);
		// the client continues on a goroutine of its own.
		go b.serveConn(conn, ip, channel, kind, lim)
	})
}

// netHTTPRequest is the upgrade request as net/http would have parsed it.
func netHTTPRequest(ctx *fasthttp.RequestCtx) *http.Request {
	r := &http.Request{Method: string(ctx.Method()), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Host: string(ctx.Host()), RemoteAddr: ctx.RemoteAddr().String(),
		RequestURI: string(ctx.RequestURI())}
	r.URL = &url.URL{Path: string(ctx.Request.URI().PathOriginal()), RawQuery: string(ctx.QueryArgs().QueryString())}
	for k, v := range ctx.Request.Header.All() {
		r.Header.Add(string(k), string(v))
	}
	return r
}

// recorder is the ResponseWriter of the first, checking upgrade: what
// gorilla answers goes to fasthttp's response; reaching Hijack means every
// check passed.
type recorder struct {
	ctx      *fasthttp.RequestCtx
	header   http.Header
	hijacked bool
}

var errNotYet = errors.New("wsbridge: the connection is taken over after the handler returns")

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(status int) {
	if w.hijacked {
		return // gorilla reports errNotYet as a 500: nothing to answer
	}
	for k, vs := range w.header {
		for _, v := range vs {
			w.ctx.Response.Header.Add(k, v)
		}
	}
	w.ctx.SetStatusCode(status)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.hijacked {
		return len(p), nil
	}
	return w.ctx.Write(p)
}

func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	return nil, nil, errNotYet
}

// hijacker hands gorilla the socket for the second upgrade.
type hijacker struct {
	conn net.Conn
}

func (h *hijacker) Header() http.Header         { return http.Header{} }
func (h *hijacker) WriteHeader(int)             {}
func (h *hijacker) Write(p []byte) (int, error) { return len(p), nil }

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.conn, bufio.NewReadWriter(bufio.NewReaderSize(eofReader{}, 16), bufio.NewWriterSize(h.conn, 16)), nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// socketOf is the connection under fasthttp's hijack wrapper, so writes can
// go to the socket directly and fasthttp's read buffer is not held. Bytes a
// client sent ahead of the handshake's answer (no client should) are read
// out of that buffer first and kept in front.
func socketOf(c net.Conn) (net.Conn, error) {
	u, ok := c.(interface{ UnsafeConn() net.Conn })
	if !ok {
		return c, nil
	}
	raw := u.UnsafeConn()
	// With a deadline in the past, a read returns only what is buffered.
	if err := raw.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return nil, err
	}
	var ahead []byte
	buf := make([]byte, 512)
	for {
		n, _ := c.Read(buf)
		ahead = append(ahead, buf[:n]...)
		if n < len(buf) {
			break
		}
	}
	if err := raw.SetReadDeadline(time.Time{}); err != nil {
		return nil, err
	}
	if len(ahead) == 0 {
		return raw, nil
	}
	return &prefixConn{Conn: raw, r: io.MultiReader(bytes.NewReader(ahead), raw)}, nil
}

// prefixConn reads bytes already received before its socket.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }
