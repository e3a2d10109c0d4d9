package proxy

import (
	"bytes"
	"github.com/icon-edge/icon-edge/internal/rawjson"
	"net/netip"
	"sync"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// exchange is one POST on the JSON-RPC path, from the first byte read to the
// answer: everything the stages share. It is pooled; nothing keeps it after end.
type exchange struct {
	ctx      *fasthttp.RequestCtx
	st       *settings // the configuration this request runs under, start to end
	start    time.Time
	debugAPI bool
	body     []byte
	origin   origin
	parser   *fastjson.Parser
	batch    bool
	// calls are the request's calls: one for a single call, one per item of
	// a batch. Every call recorded at the end is in here.
	calls []call
	one   [1]call // calls' backing array for a single call
	// clientAddr caches the client's address (see Server.client).
	clientAddr  netip.Addr
	clientKnown bool
	// hopped: another region's edge forwarded this request; it is never
	// forwarded again.
	hopped bool
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

func (s *Server) begin(ctx *fasthttp.RequestCtx, st *settings, debugAPI bool) *exchange {
	x := exchanges.Get().(*exchange)
	x.ctx, x.st, x.start, x.debugAPI = ctx, st, time.Now(), debugAPI
	x.origin = st.originOf(ctx)
	if s.regions != nil {
		x.hopped = len(ctx.Request.Header.Peek(routing.HopHeader)) > 0
	}
	return x
}

func (s *Server) end(x *exchange) {
	if x.parser != nil {
		s.parsers.Put(x.parser)
	}
	*x = exchange{}
	exchanges.Put(x)
}

// serveRPC runs one POST through the stages, single call or batch alike:
// parse → admit → cache → route → answer. Each stage that answers the
// request itself (an invalid body, a refused client, a cache hit) ends it.
func (s *Server) serveRPC(ctx *fasthttp.RequestCtx, st *settings, debugAPI bool) {
	x := s.begin(ctx, st, debugAPI)
	defer s.end(x)
	x.body = ctx.PostBody()
	st.capture.Record(ctx.Path(), x.body) // nil-safe; copies what it samples, never blocks

	if !s.parse(x) {
		return
	}
	if !s.admit(x) {
		return
	}
	if x.batch {
		s.serveBatch(x)
		return
	}
	c := &x.calls[0]
	if c.notify && c.method.Kind == routing.Read {
		// goloop does not execute a read nobody waits for.
		s.answerNothing(x)
		return
	}
	if st.cache != nil && c.method.Kind == routing.Read && s.serveCached(x, c) {
		return
	}
	s.forward(x, c, x.body, &ctx.Response)
	s.relay(x)
}

// parse reads the body into x.calls, validating each call the way goloop
// does. An unreadable body is answered here and parse returns false.
func (s *Server) parse(x *exchange) bool {
	if len(bytes.TrimSpace(x.body)) == 0 {
		s.answerError(x, fasthttp.StatusBadRequest, nil, icon.ErrEmptyBody)
		return false
	}
	x.parser = s.parsers.Get()
	v, err := x.parser.ParseBytes(x.body)
	if err != nil || hasControlBytes(x.body) || hasBadEscape(x.body) {
		s.answerError(x, fasthttp.StatusBadRequest, nil, icon.ErrParse)
		return false
	}
	if v.Type() != fastjson.TypeArray {
		x.calls = x.one[:]
		x.st.parseCall(v, x.debugAPI, &x.calls[0])
		x.calls[0].raw = x.body
		if e := x.calls[0].err; e != nil {
			s.answerError(x, fasthttp.StatusBadRequest, x.calls[0].id, e)
			return false
		}
		return true
	}
	x.batch = true
	items, _ := v.Array()
	switch {
	case len(items) == 0:
		s.answerError(x, fasthttp.StatusBadRequest, nil, icon.ErrInvalidRequest)
		return false
	case len(items) > x.st.cfg.MaxBatch:
		s.answerError(x, fasthttp.StatusServiceUnavailable, nil, icon.ErrTooManyRequests)
		return false
	}
	raw := rawjson.Elements(x.body)
	if len(raw) != len(items) { // cannot happen for JSON fastjson accepted; never guess
		s.answerError(x, fasthttp.StatusBadRequest, nil, icon.ErrParse)
		return false
	}
	x.calls = make([]call, len(items))
	for i, it := range items {
		c := &x.calls[i]
		x.st.parseCall(it, x.debugAPI, c)
		c.raw = raw[i]
		if c.err != nil {
			c.answer, c.code = icon.AppendResponseError(nil, c.id, c.err), c.err.Code
		}
	}
	return true
}
