package proxy

import (
	"errors"
	"time"

	"github.com/icon-edge/icon-edge/cache"
	"github.com/icon-edge/icon-edge/icon"
	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// SetCache turns on answer caching and in-flight coalescing for reads.
func (s *Server) SetCache(c *cache.Cache) { s.cache = c }

// appendCacheKey scopes a call's cache key by path, so channels never share answers.
func appendCacheKey(dst, path []byte, c *call) []byte {
	dst = append(dst, path...)
	dst = append(dst, 0)
	return cache.AppendKey(dst, c.method.name, c.params)
}

// scratch buffers for keys and answers on the cache-hit path, which must not
// allocate per request (the cache copies what it keeps; SetBody copies too).
var scratch bytebufferpool.Pool

// errNotRPC carries a node answer that is not a JSON-RPC object (e.g. a
// plain-text 404 "No channel") to every coalesced waiter unchanged.
type errNotRPC struct {
	status      int
	contentType string
	body        []byte
}

func (e *errNotRPC) Error() string { return "not a JSON-RPC answer" }

// serveCached answers a read from the cache, or joins/leads the one upstream
// call for identical in-flight reads. It returns false when the call is not
// cacheable and must take the normal path.
func (s *Server) serveCached(ctx *fasthttp.RequestCtx, c *call, start time.Time) bool {
	tip := s.pool.Tip()
	kind := s.cache.Classify(c.method.name, c.params, tip)
	if kind == cache.NoCache || hasSurrogateEscape(ctx.PostBody()) {
		return false
	}
	if kind == cache.Head {
		// A head answer is shared until the next block: only a node at the
		// tip may give it, not one that is merely within max_lag.
		c.need.MinHeight = max(c.need.MinHeight, tip)
	}
	kb := scratch.Get()
	defer scratch.Put(kb)
	kb.B = appendCacheKey(kb.B[:0], ctx.Path(), c)
	key := kb.B
	if res, ok := s.cache.Get(key, tip); ok {
		c.cacheHit = true
		s.finishCached(ctx, c, start, fasthttp.StatusOK, cache.Answer{Result: res})
		return true
	}
	o, body, deadline := s.originOf(ctx), ctx.PostBody(), s.deadline(ctx, c.method, start)
	led := false // this caller made the node request; the others waited for it
	ans, _, err := s.cache.Do(key, c.method.name, kind, tip, func() (cache.Answer, error) {
		led = true
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		upstreamRequest(req, o, body)
		s.sendRead(c, req, resp, deadline)
		return answerOf(resp)
	})
	c.cacheHit = !led
	var raw *errNotRPC
	if errors.As(err, &raw) {
		ctx.SetStatusCode(raw.status)
		ctx.SetContentTypeBytes([]byte(raw.contentType))
		ctx.SetBody(raw.body)
		s.metrics.httpStatus(raw.status)
		c.code = raw.status // not JSON-RPC: counted under its HTTP status (see answerCode)
		s.record(ctx, c, raw.status, start, len(raw.body))
		return true
	}
	s.finishCached(ctx, c, start, ans.Status, ans)
	return true
}

func (s *Server) finishCached(ctx *fasthttp.RequestCtx, c *call, start time.Time, status int, ans cache.Answer) {
	c.code = 0
	if ans.Error != nil {
		c.code = fastjson.GetInt(ans.Error, "code")
	}
	buf := scratch.Get()
	defer scratch.Put(buf)
	buf.B = append(ans.AppendTo(buf.B[:0], c.id), '\n')
	ctx.SetStatusCode(status)
	ctx.SetContentType(ctJSON)
	ctx.Response.Header.Set("Vary", "Origin")
	ctx.SetBody(buf.B)
	s.metrics.httpStatus(status)
	s.record(ctx, c, status, start, len(buf.B))
}

// answerOf splits a node's single answer into the id-free parts the cache
// keeps; the slices are fresh copies, as coalesced waiters share them.
func answerOf(resp *fasthttp.Response) (cache.Answer, error) {
	body := resp.Body()
	if res := rawMember(body, "result"); res != nil {
		return cache.Answer{Result: append([]byte(nil), res...), Status: resp.StatusCode()}, nil
	}
	if e := rawMember(body, "error"); e != nil {
		return cache.Answer{Error: append([]byte(nil), e...), Status: resp.StatusCode()}, nil
	}
	return cache.Answer{}, &errNotRPC{status: resp.StatusCode(), contentType: string(resp.Header.ContentType()),
		body: append([]byte(nil), body...)}
}

// cachedBatchItem answers a batch read from the cache when it can; otherwise
// it notes the key so the answer can be stored once the node has given it.
func (s *Server) cachedBatchItem(path []byte, c *call, tip int64) bool {
	if s.cache == nil {
		return false
	}
	c.cacheKind = s.cache.Classify(c.method.name, c.params, tip)
	if c.cacheKind == cache.NoCache || hasSurrogateEscape(c.raw) {
		c.cacheKind = cache.NoCache
		return false
	}
	if c.cacheKind == cache.Head {
		c.need.MinHeight = max(c.need.MinHeight, tip) // see serveCached
	}
	c.cacheKey = appendCacheKey(nil, path, c)
	res, ok := s.cache.Get(c.cacheKey, tip)
	if !ok {
		return false
	}
	c.answer = icon.AppendResponseResult(nil, c.id, res)
	c.cacheHit = true
	return true
}
